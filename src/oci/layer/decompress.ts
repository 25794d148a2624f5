import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Duplex, type Readable, type Writable } from 'node:stream';
import { gunzipSync, constants as zlibConstants } from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import { ImageError } from '../../errors.js';
import type { LayerCompression } from '../media-types.js';
import { type Backend, corrupt, type Sink } from './inflate-backend.js';
import { GzipBackend } from './inflate-gzip.js';

/**
 * Streaming layer decompression. The first bytes decide the format (magic
 * wins over the media type, as containerd does); the inflater is an external
 * program when one is installed (igzip, pigz, zstd: they run on the other
 * core, in parallel with our hashing and tar parsing), else in-process
 * (node:zlib's raw inflate inside our own gzip framing, see inflate-gzip.ts;
 * fzstd). Output is capped per layer: past the cap the stream
 * fails with ERR_DECOMPRESSION_LIMIT at once, without buffering the excess.
 *
 * A gzip layer is inflated in-process even when an external program is
 * installed unless its first 32 KiB inflate to at least 8 times their size
 * (or it is shorter than that): zlib on the thread pool, fed 1 MiB at a
 * time, costs less than the external inflater's process, its two extra
 * socket copies and the fresh buffers its output is read into. Measured
 * in the whole scan on the bench images (2 cores): incompressible layers
 * and 4:1 text layers alike, medium image 3.3 -> 2.6 CPU-s, large 8.4-9.0
 * -> 8.0-8.5 CPU-s. Above 8:1 (not in the bench images, not measured) the
 * external inflater is kept, as before.
 */

export type DetectedCompression = 'gzip' | 'zstd' | 'none';

export interface DecompressOptions {
  /** Largest uncompressed size accepted, bytes. Default: $IVOC_MAX_LAYER_BYTES or 32 GiB. */
  maxBytes?: number | undefined;
  /** 'auto' (default, or $IVOC_INFLATER): external program when installed; 'zlib': in-process only. */
  inflater?: 'auto' | 'zlib' | undefined;
  /** Named in errors. */
  image?: string | undefined;
  /** Named in errors: the layer digest. */
  blob?: string | undefined;
  /** Called with the total of compressed bytes consumed so far, as they arrive (progress). */
  onInput?: ((bytes: number) => void) | undefined;
}

export const defaultMaxLayerBytes = 32 * 1024 ** 3;
/** Largest zstd window accepted (the zstd CLI's default limit, 2^27): bounds in-process memory. */
export const maxZstdWindowBytes = 128 * 1024 * 1024;
/** Input slice fed to fzstd at once: bounds what one call can produce (an RLE block is 4 bytes for 128 KiB). */
const zstdSliceBytes = 1024;
const outputChunkBytes = 64 * 1024;
/** Compressed bytes looked at before choosing between an external gzip inflater and zlib. */
export const gzipProbeBytes = 32 * 1024;
/** From this inflated/compressed ratio in the probe on, a gzip layer goes to the external inflater. */
const externalMinRatio = 8;

/** The configured per-layer cap: $IVOC_MAX_LAYER_BYTES when set to a positive integer, else 32 GiB. */
export function maxLayerBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.IVOC_MAX_LAYER_BYTES;
  if (raw === undefined || raw === '') return defaultMaxLayerBytes;
  const value = Number(raw);
  return Number.isSafeInteger(value) && value > 0 ? value : defaultMaxLayerBytes;
}

/** Compression by magic bytes; undefined while fewer than 4 bytes are known and they could still be one. */
export function detectCompression(head: Uint8Array, final = true): DetectedCompression | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    return 'zstd';
  }
  if (!final && head.length < 4) {
    const gzipPrefix = head.length < 2 && (head.length === 0 || head[0] === 0x1f);
    const zstdPrefix = [0x28, 0xb5, 0x2f, 0xfd].slice(0, head.length).every((byte, i) => head[i] === byte);
    if (gzipPrefix || zstdPrefix) return undefined;
  }
  return 'none';
}

export interface ExternalInflaters {
  gzip?: { command: string; args: string[] };
  zstd?: { command: string; args: string[] };
}

let probed: ExternalInflaters | undefined;

/** External inflaters on PATH, looked up once per process: igzip (ISA-L) or pigz for gzip, zstd for zstd. */
export function externalInflaters(): ExternalInflaters {
  if (probed) return probed;
  const found: ExternalInflaters = {};
  const gzip = findExecutable('igzip') ?? findExecutable('pigz') ?? findExecutable('unpigz');
  if (gzip) found.gzip = { command: gzip, args: ['-dc'] };
  const zstd = findExecutable('zstd');
  if (zstd) found.zstd = { command: zstd, args: ['-dc', '-q'] };
  probed = found;
  return found;
}

function findExecutable(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

function inflaterMode(option: DecompressOptions['inflater']): 'auto' | 'zlib' {
  if (option) return option;
  return process.env.IVOC_INFLATER === 'zlib' ? 'zlib' : 'auto';
}

/**
 * A Duplex: compressed blob in, uncompressed tar out. `compression` tells what
 * was detected, `inflaterName` which inflater runs, `bytesOut` the bytes
 * produced. The readable side ends only after the writable side finished,
 * so every byte of the (verified) input was consumed before the output ends.
 */
export class Decompressor extends Duplex {
  readonly hint: LayerCompression;
  compression: DetectedCompression | undefined;
  inflaterName: string | undefined;
  bytesOut = 0;
  bytesIn = 0;
  private readonly onInput: ((bytes: number) => void) | undefined;
  private readonly maxBytes: number;
  private readonly mode: 'auto' | 'zlib';
  private readonly context: { image?: string; blob?: string };
  private backend: Backend | undefined;
  private head: Buffer[] = [];
  private headBytes = 0;
  private inputEnded = false;
  private outputDone = false;
  private failed = false;

  constructor(hint: LayerCompression, options: DecompressOptions = {}) {
    // The writable side's mark is above one network chunk, so that a chunk taken at once does not pause the source.
    super({ readableHighWaterMark: 4 * outputChunkBytes, writableHighWaterMark: 4 * outputChunkBytes });
    this.hint = hint;
    this.maxBytes = options.maxBytes ?? maxLayerBytesFromEnv();
    this.mode = inflaterMode(options.inflater);
    this.onInput = options.onInput;
    this.context = {};
    if (options.image !== undefined) this.context.image = options.image;
    if (options.blob !== undefined) this.context.blob = options.blob;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.bytesIn += chunk.length;
    this.onInput?.(this.bytesIn);
    if (this.backend) {
      this.backend.write(chunk, callback);
      return;
    }
    this.head.push(chunk);
    this.headBytes += chunk.length;
    const head = this.head.length === 1 ? chunk : Buffer.concat(this.head, this.headBytes);
    const detected = detectCompression(head, false);
    if (detected === undefined || (this.probesGzip(detected) && head.length < gzipProbeBytes)) {
      if (this.head.length > 1) this.head = [head];
      callback();
      return;
    }
    this.head = [];
    this.start(detected, head).write(head, callback);
  }

  /** Whether a gzip layer waits for gzipProbeBytes before its inflater is chosen. */
  private probesGzip(detected: DetectedCompression): boolean {
    return detected === 'gzip' && this.mode === 'auto' && externalInflaters().gzip !== undefined;
  }

  override _final(callback: (error?: Error | null) => void): void {
    const finish = () => {
      this.inputEnded = true;
      this.backend?.end();
      callback();
    };
    if (this.backend) {
      finish();
      return;
    }
    const head = Buffer.concat(this.head, this.headBytes);
    this.head = [];
    const backend = this.start(detectCompression(head, true) ?? 'none', head, true);
    if (head.length === 0) {
      finish();
      return;
    }
    backend.write(head, (error) => {
      if (error) callback(error);
      else finish();
    });
  }

  /** Process id of the external inflater, while one runs. */
  get pid(): number | undefined {
    return this.backend instanceof ChildBackend ? this.backend.pid : undefined;
  }

  override _read(): void {
    this.backend?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.failed = true;
    this.backend?.destroy();
    callback(error);
  }

  private output(chunk: Buffer): boolean {
    if (this.failed) return false;
    this.bytesOut += chunk.length;
    if (this.bytesOut > this.maxBytes) {
      this.fail(
        new ImageError(
          'ERR_DECOMPRESSION_LIMIT',
          `layer decompresses to more than ${this.maxBytes} bytes (the per-layer limit; see IVOC_MAX_LAYER_BYTES)`,
          this.context,
        ),
      );
      return false;
    }
    return this.push(chunk);
  }

  private done(): void {
    if (this.failed || this.outputDone) return;
    this.outputDone = true;
    if (!this.inputEnded) {
      // The inflater found the end of its stream before the input ended: the rest
      // of the input is still read (and verified) and dropped; output ends with it.
      this.once('finish', () => this.push(null));
      return;
    }
    this.push(null);
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.backend?.destroy();
    this.destroy(error);
  }

  /**
   * Starts the backend for `detected`; `head` is the input so far (all of it
   * when `whole`), for choosing the gzip inflater.
   */
  private start(detected: DetectedCompression, head: Buffer, whole = false): Backend {
    this.compression = detected;
    const external = this.mode === 'auto' && !(whole || !compressesWell(head)) ? externalInflaters() : {};
    const sink: Sink = {
      emit: (chunk) => this.output(chunk),
      done: () => this.done(),
      fail: (error) => this.fail(error),
    };
    let backend: Backend;
    if (detected === 'gzip') {
      backend = external.gzip
        ? new ChildBackend(external.gzip.command, external.gzip.args, 'gzip', sink, this.context)
        : new GzipBackend(sink, this.context);
    } else if (detected === 'zstd') {
      backend = external.zstd
        ? new ChildBackend(external.zstd.command, external.zstd.args, 'zstd', sink, this.context)
        : new FzstdBackend(sink, this.context);
    } else {
      backend = new PlainBackend(sink);
    }
    this.backend = backend;
    this.inflaterName = backend.name;
    return backend;
  }
}

/**
 * Whether the start of a gzip stream inflates to at least externalMinRatio
 * times its size. A corrupt start counts as compressible: the (external)
 * inflater then reports the corruption as it always did.
 */
export function compressesWell(head: Buffer): boolean {
  if (head.length < 2 || head[0] !== 0x1f || head[1] !== 0x8b) return true;
  try {
    // Throws a RangeError past maxOutputLength: compressible enough, no need to inflate more.
    gunzipSync(head, {
      finishFlush: zlibConstants.Z_SYNC_FLUSH,
      maxOutputLength: Math.floor(head.length * externalMinRatio),
    });
    return false;
  } catch {
    return true;
  }
}

/** The decompressing Duplex for a layer whose media type suggests `hint`; the magic bytes decide. */
export function decompressor(hint: LayerCompression, options: DecompressOptions = {}): Decompressor {
  return new Decompressor(hint, options);
}

/** Uncompressed tar: chunks pass through; backpressure holds the input callback. */
class PlainBackend implements Backend {
  readonly name = 'none';
  private pending: (() => void) | undefined;
  constructor(private readonly sink: Sink) {}

  write(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (this.sink.emit(chunk)) callback();
    else this.pending = () => callback();
  }
  end(): void {
    this.sink.done();
  }
  resume(): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.();
  }
  destroy(): void {
    this.pending = undefined;
  }
}

/**
 * fzstd, fed in small slices so that one call cannot produce much (and the
 * output's backpressure is honoured between slices), with a window size
 * check: fzstd allocates each frame's window up front.
 */
class FzstdBackend implements Backend {
  readonly name = 'fzstd';
  private readonly decoder: ZstdDecompress;
  private stopped = false;
  private paused = false;
  private ending = false;
  private firstFrameChecked = false;
  private current: { chunk: Buffer; offset: number; callback: (error?: Error | null) => void } | undefined;

  constructor(
    private readonly sink: Sink,
    private readonly context: { image?: string; blob?: string },
  ) {
    this.decoder = new ZstdDecompress((data) => {
      if (this.stopped) throw stopSignal;
      this.checkWindow(this.currentWindow());
      if (data.length > 0 && !this.sink.emit(Buffer.from(data.buffer, data.byteOffset, data.length))) {
        this.paused = true;
      }
    });
  }

  /** fzstd's frame state (version 0.1.1, pinned): `s.e` is the current frame's window size. */
  private currentWindow(): number | undefined {
    const state = (this.decoder as unknown as { s?: unknown }).s;
    if (typeof state !== 'object' || state === null) return undefined;
    const window = (state as { e?: unknown }).e;
    return typeof window === 'number' ? window : undefined;
  }

  private checkWindow(window: number | undefined): void {
    if (window === undefined || window <= maxZstdWindowBytes) return;
    this.stopped = true;
    this.sink.fail(
      new ImageError(
        'ERR_LAYER_CORRUPT',
        `zstd frame needs a ${window}-byte window, over the ${maxZstdWindowBytes}-byte limit`,
        this.context,
      ),
    );
    throw stopSignal;
  }

  write(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (!this.firstFrameChecked) {
      // Check the first frame's window before fzstd allocates it (later frames: in the data callback).
      this.firstFrameChecked = true;
      try {
        this.checkWindow(zstdWindowSize(chunk));
      } catch {
        callback();
        return;
      }
    }
    this.current = { chunk, offset: 0, callback };
    this.run();
  }

  end(): void {
    this.ending = true;
    this.run();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.run();
  }

  destroy(): void {
    this.stopped = true;
    this.current = undefined;
  }

  private run(): void {
    while (!this.stopped && !this.paused) {
      const current = this.current;
      if (current) {
        if (current.offset >= current.chunk.length) {
          this.current = undefined;
          current.callback();
          continue;
        }
        const end = Math.min(current.chunk.length, current.offset + zstdSliceBytes);
        const slice = current.chunk.subarray(current.offset, end);
        current.offset = end;
        this.push(slice, false);
        continue;
      }
      if (this.ending) {
        this.ending = false;
        this.push(new Uint8Array(0), true);
        if (!this.stopped) this.sink.done();
      }
      return;
    }
    if (this.stopped && this.current) {
      const { callback } = this.current;
      this.current = undefined;
      callback();
    }
  }

  private push(slice: Uint8Array, final: boolean): void {
    try {
      this.decoder.push(slice, final);
    } catch (error) {
      if (!this.stopped) {
        this.stopped = true;
        this.sink.fail(corrupt('zstd', this.context, (error as Error).message, error));
      }
    }
  }
}

/** Thrown inside fzstd's data callback to stop it; never escapes. */
const stopSignal = new Error('stopped');

/** Window size declared by a zstd frame header at the start of `head`, if it is one. */
export function zstdWindowSize(head: Uint8Array): number | undefined {
  if (head.length < 6 || head[0] !== 0x28 || head[1] !== 0xb5 || head[2] !== 0x2f || head[3] !== 0xfd) {
    return undefined;
  }
  const descriptor = head[4] as number;
  const singleSegment = (descriptor >> 5) & 1;
  if (!singleSegment) {
    const windowDescriptor = head[5] as number;
    const base = 2 ** (10 + (windowDescriptor >> 3));
    return base + (base / 8) * (windowDescriptor & 7);
  }
  // Single segment: the window is the content size.
  const dictionaryBytes = [0, 1, 2, 4][descriptor & 3] as number;
  const sizeFlag = descriptor >> 6;
  const sizeBytes = sizeFlag === 0 ? 1 : 2 ** sizeFlag;
  const at = 5 + dictionaryBytes;
  if (head.length < at + sizeBytes) return undefined;
  let size = 0;
  for (let i = sizeBytes - 1; i >= 0; i--) size = size * 256 + (head[at + i] as number);
  return sizeFlag === 1 ? size + 256 : size;
}

/** An external inflater: compressed bytes to its stdin, uncompressed from its stdout. */
class ChildBackend implements Backend {
  readonly name: string;
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = '';
  private stdinBroken = false;
  private killed = false;
  private stdoutEnded = false;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    command: string,
    args: string[],
    private readonly format: string,
    private readonly sink: Sink,
    private readonly context: { image?: string; blob?: string },
  ) {
    this.name = command.slice(command.lastIndexOf('/') + 1);
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.on('error', (error) => {
      if (this.killed) return;
      this.killed = true;
      this.sink.fail(
        new ImageError('ERR_IO', `cannot run ${this.name}: ${error.message}`, {
          ...this.context,
          cause: error,
        }),
      );
    });
    this.child.stdin.on('error', () => {
      // EPIPE: the inflater stopped reading (corrupt data, or the end of the stream); its exit status tells.
      this.stdinBroken = true;
    });
    this.child.stdout.on('data', (chunk: Buffer) => {
      if (!this.sink.emit(chunk)) this.child.stdout.pause();
    });
    this.child.stdout.on('end', () => {
      this.stdoutEnded = true;
      this.settle();
    });
    this.child.stdout.on('error', () => {});
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (text: string) => {
      if (this.stderr.length < 2048) this.stderr += text;
    });
    this.child.on('exit', (code, signal) => {
      this.exit = { code, signal };
      this.settle();
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  private settle(): void {
    if (this.killed || !this.exit || !this.stdoutEnded) return;
    const { code, signal } = this.exit;
    if (code === 0) {
      this.sink.done();
      return;
    }
    this.killed = true;
    const detail =
      firstLine(this.stderr) ?? (signal ? `${this.name} killed by ${signal}` : `${this.name} exit ${code}`);
    this.sink.fail(corrupt(this.format, this.context, detail));
  }

  write(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (this.stdinBroken || this.killed) {
      callback();
      return;
    }
    if (this.child.stdin.write(chunk)) {
      callback();
      return;
    }
    let called = false;
    const once = () => {
      if (called) return;
      called = true;
      this.child.stdin.off('drain', once);
      this.child.stdin.off('close', once);
      callback();
    };
    this.child.stdin.on('drain', once);
    this.child.stdin.on('close', once);
  }

  end(): void {
    if (!this.stdinBroken) this.child.stdin.end();
  }

  resume(): void {
    if (this.child.stdout.isPaused()) this.child.stdout.resume();
  }

  destroy(): void {
    if (this.killed && this.exit) return;
    this.killed = true;
    if (this.exit === undefined) this.child.kill('SIGKILL');
    this.child.stdin.destroy();
    this.child.stdout.destroy();
    this.child.stderr.destroy();
  }
}

function firstLine(text: string): string | undefined {
  const line = text.split('\n').find((part) => part.trim() !== '');
  return line === undefined ? undefined : line.trim().slice(0, 200);
}
