import { setMaxListeners } from 'node:events';
import type { Readable } from 'node:stream';
import { ImageError, IvocError } from '../../errors.js';
import type { ImageSource } from '../content.js';
import type { Descriptor } from '../descriptor.js';
import { lowerHelperThreadPriority } from '../thread-priority.js';
import { canonicalSpec, type DiskCache, openCache } from './cache.js';
import { type CaptureSpec, type LayerFacts, verifyDiffIdsFromEnv } from './facts.js';
import { preferThroughputGc } from './gc-tuning.js';
import { type PreparedSpec, prepareSpec, type ScanLayerOptions, scanLayer } from './scan-layer.js';

/**
 * Facts for every layer of an image: cache hits fetch nothing; misses are
 * streamed once each (deduplicated by digest), in one pass when the source
 * can only be read front to back, else concurrently with a bounded pool,
 * largest first. The first fatal error aborts everything else (streams
 * destroyed, inflaters killed) and is what the promise rejects with.
 */

export interface ScanProgress {
  /** The layer that advanced. */
  digest: string;
  /** Compressed bytes of that layer read so far (restarts from 0 on a retry). */
  layerBytes: number;
  layerSize: number;
  /** Compressed bytes read so far, all layers. */
  bytes: number;
  /** Compressed bytes to read in all (cache hits excluded). */
  totalBytes: number;
  /** Layers done (cache hits included) and in all (unique digests). */
  layersDone: number;
  layers: number;
}

export interface ScanOptions {
  /** The image as the user named it, for errors. */
  image?: string | undefined;
  /** Layers read at once (default: the number of CPUs, at least 3). */
  concurrency?: number | undefined;
  /** The facts cache: a DiskCache, `false` to disable, or options (default: from the environment). */
  cache?: DiskCache | false | { dir?: string; disabled?: boolean } | undefined;
  /** The config's rootfs.diff_ids, in layer order: each layer's diffId, when known, must match. */
  diffIds?: readonly string[] | undefined;
  /** Hash compressed layers to check their diff_ids (default: IVOC_VERIFY_DIFF_IDS=1; see scan-layer.ts). */
  verifyDiffIds?: boolean | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: ScanProgress) => void) | undefined;
  /** Per-layer caps (see scanLayer). */
  maxBytes?: number | undefined;
  maxEntries?: number | undefined;
  inflater?: 'auto' | 'zlib' | undefined;
  /** Restarts of a layer whose fetch failed with a network error or timeout (default 2). */
  retries?: number | undefined;
}

/**
 * At least 3: each layer's pipeline alternates between the main thread, the
 * inflater (thread pool or process) and the network, so on 2 cores a third
 * layer fills the gaps (large bench image: wall 8.7-9.1 -> 7.9-8.4 s, same
 * CPU, peak RSS within the same 140-160 MB).
 */
export function defaultConcurrency(): number {
  return Math.max(3, process.getBuiltinModule('node:os').availableParallelism());
}

interface Work {
  descriptor: Descriptor;
  expectedDiffId: string | undefined;
}

export async function scanImageLayers(
  source: ImageSource,
  layers: readonly Descriptor[],
  spec: CaptureSpec,
  options: ScanOptions = {},
): Promise<LayerFacts[]> {
  const image = options.image;
  const diffIds = options.diffIds;
  if (diffIds && diffIds.length !== layers.length) {
    throw new ImageError(
      'ERR_MANIFEST_INVALID',
      `the config lists ${diffIds.length} diff_ids for the manifest's ${layers.length} layers`,
      { image },
    );
  }
  options.signal?.throwIfAborted();
  const cache = openCache(options.cache === undefined ? {} : options.cache);
  const prepared = prepareSpec(spec);
  const verify = options.verifyDiffIds ?? verifyDiffIdsFromEnv();
  // Facts without a diffId (read when diff_ids were not verified) do not serve a verifying scan.
  const usable = (facts: LayerFacts, work: Work) =>
    !verify || work.expectedDiffId === undefined || facts.diffId !== undefined;

  // Unique layers, first occurrence decides the expected diffId.
  const unique = new Map<string, Work>();
  layers.forEach((descriptor, index) => {
    if (!unique.has(descriptor.digest)) {
      unique.set(descriptor.digest, { descriptor, expectedDiffId: diffIds?.[index] });
    } else if (diffIds && unique.get(descriptor.digest)?.expectedDiffId !== diffIds[index]) {
      throw new ImageError(
        'ERR_DIGEST_MISMATCH',
        `layer ${descriptor.digest} appears twice with different diff_ids in the config`,
        { image, blob: descriptor.digest },
      );
    }
  });

  const found = new Map<string, LayerFacts>();
  const cached = await Promise.all(
    [...unique.values()].map(
      async (work) => [work, await cache.getFacts(work.descriptor.digest, spec)] as const,
    ),
  );
  const misses: Work[] = [];
  for (const [work, facts] of cached) {
    if (facts && usable(facts, work)) {
      checkDiffId(facts, work, image);
      found.set(work.descriptor.digest, facts);
    } else {
      misses.push(work);
    }
  }

  if (misses.length > 0) {
    preferThroughputGc();
    await lowerHelperThreadPriority();
    // A layer another scan of this process is reading right now (same capture
    // spec) is awaited, not fetched again; if that scan fails, it is read here.
    const specKey = canonicalSpec(spec);
    const own: Work[] = [];
    const borrowed: Array<{ work: Work; facts: Promise<LayerFacts> }> = [];
    for (const work of misses) {
      const facts = inFlight.get(inFlightKey(work.descriptor.digest, specKey));
      if (facts) borrowed.push({ work, facts });
      else own.push(work);
    }
    const run = new ScanRun(source, prepared, options, unique.size, found);
    const scan = async (works: Work[]): Promise<void> => {
      if (works.length === 0) return;
      const claims = claimInFlight(works, specKey);
      const stored: Promise<void>[] = [];
      run.onLayer = (facts) => {
        found.set(facts.digest, facts);
        claims.resolve(facts);
        if (cache.enabled) stored.push(cache.putFacts(facts, spec));
      };
      try {
        await run.start(works);
      } finally {
        claims.release();
        await Promise.all(stored);
      }
    };
    const retry: Work[] = [];
    const waits = borrowed.map(async ({ work, facts }) => {
      let got: LayerFacts;
      try {
        got = await abortable(facts, run.signal);
      } catch {
        if (run.signal.aborted) throw run.signal.reason;
        retry.push(work);
        return;
      }
      if (!usable(got, work)) {
        retry.push(work);
        return;
      }
      try {
        checkDiffId(got, work, image);
      } catch (error) {
        run.fail(error);
        throw error;
      }
      found.set(work.descriptor.digest, got);
      run.borrowed(work.descriptor);
    });
    const settled = await Promise.allSettled([scan(own), ...waits]);
    const failure = settled.find((result) => result.status === 'rejected');
    if (failure) throw run.error ?? failure.reason;
    await scan(retry);
  }
  return layers.map((descriptor) => found.get(descriptor.digest) as LayerFacts);
}

/** Layer scans in progress in this process, by layer digest and canonical capture spec. */
const inFlight = new Map<string, Promise<LayerFacts>>();

const inFlightKey = (digest: string, specKey: string) => `${digest}\n${specKey}`;

/** Layer scans in progress (tests). */
export function scansInFlight(): number {
  return inFlight.size;
}

/**
 * Announces WORKS as being read by this scan: other scans await their facts
 * instead of reading them too. `release` withdraws what was not delivered
 * (the scan failed): those waiters then read the layer themselves.
 */
function claimInFlight(
  works: readonly Work[],
  specKey: string,
): { resolve: (facts: LayerFacts) => void; release: () => void } {
  const claims = new Map<
    string,
    { key: string; promise: Promise<LayerFacts>; settle: (facts?: LayerFacts) => void }
  >();
  for (const work of works) {
    const key = inFlightKey(work.descriptor.digest, specKey);
    if (inFlight.has(key)) continue;
    let settle!: (facts?: LayerFacts) => void;
    const promise = new Promise<LayerFacts>((resolve, reject) => {
      settle = (facts) =>
        facts ? resolve(facts) : reject(new Error('the scan that was reading this layer failed'));
    });
    promise.catch(() => undefined);
    inFlight.set(key, promise);
    claims.set(work.descriptor.digest, { key, promise, settle });
  }
  const drop = (digest: string, facts?: LayerFacts) => {
    const claim = claims.get(digest);
    if (!claim) return;
    claims.delete(digest);
    if (inFlight.get(claim.key) === claim.promise) inFlight.delete(claim.key);
    claim.settle(facts);
  };
  return {
    resolve: (facts) => drop(facts.digest, facts),
    release: () => {
      for (const digest of [...claims.keys()]) drop(digest);
    },
  };
}

/** PROMISE, or a rejection as soon as SIGNAL aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function checkDiffId(facts: LayerFacts, work: Work, image: string | undefined): void {
  if (
    facts.diffId !== undefined &&
    work.expectedDiffId !== undefined &&
    work.expectedDiffId !== facts.diffId
  ) {
    throw new ImageError(
      'ERR_DIGEST_MISMATCH',
      `layer's uncompressed content hashes to ${facts.diffId}, the config's diff_id says ${work.expectedDiffId}`,
      { image, blob: work.descriptor.digest },
    );
  }
}

function isRetryable(error: unknown): boolean {
  return error instanceof IvocError && (error.code === 'ERR_NETWORK' || error.code === 'ERR_TIMEOUT');
}

/** The scan of one image's missing layers, with a shared abort (the caller's signal included). */
class ScanRun {
  onLayer: (facts: LayerFacts) => void = () => {};
  private readonly controller = new AbortController();
  private firstError: unknown;
  private readonly layerBytes = new Map<string, number>();
  private totalBytes = 0;
  private bytes = 0;
  private layersDone: number;
  /** Aborted on the first failure, or when the caller's signal aborts. */
  readonly signal: AbortSignal;

  constructor(
    private readonly source: ImageSource,
    private readonly spec: PreparedSpec,
    private readonly options: ScanOptions,
    private readonly layerCount: number,
    found: ReadonlyMap<string, LayerFacts>,
  ) {
    this.layersDone = found.size;
    const outer = options.signal;
    this.signal = outer ? AbortSignal.any([this.controller.signal, outer]) : this.controller.signal;
    // Each layer in flight listens on the shared signal a few times (its request,
    // its stream, its scan): Node's default of 10 would warn of a leak from 4 layers
    // at once (a 4-core machine's default), though every listener goes with its layer.
    const listeners = Math.max(10, 4 * (options.concurrency ?? defaultConcurrency()));
    setMaxListeners(listeners, this.controller.signal, this.signal);
  }

  get error(): unknown {
    return this.firstError;
  }

  /** Reads WORKS (the layers no other scan is reading, or those another scan failed to deliver). */
  async start(works: readonly Work[]): Promise<void> {
    this.totalBytes += works.reduce((sum, work) => sum + work.descriptor.size, 0);
    const outer = this.options.signal;
    const onAbort = () => this.fail(outer?.reason ?? new Error('aborted'));
    if (outer?.aborted) onAbort();
    outer?.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.firstError !== undefined) {
        // Failed already (a waited-for layer did not match its diff_id, or an abort).
      } else if (this.source.streamLayers) await this.singlePass(works);
      else await this.pool(works);
    } catch (error) {
      this.fail(error);
    } finally {
      outer?.removeEventListener('abort', onAbort);
    }
    if (this.firstError !== undefined) throw this.firstError;
  }

  /** A layer whose facts another scan delivered. */
  borrowed(descriptor: Descriptor): void {
    this.layersDone++;
    this.progress(descriptor, 0);
  }

  /** Records the first failure and stops everything else. */
  fail(error: unknown): void {
    if (this.firstError !== undefined) return;
    this.firstError = error;
    this.controller.abort(error);
  }

  private async singlePass(works: readonly Work[]): Promise<void> {
    const wanted = new Map(works.map((work) => [work.descriptor.digest, work]));
    const done = new Set<string>();
    await this.source.streamLayers!(
      works.map((work) => work.descriptor),
      async ({ descriptor, stream }) => {
        const work = wanted.get(descriptor.digest);
        if (!work || done.has(descriptor.digest)) {
          // Not asked for (or twice): drain it so the single pass goes on.
          stream.resume();
          await new Promise<void>((resolve) => stream.once('close', resolve));
          return;
        }
        done.add(descriptor.digest);
        try {
          await this.scanOne(work, stream);
        } catch (error) {
          this.fail(error);
          throw error;
        }
      },
      { signal: this.controller.signal },
    );
    const missing = works.find((work) => !done.has(work.descriptor.digest));
    if (missing) {
      throw new ImageError('ERR_BLOB_NOT_FOUND', 'the source did not deliver this layer', {
        image: this.options.image,
        blob: missing.descriptor.digest,
      });
    }
  }

  private async pool(works: readonly Work[]): Promise<void> {
    // Largest first: the longest layers start early, the pool ends together.
    const queue = [...works].sort((a, b) => b.descriptor.size - a.descriptor.size);
    const workers = Math.max(1, Math.min(this.options.concurrency ?? defaultConcurrency(), queue.length));
    await Promise.all(
      Array.from({ length: workers }, async () => {
        for (let work = queue.shift(); work && this.firstError === undefined; work = queue.shift()) {
          try {
            await this.fetchAndScan(work);
          } catch (error) {
            this.fail(error);
            return;
          }
        }
      }),
    );
  }

  private async fetchAndScan(work: Work): Promise<void> {
    const retries = this.options.retries ?? 2;
    for (let attempt = 0; ; attempt++) {
      const signal = this.controller.signal;
      signal.throwIfAborted();
      try {
        const stream = await this.source.fetch(work.descriptor, { signal });
        await this.scanOne(work, stream);
        return;
      } catch (error) {
        if (attempt >= retries || !isRetryable(error) || signal.aborted) throw error;
        this.progress(work.descriptor, 0);
      }
    }
  }

  private async scanOne(work: Work, stream: Readable): Promise<void> {
    const { descriptor } = work;
    const layerOptions: ScanLayerOptions = {
      image: this.options.image,
      maxBytes: this.options.maxBytes,
      maxEntries: this.options.maxEntries,
      inflater: this.options.inflater,
      expectedDiffId: work.expectedDiffId,
      verifyDiffId: this.options.verifyDiffIds,
      signal: this.controller.signal,
      onBytes: (bytes) => this.progress(descriptor, bytes),
    };
    const facts = await scanLayer(stream, descriptor, this.spec, layerOptions);
    this.layersDone++;
    this.onLayer(facts);
    this.progress(descriptor, descriptor.size);
  }

  private progress(descriptor: Descriptor, layerBytes: number): void {
    const previous = this.layerBytes.get(descriptor.digest) ?? 0;
    this.layerBytes.set(descriptor.digest, layerBytes);
    this.bytes += layerBytes - previous;
    this.options.onProgress?.({
      digest: descriptor.digest,
      layerBytes,
      layerSize: descriptor.size,
      bytes: this.bytes,
      totalBytes: this.totalBytes,
      layersDone: this.layersDone,
      layers: this.layerCount,
    });
  }
}
