import type { Readable } from 'node:stream';
import { ImageError } from '../errors.js';
import type { Descriptor } from './descriptor.js';
import type { ImageReference } from './reference.js';

/**
 * Content access, after oras-go's content package: small interfaces that every
 * transport implements, so lint and publish never care where an image lives.
 */

export interface FetchOptions {
  signal?: AbortSignal;
  /**
   * 'size': check only the blob's size as it flows, not its digest. For a
   * reader whose bytes are verified elsewhere anyway: publish's early uploads
   * read the same local blob the validation reads (and verifies) at the same
   * time, and the registry checks the digest before it commits the upload.
   * Local transports honour it; others always verify the digest. Default 'digest'.
   */
  verify?: 'digest' | 'size';
}

/** Reads a blob or manifest by descriptor. The stream is verified (digest and size) as it flows. */
export interface Fetcher {
  fetch(descriptor: Descriptor, options?: FetchOptions): Promise<Readable>;
  /**
   * Optional, for content a source gets whole anyway (a manifest a request
   * brought, a config in a disk cache): the bytes in one buffer, verified
   * against the descriptor (digest and size) as fetch()'s stream would be; or
   * undefined, and the content is read through fetch(). readAll() asks it
   * first: a stream made only to be collected again, run cold, cost a
   * metadata-only command ~1 ms per blob on the bench machine.
   */
  fetchBytes?(descriptor: Descriptor, options?: FetchOptions): Promise<Buffer | undefined>;
}

/** Turns the source's reference (tag or digest) into the descriptor of its manifest or index. */
export interface Resolver {
  resolve(options?: FetchOptions): Promise<Descriptor>;
}

/** A layer blob handed over by a source that can only be read front to back. */
export interface StreamedLayer {
  descriptor: Descriptor;
  /** Verified stream of the layer blob, as stored (compressed or not). */
  stream: Readable;
}

/** Where an image is read from: a registry, a layout, an archive, the engine. */
export interface ImageSource extends Fetcher, Resolver {
  readonly reference: ImageReference;
  /**
   * Optional: deliver the given layers in whatever order the source produces
   * them, each exactly once. Sources that can only be read as one stream (the
   * engine's export) implement it so a whole-image scan is a single pass.
   */
  streamLayers?(
    layers: readonly Descriptor[],
    visit: (layer: StreamedLayer) => Promise<void>,
    options?: FetchOptions,
  ): Promise<void>;
  close(): Promise<void>;
}

export interface PushOptions extends FetchOptions {
  /**
   * The content's digest is checked elsewhere: it is a stream from
   * Fetcher.fetch, verified as it flows (a mismatch an error before its end),
   * or read with `verify: 'size'` for an upload the registry hashes before it
   * commits. The pusher counts its bytes but does not hash them.
   */
  verified?: boolean;
}

/** Writes content by descriptor (publish). */
export interface Pusher {
  exists(descriptor: Descriptor, options?: FetchOptions): Promise<boolean>;
  push(descriptor: Descriptor, content: Readable, options?: PushOptions): Promise<void>;
}

export interface Tagger {
  tag(descriptor: Descriptor, tag: string, options?: FetchOptions): Promise<void>;
}

export interface ImageTarget extends Pusher, Tagger, Fetcher {
  readonly reference: ImageReference;
  close(): Promise<void>;
}

/** Manifests and indexes larger than this are refused (as containerd and distribution do). */
export const maxManifestBytes = 4 * 1024 * 1024;
/** Image configs larger than this are refused. */
export const maxConfigBytes = 16 * 1024 * 1024;

/** Reads a whole (small) blob into memory, verified, refusing one over `limit` bytes. */
export async function readAll(
  fetcher: Fetcher,
  descriptor: Descriptor,
  limit: number,
  context: { image?: string; what?: string } = {},
  options?: FetchOptions,
): Promise<Buffer> {
  const where = { image: context.image, blob: descriptor.digest };
  const what = context.what ?? 'blob';
  if (descriptor.size > limit) {
    throw new ImageError(
      'ERR_TOO_LARGE',
      `${what} is ${descriptor.size} bytes, over the ${limit}-byte limit`,
      where,
    );
  }
  const whole = await fetcher.fetchBytes?.(descriptor, options);
  if (whole !== undefined) return whole;
  const stream = await fetcher.fetch(descriptor, options);
  return collect(
    stream,
    limit,
    () => new ImageError('ERR_TOO_LARGE', `${what} is over the ${limit}-byte limit`, where),
  );
}

/**
 * A (small) stream's bytes, at most `limit` of them: past it the stream is
 * destroyed and `tooLarge()` is the error. By its events, not an async
 * iterator: a metadata-only command reads two or three small bodies, and the
 * iterator's machinery, run cold, cost ~1 ms each on the bench machine.
 */
export function collect(stream: Readable, limit: number, tooLarge: () => Error): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let settled = false;
    const settle = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      stream.off('data', onData);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, total));
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        settle(tooLarge());
        stream.destroy();
        return;
      }
      chunks.push(chunk);
    };
    stream.on('data', onData);
    stream.once('end', () => settle(undefined));
    stream.once('error', (error: Error) => settle(error));
    stream.once('close', () => {
      // Closed before its end, without an error: cut short.
      const premature = Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });
      settle(stream.readableEnded ? undefined : premature);
    });
    if (stream.errored) settle(stream.errored);
  });
}
