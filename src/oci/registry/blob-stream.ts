import { Readable } from 'node:stream';
import type { DigestVerifier } from '../digest.js';

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
  /** Called when a body errs or closes early, with the bytes delivered so far. */
  onFailure(error: unknown, delivered: number): BodyFailure;
}

/**
 * A blob's bytes, verified as they flow, across resumed responses. Push-based:
 * each chunk of the response body is verified and pushed from the body's own
 * 'data' event, and the body is paused when this stream's buffer is full. An
 * async iterator per chunk (two of them, before) cost promises and microtask
 * turns on the main thread, which is a cold scan's busiest thread.
 */
export class BlobStream extends Readable {
  private body: Readable | undefined;
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
    this.attach(options.first);
  }

  override _read(): void {
    this.body?.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.settled = true;
    // A no-op once finished; else the hash is left unfinished by an error or an early end.
    this.verifier.abandon();
    this.detach?.();
    this.body?.destroy();
    this.body = undefined;
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
  }

  /** Every byte is in: the digest decides how the stream ends. */
  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.detach?.();
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
    const outcome = this.onFailure(error, this.delivered);
    if ('fail' in outcome) {
      broken?.destroy();
      this.destroy(outcome.fail instanceof Error ? outcome.fail : new Error(String(outcome.fail)));
      return;
    }
    if ('finish' in outcome) {
      this.finish();
      return;
    }
    broken?.destroy();
    outcome.resume().then(
      (next) => {
        if (this.destroyed) {
          next.body.destroy();
          return;
        }
        this.attach(next);
        if (this.readableLength >= this.readableHighWaterMark) next.body.pause();
      },
      (failure: unknown) => {
        if (!this.destroyed) this.destroy(failure instanceof Error ? failure : new Error(String(failure)));
      },
    );
  }
}
