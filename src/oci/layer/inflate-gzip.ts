import { createGunzip, createInflateRaw, type Gunzip, type InflateRaw } from 'node:zlib';
import { type Backend, type BlobContext, corrupt, type Sink } from './inflate-backend.js';

/**
 * gzip in-process, inflated by node:zlib on the thread pool. The member
 * framing of RFC 1952 (header; CRC-32 and ISIZE trailer) is read here and
 * the deflate data between them is inflated raw: zlib's gzip mode computes
 * the CRC-32 of every inflated byte, a quarter of the inflate's CPU
 * (measured: ~0.9 of 10 CPU-s in a cold scan of the 1.5 GB bench image).
 *
 * The CRC-32 is therefore not checked. Corruption in transit or at rest is
 * caught by the blob's SHA-256, verified on the same bytes as they stream,
 * and the output length is checked against ISIZE. What is left is a gzip
 * stream its producer wrote with a wrong CRC: IVOC_VERIFY_DIFF_IDS=1 checks
 * the output against the config's diff_ids, which is stronger. The first
 * member's header CRC (FHCRC) is skipped likewise.
 *
 * A layer is one gzip member in practice. Should another member follow, the
 * rest of the stream goes to node:zlib's gunzip, which reads any number of
 * members in C (and checks their CRCs): a stream of many tiny members costs
 * what it costs zlib, not a new inflater each. Zero padding after a member
 * is ignored, as node:zlib does.
 */

/**
 * zlib's output buffer: 1 MiB allocated 16x less often than 64 KiB (~15% less
 * CPU, incompressible data). 768 KiB (and as much input per write, below)
 * lowered the peak RSS of a cold scan of the 1.5 GB bench image by 12-15 MB
 * (median of 7, two runs) at the same CPU and wall time; 512 KiB lowered it by
 * ~20 MB but doubled the context switches and cost ~5% of wall time.
 */
const outputChunkBytes = 768 * 1024;
/**
 * Input gathered before each zlib write: each write is a round trip to a
 * pool thread and back, so network-sized 64 KiB writes cost 16x the round
 * trips (measured: ~20% of the CPU of inflating an incompressible layer).
 */
const inputChunkBytes = 768 * 1024;
/** Writes handed to zlib and not yet consumed, past which the caller's callback is held (backpressure). */
const maxInFlight = 2;
/** A header longer than this (file name, comment, extra field) is refused: bounds what is held to parse it. */
export const maxGzipHeaderBytes = 1024 * 1024;
/**
 * Framing input arriving in chunks smaller than this is copied into blocks
 * of this size: a header trickling in a byte per read stays a few dozen
 * parts, not a million.
 */
const framingBlockBytes = 64 * 1024;
const trailerBytes = 8;

export type GzipHeader = { length: number } | { error: string };

/**
 * The length of the gzip member header at the start of `data` (RFC 1952,
 * 2.3.1), an error in zlib's words, or undefined while `data` is too short
 * to tell.
 */
export function parseGzipHeader(data: Uint8Array): GzipHeader | undefined {
  if ((data.length > 0 && data[0] !== 0x1f) || (data.length > 1 && data[1] !== 0x8b)) {
    return { error: 'incorrect header check' };
  }
  if (data.length < 10) return undefined;
  if (data[2] !== 8) return { error: 'unknown compression method' };
  const flags = data[3] as number;
  if (flags & 0xe0) return { error: 'unknown header flags set' };
  let at = 10;
  if (flags & 0x04) {
    // FEXTRA: a 2-byte length, then that many bytes.
    if (data.length < at + 2) return undefined;
    at += 2 + ((data[at] as number) | ((data[at + 1] as number) << 8));
  }
  for (const flag of [0x08, 0x10]) {
    // FNAME, FCOMMENT: zero-terminated.
    if (!(flags & flag)) continue;
    if (at >= data.length) return undefined;
    const nul = data.indexOf(0, at);
    if (nul < 0) return undefined;
    at = nul + 1;
  }
  if (flags & 0x02) at += 2; // FHCRC
  return at <= data.length ? { length: at } : undefined;
}

type State =
  /** Reading a member's header from `queue`. */
  | 'header'
  /** Input goes to the member's inflater. */
  | 'deflate'
  /** The deflate data ended: waiting for the inflater's last output and its outstanding writes. */
  | 'draining'
  /** Reading the member's trailer from `queue`. */
  | 'trailer'
  /** After a member: another member, zero padding, or the end. */
  | 'next'
  /** Zero padding after a member: the rest of the input is read and dropped, as node:zlib does. */
  | 'padding'
  /** Another member followed the first: the rest of the input goes to node:zlib's gunzip. */
  | 'rest'
  | 'done';

/** A write handed to the inflater; `start` is its offset in the member's deflate input. */
interface InFlight {
  data: Buffer;
  /** The gathering buffer to take back once zlib has consumed `data`. */
  reuse: Buffer | undefined;
  start: number;
}

export class GzipBackend implements Backend {
  readonly name = 'zlib';
  private state: State = 'header';
  private closed = false;
  private inputEnded = false;
  /** Input for the framing (header, trailer, what follows a member), in order. */
  private queue: Buffer[] = [];
  private queued = 0;
  /** Queued bytes before an incomplete header is parsed again. */
  private headerWanted = 0;
  private inflater: InflateRaw | Gunzip | undefined;
  private inflaterEnded = false;
  /** Bytes written to the current inflater. */
  private submitted = 0;
  private readonly inFlight: InFlight[] = [];
  /** Input the inflater did not consume, its deflate data having ended: the trailer and what follows. */
  private tails: Buffer[] = [];
  /** The member's output bytes, for ISIZE. */
  private memberBytes = 0;
  /** The buffer being gathered, and how far. */
  private current: Buffer | undefined;
  private fill = 0;
  /** Gathering buffers zlib has consumed, for reuse. */
  private readonly spare: Buffer[] = [];
  private held: (() => void) | undefined;
  /** The block small framing chunks are copied into (see append()), where its part of the queue starts, and its fill. */
  private block: Buffer | undefined;
  private blockStart = 0;
  private blockFill = 0;
  /** Whether the queue's last part is the block's, still growing. */
  private blockPart = false;

  constructor(
    private readonly sink: Sink,
    private readonly context: BlobContext,
  ) {}

  write(chunk: Buffer, callback: (error?: Error | null) => void): void {
    if (this.closed || this.state === 'padding' || this.state === 'done') {
      callback();
      return;
    }
    if (this.state === 'deflate' || this.state === 'rest') {
      this.gather(chunk);
    } else {
      this.append(chunk);
      this.pump();
    }
    this.held = callback;
    this.release();
  }

  end(): void {
    if (this.closed) return;
    this.inputEnded = true;
    if (this.state === 'deflate' || this.state === 'rest') this.endDeflateInput();
    else this.pump();
  }

  resume(): void {
    if (this.inflater?.isPaused()) this.inflater.resume();
  }

  destroy(): void {
    this.closed = true;
    this.held = undefined;
    this.inflater?.destroy();
    this.inflater = undefined;
    this.queue = [];
    this.tails = [];
    this.current = undefined;
    this.spare.length = 0;
  }

  /** Calls the held write callback unless zlib is behind or a member is draining. */
  private release(): void {
    if (!this.held || this.state === 'draining') return;
    if ((this.state === 'deflate' || this.state === 'rest') && this.inFlight.length >= maxInFlight) return;
    const held = this.held;
    this.held = undefined;
    held();
  }

  /** Runs the framing states over `queue` as far as the input allows. */
  private pump(): void {
    for (;;) {
      if (this.closed) return;
      switch (this.state) {
        case 'header': {
          if (this.queued === 0) {
            if (this.inputEnded) this.fail('unexpected end of file');
            return;
          }
          // An incomplete header is looked at again once twice as much input is in: linear, however it trickles.
          if (this.queued < this.headerWanted && !this.inputEnded) return;
          const data = this.peek(Math.min(this.queued, maxGzipHeaderBytes + 1));
          const header = parseGzipHeader(data);
          if (header === undefined) {
            if (data.length > maxGzipHeaderBytes) this.fail(`gzip header over ${maxGzipHeaderBytes} bytes`);
            else if (this.inputEnded) this.fail('unexpected end of file');
            else this.headerWanted = 2 * data.length;
            return;
          }
          if ('error' in header) {
            this.fail(header.error);
            return;
          }
          if (header.length > maxGzipHeaderBytes) {
            this.fail(`gzip header over ${maxGzipHeaderBytes} bytes`);
            return;
          }
          this.skip(header.length);
          this.startInflater('deflate');
          return;
        }
        case 'trailer': {
          if (this.queued < trailerBytes) {
            if (this.inputEnded) this.fail('unexpected end of file');
            return;
          }
          // The CRC-32 (bytes 0-3) is not checked: see the top of this module.
          if (this.peek(trailerBytes).readUInt32LE(4) !== this.memberBytes % 2 ** 32) {
            this.fail('incorrect length check');
            return;
          }
          this.skip(trailerBytes);
          this.state = 'next';
          break;
        }
        case 'next': {
          if (this.queued === 0) {
            if (this.inputEnded) this.finish();
            return;
          }
          if (this.queue[0]?.[0] === 0) {
            this.state = 'padding';
            break;
          }
          this.startInflater('rest');
          return;
        }
        case 'padding':
          this.queue = [];
          this.queued = 0;
          if (this.inputEnded) this.finish();
          return;
        default:
          return;
      }
    }
  }

  private finish(): void {
    this.state = 'done';
    this.sink.done();
  }

  private fail(detail: string, cause?: unknown): void {
    if (this.closed) return;
    this.sink.fail(corrupt('gzip', this.context, detail, cause));
    this.destroy();
  }

  /** Queues framing input: small chunks are copied into a block of our own (see framingBlockBytes). */
  private append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.queued += chunk.length;
    if (chunk.length >= framingBlockBytes / 4) {
      this.queue.push(chunk);
      this.cutBlock();
      return;
    }
    if (this.block === undefined || this.blockFill + chunk.length > this.block.length) {
      this.block = Buffer.allocUnsafe(framingBlockBytes);
      this.blockFill = 0;
      this.blockPart = false;
    }
    if (!this.blockPart) {
      // The block's part is the queue's last: it grows as chunks are copied in.
      this.blockStart = this.blockFill;
      this.queue.push(this.block.subarray(this.blockStart, this.blockStart));
      this.blockPart = true;
    }
    chunk.copy(this.block, this.blockFill);
    this.blockFill += chunk.length;
    this.queue[this.queue.length - 1] = this.block.subarray(this.blockStart, this.blockFill);
  }

  /**
   * The first `length` queued bytes (at most `queued`) as one buffer; the
   * queue keeps them. Only the parts they span are joined, and the joined
   * buffer replaces them: a member's end costs the trailer, not a copy of
   * all the input held after it.
   */
  private peek(length: number): Buffer {
    // The queue's parts change here: the block being filled starts a new part from now on.
    this.cutBlock();
    let first = this.queue[0] as Buffer;
    if (first.length < length) {
      let parts = 0;
      let bytes = 0;
      while (bytes < length) bytes += (this.queue[parts++] as Buffer).length;
      first = Buffer.concat(this.queue.slice(0, parts), bytes);
      this.queue.splice(0, parts, first);
    }
    return first.subarray(0, length);
  }

  /** The queue's parts changed (or a part went after the block's): later small chunks start a new part. */
  private cutBlock(): void {
    this.blockPart = false;
  }

  /** Drops the first `length` queued bytes (at most `queued`). */
  private skip(length: number): void {
    this.cutBlock();
    this.queued -= length;
    let left = length;
    while (left > 0) {
      const first = this.queue[0] as Buffer;
      if (first.length <= left) {
        this.queue.shift();
        left -= first.length;
      } else {
        this.queue[0] = first.subarray(left);
        left = 0;
      }
    }
  }

  /**
   * 'deflate': a raw inflater for the member whose header was just read.
   * 'rest': node:zlib's gunzip for everything from the second member on.
   * The queued input goes to it.
   */
  private startInflater(state: 'deflate' | 'rest'): void {
    const options = { chunkSize: outputChunkBytes };
    const inflater = state === 'deflate' ? createInflateRaw(options) : createGunzip(options);
    this.inflater = inflater;
    this.inflaterEnded = false;
    this.submitted = 0;
    this.memberBytes = 0;
    this.state = state;
    inflater.on('data', (chunk: Buffer) => {
      this.memberBytes += chunk.length;
      if (!this.sink.emit(chunk)) inflater.pause();
    });
    inflater.on('end', () => {
      if (inflater !== this.inflater) return;
      this.inflaterEnded = true;
      if (this.state === 'rest') {
        // Zero padding ended gunzip's stream: what it did not consume is dropped with it.
        inflater.destroy();
        this.inflater = undefined;
        this.inFlight.length = 0;
        this.state = 'padding';
        this.pump();
        this.release();
      } else {
        this.deflateEnded();
      }
    });
    inflater.on('error', (error: Error) => {
      if (inflater === this.inflater) this.fail(error.message, error);
    });
    // Queued input is our own memory already: written as it is, so a member's end never copies it.
    this.cutBlock();
    const queued = this.queue;
    this.queue = [];
    this.queued = 0;
    for (const part of queued) {
      this.flush();
      this.submit(part, undefined);
    }
    if (this.inputEnded) this.endDeflateInput();
  }

  /** Input for the inflater: small chunks are gathered, big ones go as they are. */
  private gather(chunk: Buffer): void {
    if (chunk.length >= inputChunkBytes / 2) {
      this.flush();
      this.submit(chunk, undefined);
      return;
    }
    if (this.current && this.fill + chunk.length > this.current.length) this.flush();
    if (!this.current) {
      this.current = this.spare.pop() ?? Buffer.allocUnsafe(inputChunkBytes);
      this.fill = 0;
    }
    chunk.copy(this.current, this.fill);
    this.fill += chunk.length;
    if (this.fill === this.current.length) this.flush();
  }

  /** Hands the gathered input to zlib. */
  private flush(): void {
    const buffer = this.current;
    if (!buffer || this.fill === 0) return;
    const data = buffer.subarray(0, this.fill);
    this.current = undefined;
    this.fill = 0;
    this.submit(data, buffer);
  }

  private submit(data: Buffer, reuse: Buffer | undefined): void {
    const inflater = this.inflater as InflateRaw | Gunzip;
    this.inFlight.push({ data, reuse, start: this.submitted });
    this.submitted += data.length;
    inflater.write(data, (error) => this.written(inflater, error));
  }

  /** zlib is done with the oldest write: consumed it, or stopped at the end of the deflate data. */
  private written(inflater: InflateRaw | Gunzip, error: Error | null | undefined): void {
    if (this.closed || inflater !== this.inflater) return;
    const entry = this.inFlight.shift() as InFlight;
    if (error) return; // the 'error' event reports it
    // zlib counts the input it consumed; it stops consuming only at the end of the deflate data.
    const consumed = inflater.bytesWritten;
    if (this.state !== 'rest' && consumed < entry.start + entry.data.length) {
      const tail = entry.data.subarray(Math.max(0, consumed - entry.start));
      // A gathering buffer is reused: what is kept of it is copied.
      this.tails.push(entry.reuse ? Buffer.from(tail) : tail);
      this.deflateEnded();
    }
    if (entry.reuse) this.spare.push(entry.reuse);
    this.drain();
    this.release();
  }

  private endDeflateInput(): void {
    this.flush();
    this.inflater?.end();
  }

  /** The deflate data ended (seen from its unconsumed input, or from the inflater's end). */
  private deflateEnded(): void {
    if (this.state === 'deflate') this.state = 'draining';
    this.drain();
  }

  /**
   * Once the inflater has emitted its last output and called back every
   * write, what it did not consume goes back to the framing: its unconsumed
   * tails, then input gathered but not written, then what came since.
   */
  private drain(): void {
    if (this.state !== 'draining' || !this.inflaterEnded || this.inFlight.length > 0) return;
    // What zlib did not consume came back as tails: a check on our reading of its counter.
    const unconsumed = this.submitted - (this.inflater as InflateRaw).bytesWritten;
    const tailBytes = this.tails.reduce((sum, part) => sum + part.length, 0);
    if (unconsumed !== tailBytes) {
      this.fail(
        `inflater consumed ${this.submitted - unconsumed} of ${this.submitted} bytes, ${tailBytes} came back`,
      );
      return;
    }
    const gathered = this.current && this.fill > 0 ? [this.current.subarray(0, this.fill)] : [];
    this.current = undefined;
    this.fill = 0;
    this.cutBlock();
    const rest = [...this.tails, ...gathered, ...this.queue];
    this.tails = [];
    this.queue = rest;
    this.queued = rest.reduce((sum, part) => sum + part.length, 0);
    this.inflater?.destroy();
    this.inflater = undefined;
    this.state = 'trailer';
    this.pump();
    this.release();
  }
}
