/**
 * Helpers for the registry client tests: unique repository names, small
 * images pushed with our own client, and ways to read streams and errors.
 */

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { IvocError } from '../src/errors.js';
import type { Descriptor } from '../src/oci/descriptor.js';
import { digestOf } from '../src/oci/digest.js';
import { MediaType } from '../src/oci/media-types.js';
import { RegistryClient } from '../src/oci/registry/client.js';
import { type FaultProxy, startFaultProxy } from './env/fault-proxy.js';

const run = promisify(execFile);

/** A repository name no other run or test uses. */
export function uniqueRepo(label: string): string {
  return `ivoc-test/registry-${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

export interface Blob {
  descriptor: Descriptor;
  bytes: Buffer;
}

export function blobOf(bytes: Buffer, mediaType: string): Blob {
  return { descriptor: { mediaType, digest: digestOf(bytes), size: bytes.length }, bytes };
}

export interface PushedImage {
  repository: string;
  tag: string;
  manifest: Blob;
  config: Blob;
  layers: Blob[];
}

export interface ImageOptions {
  mediaTypes?: 'oci' | 'docker';
  /** Layer contents (any bytes: the registry does not look inside). Default: one random 64 KiB layer. */
  layers?: Buffer[];
  architecture?: string;
  annotations?: Record<string, string>;
  subject?: Descriptor;
  artifactType?: string;
}

/** Builds an image (config + layers + manifest) in memory. */
export function buildImage(options: ImageOptions = {}): { manifest: Blob; config: Blob; layers: Blob[] } {
  const docker = options.mediaTypes === 'docker';
  const layerType = docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip;
  const layers = (options.layers ?? [randomBytes(64 * 1024)]).map((bytes) => blobOf(bytes, layerType));
  const config = blobOf(
    Buffer.from(
      JSON.stringify({
        architecture: options.architecture ?? 'amd64',
        os: 'linux',
        config: { User: '1000' },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.descriptor.digest) },
      }),
    ),
    docker ? MediaType.dockerConfig : MediaType.ociConfig,
  );
  const mediaType = docker ? MediaType.dockerManifest : MediaType.ociManifest;
  const body: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    config: config.descriptor,
    layers: layers.map((l) => l.descriptor),
  };
  if (options.artifactType) body.artifactType = options.artifactType;
  if (options.subject) body.subject = options.subject;
  if (options.annotations) body.annotations = options.annotations;
  const manifest = blobOf(Buffer.from(JSON.stringify(body)), mediaType);
  return { manifest, config, layers };
}

/** Pushes an image with our own client: blobs first, then the manifest by tag. */
export async function pushImage(
  client: RegistryClient,
  repository: string,
  tag: string,
  options: ImageOptions = {},
): Promise<PushedImage> {
  const image = buildImage(options);
  for (const blob of [image.config, ...image.layers]) {
    await client.pushBlob(repository, blob.descriptor, Readable.from([blob.bytes]));
  }
  await client.putManifest(repository, tag, image.manifest.descriptor.mediaType, image.manifest.bytes);
  return { repository, tag, ...image };
}

/** Pushes an index (OCI or Docker manifest list) over already pushed manifests. */
export async function pushIndex(
  client: RegistryClient,
  repository: string,
  tag: string,
  manifests: Array<{ descriptor: Descriptor; architecture: string }>,
  mediaTypes: 'oci' | 'docker' = 'oci',
): Promise<Blob> {
  const mediaType = mediaTypes === 'docker' ? MediaType.dockerManifestList : MediaType.ociIndex;
  const index = blobOf(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType,
        manifests: manifests.map((m) => ({
          ...m.descriptor,
          platform: { os: 'linux', architecture: m.architecture },
        })),
      }),
    ),
    mediaType,
  );
  await client.putManifest(repository, tag, mediaType, index.bytes);
  return index;
}

export async function readStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Reads a stream until it ends or fails; returns what came and the error, if any. */
export async function drain(stream: Readable): Promise<{ bytes: Buffer; error?: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return { bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

/** The IvocError a promise rejects with (fails the test when it resolves or throws something else). */
export async function failure(promise: Promise<unknown>): Promise<IvocError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof IvocError) return error;
    throw new Error(`expected an IvocError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a failure, but it succeeded');
}

/** A retry policy that records the delays it was asked for instead of sleeping them. */
export function recordingRetry(attempts = 4): {
  delays: number[];
  policy: { attempts: number; sleep: (ms: number) => Promise<void> };
} {
  const delays: number[] = [];
  return {
    delays,
    policy: {
      attempts,
      sleep: async (ms: number) => {
        delays.push(ms);
      },
    },
  };
}

export async function skopeo(args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', args, { maxBuffer: 64 << 20 });
  return stdout;
}

/** An image of one layer per buffer pushed to the registry at `host`, and a fault proxy started in front of it. */
export async function pushBehindProxy(
  host: string,
  repository: string,
  layers: Buffer[],
): Promise<{ image: PushedImage; proxy: FaultProxy }> {
  const seed = new RegistryClient(host);
  try {
    const image = await pushImage(seed, repository, 'v1', { layers });
    return { image, proxy: await startFaultProxy(host) };
  } finally {
    await seed.close();
  }
}
