import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageError, type IvocError, TransportError } from '../src/errors.js';
import { digestOf } from '../src/oci/digest.js';
import { canonicalSpec, chainKey, DiskCache, defaultCacheDir, specHash } from '../src/oci/layer/cache.js';
import type { CaptureSpec } from '../src/oci/layer/facts.js';
import { type ScanProgress, scanImageLayers } from '../src/oci/layer/scan.js';
import { MediaType } from '../src/oci/media-types.js';
import { gzip, MemorySource, packTar, rawEntry, rawTar, SinglePassSource } from './layer-helpers.js';

const spec: CaptureSpec = {
  paths: ['/etc/passwd'],
  globs: ['/etc/*.conf'],
  probes: ['elf'],
  maxBodyBytes: 1024,
};

let dir: string;
let cache: DiskCache;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ivoc-layer-cache-'));
  cache = new DiskCache({ dir });
});

afterEach(async () => {
  delete process.env.IVOC_NO_CACHE;
  await rm(dir, { recursive: true, force: true });
});

async function layer(name: string, body = `content of ${name}\n`): Promise<Buffer> {
  return gzip(
    await packTar([
      { name: 'etc/', type: 'directory' },
      { name: `etc/${name}`, body },
      { name: 'etc/passwd', body: `root:x:0:0:${name}:/root:/bin/sh\n` },
    ]),
  );
}

async function filesUnder(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

describe('DiskCache', () => {
  it('locates the cache from the environment', () => {
    expect(defaultCacheDir({ IVOC_CACHE_DIR: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/ivoc');
    expect(defaultCacheDir({})).toMatch(/\/\.cache\/ivoc$/);
  });

  it('keys facts by a canonical spec: list order and duplicates do not matter', () => {
    const a: CaptureSpec = { paths: ['/b', '/a'], globs: [], probes: ['elf', 'shebang'], maxBodyBytes: 10 };
    const b: CaptureSpec = {
      paths: ['/a', '/b', '/a'],
      globs: [],
      probes: ['shebang', 'elf'],
      maxBodyBytes: 10,
    };
    expect(canonicalSpec(a)).toBe(canonicalSpec(b));
    expect(specHash(a)).toBe(specHash(b));
    expect(specHash(a)).not.toBe(specHash({ ...a, maxBodyBytes: 11 }));
    expect(specHash(a)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('is off with IVOC_NO_CACHE=1 or disabled: true', async () => {
    process.env.IVOC_NO_CACHE = '1';
    expect(new DiskCache({ dir }).enabled).toBe(false);
    delete process.env.IVOC_NO_CACHE;
    expect(new DiskCache({ dir, disabled: true }).enabled).toBe(false);
    expect(new DiskCache({ dir }).enabled).toBe(true);
  });
});

describe('facts files', () => {
  it('give back facts exactly as the scan made them: links, probes, bodies, key order', async () => {
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(60, 1)]);
    const source = new MemorySource();
    const blob = gzip(
      await packTar([
        { name: 'bin/', type: 'directory' },
        { name: 'bin/tool', body: elf, mode: 0o4755 },
        { name: 'bin/run', body: '#!/bin/sh -e\necho hi\n', mode: 0o755 },
        { name: 'bin/again', type: 'link', linkname: 'bin/tool' },
        { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
        { name: 'etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n', uid: 7, gid: 8 },
        { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 },
        { name: 'etc/.wh.gone', body: '' },
        { name: 'opt/.wh..wh..opq', body: '' },
      ]),
    );
    const a = source.add(blob);
    const probing: CaptureSpec = { ...spec, probes: ['elf', 'shebang'] };
    const [cold] = await scanImageLayers(source, [a], probing, { cache });
    expect(cold?.entries.some((entry) => entry.probes !== undefined)).toBe(true);
    expect(cold?.entries.some((entry) => entry.type === 'hardlink')).toBe(true);
    const warm = await cache.getFacts(a.digest, probing);
    expect(warm).toStrictEqual(cold);
    // Property order too: the objects serialise the same, entry by entry.
    expect(JSON.stringify(warm)).toBe(JSON.stringify(cold));
  });

  it('are a miss when an entry column is malformed', async () => {
    const source = new MemorySource();
    const a = source.add(await layer('a.conf'));
    const [facts] = await scanImageLayers(source, [a], spec, { cache });
    const file = cache.factsPath(a.digest, spec) as string;
    const stored = JSON.parse(gunzipSync(await readFile(file)).toString());
    for (const broken of [
      { ...stored, modes: stored.modes.slice(1) },
      { ...stored, types: stored.types.replace('f', 'x') },
      { ...stored, uids: stored.uids.map(() => '0') },
      { ...stored, format: 1 },
    ]) {
      await writeFile(file, gzip(Buffer.from(JSON.stringify(broken))));
      expect(await cache.getFacts(a.digest, spec)).toBeUndefined();
      await expect(stat(file)).rejects.toThrow();
      await scanImageLayers(source, [a], spec, { cache });
      expect(await cache.getFacts(a.digest, spec)).toEqual(facts);
    }
  });
});

describe('image records', () => {
  const layers = [{ digest: digestOf('layer a') }, { digest: digestOf('layer b') }];
  const diffIds = [digestOf('tar a'), digestOf('tar b')];
  const isCount = (value: unknown): value is { count: number } =>
    typeof value === 'object' && value !== null && typeof (value as { count?: unknown }).count === 'number';

  it('chainKey: the ordered (digest, diff_id) pairs', () => {
    const key = chainKey(layers, diffIds);
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(chainKey(layers, diffIds)).toBe(key);
    expect(chainKey([...layers].reverse(), [...diffIds].reverse())).not.toBe(key);
    expect(chainKey(layers, [diffIds[0]!, digestOf('other tar')])).not.toBe(key);
    expect(chainKey(layers.slice(0, 1), diffIds.slice(0, 1))).not.toBe(key);
    expect(chainKey(layers, diffIds.slice(0, 1))).toBeUndefined();
  });

  it('store and read back a value; anything else in the file is a miss and is removed', async () => {
    const chain = chainKey(layers, diffIds)!;
    await cache.putRecord(chain, 'summary-x', { count: 3 });
    const file = cache.recordPath(chain, 'summary-x')!;
    expect(file).toBe(join(dir, 'images', chain, 'summary-x.json'));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await cache.getRecord(chain, 'summary-x', isCount)).toEqual({ count: 3 });
    // Another name or chain is another record.
    expect(await cache.getRecord(chain, 'summary-y', isCount)).toBeUndefined();
    const other = chainKey(layers.slice(0, 1), diffIds.slice(0, 1))!;
    expect(await cache.getRecord(other, 'summary-x', isCount)).toBeUndefined();

    const good = await readFile(file, 'utf8');
    for (const garbage of [
      '',
      '{"recordFormat": 1',
      good.replace('"count":3', '"count":"3"'),
      good.replace(chain, other),
      good.replace('summary-x', 'summary-y'),
      good.replace('"recordFormat":1', '"recordFormat":0'),
      'null',
    ]) {
      await writeFile(file, garbage);
      expect(await cache.getRecord(chain, 'summary-x', isCount)).toBeUndefined();
      await expect(stat(file)).rejects.toThrow();
    }
    // No path tricks in names or chains.
    expect(cache.recordPath(chain, '../x')).toBeUndefined();
    expect(cache.recordPath('../../etc', 'x')).toBeUndefined();
    await cache.putRecord('nope', 'x', { count: 1 });
    // A disabled cache keeps nothing.
    const off = new DiskCache({ dir, disabled: true });
    await off.putRecord(chain, 'summary-z', { count: 1 });
    expect(await filesUnder(dir)).toEqual([]);
  });
});

describe('scanImageLayers', () => {
  it('scans each distinct layer once, and a second scan reads no byte from the source', async () => {
    const source = new MemorySource();
    const a = source.add(await layer('a.conf'));
    const b = source.add(await layer('b.conf'));
    const first = await scanImageLayers(source, [a, b, a], spec, { cache, image: 'img' });
    expect(source.fetches.sort()).toEqual([a.digest, b.digest].sort());
    expect(first.map((facts) => facts.digest)).toEqual([a.digest, b.digest, a.digest]);
    expect(first[0]).toBe(first[2]);
    expect(Buffer.from(first[1]?.bodies['/etc/b.conf']?.base64 ?? '', 'base64').toString()).toBe(
      'content of b.conf\n',
    );
    const files = await filesUnder(dir);
    expect(files).toHaveLength(2);
    for (const file of files)
      expect(file).toMatch(/facts\/sha256\/[0-9a-f]{64}\/[0-9a-f]{32}\.f2\.json\.gz$/);

    const served = source.bytesServed;
    source.fetches = [];
    const second = await scanImageLayers(source, [a, b, a], spec, { cache, image: 'img' });
    expect(source.fetches).toEqual([]);
    expect(source.bytesServed).toBe(served);
    expect(second).toEqual(first);

    // Another spec is another cache entry.
    await scanImageLayers(source, [a], { ...spec, maxBodyBytes: 10 }, { cache });
    expect(source.fetches).toEqual([a.digest]);
  });

  it('ignores and replaces a corrupt cache file', async () => {
    const source = new MemorySource();
    const a = source.add(await layer('a.conf'));
    const [facts] = await scanImageLayers(source, [a], spec, { cache });
    const file = cache.factsPath(a.digest, spec) as string;
    for (const garbage of [
      Buffer.from('not gzip'),
      gzip(Buffer.from('{"factsVersion": 1')),
      gzip(Buffer.from('[]')),
    ]) {
      await writeFile(file, garbage);
      source.fetches = [];
      const [again] = await scanImageLayers(source, [a], spec, { cache });
      expect(source.fetches).toEqual([a.digest]);
      expect(again).toEqual(facts);
      expect(await cache.getFacts(a.digest, spec)).toEqual(facts);
    }
    // Facts stored under another digest's name do not count.
    await writeFile(file, await readFile(cache.factsPath(a.digest, spec) as string));
    const b = digestOf('b');
    const other = cache.factsPath(b, spec) as string;
    await writeFile(file.replace(a.digest.slice(7), b.slice(7)), '').catch(() => {});
    expect(await cache.getFacts(b, spec)).toBeUndefined();
    expect(other).toContain(b.slice(7));
  });

  it('caches nothing when a layer does not verify', async () => {
    const source = new MemorySource();
    const blob = await layer('a.conf');
    const wrong = { mediaType: MediaType.ociLayerGzip, digest: digestOf('not this'), size: blob.length };
    source.blobs.set(wrong.digest, blob);
    const error = await scanImageLayers(source, [wrong], spec, { cache, image: 'img' }).catch((e) => e);
    expect(error).toBeInstanceOf(ImageError);
    expect(error.code).toBe('ERR_DIGEST_MISMATCH');
    expect(error.blob).toBe(wrong.digest);
    expect(await filesUnder(dir)).toEqual([]);
  });

  it('checks diff_ids when asked, also for cache hits', async () => {
    const source = new MemorySource();
    const blob = await layer('a.conf');
    const a = source.add(blob);
    const verifyDiffIds = true;
    const [facts] = await scanImageLayers(source, [a], spec, {
      cache,
      diffIds: [digestOf('x')],
      verifyDiffIds,
    }).then(
      () => [undefined],
      (error: IvocError) => [error],
    );
    expect((facts as IvocError).code).toBe('ERR_DIGEST_MISMATCH');
    const [good] = await scanImageLayers(source, [a], spec, { cache, verifyDiffIds });
    expect(good?.diffId).toMatch(/^sha256:/);
    source.fetches = [];
    // A cached diffId is checked even when this scan does not hash.
    const hit = await scanImageLayers(source, [a], spec, { cache, diffIds: [digestOf('x')] }).catch((e) => e);
    expect(hit.code).toBe('ERR_DIGEST_MISMATCH');
    expect(source.fetches).toEqual([]);
    await expect(scanImageLayers(source, [a], spec, { cache, diffIds: [] })).rejects.toThrow(/diff_ids/);
    const ok = await scanImageLayers(source, [a], spec, { cache, diffIds: [good?.diffId as string] });
    expect(ok[0]?.diffId).toBe(good?.diffId);
  });

  it('reads a layer again for a verifying scan when its cached facts were read without the diffId', async () => {
    const source = new MemorySource();
    const blob = await layer('b.conf');
    const a = source.add(blob);
    const right = digestOf(gunzipSync(blob));
    const [plain] = await scanImageLayers(source, [a], spec, { cache, verifyDiffIds: false });
    expect(plain?.diffId).toBeUndefined();
    source.fetches = [];
    // Not verifying: the cached facts serve, whatever diff_id the config claims.
    await scanImageLayers(source, [a], spec, { cache, diffIds: [digestOf('x')], verifyDiffIds: false });
    expect(source.fetches).toEqual([]);
    // Verifying: the layer is read and hashed, the wrong claim refused, the right one accepted and cached.
    const wrong = await scanImageLayers(source, [a], spec, {
      cache,
      diffIds: [digestOf('x')],
      verifyDiffIds: true,
    }).catch((e) => e);
    expect(wrong.code).toBe('ERR_DIGEST_MISMATCH');
    expect(source.fetches).toEqual([a.digest]);
    const verifying = { cache, diffIds: [right], verifyDiffIds: true };
    const [verified] = await scanImageLayers(source, [a], spec, verifying);
    expect(verified?.diffId).toBe(right);
    expect(source.fetches).toEqual([a.digest, a.digest]);
    // Now the cache holds the diffId: the next verifying scan reads nothing.
    source.fetches = [];
    const again = await scanImageLayers(source, [a], spec, verifying);
    expect(again[0]?.diffId).toBe(right);
    expect(source.fetches).toEqual([]);
  });

  it('bounds concurrency, reports progress and works without a cache', async () => {
    const source = new MemorySource();
    source.delay = 2;
    const layers = [];
    for (let i = 0; i < 5; i++) layers.push(source.add(await layer(`l${i}.conf`, 'x'.repeat(100_000 + i))));
    const progress: ScanProgress[] = [];
    const facts = await scanImageLayers(source, layers, spec, {
      cache: false,
      concurrency: 2,
      onProgress: (p) => progress.push(p),
    });
    expect(facts.map((f) => f.digest)).toEqual(layers.map((l) => l.digest));
    expect(source.maxActive).toBe(2);
    const total = layers.reduce((sum, l) => sum + l.size, 0);
    const last = progress.at(-1);
    expect(last?.bytes).toBe(total);
    expect(last?.totalBytes).toBe(total);
    expect(last?.layersDone).toBe(5);
    expect(await filesUnder(dir)).toEqual([]);

    source.maxActive = 0;
    await scanImageLayers(source, layers, spec, { cache: false, concurrency: 4 });
    expect(source.maxActive).toBe(4);
  });

  it('restarts a layer after a network error mid-stream, up to the retry limit', async () => {
    const source = new MemorySource();
    const a = source.add(await layer('a.conf', 'y'.repeat(200_000)));
    const reset = () => new TransportError('ERR_NETWORK', 'connection reset', { blob: a.digest });
    source.failures.set(a.digest, { times: 2, error: reset });
    const [facts] = await scanImageLayers(source, [a], spec, { cache: false });
    expect(facts?.entries.length).toBe(3);
    expect(source.fetches).toEqual([a.digest, a.digest, a.digest]);

    source.fetches = [];
    source.failures.set(a.digest, { times: 3, error: reset });
    const error = await scanImageLayers(source, [a], spec, { cache: false }).catch((e) => e);
    expect(error.code).toBe('ERR_NETWORK');
    expect(source.fetches).toHaveLength(3);

    // Not retryable: fails at once.
    source.fetches = [];
    source.failures.set(a.digest, { times: 1, error: () => new ImageError('ERR_DENIED', 'no') });
    expect((await scanImageLayers(source, [a], spec, { cache: false }).catch((e) => e)).code).toBe(
      'ERR_DENIED',
    );
    expect(source.fetches).toHaveLength(1);
  });

  it('aborts every other layer on the first fatal error', async () => {
    const source = new MemorySource();
    source.delay = 5;
    const slow = source.add(gzip(await packTar([{ name: 'big', body: Buffer.alloc(3_000_000, 7) }]), 0));
    const evil = source.add(gzip(rawTar([rawEntry('../../etc/passwd', Buffer.from('x'))])));
    const error = await scanImageLayers(source, [slow, evil], spec, {
      cache,
      concurrency: 2,
      image: 'img',
    }).catch((e) => e);
    expect(error.code).toBe('ERR_LAYER_UNSAFE');
    expect(error.blob).toBe(evil.digest);
    // The slow layer (~180 chunks of 5 ms) was stopped, not read to its end, and its fetch closed.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(source.active).toBe(0);
    expect(source.bytesServed).toBeLessThan(slow.size);
    expect(await filesUnder(dir)).toEqual([]);
  });

  it('honours an outer abort signal', async () => {
    const source = new MemorySource();
    source.delay = 5;
    const slow = source.add(gzip(await packTar([{ name: 'big', body: Buffer.alloc(2_000_000, 7) }]), 0));
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('user gave up')), 30);
    const error = await scanImageLayers(source, [slow], spec, { cache, signal: controller.signal }).catch(
      (e) => e,
    );
    expect(String(error?.message ?? error)).toMatch(/gave up|abort/i);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(source.active).toBe(0);
  });

  it('uses a single pass for sources that can only stream layers, and the cache after that', async () => {
    const source = new SinglePassSource();
    const a = source.add(await layer('a.conf'));
    const b = source.add(await layer('b.conf'));
    const c = source.add(await layer('c.conf'), MediaType.dockerLayerGzip);
    const facts = await scanImageLayers(source, [a, b, c, b], spec, { cache });
    expect(source.passes).toBe(1);
    expect(facts.map((f) => f.digest)).toEqual([a.digest, b.digest, c.digest, b.digest]);
    const again = await scanImageLayers(source, [a, b, c, b], spec, { cache });
    expect(source.passes).toBe(1);
    expect(again).toEqual(facts);
  });
});
