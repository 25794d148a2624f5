import { Readable } from 'node:stream';
import { IvocError, TransportError } from '../errors.js';
import type { FetchOptions, ImageSource } from '../oci/content.js';
import type { Descriptor } from '../oci/descriptor.js';
import { preferThroughputGc } from '../oci/layer/gc-tuning.js';
import type { RegistryTarget } from '../oci/registry/index.js';

/**
 * Blob transfer for publish: HEAD at the destination first, a cross-repository
 * mount when the source is another repository of the same registry, else the
 * source's verified stream piped into the registry client's upload (one PUT
 * for small blobs, PATCH chunks for large ones): no temporary copy.
 *
 * The HEADs of all blobs go out together (at most `headParallel` at a time,
 * default 8) before any upload starts; only the blobs DEST lacks are then
 * mounted or uploaded, `parallel` at a time. A blob DEST answers HEAD 200 for,
 * with the blob's size when the registry states one, is not read from the
 * source at all: a re-publish after a label-only change reads no layer, and
 * a blob that is uploaded is verified while it streams, as every fetch is.
 */

export type BlobOutcome = 'present' | 'mounted' | 'uploaded';

export interface BlobResult {
  descriptor: Descriptor;
  outcome: BlobOutcome;
}

export interface TransferOptions extends FetchOptions {
  /** Concurrent uploads (default 3). */
  parallel?: number;
  /** Concurrent HEAD requests (default 8). */
  headParallel?: number;
  /** The source's registry and repository, when it is a registry: mounts are tried from there. */
  mountFrom?: { registry: string; repository: string };
  onBlob?: (result: BlobResult) => void;
  /** Blobs this publish already found present or uploaded (EarlyUploads): not asked for again. */
  known?: ReadonlyMap<string, BlobOutcome>;
}

/** Copies blobs not yet at the target; returns what happened to each, in the order given. */
export async function transferBlobs(
  source: ImageSource,
  target: RegistryTarget,
  blobs: readonly Descriptor[],
  options: TransferOptions = {},
): Promise<BlobResult[]> {
  const unique = dedupe(blobs);
  const results = new Map<string, BlobResult>();
  const parallel = Math.max(1, options.parallel ?? 3);
  const signal = options.signal;
  const fetchOptions: FetchOptions = signal ? { signal } : {};
  const targetRegistry = target.client.registry;
  const targetRepository = target.reference.transport === 'docker' ? target.reference.repository : '';
  const mountFrom =
    options.mountFrom &&
    options.mountFrom.registry === targetRegistry &&
    options.mountFrom.repository !== targetRepository
      ? options.mountFrom.repository
      : undefined;

  const known = options.known ?? new Map<string, BlobOutcome>();
  const present = await mapBounded(unique, options.headParallel ?? headParallel, (descriptor) =>
    known.has(descriptor.digest) ? Promise.resolve(true) : target.exists(descriptor, fetchOptions),
  );
  unique.forEach((descriptor, i) => {
    if (!present[i]) return;
    const outcome = known.get(descriptor.digest) ?? 'present';
    const result: BlobResult = { descriptor, outcome };
    results.set(descriptor.digest, result);
    options.onBlob?.(result);
  });
  const missing = unique.filter((_, i) => !present[i]);
  await mapBounded(missing, parallel, async (descriptor) => {
    const outcome = await copyOne(source, target, descriptor, mountFrom, fetchOptions);
    const result = { descriptor, outcome };
    results.set(descriptor.digest, result);
    options.onBlob?.(result);
  });
  return unique.map((d) => results.get(d.digest)!);
}

/** Default number of HEAD requests in flight at once. */
export const headParallel = 8;

/**
 * `fn` over `items`, at most `limit` at a time, results in order. The first
 * failure stops the start of further items and is what the promise rejects
 * with (after the ones running have settled).
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const index = next++;
      try {
        out[index] = await fn(items[index]!);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker);
  const settled = await Promise.allSettled(workers);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return out;
}

/** Both results; when either fails, the first failure, once both have settled (nothing left running). */
export async function settledBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [first, second] = await Promise.allSettled([a, b]);
  if (first.status === 'rejected') throw first.reason;
  if (second.status === 'rejected') throw second.reason;
  return [first.value, second.value];
}

async function copyOne(
  source: ImageSource,
  target: RegistryTarget,
  descriptor: Descriptor,
  mountFrom: string | undefined,
  options: FetchOptions,
): Promise<BlobOutcome> {
  if (mountFrom !== undefined && (await target.mount(descriptor, mountFrom, options))) return 'mounted';
  // An upload cut by the network or a failing registry is restarted from a fresh
  // source stream (the client cancels the broken session): a few times at most.
  // Layers are read in bulk from here on: the GC setting a scan uses (see there).
  preferThroughputGc();
  for (let attempt = 0; ; attempt++) {
    const stream = await source.fetch(descriptor, options);
    try {
      await target.push(descriptor, stream, { ...options, verified: true });
      return 'uploaded';
    } catch (error) {
      if (attempt >= uploadAttempts - 1 || !restartable(error) || options.signal?.aborted) throw error;
    } finally {
      if (!stream.destroyed) stream.destroy();
    }
    await sleep(250 * 2 ** attempt);
    // The failed upload may have completed on the registry's side after all.
    if (await target.exists(descriptor, options)) return 'uploaded';
  }
}

const uploadAttempts = 3;

/** Network failures and server errors are worth a clean restart; auth, 4xx and bad content are not. */
export function restartable(error: unknown): boolean {
  if (!(error instanceof IvocError)) return false;
  if (error.code === 'ERR_NETWORK' || error.code === 'ERR_TIMEOUT') return true;
  if (error instanceof TransportError && error.status !== undefined) {
    return error.status >= 500 || error.status === 429;
  }
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Pushes a blob held in memory (config, report) unless the target has it. */
export async function pushBytes(
  target: RegistryTarget,
  descriptor: Descriptor,
  bytes: Buffer,
  options: FetchOptions = {},
): Promise<BlobOutcome> {
  if (await target.exists(descriptor, options)) return 'present';
  await target.push(descriptor, Readable.from([bytes]), options);
  return 'uploaded';
}

function dedupe(blobs: readonly Descriptor[]): Descriptor[] {
  const seen = new Set<string>();
  const out: Descriptor[] = [];
  for (const blob of blobs) {
    if (seen.has(blob.digest)) continue;
    seen.add(blob.digest);
    out.push(blob);
  }
  return out;
}
