import { describe, expect, it } from 'vitest';
import {
  blockDevice,
  buildLayer,
  charDevice,
  dir,
  fifo,
  file,
  gzipBomb,
  hardlink,
  type Layer,
  opaque,
  raw,
  symlink,
  whiteout,
} from '../fixtures/layer.js';
import { ImageError } from '../src/errors.js';
import type { Descriptor } from '../src/oci/descriptor.js';
import { externalInflaters } from '../src/oci/layer/decompress.js';
import type { CaptureSpec } from '../src/oci/layer/facts.js';
import { scanLayer } from '../src/oci/layer/scan-layer.js';
import { haveZstdBinary, verifiedStream } from './layer-helpers.js';

/**
 * The scanner against layers from the shared fixture builder (fixtures/): an
 * independent tar writer, and its own diff_id computation to agree with.
 */

const spec: CaptureSpec = {
  paths: ['/etc/passwd'],
  globs: [],
  probes: ['shebang', 'elf', 'private-key'],
  maxBodyBytes: 4096,
};

function blobOf(layer: Layer): Buffer {
  if (!('data' in layer.blob)) throw new Error('expected an in-memory layer');
  return layer.blob.data;
}

function descriptorOf(layer: Layer): Descriptor {
  return { mediaType: layer.mediaType, digest: layer.digest, size: layer.size };
}

async function scan(layer: Layer, options: Parameters<typeof scanLayer>[3] = {}) {
  return scanLayer(verifiedStream(blobOf(layer), descriptorOf(layer)), descriptorOf(layer), spec, {
    image: 'fixture',
    expectedDiffId: layer.diffId,
    verifyDiffId: true,
    ...options,
  });
}

const inflaters = [
  { name: 'external', inflater: 'auto' as const, skip: !externalInflaters().gzip },
  { name: 'zlib', inflater: 'zlib' as const, skip: false },
];

describe.each(inflaters)('fixture layers, $name inflater', ({ inflater, skip }) => {
  const entries = [
    dir('etc'),
    file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n'),
    file('usr/bin/tool', '#!/bin/sh\necho hi\n', { mode: 0o4755, uid: 0, gid: 0 }),
    hardlink('usr/bin/tool2', 'usr/bin/tool'),
    symlink('bin', 'usr/bin'),
    charDevice('dev/null', 1, 3),
    blockDevice('dev/sda', 8, 0),
    fifo('run/pipe'),
    whiteout('var/cache/old'),
    opaque('opt/app'),
    file('home/u/.ssh/id_rsa', '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n', {
      mode: 0o600,
      uid: 1000,
      gid: 1000,
    }),
  ];

  for (const compression of ['gzip', 'zstd', 'none'] as const) {
    it.skipIf(skip || (compression === 'zstd' && !haveZstdBinary))(
      `reads a ${compression} layer and agrees with the builder's diff_id`,
      async () => {
        const layer = await buildLayer(entries, { compression });
        const facts = await scan(layer, { inflater });
        expect(facts.diffId).toBe(layer.diffId);
        expect(facts.uncompressedSize).toBe(layer.tarSize);
        expect(facts.entries.map((entry) => [entry.path, entry.type])).toEqual([
          ['/etc', 'dir'],
          ['/etc/passwd', 'file'],
          ['/usr/bin/tool', 'file'],
          ['/usr/bin/tool2', 'hardlink'],
          ['/bin', 'symlink'],
          ['/dev/null', 'char'],
          ['/dev/sda', 'block'],
          ['/run/pipe', 'fifo'],
          ['/home/u/.ssh/id_rsa', 'file'],
        ]);
        const byPath = new Map(facts.entries.map((entry) => [entry.path, entry]));
        expect(byPath.get('/usr/bin/tool')).toMatchObject({ mode: 0o4755, probes: { shebang: '#!/bin/sh' } });
        expect(byPath.get('/usr/bin/tool2')?.linkname).toBe('/usr/bin/tool');
        expect(byPath.get('/home/u/.ssh/id_rsa')).toMatchObject({
          uid: 1000,
          probes: { 'private-key': 'RSA PRIVATE KEY' },
        });
        expect(facts.whiteouts).toEqual(['/var/cache/old']);
        expect(facts.opaqueDirs).toEqual(['/opt/app']);
        expect(Buffer.from(facts.bodies['/etc/passwd']?.base64 ?? '', 'base64').toString()).toContain(
          'root:x:0:0',
        );
      },
    );
  }

  it.skipIf(skip)('refuses raw escaping names from the builder', async () => {
    for (const name of ['../evil', '/abs/path', 'a/../../b']) {
      const layer = await buildLayer([file('ok', 'x'), raw(name, { body: 'evil' })]);
      const error = await scan(layer, { inflater }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageError);
      expect((error as ImageError).code).toBe('ERR_LAYER_UNSAFE');
      expect((error as ImageError).blob).toBe(layer.digest);
    }
  });

  it.skipIf(skip)("stops the builder's multi-member gzip bomb at the cap", async () => {
    const bomb = gzipBomb(2 * 1024 ** 3);
    const before = process.memoryUsage().rss;
    const error = await scan(bomb, { inflater, maxBytes: 10 * 1024 * 1024 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageError);
    expect((error as ImageError).code).toBe('ERR_DECOMPRESSION_LIMIT');
    expect(process.memoryUsage().rss - before).toBeLessThan(200 * 1024 * 1024);
  });
});
