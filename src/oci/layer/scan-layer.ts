import { createHash, type Hash } from 'node:crypto';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImageError, IvocError, withContext } from '../../errors.js';
import type { Descriptor } from '../descriptor.js';
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
} from './facts.js';
import { compilePathGlobs, type PathMatcher } from './scan-glob.js';
import { baseNameOf, normaliseEntryName, parentPath } from './scan-paths.js';
import { type ProbePlan, ProbeRunner, planProbes } from './scan-probes.js';
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
  /** The config's rootfs.diff_ids entry for this layer: the computed diffId must equal it. */
  expectedDiffId?: string | undefined;
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
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  private readonly parser: TarParser;

  constructor(parser: TarParser) {
    // Each chunk is consumed synchronously: the mark only has to exceed one chunk, so that
    // write() says true and the source is not paused and resumed for every chunk.
    super({ highWaterMark: 4 * 1024 * 1024 });
    this.parser = parser;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    try {
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
  const sink = new TarSink(new TarParser((header) => collector.entry(header)));

  try {
    await pipeline(stream, inflate, sink, options.signal ? { signal: options.signal } : {});
  } catch (error) {
    throw layerError(error, context);
  }

  const diffId = `sha256:${sink.hash.digest('hex')}`;
  if (options.expectedDiffId !== undefined && options.expectedDiffId !== diffId) {
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

  constructor(
    private readonly spec: PreparedSpec,
    private readonly context: Context,
    private readonly maxEntries: number,
  ) {}

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
    const plan = spec.probes.size > 0 ? planProbes(spec.probes, entry.mode, header.size) : undefined;
    if (!capture && plan === undefined) return undefined;
    return bodyConsumer(entry, capture ? spec.maxBodyBytes : -1, plan, this.bodies);
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

/** Keeps up to `keep` bytes of a body (-1: none) and runs its probes. */
function bodyConsumer(
  entry: LayerEntry,
  keep: number,
  plan: ProbePlan | undefined,
  bodies: Record<string, CapturedBody>,
): BodyConsumer {
  const probes = plan ? new ProbeRunner(plan) : undefined;
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let seen = 0;
  return {
    data(chunk: Buffer): void {
      seen += chunk.length;
      if (keep > keptBytes) {
        const room = keep - keptBytes;
        // Copied: the chunk is a slice of the decompressor's buffer.
        const piece = Buffer.from(chunk.length <= room ? chunk : chunk.subarray(0, room));
        kept.push(piece);
        keptBytes += piece.length;
      }
      if (probes?.wantsMore) probes.update(chunk);
    },
    end(): void {
      if (keep >= 0) {
        bodies[entry.path] = {
          base64: Buffer.concat(kept, keptBytes).toString('base64'),
          truncated: seen > keptBytes,
        };
      }
      const results = probes?.results();
      if (results) entry.probes = results;
    },
  };
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
