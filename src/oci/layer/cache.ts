import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDisabledByEnv, defaultCacheDir } from '../cache-env.js';
import { digestPath, readCacheFileSync, unlink, writeAtomically } from '../cache-files.js';

// Where the layer cache and the code cache live; exported here as before.
export { cacheDisabledByEnv, defaultCacheDir } from '../cache-env.js';

import type { Descriptor } from '../descriptor.js';
import { digestOf } from '../digest.js';
import {
  type CaptureSpec,
  type ContentProbe,
  type EntryType,
  factsVersion,
  type LayerEntry,
  type LayerFacts,
  verifyDiffIdsFromEnv,
} from './facts.js';

/**
 * The on-disk cache, content-addressed so that it never needs invalidating:
 *
 *   <dir>/facts/<alg>/<hex>/<spechash>.f2.json.gz   LayerFacts of a layer, per CaptureSpec
 *   <dir>/blobs/<alg>/<hex>                         configs and manifests, by digest (../blob-cache.ts)
 *   <dir>/images/<chain>/<name>.json                what was concluded from a whole chain of
 *                                                   layers (see chainKey): the `inspect --scan`
 *                                                   summary, the fs rules' results
 *   <dir>/code/<bundle>-node<v>-<arch>-<command>.v8 the CLI's V8 code cache (src/cli/launch.ts,
 *                                                   which alone reads and writes it)
 *
 * <dir> is $IVOC_CACHE_DIR, else $XDG_CACHE_HOME/ivoc, else ~/.cache/ivoc.
 * Files are written to a temporary name and renamed into place, so a reader
 * never sees half a file; a file that does not parse or verify is removed and
 * treated as a miss. Facts are stored only after the layer was fully read and
 * verified (scanLayer resolves only then); image records only after every
 * layer of the chain was and the result was computed from them. Nothing here
 * throws: a cache that cannot be read or written is a cache that misses.
 *
 * Every key is a hash of everything its value was computed from (digests,
 * the capture spec, formats, and for image records the build of ivoc), so
 * nothing is ever invalidated: a changed input is another key. Nothing is
 * pruned either; deleting the directory is always safe.
 *
 * Facts files hold the entry list column by column (a string of type
 * letters, arrays of paths, modes, ids and sizes; link names and probe
 * results sparse, by index), gzip level 1: smaller and quicker to load than
 * the objects themselves. For the 15 facts files (100 021 entries) of the
 * large bench image, read, gunzipped and parsed in a fresh process as ivoc
 * does: 0.56 MB on disk and a median of 300 ms, against 0.70 MB and 420 ms
 * for gzip'd JSON objects (10 runs each, alternating, 2-core machine under a
 * load of ~6: absolute times are 2-3x a quiet machine's). Without gzip the
 * columns load in ~255 ms but take 5.3 MB: not worth ten times the disk.
 */

// node:zlib and node:crypto load on first use: a warm lint reads only records (JSON) and
// loads neither (start-up is measured, bench/).
const gzipAsync = (data: Buffer, options: { level: number }): Promise<Buffer> =>
  promisify(process.getBuiltinModule('node:zlib').gzip)(data, options);
const gunzipAsync = (data: Buffer): Promise<Buffer> =>
  promisify(process.getBuiltinModule('node:zlib').gunzip)(data);

export interface CacheOptions {
  /** Cache directory; default from the environment (see above). */
  dir?: string | undefined;
  /** Disable the cache (as --no-cache and IVOC_NO_CACHE=1 do). */
  disabled?: boolean | undefined;
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

/** On-disk encoding of facts files (the `f2` in their names): bump when it changes. */
export const factsFileFormat = 2;

/** Shape of the image-level record files: bump when it changes (old files are then misses). */
export const recordFormat = 1;

interface ImageRecord {
  recordFormat: number;
  chain: string;
  name: string;
  value: unknown;
}

/**
 * The key of an image's filesystem, after BuildKit's and containerd's chain
 * IDs: 64 hex digits of sha256 over the ordered list of (layer digest,
 * diff_id) pairs and factsVersion. Two images with the same layers in the same
 * order have the same merged filesystem, whatever their configs say, so what
 * was concluded from that filesystem alone is shared between them; a record
 * that also depends on the config has the config's digest in its name.
 * Undefined when the config does not list one diff_id per layer (the scan
 * then reports that, and nothing is cached).
 */
export function chainKey(
  layers: readonly Pick<Descriptor, 'digest'>[],
  diffIds: readonly string[],
  diffIdsVerified = verifyDiffIdsFromEnv(),
): string | undefined {
  if (layers.length !== diffIds.length) return undefined;
  const pairs = layers.map((layer, i) => [layer.digest, diffIds[i]]);
  // What a scan that checked the diff_ids concluded is kept apart: it vouches for more.
  const checked = diffIdsVerified ? { diffIdsVerified: true } : {};
  return digestOf(JSON.stringify({ factsVersion, layers: pairs, ...checked })).slice('sha256:'.length);
}

export class DiskCache {
  /** Undefined when the cache is disabled. */
  readonly dir: string | undefined;

  constructor(options: CacheOptions = {}) {
    const disabled = options.disabled ?? cacheDisabledByEnv();
    this.dir = disabled ? undefined : (options.dir ?? defaultCacheDir());
  }

  get enabled(): boolean {
    return this.dir !== undefined;
  }

  /** Where the facts of `digest` for `spec` live (undefined: disabled or not a valid digest). */
  factsPath(digest: string, spec: CaptureSpec): string | undefined {
    const location = this.dir === undefined ? undefined : digestPath(this.dir, 'facts', digest);
    return location && join(location, `${specHash(spec)}.f${factsFileFormat}.json.gz`);
  }

  async getFacts(digest: string, spec: CaptureSpec): Promise<LayerFacts | undefined> {
    const file = this.factsPath(digest, spec);
    if (!file) return undefined;
    return readEntry(file, maxFactsBytes, async (data) =>
      decodeFacts(JSON.parse((await gunzipAsync(data)).toString('utf8')), digest),
    );
  }

  /** Stores facts (call only with facts of a fully verified layer). */
  async putFacts(facts: LayerFacts, spec: CaptureSpec): Promise<void> {
    const file = this.factsPath(facts.digest, spec);
    if (!file) return;
    try {
      const data = await gzipAsync(Buffer.from(JSON.stringify(encodeFacts(facts))), { level: 1 });
      await writeAtomically(file, data);
    } catch {
      // A cache that cannot be written is a cache that misses.
    }
  }

  /** Where the record `name` of `chain` lives (undefined: disabled or not a valid key/name). */
  recordPath(chain: string, name: string): string | undefined {
    if (!this.dir || !/^[0-9a-f]{64}$/.test(chain) || !/^[a-z0-9][a-z0-9.-]{0,127}$/.test(name))
      return undefined;
    return join(this.dir, 'images', chain, `${name}.json`);
  }

  /**
   * An image-level record (see chainKey): the value stored by putRecord, if its
   * file parses, names this chain and record, and `check` accepts the value;
   * otherwise the file is removed and it is a miss.
   */
  async getRecord<T>(
    chain: string,
    name: string,
    check: (value: unknown) => value is T,
  ): Promise<T | undefined> {
    const file = this.recordPath(chain, name);
    if (!file) return undefined;
    return readEntry(file, maxRecordBytes, (data) => {
      const record = JSON.parse(data.toString('utf8')) as Partial<ImageRecord>;
      if (
        typeof record !== 'object' ||
        record === null ||
        record.recordFormat !== recordFormat ||
        record.chain !== chain ||
        record.name !== name ||
        !check(record.value)
      ) {
        throw new Error('not the record asked for');
      }
      return record.value;
    });
  }

  /** Stores an image-level record (plain JSON: they are small). */
  async putRecord(chain: string, name: string, value: unknown): Promise<void> {
    const file = this.recordPath(chain, name);
    if (!file) return;
    const record: ImageRecord = { recordFormat, chain, name, value };
    try {
      await writeAtomically(file, Buffer.from(JSON.stringify(record)));
    } catch {
      // ignored: see putFacts
    }
  }
}

/** The cache for these options; `false` or a DiskCache pass through (false: disabled). */
export function openCache(options: CacheOptions | DiskCache | false = {}): DiskCache {
  if (options instanceof DiskCache) return options;
  if (options === false) return new DiskCache({ disabled: true });
  return new DiskCache(options);
}

// ---------------------------------------------------------------- facts files

const typeLetters: Record<EntryType, string> = {
  file: 'f',
  dir: 'd',
  symlink: 's',
  hardlink: 'h',
  char: 'c',
  block: 'b',
  fifo: 'p',
};
const letterTypes = new Map<string, EntryType>(
  Object.entries(typeLetters).map(([type, letter]) => [letter, type as EntryType]),
);

/** A facts file: LayerFacts with the entry list stored column by column. */
interface FactsFile {
  format: number;
  factsVersion: number;
  digest: string;
  diffId?: string | undefined;
  uncompressedSize: number;
  /** One letter per entry (typeLetters). */
  types: string;
  paths: string[];
  modes: number[];
  uids: number[];
  gids: number[];
  sizes: number[];
  /** By entry index: symlink and hard link targets, probe results. */
  linknames: Record<string, string>;
  probes: Record<string, Partial<Record<ContentProbe, string>>>;
  whiteouts: string[];
  opaqueDirs: string[];
  bodies: LayerFacts['bodies'];
}

function encodeFacts(facts: LayerFacts): FactsFile {
  const count = facts.entries.length;
  const paths = new Array<string>(count);
  const modes = new Array<number>(count);
  const uids = new Array<number>(count);
  const gids = new Array<number>(count);
  const sizes = new Array<number>(count);
  const linknames: Record<string, string> = {};
  const probes: FactsFile['probes'] = {};
  let types = '';
  facts.entries.forEach((entry, i) => {
    types += typeLetters[entry.type];
    paths[i] = entry.path;
    modes[i] = entry.mode;
    uids[i] = entry.uid;
    gids[i] = entry.gid;
    sizes[i] = entry.size;
    if (entry.linkname !== undefined) linknames[i] = entry.linkname;
    if (entry.probes !== undefined) probes[i] = entry.probes;
  });
  return {
    format: factsFileFormat,
    factsVersion: facts.factsVersion,
    digest: facts.digest,
    diffId: facts.diffId,
    uncompressedSize: facts.uncompressedSize,
    types,
    paths,
    modes,
    uids,
    gids,
    sizes,
    linknames,
    probes,
    whiteouts: facts.whiteouts,
    opaqueDirs: facts.opaqueDirs,
    bodies: facts.bodies,
  };
}

/** The LayerFacts a facts file holds, entries as a scan makes them; throws when it is not plausible. */
function decodeFacts(file: Partial<FactsFile> | null, digest: string): LayerFacts {
  if (typeof file !== 'object' || file === null) throw new Error('not a facts file');
  const count = Array.isArray(file.paths) ? file.paths.length : undefined;
  if (
    file.format !== factsFileFormat ||
    file.factsVersion !== factsVersion ||
    file.digest !== digest ||
    (file.diffId !== undefined && typeof file.diffId !== 'string') ||
    typeof file.uncompressedSize !== 'number' ||
    count === undefined ||
    typeof file.types !== 'string' ||
    file.types.length !== count ||
    file.modes?.length !== count ||
    file.uids?.length !== count ||
    file.gids?.length !== count ||
    file.sizes?.length !== count ||
    typeof file.linknames !== 'object' ||
    file.linknames === null ||
    typeof file.probes !== 'object' ||
    file.probes === null ||
    !Array.isArray(file.whiteouts) ||
    !Array.isArray(file.opaqueDirs) ||
    typeof file.bodies !== 'object' ||
    file.bodies === null
  ) {
    throw new Error('not the facts asked for');
  }
  const { types, paths, modes, uids, gids, sizes, linknames, probes } = file as FactsFile;
  const entries = new Array<LayerEntry>(count);
  for (let i = 0; i < count; i++) {
    const type = letterTypes.get(types[i] as string);
    const path = paths[i];
    const mode = modes[i];
    const uid = uids[i];
    const gid = gids[i];
    const size = sizes[i];
    if (
      type === undefined ||
      typeof path !== 'string' ||
      typeof mode !== 'number' ||
      typeof uid !== 'number' ||
      typeof gid !== 'number' ||
      typeof size !== 'number'
    ) {
      throw new Error(`entry ${i} is malformed`);
    }
    // The same properties in the same order as scan-layer.ts makes them.
    const entry: LayerEntry = { path, type, mode, uid, gid, size };
    const linkname = linknames[i];
    if (linkname !== undefined) entry.linkname = linkname;
    const found = probes[i];
    if (found !== undefined) entry.probes = found;
    entries[i] = entry;
  }
  return {
    factsVersion: file.factsVersion,
    digest: file.digest,
    diffId: file.diffId,
    uncompressedSize: file.uncompressedSize,
    entries,
    whiteouts: file.whiteouts,
    opaqueDirs: file.opaqueDirs,
    bodies: file.bodies,
  };
}

/** Facts files are gzip'd columns: a few MB for a layer of 200k entries; past this, not one of ours. */
const maxFactsBytes = 256 * 1024 * 1024;
/** Records are small (a summary, rule results); a file past this is not one of ours. */
const maxRecordBytes = 64 * 1024 * 1024;

/**
 * A cache entry: FILE read (synchronously, a regular file of at most
 * `maxBytes`: see readCacheFileSync) and decoded. A missing file is a miss;
 * one that does not decode (throws) is removed and is a miss too.
 */
async function readEntry<T>(
  file: string,
  maxBytes: number,
  decode: (data: Buffer) => T | Promise<T>,
): Promise<T | undefined> {
  const data = readCacheFileSync(file, { maxBytes });
  if (data === undefined) return undefined;
  try {
    return await decode(data);
  } catch {
    await unlink(file).catch(() => {});
    return undefined;
  }
}
