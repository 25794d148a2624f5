import { Readable } from 'node:stream';
import { ImageError } from '../errors.js';
import { cacheDisabledByEnv, defaultCacheDir } from './cache-env.js';
import { digestPath, readCacheFileSync, unlink, writeAtomically } from './cache-files.js';
import {
  collect,
  type FetchOptions,
  type ImageSource,
  maxConfigBytes,
  type StreamedLayer,
} from './content.js';
import type { Descriptor } from './descriptor.js';
import { digestOf, parseDigest } from './digest.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from './media-types.js';
import { formatImageReference } from './reference.js';

/**
 * Configs and manifests kept on disk by digest, so that another look at an
 * image costs no request for what its tag's manifest names: the config, and
 * for an index the platform's manifest. They are immutable (a digest names
 * one content forever) and small, and every lint and inspect reads them; over
 * the network each is a round trip, a token exchange at worst. containerd's
 * content store keeps them the same way, as does oras-go's caching proxy.
 *
 *   <cache dir>/blobs/<algorithm>/<hex>
 *
 * What a reference names (its tag's manifest or index) is always asked of
 * the registry: the cache never decides what an image is, only supplies bytes
 * for a digest the registry's answer named (as containerd's content store,
 * it does not ask whether the registry still holds that blob). Every read is
 * verified (size and digest) and a file that fails is removed and is a miss;
 * only a regular file is read (no FIFO, no symlink followed); a blob is stored
 * only once it was read whole and verified. Nothing here throws: a cache that
 * cannot be read or written is a cache that misses. --no-cache and
 * IVOC_NO_CACHE=1 turn it off with the other caches.
 */
export class BlobCache {
  readonly dir: string;
  /** Largest blob kept, bytes (default: the config limit). */
  readonly maxBytes: number;

  constructor(dir: string, maxBytes = maxConfigBytes) {
    this.dir = dir;
    this.maxBytes = maxBytes;
  }

  /** The blob's bytes, if cached and still matching `descriptor` (size and digest). */
  async get(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Buffer | undefined> {
    const file = this.fileOf(descriptor);
    if (!file) return undefined;
    // A file of another size is a miss, not removed: the descriptor may be the wrong one
    // (a fetch that verifies replaces a damaged file anyway).
    const data = readCacheFileSync(file, { maxBytes: this.maxBytes, exactBytes: descriptor.size });
    if (data === undefined) return undefined;
    if (!matches(descriptor, data)) {
      // Its bytes are not those its name (the digest) says: damaged.
      await unlink(file).catch(() => {});
      return undefined;
    }
    return data;
  }

  /**
   * Keeps a blob: only one that matches its descriptor and is within the size
   * cap. `verified`: the caller checked the bytes against the digest as they
   * streamed in (a source's contract), so only their size is checked again;
   * get() verifies every read whatever was stored.
   */
  async put(
    descriptor: Pick<Descriptor, 'digest' | 'size'>,
    data: Uint8Array,
    options: { verified?: boolean } = {},
  ): Promise<void> {
    const file = this.fileOf(descriptor);
    if (!file) return;
    if (options.verified ? data.length !== descriptor.size : !matches(descriptor, data)) return;
    try {
      await writeAtomically(file, data);
    } catch {
      // A cache that cannot be written is a cache that misses.
    }
  }

  private fileOf(descriptor: Pick<Descriptor, 'digest' | 'size'>): string | undefined {
    if (!Number.isSafeInteger(descriptor.size) || descriptor.size < 0 || descriptor.size > this.maxBytes)
      return undefined;
    return digestPath(this.dir, 'blobs', descriptor.digest);
  }
}

/** The bytes are those the descriptor names (its digest valid: fileOf checked it). */
function matches(descriptor: Pick<Descriptor, 'digest' | 'size'>, data: Uint8Array): boolean {
  if (data.length !== descriptor.size) return false;
  return digestOf(data, parseDigest(descriptor.digest).algorithm) === descriptor.digest;
}

/** The blob cache in the default cache directory, or undefined when the caches are off or have no home. */
export function openBlobCache(options: { dir?: string; disabled?: boolean } = {}): BlobCache | undefined {
  if (options.disabled ?? cacheDisabledByEnv()) return undefined;
  const dir = options.dir ?? defaultCacheDir();
  return dir === undefined ? undefined : new BlobCache(dir);
}

/** What the blob cache keeps: image configs and manifests (never layers, which are streamed). */
export function isCachedMediaType(mediaType: string): boolean {
  return (
    mediaType === MediaType.ociConfig ||
    mediaType === MediaType.dockerConfig ||
    isManifestMediaType(mediaType) ||
    isIndexMediaType(mediaType)
  );
}

/**
 * SOURCE with configs and manifests read through CACHE. The descriptor that
 * resolve() returned is always fetched from SOURCE (a registry source holds
 * its bytes from the resolve). Writes finish before close() returns.
 */
export function withBlobCache(source: ImageSource, cache: BlobCache): ImageSource {
  return new BlobCachingSource(source, cache);
}

class BlobCachingSource implements ImageSource {
  readonly reference: ImageSource['reference'];
  readonly streamLayers?: (
    layers: readonly Descriptor[],
    visit: (layer: StreamedLayer) => Promise<void>,
    options?: FetchOptions,
  ) => Promise<void>;
  private resolvedDigest: string | undefined;
  private readonly writes = new Set<Promise<void>>();

  constructor(
    private readonly source: ImageSource,
    private readonly cache: BlobCache,
  ) {
    this.reference = source.reference;
    if (source.streamLayers) this.streamLayers = source.streamLayers.bind(source);
  }

  async resolve(options?: FetchOptions): Promise<Descriptor> {
    const descriptor = await this.source.resolve(options);
    this.resolvedDigest = descriptor.digest;
    return descriptor;
  }

  /** Read from the source, not the cache: the resolved root (the source holds it), layers, anything over the cap. */
  private bypasses(descriptor: Descriptor): boolean {
    return (
      descriptor.digest === this.resolvedDigest ||
      !isCachedMediaType(descriptor.mediaType) ||
      descriptor.size > this.cache.maxBytes
    );
  }

  async fetchBytes(descriptor: Descriptor, options?: FetchOptions): Promise<Buffer | undefined> {
    if (this.bypasses(descriptor)) return this.source.fetchBytes?.(descriptor, options);
    return this.cachedOrFetched(descriptor, options);
  }

  async fetch(descriptor: Descriptor, options?: FetchOptions): Promise<Readable> {
    if (this.bypasses(descriptor)) return this.source.fetch(descriptor, options);
    return Readable.from([await this.cachedOrFetched(descriptor, options)]);
  }

  /** From the disk when there (verified), else from the source (verified as it flows), and then kept. */
  private async cachedOrFetched(descriptor: Descriptor, options?: FetchOptions): Promise<Buffer> {
    options?.signal?.throwIfAborted();
    const cached = await this.cache.get(descriptor);
    if (cached) return cached;
    // Small by bypasses(); the source's stream is verified as it flows (an error before its end).
    const bytes =
      (await this.source.fetchBytes?.(descriptor, options)) ??
      (await collect(
        await this.source.fetch(descriptor, options),
        descriptor.size,
        () =>
          new ImageError(
            'ERR_SIZE_MISMATCH',
            `blob is larger than its descriptor says (${descriptor.size} bytes)`,
            { image: formatImageReference(this.reference), blob: descriptor.digest },
          ),
      ));
    // What a source returns was verified as it came: not hashed a second time to be kept.
    const write = this.cache
      .put(descriptor, bytes, { verified: true })
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
    return bytes;
  }

  async close(): Promise<void> {
    await Promise.all(this.writes);
    await this.source.close();
  }
}
