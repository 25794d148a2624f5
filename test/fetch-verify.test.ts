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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, buildLayer, file, type Layer, writeOciLayout } from '../fixtures/index.js';
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
});
