import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageError } from '../src/errors.js';
import { BlobCache, openBlobCache, withBlobCache } from '../src/oci/blob-cache.js';
import { writeAtomically } from '../src/oci/cache-files.js';
import { readAll } from '../src/oci/content.js';
import type { Descriptor } from '../src/oci/descriptor.js';
import { digestOf } from '../src/oci/digest.js';
import { MediaType } from '../src/oci/media-types.js';
import { MemorySource } from './layer-helpers.js';

let dir: string;
let cache: BlobCache;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ivoc-blob-cache-'));
  cache = new BlobCache(dir);
});

afterEach(async () => {
  delete process.env.IVOC_NO_CACHE;
  await rm(dir, { recursive: true, force: true });
});

async function filesUnder(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

const fileOf = (descriptor: Pick<Descriptor, 'digest'>) =>
  join(dir, 'blobs', 'sha256', descriptor.digest.slice('sha256:'.length));

describe('BlobCache', () => {
  it('stores blobs verified, and drops a blob that no longer verifies', async () => {
    const data = Buffer.from('{"schemaVersion":2}');
    const descriptor = { digest: digestOf(data), size: data.length };
    await cache.put(descriptor, data);
    expect((await cache.get(descriptor))?.equals(data)).toBe(true);
    expect((await stat(fileOf(descriptor))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'blobs'))).mode & 0o777).toBe(0o700);
    await writeFile(fileOf(descriptor), '{"schemaVersion":3}');
    expect(await cache.get(descriptor)).toBeUndefined();
    await expect(stat(fileOf(descriptor))).rejects.toThrow();
    // Wrong digest, wrong size, a bad digest or over the cap: not stored.
    await cache.put({ digest: digestOf('other'), size: data.length }, data);
    await cache.put({ digest: descriptor.digest, size: data.length + 1 }, data);
    await cache.put({ digest: 'sha256:../../etc', size: data.length }, data);
    await new BlobCache(dir, 4).put(descriptor, data);
    expect(await filesUnder(dir)).toEqual([]);
  });

  it('keeps bytes put as verified without hashing them again, and still catches a wrong one on read', async () => {
    const data = Buffer.from('{"schemaVersion":2}');
    const descriptor = { digest: digestOf(data), size: data.length };
    // The size is still checked, and the digest must be one (it names the file).
    await cache.put({ digest: descriptor.digest, size: data.length + 1 }, data, { verified: true });
    await cache.put({ digest: 'sha256:../../etc', size: data.length }, data, { verified: true });
    expect(await filesUnder(dir)).toEqual([]);
    // Bytes that are not the digest's, from a caller that broke its word: kept, but never served.
    const other = Buffer.from('{"schemaVersion":3}');
    await cache.put(descriptor, other, { verified: true });
    expect((await readFile(fileOf(descriptor))).equals(other)).toBe(true);
    expect(await cache.get(descriptor)).toBeUndefined();
    await expect(stat(fileOf(descriptor))).rejects.toThrow();
    await cache.put(descriptor, data, { verified: true });
    expect((await cache.get(descriptor))?.equals(data)).toBe(true);
  });

  it('is a miss, not an error, when the directory cannot be written or read', async () => {
    const data = Buffer.from('{}');
    const descriptor = { digest: digestOf(data), size: data.length };
    await writeFile(join(dir, 'blobs'), 'a file where the directory should be');
    const blocked = new BlobCache(dir);
    await blocked.put(descriptor, data);
    expect(await blocked.get(descriptor)).toBeUndefined();
  });

  it('reads only a regular file of the expected size: a FIFO, a symlink or another size is a miss, left alone', async () => {
    const data = Buffer.from('{"schemaVersion":2}');
    const descriptor = { digest: digestOf(data), size: data.length };
    await cache.put(descriptor, data);
    const file = fileOf(descriptor);
    // Another size: the descriptor may be the wrong one; the file stays.
    expect(await cache.get({ digest: descriptor.digest, size: data.length - 1 })).toBeUndefined();
    expect((await stat(file)).size).toBe(data.length);
    // A FIFO would block a synchronous read forever; a symlink is not followed.
    await rm(file);
    execFileSync('mkfifo', [file]);
    expect(await cache.get(descriptor)).toBeUndefined();
    await rm(file);
    const target = join(dir, 'elsewhere');
    await writeFile(target, data);
    await symlink(target, file);
    expect(await cache.get(descriptor)).toBeUndefined();
  });

  it('never removes a temporary file it did not create', async () => {
    const data = Buffer.from('{}');
    const file = join(dir, 'blobs', 'sha256', 'x');
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    const random = Math.random;
    Math.random = () => 0.5;
    const temp = `${file}.tmp-${process.pid}-${(0.5).toString(36).slice(2, 12)}`;
    await writeFile(temp, 'another writer');
    try {
      await expect(writeAtomically(file, data)).rejects.toMatchObject({ code: 'EEXIST' });
    } finally {
      Math.random = random;
    }
    expect(await readFile(temp, 'utf8')).toBe('another writer');
  });

  it('is off with IVOC_NO_CACHE=1 or disabled: true', () => {
    expect(openBlobCache({ dir })?.dir).toBe(dir);
    expect(openBlobCache({ dir, disabled: true })).toBeUndefined();
    process.env.IVOC_NO_CACHE = '1';
    expect(openBlobCache({ dir })).toBeUndefined();
  });
});

describe('withBlobCache', () => {
  function source() {
    const inner = new MemorySource();
    const config = inner.add(Buffer.from('{"architecture":"amd64","os":"linux"}'), MediaType.ociConfig);
    const manifest = inner.add(Buffer.from('{"schemaVersion":2,"layers":[]}'), MediaType.ociManifest);
    const layer = inner.add(Buffer.alloc(1000, 7), MediaType.ociLayerGzip);
    inner.resolve = async () => manifest;
    return { inner, config, manifest, layer };
  }

  it('reads configs and manifests by digest once, layers and the resolved root always from the source', async () => {
    const first = source();
    const cached = withBlobCache(first.inner, cache);
    const root = await cached.resolve();
    for (const descriptor of [root, first.config, first.layer]) {
      expect(await readAll(cached, descriptor, 1 << 20)).toEqual(first.inner.blobs.get(descriptor.digest));
    }
    await cached.close(); // waits for the write
    expect(await filesUnder(dir)).toEqual([fileOf(first.config)]);

    // Another source (another run): the config from the disk; the child manifest of an index is cached too.
    const second = source();
    const again = withBlobCache(second.inner, cache);
    expect(await readAll(again, second.config, 1 << 20)).toEqual(
      second.inner.blobs.get(second.config.digest),
    );
    expect(await readAll(again, second.manifest, 1 << 20)).toEqual(
      second.inner.blobs.get(second.manifest.digest),
    );
    expect(await readAll(again, second.layer, 1 << 20)).toHaveLength(1000);
    expect(second.inner.fetches).toEqual([second.manifest.digest, second.layer.digest]);
    await again.close();
    expect((await filesUnder(dir)).sort()).toEqual([fileOf(second.config), fileOf(second.manifest)].sort());
  });

  it('stores nothing when the source sends bytes that do not match, and the error reaches the reader', async () => {
    const { inner, config } = source();
    inner.blobs.set(config.digest, Buffer.from('{"architecture":"arm64","os":"linux"}'));
    const cached = withBlobCache(inner, cache);
    const error = await readAll(cached, config, 1 << 20).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ImageError);
    expect((error as ImageError).code).toBe('ERR_DIGEST_MISMATCH');
    await cached.close();
    expect(await filesUnder(dir)).toEqual([]);
  });

  it('refuses to start a read once its signal is aborted, cached or not', async () => {
    const { inner, config } = source();
    const cached = withBlobCache(inner, cache);
    await readAll(cached, config, 1 << 20);
    await cached.close();
    const signal = AbortSignal.abort(new Error('stop'));
    await expect(cached.fetch(config, { signal })).rejects.toThrow('stop');
  });

  it('takes whole bytes from a source that has them, for the root and for what it caches', async () => {
    const { inner, config, manifest, layer } = source();
    // A source that gets manifests whole (a registry's): fetchBytes for them, streams for the rest.
    const whole: string[] = [];
    const withBytes = Object.assign(inner, {
      fetchBytes: async (descriptor: Descriptor) => {
        if (descriptor.mediaType !== MediaType.ociManifest) return undefined;
        whole.push(descriptor.digest);
        return inner.blobs.get(descriptor.digest);
      },
    });
    const cached = withBlobCache(withBytes, cache);
    const root = await cached.resolve();
    expect(await readAll(cached, root, 1 << 20)).toEqual(inner.blobs.get(manifest.digest));
    expect(await readAll(cached, config, 1 << 20)).toEqual(inner.blobs.get(config.digest));
    expect(await readAll(cached, layer, 1 << 20)).toHaveLength(1000);
    expect(whole).toEqual([manifest.digest]);
    expect(inner.fetches).toEqual([config.digest, layer.digest]);
    await cached.close();
    expect(await filesUnder(dir)).toEqual([fileOf(config)]);

    // Not the root of another run: the manifest is a blob by digest, taken whole and kept.
    const again = withBlobCache(withBytes, cache);
    expect(await readAll(again, manifest, 1 << 20)).toEqual(inner.blobs.get(manifest.digest));
    expect(await readAll(again, config, 1 << 20)).toEqual(inner.blobs.get(config.digest));
    expect(whole).toEqual([manifest.digest, manifest.digest]);
    expect(inner.fetches).toEqual([config.digest, layer.digest]);
    await again.close();
    expect((await filesUnder(dir)).sort()).toEqual([fileOf(config), fileOf(manifest)].sort());
    // And from the disk the next time, as bytes or as a stream.
    const third = withBlobCache(withBytes, cache);
    expect(await third.fetchBytes?.(manifest)).toEqual(inner.blobs.get(manifest.digest));
    const chunks: Buffer[] = [];
    for await (const chunk of await third.fetch(config)) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks)).toEqual(inner.blobs.get(config.digest));
    expect(whole).toHaveLength(2);
    expect(inner.fetches).toHaveLength(2);
  });

  it('passes a single-pass source through', async () => {
    const { inner } = source();
    const withStream = Object.assign(inner, { streamLayers: async () => {} });
    expect(withBlobCache(withStream, cache).streamLayers).toBeTypeOf('function');
    expect(withBlobCache(source().inner, cache).streamLayers).toBeUndefined();
  });
});
