import { ImageError } from '../../errors.js';

/** An inflater behind a Decompressor; it pauses when `Sink.emit` returns false, until `resume`. */
export interface Backend {
  readonly name: string;
  write(chunk: Buffer, callback: (error?: Error | null) => void): void;
  end(): void;
  resume(): void;
  destroy(): void;
}

/** Where a backend's decompressed bytes go. */
export interface Sink {
  /** Hands out a chunk; false asks the backend to pause. Throws nothing: failures go through fail(). */
  emit(chunk: Buffer): boolean;
  done(): void;
  fail(error: Error): void;
}

export interface BlobContext {
  image?: string;
  blob?: string;
}

/** ERR_LAYER_CORRUPT for a compressed stream that cannot be inflated. */
export function corrupt(format: string, context: BlobContext, detail?: string, cause?: unknown): ImageError {
  const message = `truncated or corrupt ${format} data${detail ? ` (${detail})` : ''}`;
  return new ImageError('ERR_LAYER_CORRUPT', message, cause === undefined ? context : { ...context, cause });
}
