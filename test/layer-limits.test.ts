import { createGzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ImageError } from '../src/errors.js';
import { externalInflaters } from '../src/oci/layer/decompress.js';
import type { CaptureSpec } from '../src/oci/layer/facts.js';
import { scanLayer } from '../src/oci/layer/scan-layer.js';
import { MediaType } from '../src/oci/media-types.js';
import { descriptorOf, gzip, haveZstdBinary, verifiedStream, zstd } from './layer-helpers.js';

const spec: CaptureSpec = {
  paths: ['/etc/passwd'],
  globs: ['/usr/share/d7/*'],
  probes: ['shebang', 'elf', 'private-key'],
  maxBodyBytes: 1024,
};

/** Gzip of `size` zero bytes, streamed (never holds the zeros at once). */
async function gzippedZeros(size: number): Promise<Buffer> {
  const gz = createGzip({ level: 9 });
  const chunks: Buffer[] = [];
  gz.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise((resolve) => gz.on('end', resolve));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let left = size; left > 0; left -= zeros.length) {
    if (!gz.write(zeros.subarray(0, Math.min(left, zeros.length)))) {
      await new Promise((resolve) => gz.once('drain', resolve));
    }
  }
  gz.end();
  await done;
  return Buffer.concat(chunks);
}

/** A tar of `count` entries (3-byte files, every 100th a directory), headers written in place. */
function manyEntries(count: number): Buffer {
  const tar = Buffer.alloc(count * 1024 + 1024);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const directory = i % 100 === 0;
    const header = tar.subarray(at, at + 512);
    header.write(
      directory ? `usr/share/d${i / 100}/` : `usr/share/d${Math.floor(i / 100)}/f${i}`,
      0,
      100,
      'utf8',
    );
    header.write('0000644\0', 100, 'ascii');
    header.write('0000000\0', 108, 'ascii');
    header.write('0000000\0', 116, 'ascii');
    header.write(`${(directory ? 0 : 3).toString(8).padStart(11, '0')}\0`, 124, 'ascii');
    header.write('14545215400\0', 136, 'ascii');
    header.write(directory ? '5' : '0', 156, 'ascii');
    header.write('ustar\0', 257, 'ascii');
    header.write('00', 263, 'ascii');
    header.fill(0x20, 148, 156);
    let sum = 0;
    for (let j = 0; j < 512; j++) sum += header[j] as number;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    at += 512;
    if (!directory) {
      tar.write(`#${i % 100}`.padEnd(3, '\n'), at, 'ascii');
      at += 512;
    }
  }
  return tar.subarray(0, at + 1024);
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

const inflaters = [
  { name: 'external', inflater: 'auto' as const, skip: !externalInflaters().gzip },
  { name: 'zlib', inflater: 'zlib' as const, skip: false },
];

describe.each(inflaters)('limits with the $name inflater', ({ inflater, skip }) => {
  it.skipIf(skip)('stops a decompression bomb at the cap with bounded memory', async () => {
    const bombs = [
      { blob: await gzippedZeros(400 * 1024 * 1024), mediaType: MediaType.ociLayerGzip },
      { blob: gzip(Buffer.alloc(50 * 1024 * 1024)), mediaType: MediaType.ociLayerGzip },
      ...(haveZstdBinary
        ? [{ blob: zstd(Buffer.alloc(50 * 1024 * 1024)), mediaType: MediaType.ociLayerZstd }]
        : []),
    ];
    global.gc?.();
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 2);
    try {
      for (const { blob, mediaType } of bombs) {
        const descriptor = descriptorOf(blob, mediaType);
        const error = await rejection(
          scanLayer(verifiedStream(blob, descriptor), descriptor, spec, {
            inflater,
            maxBytes: 10 * 1024 * 1024,
            image: 'bomb',
          }),
        );
        expect(error.code).toBe('ERR_DECOMPRESSION_LIMIT');
        expect(error.image).toBe('bomb');
        expect(error.blob).toBe(descriptor.digest);
        peak = Math.max(peak, process.memoryUsage().rss);
      }
    } finally {
      clearInterval(sampler);
    }
    // Loose: the point is that nothing near the bomb's 400 MB was ever held.
    expect(peak - before).toBeLessThan(200 * 1024 * 1024);
  });

  it.skipIf(skip)('scans a 200k-entry layer', async () => {
    const tar = manyEntries(200_000);
    const blob = gzip(tar, 1);
    const descriptor = descriptorOf(blob, MediaType.ociLayerGzip);
    const facts = await scanLayer(verifiedStream(blob, descriptor), descriptor, spec, { inflater });
    expect(facts.entries).toHaveLength(200_000);
    expect(facts.entries.filter((entry) => entry.type === 'dir')).toHaveLength(2000);
    expect(facts.entries[1]).toEqual({
      path: '/usr/share/d0/f1',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: 3,
    });
    expect(Object.keys(facts.bodies)).toHaveLength(99);
    expect(facts.uncompressedSize).toBe(tar.length);

    const error = await rejection(
      scanLayer(verifiedStream(blob, descriptor), descriptor, spec, { inflater, maxEntries: 150_000 }),
    );
    expect(error.code).toBe('ERR_ENTRY_LIMIT');
  });
});
