import { afterEach, describe, expect, it } from 'vitest';
import { ImageError } from '../src/errors.js';
import type { Descriptor } from '../src/oci/descriptor.js';
import type { CaptureSpec } from '../src/oci/layer/facts.js';
import { scanImageLayers, scansInFlight } from '../src/oci/layer/scan.js';
import { gzip, MemorySource, packTar } from './layer-helpers.js';

/**
 * Scans running at the same time in one process (`ivoc lint -j N` of images
 * that share layers) read a shared layer once: the second scan awaits the
 * first's facts, and reads the layer itself only if that scan fails.
 * No disk cache here: the sharing is of work in progress.
 */

const spec: CaptureSpec = { paths: ['/etc/passwd'], globs: [], probes: ['elf'], maxBodyBytes: 1024 };

async function layer(name: string, size = 200_000): Promise<Buffer> {
  return gzip(
    await packTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', body: `root:x:0:0:${name}:/root:/bin/sh\n` },
      { name: `data/${name}`, body: Buffer.alloc(size, name.charCodeAt(0)) },
    ]),
    0,
  );
}

/** Two sources holding the same blobs (two images on one base), slow enough to overlap. */
async function twoImages(): Promise<{
  a: MemorySource;
  b: MemorySource;
  base: Descriptor;
  topA: Descriptor;
  topB: Descriptor;
}> {
  const a = new MemorySource();
  const b = new MemorySource();
  a.delay = 2;
  b.delay = 2;
  const baseBlob = await layer('base', 600_000);
  const base = a.add(baseBlob);
  b.add(baseBlob);
  const topA = a.add(await layer('a'));
  const topB = b.add(await layer('b'));
  return { a, b, base, topA, topB };
}

/** Resolves once SOURCE has been asked for something (its scan has claimed its layers). */
async function fetching(source: MemorySource): Promise<void> {
  for (let i = 0; i < 500 && source.fetches.length === 0; i++) await new Promise((r) => setTimeout(r, 2));
  expect(source.fetches.length).toBeGreaterThan(0);
}

afterEach(() => {
  expect(scansInFlight()).toBe(0);
});

describe('scanImageLayers: concurrent scans share layers in flight', () => {
  it('a layer two scans need at once is fetched once, and both get its facts', async () => {
    const { a, b, base, topA, topB } = await twoImages();
    const first = scanImageLayers(a, [base, topA], spec, { cache: false, image: 'a' });
    await fetching(a);
    const progress: number[] = [];
    const second = scanImageLayers(b, [base, topB], spec, {
      cache: false,
      image: 'b',
      onProgress: (p) => progress.push(p.layersDone),
    });
    const [factsA, factsB] = await Promise.all([first, second]);
    expect(a.fetches.sort()).toEqual([base.digest, topA.digest].sort());
    expect(b.fetches).toEqual([topB.digest]);
    expect(factsB[0]).toBe(factsA[0]);
    expect(factsB.map((f) => f.digest)).toEqual([base.digest, topB.digest]);
    // The waited-for layer counts as done in the second scan's progress.
    expect(progress.at(-1)).toBe(2);
  });

  it('another capture spec is another scan', async () => {
    const { a, b, base, topA, topB } = await twoImages();
    const first = scanImageLayers(a, [base, topA], spec, { cache: false });
    await fetching(a);
    const second = scanImageLayers(b, [base, topB], { ...spec, maxBodyBytes: 10 }, { cache: false });
    await Promise.all([first, second]);
    expect(b.fetches.sort()).toEqual([base.digest, topB.digest].sort());
  });

  it('when the scan reading the layer fails, the waiting scan reads it itself', async () => {
    const { a, b, base, topA, topB } = await twoImages();
    a.failures.set(base.digest, { times: 1, error: () => new ImageError('ERR_DENIED', 'denied') });
    const first = scanImageLayers(a, [base, topA], spec, { cache: false }).catch((e: unknown) => e);
    await fetching(a);
    const second = scanImageLayers(b, [base, topB], spec, { cache: false });
    expect(((await first) as ImageError).code).toBe('ERR_DENIED');
    const facts = await second;
    expect(facts.map((f) => f.digest)).toEqual([base.digest, topB.digest]);
    expect(b.fetches.sort()).toEqual([base.digest, topB.digest].sort());
  });

  it("the waiting scan checks the layer against its own config's diff_id", async () => {
    const { a, b, base, topA, topB } = await twoImages();
    const verifyDiffIds = true;
    const [top] = await scanImageLayers(b, [topB], spec, { cache: false, verifyDiffIds });
    b.fetches = [];
    const first = scanImageLayers(a, [base, topA], spec, { cache: false, verifyDiffIds });
    await fetching(a);
    const wrong = `sha256:${'0'.repeat(64)}`;
    const error = await scanImageLayers(b, [base, topB], spec, {
      cache: false,
      image: 'b',
      verifyDiffIds,
      diffIds: [wrong, top!.diffId as string],
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImageError);
    expect((error as ImageError).code).toBe('ERR_DIGEST_MISMATCH');
    expect(b.fetches).not.toContain(base.digest);
    const factsA = await first;
    expect(factsA.map((f) => f.digest)).toEqual([base.digest, topA.digest]);
  });

  it('an abort of the waiting scan stops only that scan', async () => {
    const { a, b, base, topA, topB } = await twoImages();
    const first = scanImageLayers(a, [base, topA], spec, { cache: false });
    await fetching(a);
    const controller = new AbortController();
    const second = scanImageLayers(b, [base, topB], spec, { cache: false, signal: controller.signal }).catch(
      (e: unknown) => e,
    );
    controller.abort(new Error('user gave up'));
    expect(String((await second) as Error)).toContain('gave up');
    const facts = await first;
    expect(facts.map((f) => f.digest)).toEqual([base.digest, topA.digest]);
    expect(a.fetches.sort()).toEqual([base.digest, topA.digest].sort());
  });
});

describe('scanImageLayers: many layers at once', () => {
  it('reads 12 layers 12 at a time without a MaxListenersExceededWarning on its shared abort signal', async () => {
    const source = new MemorySource();
    source.delay = 2;
    const layers: Descriptor[] = [];
    for (let i = 0; i < 12; i++) layers.push(source.add(await layer(String.fromCharCode(97 + i), 50_000)));
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on('warning', onWarning);
    try {
      const facts = await scanImageLayers(source, layers, spec, { cache: false, concurrency: 12 });
      expect(facts).toHaveLength(12);
      expect(source.maxActive).toBe(12);
      // Warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.map((w) => w.name)).not.toContain('MaxListenersExceededWarning');
  });
});
