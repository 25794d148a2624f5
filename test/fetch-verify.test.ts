/**
 * FetchOptions.verify of the local transports: by default a blob is verified
 * (digest and size) as it streams; with 'size' (publish's early uploads, whose
 * bytes the validation verifies and the registry hashes before it commits)
 * only its size is, and a blob of the wrong size still fails.
 */

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildImage,
  buildLayer,
  file,
  type Layer,
  writeOciArchive,
  writeOciLayout,
} from '../fixtures/index.js';
import type { FetchOptions } from '../src/oci/content.js';
import { openImageSource } from '../src/oci/open.js';

let dir: string;
let layer: Layer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ivoc-fetch-verify-'));
  layer = await buildLayer([file('/data/blob.bin', { size: 256 << 10, kind: 'random' })]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh layout of the one-layer image whose layer blob `damage` changes on disk. */
async function damagedLayout(name: string, damage: (path: string) => Promise<void>): Promise<string> {
  const path = join(dir, name);
  await writeOciLayout(path, buildImage({ layers: [layer] }), { tag: 'v1' });
  await damage(join(path, 'blobs', 'sha256', layer.digest.slice('sha256:'.length)));
  return `oci:${path}:v1`;
}

async function readLayer(input: string, options: FetchOptions = {}): Promise<Buffer> {
  const source = await openImageSource(input);
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of await source.fetch(layer, options)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } finally {
    await source.close();
  }
}

const flipOneByte = async (path: string): Promise<void> => {
  const bytes = await readFile(path);
  bytes[100] = (bytes[100] ?? 0) ^ 0xff;
  await writeFile(path, bytes);
};

describe('fetch verification of a local blob', () => {
  it('fails a blob whose bytes changed (same size) by default, naming it', async () => {
    const input = await damagedLayout('flipped', flipOneByte);
    await expect(readLayer(input)).rejects.toThrow(/digest mismatch/);
    await expect(readLayer(input, { verify: 'digest' })).rejects.toMatchObject({
      code: 'ERR_DIGEST_MISMATCH',
      blob: layer.digest,
    });
  });

  it("streams the same blob whole with verify: 'size'", async () => {
    const input = await damagedLayout('flipped-size-only', flipOneByte);
    const bytes = await readLayer(input, { verify: 'size' });
    expect(bytes.length).toBe(layer.size);
    // The changed bytes themselves: nothing checked them against the digest.
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).not.toBe(layer.digest);
  });

  it("still fails a blob of the wrong size with verify: 'size'", async () => {
    const input = await damagedLayout('truncated', (path) => truncate(path, layer.size - 10));
    await expect(readLayer(input, { verify: 'size' })).rejects.toMatchObject({ code: 'ERR_SIZE_MISMATCH' });
  });

  it('holds a failure until the blob is read: a small changed blob, and an archive gone before the read', async () => {
    // A push awaits its upload session before it reads: a failure meanwhile must reach the reader,
    // not be an 'error' event no one listens to (vitest fails the run on one).
    const small = await buildLayer([file('/etc/motd', 'hello\n')]);
    const image = buildImage({ layers: [small] });
    const layout = join(dir, 'small-flipped');
    await writeOciLayout(layout, image, { tag: 'v1' });
    await flipOneByte(join(layout, 'blobs', 'sha256', small.digest.slice('sha256:'.length)));
    const archive = join(dir, 'small.oci.tar');
    await writeOciArchive(archive, image, { tag: 'v1' });

    const cases: [string, () => Promise<void>, RegExp][] = [
      [`oci:${layout}:v1`, async () => undefined, /digest mismatch/],
      [`oci-archive:${archive}:v1`, () => rm(archive), /ENOENT/],
    ];
    for (const [input, before, failure] of cases) {
      const source = await openImageSource(input);
      try {
        await before();
        const stream = await source.fetch(small);
        await delay(100);
        const chunks: Buffer[] = [];
        const read = (async () => {
          for await (const chunk of stream) chunks.push(chunk as Buffer);
        })();
        await expect(read).rejects.toThrow(failure);
      } finally {
        await source.close();
      }
    }
  });
});
