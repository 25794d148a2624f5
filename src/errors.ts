/**
 * Typed errors. Every failure the user can see is one of these, with a stable
 * `code` (for machines and tests) and the exit code of interfaces.md.
 */

export const ExitCode = {
  ok: 0,
  findings: 1,
  usage: 2,
  failure: 3,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorCode =
  | 'ERR_USAGE'
  | 'ERR_REFERENCE'
  | 'ERR_PROFILE'
  | 'ERR_MANIFEST_INVALID'
  | 'ERR_MEDIA_TYPE'
  | 'ERR_UNSUPPORTED'
  | 'ERR_TOO_LARGE'
  | 'ERR_NOT_FOUND'
  | 'ERR_BLOB_NOT_FOUND'
  | 'ERR_DIGEST_MISMATCH'
  | 'ERR_SIZE_MISMATCH'
  | 'ERR_DIGEST_INVALID'
  | 'ERR_PLATFORM'
  | 'ERR_LAYER_CORRUPT'
  | 'ERR_LAYER_UNSAFE'
  | 'ERR_DECOMPRESSION_LIMIT'
  | 'ERR_ENTRY_LIMIT'
  | 'ERR_SYMLINK_LOOP'
  | 'ERR_PATH_ESCAPE'
  | 'ERR_HARDLINK_TARGET'
  | 'ERR_AUTH'
  | 'ERR_DENIED'
  | 'ERR_REGISTRY'
  | 'ERR_NETWORK'
  | 'ERR_TIMEOUT'
  | 'ERR_ENGINE'
  | 'ERR_HASH_WORKER'
  | 'ERR_ARCHIVE'
  | 'ERR_IO'
  | 'ERR_STDOUT_CLOSED'
  | 'ERR_INTERRUPTED';

export interface ErrorContext {
  /** The image reference as the user wrote it (or as normalised). */
  image?: string;
  /** The blob (digest) or archive member concerned. */
  blob?: string;
  cause?: unknown;
}

export class IvocError extends Error {
  // Written out, not new.target.name: the bundle's identifiers are minified (scripts/build.mjs).
  override name = 'IvocError';
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly image?: string;
  readonly blob?: string;

  constructor(
    code: ErrorCode,
    message: string,
    context: ErrorContext = {},
    exitCode: ExitCode = ExitCode.failure,
  ) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.exitCode = exitCode;
    if (context.image !== undefined) this.image = context.image;
    if (context.blob !== undefined) this.blob = context.blob;
  }

  /** One line for people: "<image>: <blob>: <message>". */
  describe(): string {
    const where = [this.image, this.blob].filter((part) => part !== undefined && part !== '');
    return where.length > 0 ? `${where.join(': ')}: ${this.message}` : this.message;
  }
}

/** Bad options, bad profile file, unparsable reference: exit 2. */
export class UsageError extends IvocError {
  override name = 'UsageError';
  constructor(message: string, code: ErrorCode = 'ERR_USAGE', context: ErrorContext = {}) {
    super(code, message, context, ExitCode.usage);
  }
}

/** The image could not be read: malformed, missing, corrupt, unsafe. Exit 3. */
export class ImageError extends IvocError {
  override name = 'ImageError';
  constructor(code: ErrorCode, message: string, context: ErrorContext = {}) {
    super(code, message, context, ExitCode.failure);
  }
}

/** A registry or engine answered badly, or could not be reached. Exit 3. */
export class TransportError extends IvocError {
  override name = 'TransportError';
  readonly status?: number;
  constructor(code: ErrorCode, message: string, context: ErrorContext & { status?: number } = {}) {
    super(code, message, context, ExitCode.failure);
    if (context.status !== undefined) this.status = context.status;
  }
}

/** Attach image/blob context to an error raised deeper down, keeping its code. */
export function withContext(error: unknown, context: ErrorContext): IvocError {
  if (error instanceof IvocError) {
    if ((error.image === undefined && context.image) || (error.blob === undefined && context.blob)) {
      const copy = Object.create(Object.getPrototypeOf(error)) as IvocError;
      Object.assign(copy, error);
      Object.defineProperty(copy, 'message', { value: error.message, enumerable: false, writable: true });
      Object.defineProperty(copy, 'stack', { value: error.stack, enumerable: false, writable: true });
      const mutable = copy as { image?: string; blob?: string };
      if (mutable.image === undefined && context.image) mutable.image = context.image;
      if (mutable.blob === undefined && context.blob) mutable.blob = context.blob;
      return copy;
    }
    return error;
  }
  const message = error instanceof Error ? error.message : String(error);
  const errno = (error as { code?: unknown } | null)?.code;
  const code: ErrorCode =
    errno === 'ENOENT'
      ? 'ERR_NOT_FOUND'
      : typeof errno === 'string' && errno.startsWith('E')
        ? 'ERR_IO'
        : 'ERR_IO';
  return new IvocError(code, message, { ...context, cause: error });
}
