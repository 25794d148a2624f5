import { ImageError } from '../errors.js';
import { hashOffloadEnabled, OffloadedSha256 } from './hash-offload.js';
import { Sha256 } from './sha256.js';

/** A content digest, "algorithm:encoded", as the OCI image-spec defines it. */
export type Digest = `${string}:${string}`;

const encodedLength: Record<string, number> = { sha256: 64, sha512: 128 };
const digestPattern = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export interface ParsedDigest {
  algorithm: 'sha256' | 'sha512';
  hex: string;
}

/** True when every character of value from `start` is 0-9 or a-f. */
function isLowerHex(value: string, start: number): boolean {
  for (let i = start; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (!((code >= 48 && code <= 57) || (code >= 97 && code <= 102))) return false;
  }
  return true;
}

export function parseDigest(value: string, context: { image?: string } = {}): ParsedDigest {
  // The common case without a regex: a metadata-only command parses a few dozen digests,
  // and compiling the patterns below cost it ~0.5 ms.
  if (value.length === 71 && value.startsWith('sha256:') && isLowerHex(value, 7)) {
    return { algorithm: 'sha256', hex: value.slice(7) };
  }
  const match = digestPattern.exec(value);
  const algorithm = match?.[1];
  const hex = match?.[2];
  if (!match || algorithm === undefined || hex === undefined) {
    throw new ImageError('ERR_DIGEST_INVALID', `invalid digest '${truncate(value)}'`, context);
  }
  const length = encodedLength[algorithm];
  if (length === undefined) {
    throw new ImageError('ERR_UNSUPPORTED', `unsupported digest algorithm '${algorithm}'`, context);
  }
  if (hex.length !== length || !isLowerHex(hex, 0)) {
    throw new ImageError('ERR_DIGEST_INVALID', `invalid ${algorithm} digest '${truncate(value)}'`, context);
  }
  return { algorithm: algorithm as 'sha256' | 'sha512', hex };
}

export function isDigest(value: string): boolean {
  // Most values asked about are tags: no error made (and its stack captured) to say no.
  if (!value.includes(':')) return false;
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** Up to this many bytes, sha256 runs in JavaScript (sha256.ts): no node:crypto at start-up. */
export const smallBlobBytes = 256 * 1024;

/** An incremental hash: node:crypto's, or ours for small sha256 inputs. */
export interface IncrementalHash {
  update(data: Uint8Array): unknown;
  digest(encoding: 'hex'): string;
}

/**
 * A hash for `size` bytes of `algorithm`. node:crypto is loaded on first
 * need (process.getBuiltinModule), so commands that only verify manifests
 * and configs never load it.
 */
export function createHashFor(algorithm: 'sha256' | 'sha512', size: number): IncrementalHash {
  if (algorithm === 'sha256' && size <= smallBlobBytes) return new Sha256();
  return process.getBuiltinModule('node:crypto').createHash(algorithm);
}

/** From this size on, a streamed sha256 is computed on the hash worker (hash-offload.ts). */
export const offloadMinBytes = 8 * 1024 * 1024;

/** A hash over a stream whose result may come later: in this thread, or on the hash worker. */
export interface StreamHash {
  update(data: Uint8Array): void;
  /** The hex digest, once every update has been hashed. */
  digest(): Promise<string>;
  /** Forget a hash that will never be finished. */
  abandon(): void;
}

class InThreadHash implements StreamHash {
  constructor(private readonly hash: IncrementalHash) {}
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  digest(): Promise<string> {
    return Promise.resolve(this.hash.digest('hex'));
  }
  abandon(): void {}
}

/**
 * A hash for a stream of `size` bytes (the expected size, or an estimate):
 * large sha256 streams go to the hash worker, the rest as createHashFor.
 */
export function createStreamHash(algorithm: 'sha256' | 'sha512', size: number): StreamHash {
  if (algorithm === 'sha256' && size >= offloadMinBytes && hashOffloadEnabled()) return new OffloadedSha256();
  return new InThreadHash(createHashFor(algorithm, size));
}

export function digestOf(data: Uint8Array | string, algorithm: 'sha256' | 'sha512' = 'sha256'): Digest {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const hash = createHashFor(algorithm, bytes.length);
  hash.update(bytes);
  return `${algorithm}:${hash.digest('hex')}`;
}

export interface VerifyTarget {
  digest: string;
  size: number;
}

/**
 * Checks that bytes match a descriptor's digest and size, incrementally.
 * Used by the stream below and by code that hashes while it already holds chunks.
 */
export class DigestVerifier {
  readonly expected: VerifyTarget;
  /** Undefined when only the size is checked (the content is verified elsewhere as it flows). */
  private readonly hash: StreamHash | undefined;
  private readonly algorithm: string;
  private readonly hex: string;
  private readonly context: { image?: string; blob: string };
  bytes = 0;

  constructor(expected: VerifyTarget, image?: string, options: { sizeOnly?: boolean } = {}) {
    this.expected = expected;
    this.context = image === undefined ? { blob: expected.digest } : { image, blob: expected.digest };
    const parsed = parseDigest(expected.digest, this.context);
    this.algorithm = parsed.algorithm;
    this.hex = parsed.hex;
    if (!Number.isSafeInteger(expected.size) || expected.size < 0) {
      throw new ImageError(
        'ERR_MANIFEST_INVALID',
        `invalid size ${String(expected.size)} in descriptor`,
        this.context,
      );
    }
    this.hash = options.sizeOnly ? undefined : createStreamHash(parsed.algorithm, expected.size);
  }

  /** Feed a chunk; throws as soon as the blob grows past its declared size. */
  update(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    if (this.bytes > this.expected.size) {
      throw new ImageError(
        'ERR_SIZE_MISMATCH',
        `blob is larger than its descriptor says (${this.expected.size} bytes)`,
        this.context,
      );
    }
    this.hash?.update(chunk);
  }

  /** The blob will not be finished (its stream failed): let go of the hash. */
  abandon(): void {
    this.hash?.abandon();
  }

  /** Call at end of data; rejects on a short blob or a digest mismatch. */
  async finish(): Promise<void> {
    if (this.bytes !== this.expected.size) {
      this.hash?.abandon();
      throw new ImageError(
        'ERR_SIZE_MISMATCH',
        `blob is ${this.bytes} bytes, its descriptor says ${this.expected.size}`,
        this.context,
      );
    }
    if (this.hash === undefined) return;
    const actual = await this.hash.digest();
    if (actual !== this.hex) {
      throw new ImageError(
        'ERR_DIGEST_MISMATCH',
        `digest mismatch: content hashes to ${this.algorithm}:${actual}`,
        this.context,
      );
    }
  }
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}
