import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { maxConfigBytes } from '../content.js';
import type { Descriptor } from '../descriptor.js';
import { digestOf, parseDigest } from '../digest.js';
import { type CaptureSpec, factsVersion, type LayerFacts } from './facts.js';

/**
 * The on-disk cache, content-addressed so that it never needs invalidating:
 *
 *   <dir>/facts/<alg>/<hex>/<spechash>.json.gz   LayerFacts of a layer, per CaptureSpec
 *   <dir>/blobs/<alg>/<hex>                      small immutable blobs (manifests, configs)
 *
 * <dir> is $IVOC_CACHE_DIR, else $XDG_CACHE_HOME/ivoc, else ~/.cache/ivoc.
 * Files are written to a temporary name and renamed into place, so a reader
 * never sees half a file; a file that does not parse or verify is removed and
 * treated as a miss. Facts are stored only after the layer was fully read and
 * verified (scanLayer resolves only then). Nothing here throws: a cache that
 * cannot be read or written is a cache that misses.
 */

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export interface CacheOptions {
  /** Cache directory; default from the environment (see above). */
  dir?: string | undefined;
  /** Disable the cache (as --no-cache and IVOC_NO_CACHE=1 do). */
  disabled?: boolean | undefined;
  /** Largest blob kept in the blob cache, bytes (default 16 MiB: the config limit). */
  maxBlobBytes?: number | undefined;
}

/** The default cache directory for this environment. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.IVOC_CACHE_DIR) return env.IVOC_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'ivoc');
  return join(homedir(), '.cache', 'ivoc');
}

/** True when the environment turns the cache off (IVOC_NO_CACHE=1/true/yes). */
export function cacheDisabledByEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.IVOC_NO_CACHE?.toLowerCase();
  return value === '1' || value === 'true' || value === 'yes';
}

/**
 * The canonical form of a CaptureSpec: order and duplicates of its lists do not
 * matter, paths are compared as written. Together with factsVersion it names
 * the facts file of a layer.
 */
export function canonicalSpec(spec: CaptureSpec): string {
  const sorted = (values: readonly string[]) => [...new Set(values)].sort();
  return JSON.stringify({
    factsVersion,
    paths: sorted(spec.paths),
    globs: sorted(spec.globs),
    probes: sorted(spec.probes),
    maxBodyBytes: spec.maxBodyBytes,
  });
}

/** 32 hex digits of sha256(canonical spec + factsVersion). */
export function specHash(spec: CaptureSpec): string {
  return digestOf(canonicalSpec(spec)).slice('sha256:'.length, 'sha256:'.length + 32);
}

export class DiskCache {
  /** Undefined when the cache is disabled. */
  readonly dir: string | undefined;
  readonly maxBlobBytes: number;

  constructor(options: CacheOptions = {}) {
    const disabled = options.disabled ?? cacheDisabledByEnv();
    this.dir = disabled ? undefined : (options.dir ?? defaultCacheDir());
    this.maxBlobBytes = options.maxBlobBytes ?? maxConfigBytes;
  }

  get enabled(): boolean {
    return this.dir !== undefined;
  }

  /** Where the facts of `digest` for `spec` live (undefined: disabled or not a valid digest). */
  factsPath(digest: string, spec: CaptureSpec): string | undefined {
    const location = this.location('facts', digest);
    return location && join(location, `${specHash(spec)}.json.gz`);
  }

  async getFacts(digest: string, spec: CaptureSpec): Promise<LayerFacts | undefined> {
    const file = this.factsPath(digest, spec);
    if (!file) return undefined;
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch {
      return undefined;
    }
    try {
      const facts = JSON.parse((await gunzipAsync(data)).toString('utf8')) as LayerFacts;
      if (!plausibleFacts(facts, digest)) throw new Error('not the facts asked for');
      return facts;
    } catch {
      await unlink(file).catch(() => {});
      return undefined;
    }
  }

  /** Stores facts (call only with facts of a fully verified layer). */
  async putFacts(facts: LayerFacts, spec: CaptureSpec): Promise<void> {
    const file = this.factsPath(facts.digest, spec);
    if (!file) return;
    try {
      const data = await gzipAsync(Buffer.from(JSON.stringify(facts)), { level: 1 });
      await writeAtomically(file, data);
    } catch {
      // A cache that cannot be written is a cache that misses.
    }
  }

  /** A cached blob, verified against its descriptor (size and digest). */
  async getBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<Buffer | undefined> {
    const file = this.location('blobs', descriptor.digest);
    if (!file || descriptor.size > this.maxBlobBytes) return undefined;
    let data: Buffer;
    try {
      data = await readFile(file);
    } catch {
      return undefined;
    }
    const algorithm = descriptor.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
    if (data.length !== descriptor.size || digestOf(data, algorithm) !== descriptor.digest) {
      await unlink(file).catch(() => {});
      return undefined;
    }
    return data;
  }

  /** Keeps a small blob (verified here: a blob that does not match its digest is not stored). */
  async putBlob(descriptor: Pick<Descriptor, 'digest' | 'size'>, data: Uint8Array): Promise<void> {
    const file = this.location('blobs', descriptor.digest);
    if (!file || data.length > this.maxBlobBytes || data.length !== descriptor.size) return;
    const algorithm = descriptor.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
    if (digestOf(data, algorithm) !== descriptor.digest) return;
    try {
      await writeAtomically(file, data);
    } catch {
      // ignored: see putFacts
    }
  }

  private location(kind: 'facts' | 'blobs', digest: string): string | undefined {
    if (!this.dir) return undefined;
    try {
      const { algorithm, hex } = parseDigest(digest);
      return join(this.dir, kind, algorithm, hex);
    } catch {
      return undefined;
    }
  }
}

/** The cache for these options; `false` or a DiskCache pass through (false: disabled). */
export function openCache(options: CacheOptions | DiskCache | false = {}): DiskCache {
  if (options instanceof DiskCache) return options;
  if (options === false) return new DiskCache({ disabled: true });
  return new DiskCache(options);
}

async function writeAtomically(file: string, data: Uint8Array): Promise<void> {
  const dir = file.slice(0, file.lastIndexOf('/'));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(temp, data, { mode: 0o600 });
    await rename(temp, file);
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  }
}

function plausibleFacts(facts: unknown, digest: string): facts is LayerFacts {
  if (typeof facts !== 'object' || facts === null) return false;
  const value = facts as Partial<LayerFacts>;
  return (
    value.factsVersion === factsVersion &&
    value.digest === digest &&
    typeof value.diffId === 'string' &&
    typeof value.uncompressedSize === 'number' &&
    Array.isArray(value.entries) &&
    Array.isArray(value.whiteouts) &&
    Array.isArray(value.opaqueDirs) &&
    typeof value.bodies === 'object' &&
    value.bodies !== null
  );
}
