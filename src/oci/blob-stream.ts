import { Readable } from 'node:stream';
import type { DigestVerifier } from './digest.js';

/** A blob response body, and how many of its first bytes were delivered before (a resume without Range). */
export interface BlobBody {
  body: Readable;
  skip: number;
}

/** What a broken body becomes: an error to end with, the end (every byte is in), or a resume. */
export type BodyFailure = { fail: unknown } | { finish: true } | { resume: () => Promise<BlobBody> };

export interface BlobStreamOptions {
  first: BlobBody;
  verifier: DigestVerifier;
  /**
   * Called when a body errs or closes early, with the bytes delivered so far
   * and a signal aborted when this stream is destroyed (for a resume's wait
   * and request).
   */
  onFailure(error: unknown, delivered: number, destroyed: AbortSignal): BodyFailure;
}

/**
 * Bodies keep this listener for life: an error from a body not (or no longer)
 * attached must not be an uncaught 'error' event. An attached body's errors
 * reach broken() through its own listener, or through `errored` at attach.
 */
const ignoreError = (): void => undefined;

/**
 * What the stream fails with: an object as given (an abort's reason keeps its
 * identity for the caller); anything else wrapped, since destroy('') or
 * destroy(0) would end the stream with no error at all.
 */
function asError(value: unknown): Error {
  return typeof value === 'object' && value !== null ? (value as Error) : new Error(String(value));
}

/**
 * A blob's bytes, verified as they flow, across resumed responses. Push-based:
 * each chunk of the response body is verified and pushed from the body's own
 * 'data' event, and the body is paused when this stream's buffer is full. An
 * async iterator per chunk (two of them, before) cost promises and microtask
 * turns on the main thread, which is a cold scan's busiest thread.
 *
 * The first body starts flowing on the first read, not at construction: a
 * consumer may await something else first (a push awaits its upload session),
 * and a failure meanwhile must wait for it rather than be emitted to no one.
 */
export class BlobStream extends Readable {
  private body: Readable | undefined;
  /** The first body, until the first read attaches it. */
  private pending: BlobBody | undefined;
  /** Aborted when this stream is destroyed: made for a resume only (an abort's events cost, cold). */
  private aborter: AbortController | undefined;
  private skip = 0;
  private delivered = 0;
  private settled = false;
  private readonly verifier: DigestVerifier;
  private readonly onFailure: BlobStreamOptions['onFailure'];
  private detach: (() => void) | undefined;

  constructor(options: BlobStreamOptions) {
    super({ highWaterMark: 64 * 1024 });
    this.verifier = options.verifier;
    this.onFailure = options.onFailure;
    options.first.body.on('error', ignoreError);
    this.pending = options.first;
  }

  override _read(): void {
    if (this.pending !== undefined) {
      const first = this.pending;
      this.pending = undefined;
      this.attach(first);
      return;
    }
    this.body?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.settled = true;
    this.aborter?.abort();
    // A no-op once finished; else the hash is left unfinished by an error or an early end.
    this.verifier.abandon();
    this.detach?.();
    // A body not read to its end is destroyed with an error: a tar-stream entry
    // destroyed without one ends its whole archive silently, and a pass over the
    // archive (docker-daemon's export) would wait for its next entry for ever.
    const unfinished = error ?? new Error('the blob was not read to its end');
    this.body?.destroy(unfinished);
    this.body = undefined;
    this.pending?.body.destroy(unfinished);
    this.pending = undefined;
    callback(error);
  }

  private attach({ body, skip }: BlobBody): void {
    this.body = body;
    this.skip = skip;
    let ended = false;
    const onData = (chunk: Buffer | Uint8Array) => {
      let buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      if (this.skip > 0) {
        if (buffer.length <= this.skip) {
          this.skip -= buffer.length;
          return;
        }
        buffer = buffer.subarray(this.skip);
        this.skip = 0;
      }
      try {
        this.verifier.update(buffer);
      } catch (error) {
        this.destroy(error as Error);
        return;
      }
      this.delivered += buffer.length;
      if (!this.push(buffer)) body.pause();
    };
    const onEnd = () => {
      ended = true;
      this.finish();
    };
    const onError = (error: unknown) => this.broken(error);
    const onClose = () => {
      if (!ended) {
        this.broken(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
      }
    };
    body.on('data', onData);
    body.on('end', onEnd);
    body.on('error', onError);
    body.on('close', onClose);
    this.detach = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
      body.off('close', onClose);
    };
    // A body that failed before it was attached (while awaiting the first read, or a resume).
    if (body.errored) onError(body.errored);
    else if (body.destroyed) onClose();
  }

  /** Every byte is in: the digest decides how the stream ends. */
  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.detach?.();
    // Read to its end: nothing is left to destroy.
    this.body = undefined;
    this.verifier.finish().then(
      () => this.push(null),
      (error: Error) => this.destroy(error),
    );
  }

  private broken(error: unknown): void {
    if (this.settled || this.destroyed) return;
    this.detach?.();
    this.detach = undefined;
    const broken = this.body;
    this.body = undefined;
    this.aborter ??= new AbortController();
    const outcome = this.onFailure(error, this.delivered, this.aborter.signal);
    if ('fail' in outcome) {
      broken?.destroy();
      this.destroy(asError(outcome.fail));
      return;
    }
    if ('finish' in outcome) {
      this.finish();
      return;
    }
    broken?.destroy();
    outcome.resume().then(
      (next) => {
        next.body.on('error', ignoreError);
        if (this.destroyed) {
          next.body.destroy();
          return;
        }
        this.attach(next);
        if (this.readableLength >= this.readableHighWaterMark) next.body.pause();
      },
      (failure: unknown) => {
        if (!this.destroyed) this.destroy(asError(failure));
      },
    );
  }
}
