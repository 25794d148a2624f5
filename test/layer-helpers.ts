/**
 * Helpers for the layer tests: tar layers built in memory (tar-stream's pack,
 * or a raw ustar writer for the hostile names pack would not write), their
 * compressed forms, verified streams, and a small in-memory ImageSource.
 */

import { spawnSync } from 'node:child_process';
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import type { FetchOptions, ImageSource, StreamedLayer } from '../src/oci/content.js';
import type { Descriptor } from '../src/oci/descriptor.js';
import { type Digest, DigestVerifier, digestOf } from '../src/oci/digest.js';
import { MediaType } from '../src/oci/media-types.js';
import { parseImageReference } from '../src/oci/reference.js';

export interface TestEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  body?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

/** A tar built by tar-stream's pack (pax records for long names). */
export async function packTar(entries: readonly TestEntry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk) => chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const body =
      entry.body !== undefined ? Buffer.from(entry.body) : type === 'file' ? Buffer.alloc(0) : undefined;
    const header = {
      name: entry.name,
      type,
      mode: entry.mode ?? (entry.type === 'directory' ? 0o755 : 0o644),
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      mtime: new Date(1704067200000),
      ...(entry.linkname !== undefined ? { linkname: entry.linkname } : {}),
      ...(entry.devmajor !== undefined ? { devmajor: entry.devmajor, devminor: entry.devminor ?? 0 } : {}),
      size: body?.length ?? 0,
    };
    await new Promise<void>((resolve, reject) => {
      const callback = (error?: Error | null) => (error ? reject(error) : resolve());
      if (body) pack.entry(header, body, callback);
      else pack.entry(header, callback);
    });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** One raw ustar header block + body + padding: names exactly as given. */
export function rawEntry(
  name: string,
  body: Buffer = Buffer.alloc(0),
  typeflag = '0',
  linkname = '',
): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100, 'ascii');
  header.write('0000000\0', 108, 'ascii');
  header.write('0000000\0', 116, 'ascii');
  header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  header.write('14545215400\0', 136, 'ascii');
  header.write('        ', 148, 'ascii');
  header.write(typeflag, 156, 'ascii');
  header.write(linkname, 157, 100, 'utf8');
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  const padding = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([header, body, padding]);
}

export function rawTar(blocks: Buffer[]): Buffer {
  return Buffer.concat([...blocks, Buffer.alloc(1024)]);
}

export function gzip(data: Buffer, level = 6): Buffer {
  return gzipSync(data, { level });
}

export const haveZstdBinary = spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0;

export function zstd(data: Buffer): Buffer {
  const result = spawnSync('zstd', ['-c', '-q', '-3'], { input: data, maxBuffer: 1024 ** 3 });
  if (result.status !== 0) throw new Error(`zstd failed: ${result.stderr.toString()}`);
  return result.stdout;
}

export function descriptorOf(blob: Buffer, mediaType: string = MediaType.ociLayerGzip): Descriptor {
  return { mediaType, digest: digestOf(blob), size: blob.length };
}

/** The blob as a verified stream, in chunks of `chunkSize` (as a registry would deliver it). */
export function verifiedStream(blob: Buffer, descriptor: Descriptor, chunkSize = 64 * 1024): Readable {
  const verifying = new VerifyingStream(descriptor, 'test-image');
  pipeline(Readable.from(chunked(blob, chunkSize), { objectMode: false }), verifying, () => {});
  return verifying;
}

function* chunked(blob: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < blob.length; offset += size) yield blob.subarray(offset, offset + size);
}

/** An in-memory ImageSource that counts what it is asked for. */
export class MemorySource implements ImageSource {
  readonly reference = parseImageReference('docker://registry.test/memory/test:latest');
  readonly blobs = new Map<string, Buffer>();
  fetches: string[] = [];
  bytesServed = 0;
  /** Fail the next fetch of a digest this many times with the given error, mid-stream. */
  failures = new Map<string, { times: number; error: () => Error }>();
  /** Chunk delay in ms (to overlap layers). */
  delay = 0;
  active = 0;
  maxActive = 0;

  add(blob: Buffer, mediaType: string = MediaType.ociLayerGzip): Descriptor {
    const descriptor = descriptorOf(blob, mediaType);
    this.blobs.set(descriptor.digest, blob);
    return descriptor;
  }

  async fetch(descriptor: Descriptor, options?: FetchOptions): Promise<Readable> {
    this.fetches.push(descriptor.digest);
    const blob = this.blobs.get(descriptor.digest);
    if (!blob) throw new Error(`no blob ${descriptor.digest}`);
    const failure = this.failures.get(descriptor.digest);
    let failNow: Error | undefined;
    if (failure && failure.times > 0) {
      failure.times--;
      failNow = failure.error();
    }
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    const source = this;
    const delay = this.delay;
    async function* generate(): AsyncGenerator<Buffer> {
      try {
        let offset = 0;
        for (; offset < blob!.length; offset += 16 * 1024) {
          if (options?.signal?.aborted) throw options.signal.reason;
          if (failNow && offset >= blob!.length / 2) throw failNow;
          if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
          const chunk = blob!.subarray(offset, offset + 16 * 1024);
          source.bytesServed += chunk.length;
          yield chunk;
        }
        if (failNow) throw failNow;
      } finally {
        source.active--;
      }
    }
    // pipeline, not pipe: errors reach the consumer, and destroying the consumer stops the producer.
    const verifying = new VerifyingStream(descriptor);
    pipeline(Readable.from(generate(), { objectMode: false }), verifying, () => {});
    return verifying;
  }

  async resolve(): Promise<Descriptor> {
    throw new Error('not used');
  }

  async close(): Promise<void> {}
}

/** A MemorySource that can only deliver layers in one pass (as the engine's export does). */
export class SinglePassSource extends MemorySource {
  passes = 0;
  override async fetch(): Promise<Readable> {
    throw new Error('single-pass source: fetch not supported');
  }
  async streamLayers(
    layers: readonly Descriptor[],
    visit: (layer: StreamedLayer) => Promise<void>,
    _options?: FetchOptions,
  ): Promise<void> {
    this.passes++;
    // Deliver in reverse order: any order is allowed.
    for (const descriptor of [...layers].reverse()) {
      const blob = this.blobs.get(descriptor.digest);
      if (!blob) throw new Error(`no blob ${descriptor.digest}`);
      this.bytesServed += blob.length;
      const stream = new VerifyingStream(descriptor);
      pipeline(Readable.from([blob], { objectMode: false }), stream, () => {});
      await visit({ descriptor, stream });
    }
  }
}

export type { Digest };

/**
 * A pass-through stream that verifies digest and size while data flows.
 * Consumers must treat what they derived as provisional until 'end': a
 * mismatch surfaces as an 'error' event instead of end, never as data.
 */
/** (A test helper since the transports verify through BlobStream, src/oci/blob-stream.ts.) */
class VerifyingStream extends Transform {
  private readonly verifier: DigestVerifier;

  constructor(
    expected: ConstructorParameters<typeof DigestVerifier>[0],
    image?: string,
    options: { sizeOnly?: boolean } = {},
  ) {
    super();
    this.verifier = new DigestVerifier(expected, image, options);
  }

  get bytes(): number {
    return this.verifier.bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.verifier.update(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.verifier.finish().then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.verifier.abandon();
    callback(error);
  }
}
