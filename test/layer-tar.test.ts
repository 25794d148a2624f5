import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { compilePathGlob, compilePathGlobs } from '../src/oci/layer/scan-glob.js';
import { normaliseEntryName } from '../src/oci/layer/scan-paths.js';
import { findPrivateKeyLabel } from '../src/oci/layer/scan-probes.js';
import { TarFormatError, type TarHeader, TarParser } from '../src/oci/layer/scan-tar.js';
import { packTar, rawEntry, rawTar } from './layer-helpers.js';

interface Parsed {
  header: Omit<TarHeader, 'offset'>;
  body: string;
}

/** Our parser over `tar`, fed in chunks of `size` bytes. */
function parse(tar: Buffer, size = 65536): Parsed[] {
  const out: Parsed[] = [];
  const parser = new TarParser((header) => {
    const { offset: _offset, ...rest } = header;
    const parsed: Parsed = { header: rest, body: '' };
    out.push(parsed);
    const chunks: Buffer[] = [];
    return {
      data: (chunk) => chunks.push(Buffer.from(chunk)),
      end: () => {
        parsed.body = Buffer.concat(chunks).toString('latin1');
      },
    };
  });
  for (let at = 0; at < tar.length; at += size) parser.write(tar.subarray(at, at + size));
  parser.end();
  return out;
}

/** One pax record: its length prefix counts itself. */
function pax(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = rest.length + 1;
  while (String(length).length + rest.length !== length) length = String(length).length + rest.length;
  return `${length}${rest}`;
}

const flagOf: Record<string, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

/** tar-stream's reading of the same archive, in our shape: the oracle. */
async function oracle(tar: Buffer): Promise<Parsed[]> {
  const extract = tarStream.extract();
  const out: Parsed[] = [];
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk) => chunks.push(chunk as Buffer));
    stream.on('end', () => {
      const pax = (header.pax ?? {}) as Record<string, string>;
      out.push({
        header: {
          name: header.name,
          typeflag: flagOf[header.type] ?? '?',
          mode: header.mode,
          uid: pax.uid ? Number(pax.uid) : header.uid,
          gid: pax.gid ? Number(pax.gid) : header.gid,
          size: header.size,
          linkname: header.linkname ?? '',
        },
        body: Buffer.concat(chunks).toString('latin1'),
      });
      next();
    });
  });
  const done = new Promise((resolve, reject) => {
    extract.on('finish', () => resolve(undefined));
    extract.on('error', reject);
  });
  extract.end(tar);
  await done;
  return out;
}

describe('TarParser', () => {
  it('reads what tar-stream reads, whatever the chunking', async () => {
    const tar = await packTar([
      { name: 'etc/', type: 'directory', mode: 0o755 },
      { name: 'etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n', uid: 0, gid: 0 },
      {
        name: `opt/${'a'.repeat(150)}/${'b'.repeat(120)}/file.txt`,
        body: 'x'.repeat(1000),
        uid: 1000,
        gid: 1000,
      },
      { name: 'opt/long-link', type: 'symlink', linkname: `/opt/${'c'.repeat(200)}` },
      { name: 'usr/bin/sudo', body: 'ELF', mode: 0o4755 },
      { name: 'usr/bin/sudoedit', type: 'link', linkname: 'usr/bin/sudo' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
      { name: 'dev/sda', type: 'block-device', devmajor: 8 },
      { name: 'run/fifo', type: 'fifo' },
      { name: 'empty', body: '' },
      { name: 'exact-block', body: 'z'.repeat(512) },
      { name: 'naïve-ünïcode/файл', body: 'utf-8 names' },
    ]);
    const expected = await oracle(tar);
    expect(expected).toHaveLength(12);
    for (const size of [1, 7, 511, 512, 513, 4096, 65536]) {
      expect(parse(tar, size), `chunks of ${size}`).toEqual(expected);
    }
  });

  it('reads GNU long names, base-256 numbers, pax ids and sizes; skips global pax records', () => {
    const name = `srv/${'n'.repeat(180)}`;
    const base256 = rawEntry('big-uid', Buffer.from('b'));
    base256.fill(0, 108, 116);
    base256[108] = 0x80;
    base256.writeUInt32BE(5_000_000, 112);
    // Recompute the checksum after editing.
    base256.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += base256[i] as number;
    base256.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    const paxBody = Buffer.from(pax('uid', '4000000000') + pax('gid', '3000000') + pax('size', '1024'));
    const global = Buffer.from(pax('path', '/everything'));
    const tar = rawTar([
      rawEntry('././@LongLink', Buffer.from(`${name}\0`), 'L'),
      rawEntry('truncated', Buffer.from('long')),
      base256,
      rawEntry('pax_global_header', global, 'g'),
      rawEntry('PaxHeaders/x', paxBody, 'x'),
      Buffer.concat([rawEntry('x', Buffer.alloc(1024, 0x78)).subarray(0, 512), Buffer.alloc(1024, 0x78)]),
      rawEntry('after', Buffer.from('a')),
    ]);
    const parsed = parse(tar, 100);
    expect(
      parsed.map((p) => [p.header.name, p.header.uid, p.header.gid, p.header.size, p.body.length]),
    ).toEqual([
      [name, 0, 0, 4, 4],
      ['big-uid', 5_000_000, 0, 1, 1],
      ['x', 4_000_000_000, 3_000_000, 1024, 1024],
      ['after', 0, 0, 1, 1],
    ]);
  });

  it('stops at the end-of-archive marker and ignores what follows', () => {
    const tar = Buffer.concat([rawTar([rawEntry('a', Buffer.from('1'))]), Buffer.from('trailing junk')]);
    expect(parse(tar).map((p) => p.header.name)).toEqual(['a']);
    // A v7 header (no magic) and a name with a trailing slash as a directory.
    const v7 = rawEntry('olddir/', Buffer.alloc(0), '\0');
    v7.fill(0, 257, 265);
    v7.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += v7[i] as number;
    v7.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    expect(parse(rawTar([v7]))[0]?.header.typeflag).toBe('5');
  });

  it('refuses corrupt input with TarFormatError', () => {
    const good = rawTar([rawEntry('a', Buffer.from('hello world'))]);
    const badChecksum = Buffer.from(good);
    badChecksum[0] = 0x62;
    expect(() => parse(badChecksum)).toThrow(TarFormatError);
    expect(() => parse(good.subarray(0, 520))).toThrow(/unexpected end/);
    expect(() => parse(good.subarray(0, 300))).toThrow(/unexpected end/);
    const badNumber = rawEntry('a', Buffer.from('x'));
    badNumber.write('9', 124, 'ascii');
    expect(() => parse(rawTar([badNumber]))).toThrow(TarFormatError);
    const hugeMeta = rawEntry('L', Buffer.alloc(0), 'L');
    hugeMeta.write(`${(2 * 1024 * 1024).toString(8).padStart(11, '0')}\0`, 124, 'ascii');
    hugeMeta.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += hugeMeta[i] as number;
    hugeMeta.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    expect(() => parse(rawTar([hugeMeta]))).toThrow(/record of/);
    expect(() => parse(rawTar([rawEntry('x', Buffer.from('5 a\n'), 'x'), rawEntry('a')]))).toThrow(/pax/);
    // A long-name record with nothing after it.
    expect(() => parse(rawEntry('././@LongLink', Buffer.from('name\0'), 'L'))).toThrow(/unexpected end/);
  });
});

describe('entry names', () => {
  it('normalises names and flags unsafe ones', () => {
    expect(normaliseEntryName('etc/passwd')).toEqual({ kind: 'path', path: '/etc/passwd' });
    expect(normaliseEntryName('./etc/passwd')).toEqual({ kind: 'path', path: '/etc/passwd' });
    expect(normaliseEntryName('etc//./ssl/')).toEqual({ kind: 'path', path: '/etc/ssl' });
    expect(normaliseEntryName('home/u/../v/.bashrc')).toEqual({ kind: 'path', path: '/home/v/.bashrc' });
    expect(normaliseEntryName('.wh..wh..opq')).toEqual({ kind: 'path', path: '/.wh..wh..opq' });
    expect(normaliseEntryName('a..b/..c')).toEqual({ kind: 'path', path: '/a..b/..c' });
    expect(normaliseEntryName('./')).toEqual({ kind: 'root' });
    expect(normaliseEntryName('.')).toEqual({ kind: 'root' });
    expect(normaliseEntryName('a/..')).toEqual({ kind: 'root' });
    expect(normaliseEntryName('')).toEqual({ kind: 'empty' });
    expect(normaliseEntryName('../etc')).toEqual({ kind: 'escape' });
    expect(normaliseEntryName('a/../../etc')).toEqual({ kind: 'escape' });
    expect(normaliseEntryName('/etc/passwd')).toEqual({ kind: 'absolute' });
  });
});

describe('globs', () => {
  it("matches '*' and '?' within a component and '**' across", () => {
    const cases: Array<[string, string, boolean]> = [
      ['/etc/*.conf', '/etc/a.conf', true],
      ['/etc/*.conf', '/etc/ssl/a.conf', false],
      ['/etc/?.conf', '/etc/a.conf', true],
      ['/etc/?.conf', '/etc/ab.conf', false],
      ['/usr/**/bin/*', '/usr/bin/ls', true],
      ['/usr/**/bin/*', '/usr/local/x/bin/ls', true],
      ['/usr/**/bin/*', '/usr/local/x/sbin/ls', false],
      ['/opt/**', '/opt/a/b/c', true],
      ['/opt/**', '/opt', false],
      ['**/*.pem', '/etc/ssl/private/key.pem', true],
      ['**/*.pem', '/key.pem', true],
      ['/a.b/(x)+', '/a.b/(x)+', true],
      ['/a.b/(x)+', '/aXb/(x)+', false],
    ];
    for (const [pattern, path, expected] of cases) {
      expect(compilePathGlob(pattern).test(path), `${pattern} ~ ${path}`).toBe(expected);
    }
    const many = compilePathGlobs(['/etc/*.conf', '/root/**']);
    expect(many?.('/root/.ssh/id_rsa')).toBe(true);
    expect(many?.('/etc/x/y.conf')).toBe(false);
    expect(compilePathGlobs([])).toBeUndefined();
  });
});

describe('private key probe', () => {
  it('names the PEM block and ignores other blocks', () => {
    expect(findPrivateKeyLabel(Buffer.from('x-----BEGIN PRIVATE KEY-----\n'))).toBe('PRIVATE KEY');
    expect(findPrivateKeyLabel(Buffer.from('-----BEGIN EC PRIVATE KEY-----'))).toBe('EC PRIVATE KEY');
    expect(findPrivateKeyLabel(Buffer.from('-----BEGIN ENCRYPTED PRIVATE KEY-----'))).toBe(
      'ENCRYPTED PRIVATE KEY',
    );
    expect(findPrivateKeyLabel(Buffer.from('-----BEGIN PUBLIC KEY-----'))).toBeUndefined();
    expect(
      findPrivateKeyLabel(Buffer.from('-----BEGIN CERTIFICATE----- -----BEGIN RSA PRIVATE KEY-----')),
    ).toBe('RSA PRIVATE KEY');
    expect(findPrivateKeyLabel(Buffer.from('-----BEGIN PRIVATE KEY'))).toBeUndefined();
  });
});
