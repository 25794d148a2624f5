import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ImageError } from '../src/errors.js';
import {
  type Decompressor,
  decompressor,
  detectCompression,
  externalInflaters,
  gzipProbeBytes,
  maxLayerBytesFromEnv,
  zstdWindowSize,
} from '../src/oci/layer/decompress.js';
import type { CaptureSpec } from '../src/oci/layer/facts.js';
import { maxGzipHeaderBytes, parseGzipHeader } from '../src/oci/layer/inflate-gzip.js';
import { scanLayer } from '../src/oci/layer/scan-layer.js';
import { MediaType } from '../src/oci/media-types.js';
import { descriptorOf, gzip, haveZstdBinary, packTar, verifiedStream, zstd } from './layer-helpers.js';

const spec: CaptureSpec = { paths: ['/etc/os-release'], globs: [], probes: ['shebang'], maxBodyBytes: 4096 };
const external = externalInflaters();
const inflaters = [
  { name: 'external', inflater: 'auto' as const, skip: !external.gzip },
  { name: 'in-process (IVOC_INFLATER=zlib)', inflater: 'zlib' as const, skip: false },
];

/** Log-like lines: about 20:1 under gzip -1, over the ratio that picks the external inflater. */
function logBody(lines: number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < lines; i++) parts.push(`line ${i} of a very regular log file, nothing to see here\n`);
  return Buffer.from(parts.join(''));
}

/** Text-like bytes (words from a small vocabulary): about 7:1 under gzip -1. */
function textBody(bytes: number): Buffer {
  const words = ['layer', 'image', 'digest', 'config', 'manifest', 'blob', 'tar', 'gzip', 'root', 'etc'];
  const parts: string[] = [];
  let length = 0;
  let seed = 7;
  while (length < bytes) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const word = words[seed % words.length] as string;
    parts.push(word);
    length += word.length + 1;
  }
  return Buffer.from(parts.join(' ')).subarray(0, bytes);
}

async function sampleTar(): Promise<Buffer> {
  return packTar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/os-release', body: 'ID=debian\nVERSION_ID=12\n' },
    { name: 'usr/bin/run', body: '#!/bin/bash\nexec "$@"\n', mode: 0o755 },
    { name: 'usr/share/big.bin', body: Buffer.alloc(3 * 1024 * 1024, 0x5a) },
  ]);
}

/** Runs `data` through a decompressor and collects the output. */
async function inflate(
  data: Buffer,
  options: Parameters<typeof decompressor>[1] = {},
  hint: Parameters<typeof decompressor>[0] = 'unknown',
): Promise<{ output: Buffer; inflate: Decompressor }> {
  const inflate = decompressor(hint, options);
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from([data.subarray(0, 1), data.subarray(1, 3), data.subarray(3)], { objectMode: false }),
    inflate,
    new Writable({
      write(chunk, _encoding, callback) {
        chunks.push(chunk as Buffer);
        callback();
      },
    }),
  );
  return { output: Buffer.concat(chunks), inflate };
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

afterEach(() => {
  delete process.env.IVOC_INFLATER;
  delete process.env.IVOC_MAX_LAYER_BYTES;
});

describe('detectCompression', () => {
  it('reads magic bytes, waiting for enough of them', () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('gzip');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe('zstd');
    expect(detectCompression(Buffer.from('etc/passwd'))).toBe('none');
    expect(detectCompression(Buffer.from([0x1f]), false)).toBeUndefined();
    expect(detectCompression(Buffer.from([0x28, 0xb5]), false)).toBeUndefined();
    expect(detectCompression(Buffer.from([0x28, 0xb5]), true)).toBe('none');
    expect(detectCompression(Buffer.alloc(0), true)).toBe('none');
  });

  it('reads the zstd window size of a frame header', () => {
    // window descriptor: exponent 10 (2^20 = 1 MiB), mantissa 0
    expect(zstdWindowSize(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 10 << 3]))).toBe(1024 * 1024);
    // single segment, 1-byte content size 200
    expect(zstdWindowSize(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, 200]))).toBe(200);
    expect(zstdWindowSize(Buffer.from('not zstd'))).toBeUndefined();
  });

  it('takes the per-layer cap from IVOC_MAX_LAYER_BYTES', () => {
    expect(maxLayerBytesFromEnv({})).toBe(32 * 1024 ** 3);
    expect(maxLayerBytesFromEnv({ IVOC_MAX_LAYER_BYTES: '1000' })).toBe(1000);
    expect(maxLayerBytesFromEnv({ IVOC_MAX_LAYER_BYTES: 'lots' })).toBe(32 * 1024 ** 3);
  });
});

describe.each(inflaters)('decompression, $name inflater', ({ inflater, skip }) => {
  it.skipIf(skip)('inflates gzip, zstd and plain tar alike, by media type', async () => {
    const tar = await sampleTar();
    const blobs = [
      { blob: gzip(tar), mediaType: MediaType.ociLayerGzip },
      { blob: gzip(tar), mediaType: MediaType.dockerLayerGzip },
      { blob: tar, mediaType: MediaType.ociLayer },
      ...(haveZstdBinary ? [{ blob: zstd(tar), mediaType: MediaType.ociLayerZstd }] : []),
    ];
    const results = [];
    for (const { blob, mediaType } of blobs) {
      const descriptor = descriptorOf(blob, mediaType);
      results.push(
        await scanLayer(verifiedStream(blob, descriptor), descriptor, spec, { inflater, verifyDiffId: true }),
      );
    }
    for (const facts of results) {
      expect(facts.diffId).toBe(results[0]?.diffId);
      expect(facts.entries).toEqual(results[0]?.entries);
      expect(facts.bodies).toEqual(results[0]?.bodies);
      expect(facts.uncompressedSize).toBe(tar.length);
    }
    expect(Buffer.from(results[0]?.bodies['/etc/os-release']?.base64 ?? '', 'base64').toString()).toContain(
      'ID=debian',
    );
  });

  it.skipIf(skip)('trusts magic bytes over a wrong media type', async () => {
    const tar = await sampleTar();
    const cases = [
      { blob: gzip(tar), mediaType: MediaType.ociLayerZstd },
      { blob: gzip(tar), mediaType: MediaType.ociLayer },
      { blob: tar, mediaType: MediaType.ociLayerGzip },
      { blob: tar, mediaType: 'application/octet-stream' },
      ...(haveZstdBinary
        ? [
            { blob: zstd(tar), mediaType: MediaType.dockerLayerGzip },
            { blob: zstd(tar), mediaType: MediaType.dockerLayer },
          ]
        : []),
    ];
    for (const { blob, mediaType } of cases) {
      const descriptor = descriptorOf(blob, mediaType);
      const facts = await scanLayer(verifiedStream(blob, descriptor), descriptor, spec, { inflater });
      expect(facts.entries.map((entry) => entry.path)).toEqual([
        '/etc',
        '/etc/os-release',
        '/usr/bin/run',
        '/usr/share/big.bin',
      ]);
      expect(facts.entries[2]?.probes).toEqual({ shebang: '#!/bin/bash' });
    }
  });

  it.skipIf(skip)(
    'uses the expected inflater, also when IVOC_INFLATER=zlib is set in the environment',
    async () => {
      const tar = await sampleTar();
      // Very compressible, more than gzipProbeBytes of it compressed: the external inflater's case.
      const text = await packTar([{ name: 'app.log', body: logBody(200_000) }]);
      if (inflater === 'zlib') process.env.IVOC_INFLATER = 'zlib';
      const gzText = gzip(text, 1);
      expect(gzText.length).toBeGreaterThan(gzipProbeBytes);
      const gz = await inflate(gzText);
      expect(gz.output.equals(text)).toBe(true);
      expect(gz.inflate.compression).toBe('gzip');
      expect(gz.inflate.inflaterName).toBe(
        inflater === 'zlib' ? 'zlib' : external.gzip?.command.split('/').pop(),
      );
      // A small gzip layer, or one that does not compress, is inflated in-process whatever is installed.
      const small = await inflate(gzip(tar));
      expect(small.output.equals(tar)).toBe(true);
      expect(small.inflate.inflaterName).toBe('zlib');
      const noise = await packTar([{ name: 'noise.bin', body: randomBytes(1024 * 1024) }]);
      const gzNoise = await inflate(gzip(noise, 1));
      expect(gzNoise.output.equals(noise)).toBe(true);
      expect(gzNoise.inflate.inflaterName).toBe('zlib');
      const words = await packTar([{ name: 'words.txt', body: textBody(1024 * 1024) }]);
      const gzWords = await inflate(gzip(words, 1));
      expect(gzWords.output.equals(words)).toBe(true);
      expect(gzWords.inflate.inflaterName).toBe('zlib');
      if (haveZstdBinary) {
        const zs = await inflate(zstd(tar));
        expect(zs.output.equals(tar)).toBe(true);
        expect(zs.inflate.compression).toBe('zstd');
        expect(zs.inflate.inflaterName).toBe(inflater === 'zlib' || !external.zstd ? 'fzstd' : 'zstd');
      }
      const plain = await inflate(tar);
      expect(plain.output.equals(tar)).toBe(true);
      expect(plain.inflate.inflaterName).toBe('none');
      const empty = await inflate(Buffer.alloc(0));
      expect(empty.output.length).toBe(0);
    },
  );

  it.skipIf(skip)('reports truncated or corrupt gzip and zstd as ERR_LAYER_CORRUPT', async () => {
    const tar = await sampleTar();
    const compressed = gzip(tar);
    const truncated = compressed.subarray(0, Math.floor(compressed.length / 2));
    const descriptor = descriptorOf(truncated, MediaType.ociLayerGzip);
    const error = await rejection(
      scanLayer(verifiedStream(truncated, descriptor), descriptor, spec, { inflater, image: 'img' }),
    );
    expect(error.code).toBe('ERR_LAYER_CORRUPT');
    expect(error.message).toContain('truncated or corrupt gzip data');
    expect(error.image).toBe('img');
    expect(error.blob).toBe(descriptor.digest);

    const garbage = Buffer.concat([compressed.subarray(0, 10), Buffer.alloc(5000, 0xee)]);
    expect((await rejection(inflate(garbage, { inflater }))).code).toBe('ERR_LAYER_CORRUPT');

    if (haveZstdBinary) {
      const z = zstd(tar);
      const cut = z.subarray(0, Math.floor(z.length / 2));
      const zd = descriptorOf(cut, MediaType.ociLayerZstd);
      const zError = await rejection(scanLayer(verifiedStream(cut, zd), zd, spec, { inflater }));
      expect(zError.code).toBe('ERR_LAYER_CORRUPT');
      expect(zError.message).toContain('zstd');
    }
  });

  it.skipIf(skip)('stops a decompression bomb at the cap (gzip and zstd)', async () => {
    const zeros = Buffer.alloc(50 * 1024 * 1024);
    const bombs = [gzip(zeros, 9), ...(haveZstdBinary ? [zstd(zeros)] : [])];
    for (const bomb of bombs) {
      const descriptor = descriptorOf(bomb, MediaType.ociLayerGzip);
      const error = await rejection(
        scanLayer(verifiedStream(bomb, descriptor), descriptor, spec, {
          inflater,
          maxBytes: 10 * 1024 * 1024,
          image: 'bomb',
        }),
      );
      expect(error.code).toBe('ERR_DECOMPRESSION_LIMIT');
      expect(error.blob).toBe(descriptor.digest);
    }
    process.env.IVOC_MAX_LAYER_BYTES = String(1024 * 1024);
    const viaEnv = await rejection(inflate(bombs[0] as Buffer, { inflater }));
    expect(viaEnv.code).toBe('ERR_DECOMPRESSION_LIMIT');
  });
});

describe('in-process zstd (fzstd)', () => {
  it('refuses a frame window over 128 MiB before allocating it', async () => {
    // Frame header: no single segment, window descriptor exponent 20 (1 GiB), then junk.
    const frame = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3]), Buffer.alloc(64, 1)]);
    const error = await rejection(inflate(frame, { inflater: 'zlib' }));
    expect(error.code).toBe('ERR_LAYER_CORRUPT');
    expect(error.message).toContain('window');
  });

  it.skipIf(!haveZstdBinary)('honours backpressure and streams multi-frame input', async () => {
    const part = Buffer.alloc(5 * 1024 * 1024, 0x41);
    const twoFrames = Buffer.concat([zstd(part), zstd(Buffer.from('tail'))]);
    const inflate = decompressor('zstd', { inflater: 'zlib' });
    const chunks: Buffer[] = [];
    await pipeline(
      Readable.from([twoFrames], { objectMode: false }),
      inflate,
      new Writable({
        highWaterMark: 1024,
        write(chunk, _encoding, callback) {
          chunks.push(chunk as Buffer);
          setImmediate(callback);
        },
      }),
    );
    const output = Buffer.concat(chunks);
    expect(output.length).toBe(part.length + 4);
    expect(output.subarray(-4).toString()).toBe('tail');
  });
});

/** Inflates `pieces` (written one by one) with a reader that takes its time; the in-process inflater must run. */
async function inflateSlowly(pieces: Buffer[], inflater: 'auto' | 'zlib'): Promise<Buffer> {
  const inflate = decompressor('gzip', { inflater });
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from(pieces, { objectMode: false }),
    inflate,
    new Writable({
      highWaterMark: 1024,
      write(chunk, _encoding, callback) {
        chunks.push(Buffer.from(chunk as Buffer));
        setImmediate(callback);
      },
    }),
  );
  expect(inflate.inflaterName).toBe('zlib');
  return Buffer.concat(chunks);
}

/** Inflates `data` in-process, written in pieces of `size` bytes, with a reader that takes its time. */
function inflateInPieces(data: Buffer, size: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) pieces.push(data.subarray(at, at + size));
  return inflateSlowly(pieces, 'zlib');
}

describe('in-process gzip input gathering', () => {
  it('keeps every byte in order with small input chunks and a slow reader', async () => {
    // Incompressible, so that the in-process inflater is chosen; small chunks are gathered
    // into reused buffers, big ones go as they are: neither may be reused too early.
    const data = randomBytes(6 * 1024 * 1024 + 123);
    const compressed = gzip(data, 1);
    const pieces: Buffer[] = [];
    for (let at = 0, i = 0; at < compressed.length; i++) {
      const size = i % 50 === 49 ? 700 * 1024 : 1 + ((i * 7919) % (24 * 1024));
      pieces.push(compressed.subarray(at, at + size));
      at += size;
    }
    expect((await inflateSlowly(pieces, 'auto')).equals(data)).toBe(true);
  });
});

/** A gzip member of `data` whose header carries FEXTRA, FNAME, FCOMMENT and FHCRC. */
function gzipWithHeaderFields(data: Buffer): Buffer {
  const plain = gzip(data, 1);
  const extra = Buffer.from([4, 0, 0x41, 0x42, 0, 0]); // XLEN 4: one subfield 'AB', no data
  const header = Buffer.concat([
    Buffer.from([0x1f, 0x8b, 8, 0x04 | 0x08 | 0x10 | 0x02]),
    plain.subarray(4, 10),
    extra,
    Buffer.from('layer.tar\0comment\0', 'latin1'),
    Buffer.from([0xaa, 0xbb]), // FHCRC: skipped, as documented
  ]);
  return Buffer.concat([header, plain.subarray(10)]);
}

describe('in-process gzip framing (raw inflate, our header and trailer)', () => {
  it('parses member headers, or says what is wrong with them', () => {
    const plain = gzip(Buffer.from('x'));
    expect(parseGzipHeader(plain)).toEqual({ length: 10 });
    expect(parseGzipHeader(plain.subarray(0, 9))).toBeUndefined();
    expect(parseGzipHeader(gzipWithHeaderFields(Buffer.from('x')))).toEqual({ length: 10 + 6 + 18 + 2 });
    const named = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3]),
      Buffer.from('no end'),
    ]);
    expect(parseGzipHeader(named)).toBeUndefined();
    expect(parseGzipHeader(Buffer.from([0x1f, 0x8c]))).toEqual({ error: 'incorrect header check' });
    expect(parseGzipHeader(Buffer.from([0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3]))).toEqual({
      error: 'unknown compression method',
    });
    expect(parseGzipHeader(Buffer.from([0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 3]))).toEqual({
      error: 'unknown header flags set',
    });
  });

  it('reads concatenated members, header fields and zero padding, whatever the input pieces', async () => {
    // The first member is ours (raw inflate): its end falls inside a write, and the unconsumed input
    // goes back to the framing; the members after it go to node:zlib's gunzip. Member boundaries,
    // trailers and headers fall across pieces of every size here.
    const parts = [textBody(300_000), randomBytes(3 * 1024 * 1024 + 5), Buffer.alloc(0), Buffer.from('tail')];
    const stream = Buffer.concat([
      gzipWithHeaderFields(parts[0] as Buffer),
      gzip(parts[1] as Buffer, 1),
      gzip(parts[2] as Buffer),
      gzip(parts[3] as Buffer, 9),
      Buffer.alloc(700), // padding after the last member, as some tools write
    ]);
    const expected = Buffer.concat(parts);
    for (const size of [7, 8, 9, 4093, 65536, 600 * 1024, stream.length]) {
      const output = await inflateInPieces(stream, size);
      expect(output.length, `pieces of ${size}`).toBe(expected.length);
      expect(output.equals(expected), `pieces of ${size}`).toBe(true);
    }
    // Byte by byte through small members, where all of it is framing.
    const small = Buffer.concat([
      gzipWithHeaderFields(Buffer.from('a')),
      gzip(Buffer.from('bc')),
      gzip(Buffer.alloc(0)),
    ]);
    expect((await inflateInPieces(Buffer.concat([small, Buffer.alloc(3)]), 1)).toString()).toBe('abc');
  });

  it('ignores zero padding after a single member, whatever follows the zeros', async () => {
    const data = textBody(200_000);
    const padded = Buffer.concat([gzip(data, 1), Buffer.alloc(1000), Buffer.from('anything')]);
    for (const size of [1, 13, 4096, padded.length]) {
      expect((await inflateInPieces(padded, size)).equals(data), `pieces of ${size}`).toBe(true);
    }
  });

  it('reads a long header trickling in a byte at a time, then its data', async () => {
    // 100 KB of file name, one byte per write: parsed a few times over, kept in a few parts.
    const data = textBody(30_000);
    const plain = gzip(data, 1);
    const header = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 8, 0x08]),
      plain.subarray(4, 10),
      Buffer.alloc(100_000, 0x6e),
      Buffer.from([0]),
    ]);
    const output = await inflateInPieces(Buffer.concat([header, plain.subarray(10)]), 1);
    expect(output.equals(data)).toBe(true);
  });

  it('stops cleanly when destroyed mid-stream or cut inside the first header', async () => {
    const cut = await rejection(
      inflate(gzipWithHeaderFields(Buffer.from('x')).subarray(0, 20), { inflater: 'zlib' }),
    );
    expect(cut.message).toBe('truncated or corrupt gzip data (unexpected end of file)');
    const stream = decompressor('gzip', { inflater: 'zlib' });
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const closed = new Promise((resolve) => stream.once('close', resolve));
    stream.write(gzip(randomBytes(4 * 1024 * 1024), 1).subarray(0, 2 * 1024 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 20));
    stream.destroy();
    await closed;
    const seen = chunks.length;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(chunks.length).toBe(seen);
  });

  it('reads a stream of many tiny members (node:zlib takes them from the second on)', async () => {
    const members = Array.from({ length: 20_000 }, (_, i) => gzip(Buffer.from(`${i},`)));
    const expected = Array.from({ length: 20_000 }, (_, i) => `${i},`).join('');
    const stream = Buffer.concat(members);
    for (const size of [64 * 1024, stream.length]) {
      expect((await inflateInPieces(stream, size)).toString()).toBe(expected);
    }
  });

  it('refuses what node:zlib refuses after and around a member, naming the problem', async () => {
    const member = gzip(textBody(100_000), 1);
    const cases: Array<[string, Buffer, string]> = [
      ['garbage after a member', Buffer.concat([member, Buffer.from('not gzip')]), 'incorrect header check'],
      ['a wrong ISIZE', Buffer.from(member).fill(0x7f, member.length - 4), 'incorrect length check'],
      ['a cut trailer', member.subarray(0, member.length - 3), 'unexpected end of file'],
      ['no trailer', member.subarray(0, member.length - 8), 'unexpected end of file'],
      ['a cut second header', Buffer.concat([member, member.subarray(0, 5)]), 'unexpected end of file'],
      ['a cut deflate stream', member.subarray(0, member.length - 100), 'unexpected end of file'],
      [
        'a header that never ends',
        Buffer.concat([
          Buffer.from([0x1f, 0x8b, 8, 0x08, 0, 0, 0, 0, 0, 3]),
          Buffer.alloc(maxGzipHeaderBytes + 1, 0x61),
        ]),
        `gzip header over ${maxGzipHeaderBytes} bytes`,
      ],
    ];
    for (const [name, data, detail] of cases) {
      const error = await rejection(inflate(data, { inflater: 'zlib', image: 'img', blob: 'sha256:ab' }));
      expect(error.code, name).toBe('ERR_LAYER_CORRUPT');
      expect(error.message, name).toBe(`truncated or corrupt gzip data (${detail})`);
      expect(error.blob, name).toBe('sha256:ab');
    }
  });

  it("does not check the first member's CRC-32 (the blob digest covers the bytes); node:zlib checks later ones", async () => {
    const data = textBody(50_000);
    const member = gzip(data, 1);
    const wrongCrc = Buffer.from(member);
    wrongCrc.writeUInt32LE((wrongCrc.readUInt32LE(member.length - 8) ^ 1) >>> 0, member.length - 8);
    expect((await inflate(wrongCrc, { inflater: 'zlib' })).output.equals(data)).toBe(true);
    const second = await rejection(inflate(Buffer.concat([member, wrongCrc]), { inflater: 'zlib' }));
    expect(second.message).toBe('truncated or corrupt gzip data (incorrect data check)');
  });
});

describe.skipIf(!external.gzip)('external inflater process', () => {
  it('is killed when the decompressor is destroyed mid-stream', async () => {
    const compressed = gzip(logBody(400_000), 1);
    const inflate = decompressor('gzip', { inflater: 'auto' });
    // More than gzipProbeBytes: the inflater is chosen (and started) once they are in.
    inflate.write(compressed.subarray(0, 2 * gzipProbeBytes));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const pid = inflate.pid;
    expect(pid).toBeTypeOf('number');
    inflate.destroy();
    // Gone once Node has reaped it (until then a zombie, which kill(pid, 0) still finds): a slow machine takes longer.
    const alive = () => {
      try {
        process.kill(pid as number, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (const deadline = Date.now() + 5000; alive() && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(alive()).toBe(false);
  });

  it('reports a missing stdin end (EPIPE) as corruption, not a crash', async () => {
    // Garbage after a valid gzip header makes the inflater exit early while we still write.
    const junk = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]),
      Buffer.alloc(8 * 1024 * 1024, 0xff),
    ]);
    const error = await rejection(inflate(junk, { inflater: 'auto' }));
    expect(error.code).toBe('ERR_LAYER_CORRUPT');
  });
});
