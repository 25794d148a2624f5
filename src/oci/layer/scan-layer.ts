import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImageError, IvocError, withContext } from '../../errors.js';
import type { Descriptor } from '../descriptor.js';
import { createStreamHash, type StreamHash } from '../digest.js';
import { layerCompression } from '../media-types.js';
import { decompressor } from './decompress.js';
import {
  type CapturedBody,
  type CaptureSpec,
  type ContentProbe,
  type EntryType,
  factsVersion,
  type LayerEntry,
  type LayerFacts,
  verifyDiffIdsFromEnv,
} from './facts.js';
import { compilePathGlobs, type PathMatcher } from './scan-glob.js';
import { baseNameOf, normaliseEntryName, parentPath } from './scan-paths.js';
import { type ProbePlan, ProbeRunner, planProbes, privateKeyProbeMaxSize } from './scan-probes.js';
import { type BodyConsumer, TarFormatError, type TarHeader, TarParser } from './scan-tar.js';

/**
 * One layer, one pass: the verified blob is decompressed (in-process or by
 * an external inflater, chosen per layer: see decompress.ts), the
 * uncompressed tar hashed (the diffId) and parsed; the
 * result is the layer's facts. Facts are only returned once the whole blob
 * has been read and its digest verified by the input stream.
 */

export const defaultMaxEntries = 5_000_000;

export interface ScanLayerOptions {
  /** The image as the user named it, for errors. */
  image?: string | undefined;
  /** Cap on uncompressed bytes (default $IVOC_MAX_LAYER_BYTES or 32 GiB). */
  maxBytes?: number | undefined;
  /** Cap on tar entries, whiteout markers included (default 5,000,000). */
  maxEntries?: number | undefined;
  /** The config's rootfs.diff_ids entry for this layer: the diffId, when known, must equal it. */
  expectedDiffId?: string | undefined;
  /** Hash a compressed layer's tar to check its diffId (default: verifyDiffIdsFromEnv()). */
  verifyDiffId?: boolean | undefined;
  /** 'zlib' forces in-process inflate (default: $IVOC_INFLATER, else chosen per layer, see decompress.ts). */
  inflater?: 'auto' | 'zlib' | undefined;
  signal?: AbortSignal | undefined;
  /** Called with the number of compressed bytes read so far, as they are read. */
  onBytes?: ((bytes: number) => void) | undefined;
}

/** A CaptureSpec compiled for the hot path (prepare once, scan many layers). */
export interface PreparedSpec {
  readonly prepared: true;
  paths: ReadonlySet<string>;
  globs: PathMatcher | undefined;
  probes: ReadonlySet<ContentProbe>;
  maxBodyBytes: number;
}

export function prepareSpec(spec: CaptureSpec | PreparedSpec): PreparedSpec {
  if ('prepared' in spec) return spec;
  const paths = new Set<string>();
  for (const path of spec.paths) {
    const normalised = normaliseEntryName(path.replace(/^\/+/, ''));
    if (normalised.kind === 'path') paths.add(normalised.path);
  }
  return {
    prepared: true,
    paths,
    globs: compilePathGlobs(spec.globs),
    probes: new Set(spec.probes),
    maxBodyBytes: Math.max(0, Math.floor(spec.maxBodyBytes)),
  };
}

const typeByFlag: Record<string, EntryType | undefined> = {
  '0': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

const whiteoutPrefix = '.wh.';
const opaqueMarker = '.wh..wh..opq';

type Context = { image?: string | undefined; blob: string };

/**
 * The end of the pipeline: hashes the uncompressed tar (the diffId) and runs
 * the tar parser over it, synchronously, chunk by chunk.
 */
class TarSink extends Writable {
  /** The diffId's hash, when there is one; chosen at the first chunk, once the compression is known. */
  hash: StreamHash | undefined;
  bytes = 0;
  private readonly parser: TarParser;
  private decided = false;

  constructor(
    parser: TarParser,
    private readonly chooseHash: () => StreamHash | undefined,
  ) {
    // Each chunk is consumed synchronously: the mark only has to exceed one chunk, so that
    // write() says true and the source is not paused and resumed for every chunk.
    super({ highWaterMark: 4 * 1024 * 1024 });
    this.parser = parser;
  }

  /** Chooses the hash (once); called by the first chunk, or at the end of an empty tar. */
  decide(): void {
    if (this.decided) return;
    this.decided = true;
    this.hash = this.chooseHash();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      if (!this.decided) this.decide();
      this.hash?.update(chunk);
      this.bytes += chunk.length;
      this.parser.write(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      this.parser.end();
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback();
  }
}

/** Scans one layer blob (a verified stream of it as stored) into its facts. */
export async function scanLayer(
  stream: Readable,
  descriptor: Descriptor,
  spec: CaptureSpec | PreparedSpec,
  options: ScanLayerOptions = {},
): Promise<LayerFacts> {
  const prepared = prepareSpec(spec);
  const context: Context = { image: options.image, blob: descriptor.digest };
  const collector = new FactsCollector(prepared, context, options.maxEntries ?? defaultMaxEntries);
  const inflate = decompressor(layerCompression(descriptor.mediaType), {
    maxBytes: options.maxBytes,
    inflater: options.inflater,
    image: options.image,
    blob: descriptor.digest,
    onInput: options.onBytes,
  });
  const verify = options.verifyDiffId ?? verifyDiffIdsFromEnv();
  // An uncompressed sha256 layer's diffId is its (verified) blob digest: no second hash.
  const diffIdIsDigest = () => inflate.compression === 'none' && descriptor.digest.startsWith('sha256:');
  const sink = new TarSink(new TarParser((header) => collector.entry(header)), () =>
    verify && !diffIdIsDigest() ? createStreamHash('sha256', descriptor.size) : undefined,
  );

  let diffId: string | undefined;
  try {
    await pipeline(stream, inflate, sink, options.signal ? { signal: options.signal } : {});
    sink.decide();
    if (sink.hash) diffId = `sha256:${await sink.hash.digest()}`;
    else if (diffIdIsDigest()) diffId = descriptor.digest;
  } catch (error) {
    sink.hash?.abandon();
    throw layerError(error, context);
  }

  if (diffId !== undefined && options.expectedDiffId !== undefined && options.expectedDiffId !== diffId) {
    throw new ImageError(
      'ERR_DIGEST_MISMATCH',
      `layer's uncompressed content hashes to ${diffId}, the config's diff_id says ${options.expectedDiffId}`,
      context,
    );
  }
  return {
    factsVersion,
    digest: descriptor.digest,
    diffId,
    uncompressedSize: sink.bytes,
    entries: collector.entries,
    whiteouts: collector.whiteouts,
    opaqueDirs: collector.opaqueDirs,
    bodies: collector.bodies,
  };
}

/** Turns tar headers (and the bodies asked for) into facts. */
class FactsCollector {
  readonly entries: LayerEntry[] = [];
  readonly whiteouts: string[] = [];
  readonly opaqueDirs: string[] = [];
  readonly bodies: Record<string, CapturedBody> = {};
  private headers = 0;
  /** One consumer for every body: tar bodies come one at a time. */
  private readonly body: BodyCollector;
  /** The probe plan by (executable, small enough for 'private-key'): planned once, not per file. */
  private readonly plans: (ProbePlan | undefined)[];

  constructor(
    private readonly spec: PreparedSpec,
    private readonly context: Context,
    private readonly maxEntries: number,
  ) {
    this.body = new BodyCollector(this.bodies);
    this.plans =
      spec.probes.size === 0
        ? []
        : [0o644, 0o755].flatMap((mode) => [
            planProbes(spec.probes, mode, privateKeyProbeMaxSize),
            planProbes(spec.probes, mode, privateKeyProbeMaxSize + 1),
          ]);
  }

  entry(header: TarHeader): BodyConsumer | undefined {
    if (++this.headers > this.maxEntries) {
      throw new ImageError(
        'ERR_ENTRY_LIMIT',
        `layer has more than ${this.maxEntries} tar entries`,
        this.context,
      );
    }
    const name = normaliseEntryName(header.name);
    if (name.kind !== 'path') {
      if (name.kind === 'root') return undefined;
      throw unsafeName(header.name, name.kind, this.context);
    }
    const path = name.path;
    const base = baseNameOf(path);
    if (base.startsWith(whiteoutPrefix)) {
      this.whiteout(path, base);
      return undefined;
    }

    const type = typeByFlag[header.typeflag];
    if (type === undefined) {
      throw new ImageError(
        'ERR_UNSUPPORTED',
        `unsupported tar entry type '${header.typeflag}' for ${JSON.stringify(header.name)}`,
        this.context,
      );
    }
    const entry: LayerEntry = {
      path,
      type,
      mode: header.mode & 0o7777,
      uid: header.uid,
      gid: header.gid,
      size: type === 'file' ? header.size : 0,
    };
    if (type === 'symlink') {
      entry.linkname = header.linkname;
    } else if (type === 'hardlink') {
      const target = normaliseEntryName(header.linkname);
      if (target.kind !== 'path') {
        throw unsafeName(
          header.linkname,
          target.kind,
          this.context,
          `hard link ${JSON.stringify(header.name)} to`,
        );
      }
      entry.linkname = target.path;
    }
    this.entries.push(entry);
    if (type !== 'file') return undefined;

    const spec = this.spec;
    const capture = spec.paths.has(path) || spec.globs?.(path) === true;
    if (header.size === 0) {
      if (capture) this.bodies[path] = { base64: '', truncated: false };
      return undefined;
    }
    const plan =
      this.plans.length === 0
        ? undefined
        : this.plans[((entry.mode & 0o111) !== 0 ? 2 : 0) + (header.size <= privateKeyProbeMaxSize ? 0 : 1)];
    if (!capture && plan === undefined) return undefined;
    return this.body.start(entry, header.size, capture ? spec.maxBodyBytes : -1, plan);
  }

  private whiteout(path: string, base: string): void {
    if (base === opaqueMarker) {
      this.opaqueDirs.push(parentPath(path));
      return;
    }
    // Other '.wh..wh.*' names are aufs bookkeeping: neither entries nor whiteouts.
    if (base.startsWith('.wh..wh.') || base.length === whiteoutPrefix.length) return;
    const parent = parentPath(path);
    const target = base.slice(whiteoutPrefix.length);
    this.whiteouts.push(parent === '/' ? `/${target}` : `${parent}/${target}`);
  }
}

/**
 * The consumer of the current body: keeps up to `keep` bytes of it (-1:
 * none) and runs its probes. Started again for each body; its probe runner
 * and buffers serve the whole layer.
 */
class BodyCollector implements BodyConsumer {
  private entry: LayerEntry | undefined;
  private keep = -1;
  /** The kept prefix (copied: chunks are slices of the decompressor's buffers). */
  private kept: Buffer | undefined;
  private keptBytes = 0;
  private size = 0;
  private probes: ProbeRunner | undefined;
  private runner: ProbeRunner | undefined;

  constructor(private readonly bodies: Record<string, CapturedBody>) {}

  start(entry: LayerEntry, size: number, keep: number, plan: ProbePlan | undefined): BodyConsumer {
    this.entry = entry;
    this.size = size;
    this.keep = keep;
    this.kept = keep > 0 ? Buffer.allocUnsafe(Math.min(keep, size)) : undefined;
    this.keptBytes = 0;
    if (plan === undefined) {
      this.probes = undefined;
    } else if (this.runner === undefined) {
      this.runner = new ProbeRunner(plan, size);
      this.probes = this.runner;
    } else {
      this.runner.reset(plan, size);
      this.probes = this.runner;
    }
    return this;
  }

  data(chunk: Buffer): void {
    const kept = this.kept;
    if (kept !== undefined && this.keptBytes < kept.length) {
      this.keptBytes += chunk.copy(kept, this.keptBytes, 0, kept.length - this.keptBytes);
    }
    if (this.probes?.wantsMore) this.probes.update(chunk);
  }

  end(): void {
    const entry = this.entry as LayerEntry;
    if (this.keep >= 0) {
      this.bodies[entry.path] = {
        base64: this.kept === undefined ? '' : this.kept.toString('base64', 0, this.keptBytes),
        truncated: this.size > this.keptBytes,
      };
    }
    const results = this.probes?.results();
    if (results) entry.probes = results;
    this.entry = undefined;
    this.kept = undefined;
    this.probes = undefined;
  }
}

function unsafeName(
  name: string,
  kind: 'absolute' | 'escape' | 'empty' | 'root',
  context: Context,
  what = 'entry',
): ImageError {
  const shown = JSON.stringify(name.length > 200 ? `${name.slice(0, 197)}...` : name);
  if (kind === 'empty') return new ImageError('ERR_LAYER_CORRUPT', `tar ${what} with an empty name`, context);
  if (kind === 'root') return new ImageError('ERR_LAYER_CORRUPT', `tar ${what} the root directory`, context);
  const why = kind === 'absolute' ? 'is an absolute path' : "climbs out of the root with '..'";
  return new ImageError('ERR_LAYER_UNSAFE', `tar ${what} ${shown} ${why}`, context);
}

function layerError(error: unknown, context: Context): Error {
  if (error instanceof IvocError) return withContext(error, context);
  if ((error as { name?: string } | null)?.name === 'AbortError') return error as Error;
  if (error instanceof TarFormatError) {
    return new ImageError('ERR_LAYER_CORRUPT', `corrupt tar: ${error.message}`, { ...context, cause: error });
  }
  return withContext(error, context);
}
