import { describe, expect, it } from 'vitest';
import { ImageError } from '../src/errors.js';
import { digestOf } from '../src/oci/digest.js';
import type { CaptureSpec, LayerFacts } from '../src/oci/layer/facts.js';
import { scanLayer } from '../src/oci/layer/scan-layer.js';
import { ProbeRunner, planProbes, privateKeyProbeMaxSize } from '../src/oci/layer/scan-probes.js';
import { MediaType } from '../src/oci/media-types.js';
import {
  descriptorOf,
  gzip,
  packTar,
  rawEntry,
  rawTar,
  type TestEntry,
  verifiedStream,
} from './layer-helpers.js';

const noCapture: CaptureSpec = { paths: [], globs: [], probes: [], maxBodyBytes: 0 };

async function scanTar(
  tar: Buffer,
  spec: CaptureSpec = noCapture,
  options: Parameters<typeof scanLayer>[3] = {},
): Promise<LayerFacts> {
  const blob = gzip(tar);
  const descriptor = descriptorOf(blob, MediaType.ociLayerGzip);
  return scanLayer(verifiedStream(blob, descriptor), descriptor, spec, { image: 'test-image', ...options });
}

async function scanEntries(entries: TestEntry[], spec: CaptureSpec = noCapture): Promise<LayerFacts> {
  return scanTar(await packTar(entries), spec);
}

async function rejection(promise: Promise<unknown>): Promise<ImageError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ImageError);
    return error as ImageError;
  }
  throw new Error('expected a rejection');
}

describe('scanLayer: entries', () => {
  it('records every entry type with normalised paths, modes and owners', async () => {
    const facts = await scanEntries([
      { name: './', type: 'directory' },
      { name: './etc/', type: 'directory', mode: 0o755 },
      { name: './etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644 },
      { name: 'usr//bin/./tool', body: 'x', mode: 0o4755, uid: 0, gid: 0 },
      { name: 'usr/bin/su', type: 'link', linkname: './usr//bin/tool' },
      { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
      { name: 'etc/abs', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 },
      { name: 'run/pipe', type: 'fifo' },
      { name: 'home/user/', type: 'directory', mode: 0o1777, uid: 1000, gid: 100 },
      { name: 'home/user/../other', body: 'o', uid: 2000, gid: 2000 },
    ]);
    expect(facts.entries).toEqual([
      { path: '/etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 },
      { path: '/etc/passwd', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 26 },
      { path: '/usr/bin/tool', type: 'file', mode: 0o4755, uid: 0, gid: 0, size: 1 },
      {
        path: '/usr/bin/su',
        type: 'hardlink',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 0,
        linkname: '/usr/bin/tool',
      },
      { path: '/bin', type: 'symlink', mode: 0o644, uid: 0, gid: 0, size: 0, linkname: 'usr/bin' },
      { path: '/etc/abs', type: 'symlink', mode: 0o644, uid: 0, gid: 0, size: 0, linkname: '/etc/passwd' },
      { path: '/dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, size: 0 },
      { path: '/dev/sda', type: 'block', mode: 0o644, uid: 0, gid: 0, size: 0 },
      { path: '/run/pipe', type: 'fifo', mode: 0o644, uid: 0, gid: 0, size: 0 },
      { path: '/home/user', type: 'dir', mode: 0o1777, uid: 1000, gid: 100, size: 0 },
      { path: '/home/other', type: 'file', mode: 0o644, uid: 2000, gid: 2000, size: 1 },
    ]);
    expect(facts.whiteouts).toEqual([]);
    expect(facts.opaqueDirs).toEqual([]);
    expect(facts.bodies).toEqual({});
  });

  it('computes the diffId and uncompressed size, and checks an expected diff_id', async () => {
    const tar = await packTar([{ name: 'a', body: 'hello' }]);
    const verifyDiffId = true;
    const facts = await scanTar(tar, noCapture, { expectedDiffId: digestOf(tar), verifyDiffId });
    expect(facts.diffId).toBe(digestOf(tar));
    expect(facts.uncompressedSize).toBe(tar.length);
    expect(facts.digest).toBe(digestOf(gzip(tar)));
    const error = await rejection(
      scanTar(tar, noCapture, { expectedDiffId: digestOf('other'), verifyDiffId }),
    );
    expect(error.code).toBe('ERR_DIGEST_MISMATCH');
    expect(error.image).toBe('test-image');
    expect(error.blob).toBe(digestOf(gzip(tar)));
  });

  it('hashes a compressed tar for its diffId only when asked; an uncompressed layer is its own diffId', async () => {
    const tar = await packTar([{ name: 'a', body: 'hello' }]);
    // Not asked (IVOC_VERIFY_DIFF_IDS unset): the compressed layer's diffId stays unknown, unchecked.
    const unchecked = await scanTar(tar, noCapture, {
      expectedDiffId: digestOf('other'),
      verifyDiffId: false,
    });
    expect(unchecked.diffId).toBeUndefined();
    expect(unchecked.entries.map((e) => e.path)).toEqual(['/a']);
    // An uncompressed layer: the verified blob digest is the diffId, and it is always checked.
    const plain = descriptorOf(tar, MediaType.ociLayer);
    const facts = await scanLayer(verifiedStream(tar, plain), plain, noCapture, { verifyDiffId: false });
    expect(facts.diffId).toBe(digestOf(tar));
    const error = await rejection(
      scanLayer(verifiedStream(tar, plain), plain, noCapture, {
        expectedDiffId: digestOf('other'),
        verifyDiffId: false,
      }),
    );
    expect(error.code).toBe('ERR_DIGEST_MISMATCH');
    // The environment switch turns hashing on.
    const saved = process.env.IVOC_VERIFY_DIFF_IDS;
    process.env.IVOC_VERIFY_DIFF_IDS = '1';
    try {
      expect((await scanTar(tar)).diffId).toBe(digestOf(tar));
    } finally {
      if (saved === undefined) delete process.env.IVOC_VERIFY_DIFF_IDS;
      else process.env.IVOC_VERIFY_DIFF_IDS = saved;
    }
  });

  it('turns whiteout markers into whiteouts and opaque dirs, not entries', async () => {
    const facts = await scanEntries([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/.wh.shadow' },
      { name: '.wh.tmp' },
      { name: 'var/cache/.wh..wh..opq' },
      { name: '.wh..wh..opq' },
      { name: 'var/.wh..wh.plnk', type: 'directory' },
      { name: 'var/cache/new', body: 'n' },
    ]);
    expect(facts.entries.map((entry) => entry.path)).toEqual(['/etc', '/var/cache/new']);
    expect(facts.whiteouts).toEqual(['/etc/shadow', '/tmp']);
    expect(facts.opaqueDirs).toEqual(['/var/cache', '/']);
  });

  it('reads pax and GNU long names and long link names', async () => {
    const longDir = `opt/${'d'.repeat(120)}/${'e'.repeat(120)}`;
    const longName = `${longDir}/${'f'.repeat(150)}.txt`;
    const longTarget = `/${longDir}/${'t'.repeat(140)}`;
    const facts = await scanEntries([
      { name: longName, body: 'long' },
      { name: 'opt/link', type: 'symlink', linkname: longTarget },
    ]);
    expect(facts.entries[0]?.path).toBe(`/${longName}`);
    expect(facts.entries[1]?.linkname).toBe(longTarget);

    // GNU 'L' and 'K' records written by hand.
    const gnuName = `srv/${'g'.repeat(200)}`;
    const gnuTarget = `srv/${'h'.repeat(200)}`;
    const gnu = rawTar([
      rawEntry('././@LongLink', Buffer.from(`${gnuName}\0`), 'L'),
      rawEntry(gnuName.slice(0, 99), Buffer.from('gnu')),
      rawEntry('././@LongLink', Buffer.from(`${gnuTarget}\0`), 'K'),
      rawEntry('srv/hl', Buffer.alloc(0), '1', gnuTarget.slice(0, 99)),
    ]);
    const gnuFacts = await scanTar(gnu);
    expect(gnuFacts.entries.map((entry) => [entry.path, entry.linkname])).toEqual([
      [`/${gnuName}`, undefined],
      ['/srv/hl', `/${gnuTarget}`],
    ]);
  });

  it('records a hard link to a missing target as it is (the merged view checks lower layers)', async () => {
    const facts = await scanEntries([{ name: 'usr/bin/x', type: 'link', linkname: 'usr/bin/missing' }]);
    expect(facts.entries).toEqual([
      {
        path: '/usr/bin/x',
        type: 'hardlink',
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 0,
        linkname: '/usr/bin/missing',
      },
    ]);
  });

  it('accepts an empty layer blob and an empty tar', async () => {
    const empty = Buffer.alloc(0);
    const descriptor = descriptorOf(empty, MediaType.ociLayer);
    const facts = await scanLayer(verifiedStream(empty, descriptor), descriptor, noCapture);
    expect(facts.entries).toEqual([]);
    expect(facts.diffId).toBe(digestOf(empty));
    const tarFacts = await scanTar(rawTar([]));
    expect(tarFacts.entries).toEqual([]);
  });
});

describe('scanLayer: captures and probes', () => {
  const secret = [
    '-----BEGIN OPENSSH PRIVATE KEY-----',
    'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW',
    '-----END OPENSSH PRIVATE KEY-----',
    '',
  ].join('\n');

  it('keeps bodies by exact path and by glob, truncated at maxBodyBytes', async () => {
    const big = 'x'.repeat(5000);
    const facts = await scanEntries(
      [
        { name: 'etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n' },
        { name: 'etc/group', body: 'root:x:0:\n' },
        { name: 'etc/big.conf', body: big },
        { name: 'etc/ssl/a.conf', body: 'deep' },
        { name: 'opt/x/y/z/profile.d/p.sh', body: 'export A=1\n' },
        { name: 'etc/empty.conf' },
        { name: 'etc/dir.conf', type: 'directory' },
        { name: 'etc/ab', body: 'ab' },
        { name: 'etc/abc', body: 'abc' },
      ],
      {
        paths: ['/etc/passwd', '/etc/missing', 'etc/group'],
        globs: ['/etc/*.conf', '/opt/**/profile.d/*.sh', '/etc/a?'],
        probes: [],
        maxBodyBytes: 1024,
      },
    );
    const text = (path: string) => Buffer.from(facts.bodies[path]?.base64 ?? '', 'base64').toString();
    expect(Object.keys(facts.bodies).sort()).toEqual([
      '/etc/ab',
      '/etc/big.conf',
      '/etc/empty.conf',
      '/etc/group',
      '/etc/passwd',
      '/opt/x/y/z/profile.d/p.sh',
    ]);
    expect(text('/etc/passwd')).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(facts.bodies['/etc/passwd']?.truncated).toBe(false);
    expect(text('/etc/big.conf')).toBe('x'.repeat(1024));
    expect(facts.bodies['/etc/big.conf']?.truncated).toBe(true);
    expect(facts.bodies['/etc/empty.conf']).toEqual({ base64: '', truncated: false });
    expect(text('/opt/x/y/z/profile.d/p.sh')).toBe('export A=1\n');
  });

  it('runs shebang, elf and private-key probes without keeping bodies or key material', async () => {
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(4000, 1)]);
    const facts = await scanEntries(
      [
        { name: 'usr/bin/script', body: '#!/usr/bin/env python3\nprint(1)\n', mode: 0o755 },
        { name: 'usr/bin/crlf', body: '#!/bin/sh\r\necho\r\n', mode: 0o700 },
        { name: 'usr/bin/prog', body: elf, mode: 0o755 },
        { name: 'usr/share/not-exec', body: '#!/bin/sh\n', mode: 0o644 },
        { name: 'usr/share/elf-not-exec', body: elf, mode: 0o644 },
        { name: 'root/.ssh/id_ed25519', body: secret, mode: 0o600 },
        {
          name: 'etc/ssl/private/rsa.pem',
          body: `junk\n${secret.replaceAll('OPENSSH', 'RSA')}`,
          mode: 0o600,
        },
        {
          name: 'etc/ssl/certs/ca.pem',
          body: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
        },
        { name: 'srv/huge.pem', body: Buffer.concat([Buffer.from(secret), Buffer.alloc(1024 * 1024)]) },
      ],
      { paths: [], globs: [], probes: ['shebang', 'elf', 'private-key'], maxBodyBytes: 0 },
    );
    const probes = Object.fromEntries(facts.entries.map((entry) => [entry.path, entry.probes]));
    expect(probes['/usr/bin/script']).toEqual({ shebang: '#!/usr/bin/env python3' });
    expect(probes['/usr/bin/crlf']).toEqual({ shebang: '#!/bin/sh' });
    expect(probes['/usr/bin/prog']).toEqual({ elf: 'elf' });
    expect(probes['/usr/share/not-exec']).toBeUndefined();
    expect(probes['/usr/share/elf-not-exec']).toBeUndefined();
    expect(probes['/root/.ssh/id_ed25519']).toEqual({ 'private-key': 'OPENSSH PRIVATE KEY' });
    expect(probes['/etc/ssl/private/rsa.pem']).toEqual({ 'private-key': 'RSA PRIVATE KEY' });
    expect(probes['/etc/ssl/certs/ca.pem']).toBeUndefined();
    expect(probes['/srv/huge.pem']).toBeUndefined();
    expect(facts.bodies).toEqual({});
    expect(JSON.stringify(facts)).not.toContain('b3BlbnNzaC1rZXkt');
  });

  it('finds a private key marker split across chunk boundaries', async () => {
    // Bodies arrive in the chunks the decompressor produces: put the marker at every
    // offset around a 64 KiB boundary of an uncompressed (chunked) layer.
    const entries: TestEntry[] = [];
    for (let shift = 0; shift < 40; shift += 3) {
      const prefix = Buffer.alloc(65536 - 512 - 10 + shift, 0x61);
      entries.push({ name: `keys/k${shift}`, body: Buffer.concat([prefix, Buffer.from(secret)]) });
    }
    for (const chunkSize of [7, 4096, 65536]) {
      const tar = await packTar(entries.slice(0, chunkSize === 7 ? 2 : undefined));
      const descriptor = descriptorOf(tar, MediaType.ociLayer);
      const facts = await scanLayer(verifiedStream(tar, descriptor, chunkSize), descriptor, {
        paths: [],
        globs: [],
        probes: ['private-key'],
        maxBodyBytes: 0,
      });
      for (const entry of facts.entries) {
        expect(entry.probes, `${entry.path} with ${chunkSize}-byte chunks`).toEqual({
          'private-key': 'OPENSSH PRIVATE KEY',
        });
      }
    }
  });
});

describe('scanLayer: one body consumer and probe runner for a whole layer', () => {
  // The scan reuses its body consumer, probe runner and their buffers from one file to
  // the next: nothing of a file (head bytes, a marker's tail, a found label, a kept
  // prefix) may reach the next. Oracle: every file scanned alone in a layer of its own.
  const marker = '-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n';
  const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(300, 1)]);
  const files: TestEntry[] = [
    { name: 'keys/split', body: `${'a'.repeat(5000)}${marker}` },
    // Ends with the first half of a marker, and the next file starts with the rest.
    { name: 'keys/head-half', body: `${'b'.repeat(3000)}-----BEGIN RSA PRIV` },
    { name: 'keys/tail-half', body: 'ATE KEY-----\nMIIB\n' },
    { name: 'usr/bin/tool', body: `#!/bin/sh\n${'c'.repeat(6000)}`, mode: 0o755 },
    { name: 'usr/bin/short', body: '#', mode: 0o755 },
    { name: 'usr/bin/prog', body: elf, mode: 0o755 },
    { name: 'usr/share/elf-data', body: elf },
    { name: 'etc/app.conf', body: `${marker}${'d'.repeat(3000)}` },
    { name: 'etc/empty.conf' },
    { name: 'etc/plain.conf', body: 'key=value\n' },
    { name: 'srv/big.pem', body: Buffer.concat([Buffer.alloc(privateKeyProbeMaxSize), Buffer.from(marker)]) },
    { name: 'keys/last', body: marker },
  ];
  const spec: CaptureSpec = {
    paths: [],
    globs: ['/etc/*.conf', '/usr/bin/short'],
    probes: ['shebang', 'elf', 'private-key'],
    maxBodyBytes: 2048,
  };

  it('gives every file the facts it gets alone, whatever the chunking', async () => {
    const alone = new Map<string, { probes: unknown; body: unknown }>();
    for (const file of files) {
      const facts = await scanTar(await packTar([file]), spec);
      const path = `/${file.name}`;
      alone.set(path, { probes: facts.entries[0]?.probes, body: facts.bodies[path] });
    }
    expect(alone.get('/keys/split')?.probes).toEqual({ 'private-key': 'RSA PRIVATE KEY' });
    expect(alone.get('/keys/tail-half')?.probes).toBeUndefined();
    expect(alone.get('/usr/bin/tool')?.probes).toEqual({ shebang: '#!/bin/sh' });
    expect(alone.get('/usr/bin/prog')?.probes).toEqual({ elf: 'elf' });
    expect(alone.get('/srv/big.pem')?.probes).toBeUndefined();
    expect(alone.get('/etc/app.conf')?.body).toMatchObject({ truncated: true });

    const tar = await packTar(files);
    for (const chunkSize of [7, 512, 4096, 65536]) {
      const descriptor = descriptorOf(tar, MediaType.ociLayer);
      const facts = await scanLayer(verifiedStream(tar, descriptor, chunkSize), descriptor, spec);
      for (const entry of facts.entries) {
        const expected = alone.get(entry.path);
        expect(
          { probes: entry.probes, body: facts.bodies[entry.path] },
          `${entry.path}, ${chunkSize}`,
        ).toEqual(expected);
      }
      expect(facts.entries.length, `${chunkSize}`).toBe(files.length);
    }
  });

  it('finds a marker cut at any byte by the chunking, and none from the end of a previous file', () => {
    for (let chunk = 1; chunk <= 24; chunk++) {
      const body = Buffer.from(`xyz${marker}`);
      const runner = new ProbeRunner(planProbes(new Set(['private-key']), 0o644, body.length)!, body.length);
      for (let at = 0; at < body.length; at += chunk) runner.update(body.subarray(at, at + chunk));
      expect(runner.results(), `chunks of ${chunk}`).toEqual({ 'private-key': 'RSA PRIVATE KEY' });
      // The same runner, reset for a body that completes the previous one's tail.
      const first = Buffer.from('aaaa-----BEGIN RSA PRIV');
      const second = Buffer.from('ATE KEY-----\n');
      runner.reset(planProbes(new Set(['private-key']), 0o644, first.length)!, first.length);
      for (let at = 0; at < first.length; at += chunk) runner.update(first.subarray(at, at + chunk));
      expect(runner.results()).toBeUndefined();
      runner.reset(planProbes(new Set(['private-key']), 0o644, second.length)!, second.length);
      for (let at = 0; at < second.length; at += chunk) runner.update(second.subarray(at, at + chunk));
      expect(runner.results(), `chunks of ${chunk}`).toBeUndefined();
    }
  });
});

describe('scanLayer: bad input', () => {
  it("refuses '../' and absolute entry names, naming image, layer and entry", async () => {
    for (const name of ['../etc/passwd', 'a/../../etc/passwd', '/etc/passwd']) {
      const tar = rawTar([rawEntry('ok', Buffer.from('fine')), rawEntry(name, Buffer.from('evil'))]);
      const error = await rejection(scanTar(tar));
      expect(error.code).toBe('ERR_LAYER_UNSAFE');
      expect(error.image).toBe('test-image');
      expect(error.blob).toBe(digestOf(gzip(tar)));
      expect(error.message).toContain(JSON.stringify(name));
      expect(error.describe()).toContain('test-image');
    }
    const link = rawTar([rawEntry('a', Buffer.from('a')), rawEntry('b', Buffer.alloc(0), '1', '../../a')]);
    expect((await rejection(scanTar(link))).code).toBe('ERR_LAYER_UNSAFE');
  });

  it('reports a corrupt tar as ERR_LAYER_CORRUPT naming image and layer', async () => {
    const tar = rawTar([rawEntry('a', Buffer.from('hello'))]);
    tar[10] = (tar[10] as number) ^ 0xff; // breaks the header checksum
    const error = await rejection(scanTar(tar));
    expect(error.code).toBe('ERR_LAYER_CORRUPT');
    expect(error.image).toBe('test-image');
    expect(error.blob).toBe(digestOf(gzip(tar)));

    const cut = rawEntry('big', Buffer.alloc(10000, 1)).subarray(0, 3000);
    expect((await rejection(scanTar(cut))).code).toBe('ERR_LAYER_CORRUPT');
  });

  it('rejects on a digest mismatch of the input stream: never facts from unverified data', async () => {
    const tar = await packTar([{ name: 'etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n' }]);
    const blob = gzip(tar);
    const descriptor = { ...descriptorOf(blob), digest: digestOf('something else') };
    const error = await rejection(
      scanLayer(verifiedStream(blob, descriptor), descriptor, noCapture, { image: 'test-image' }),
    );
    expect(error.code).toBe('ERR_DIGEST_MISMATCH');
    expect(error.blob).toBe(descriptor.digest);

    const short = { ...descriptorOf(blob), size: blob.length + 10 };
    expect((await rejection(scanLayer(verifiedStream(blob, short), short, noCapture))).code).toBe(
      'ERR_SIZE_MISMATCH',
    );
  });

  it('enforces the entry cap', async () => {
    const entries = Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, body: 'x' }));
    const tar = await packTar(entries);
    const error = await rejection(scanTar(tar, noCapture, { maxEntries: 10 }));
    expect(error.code).toBe('ERR_ENTRY_LIMIT');
    expect(error.blob).toBe(digestOf(gzip(tar)));
  });
});
