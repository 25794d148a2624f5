/**
 * Registry transport: `docker://` images as ImageSource (read) and
 * ImageTarget (publish), over RegistryClient.
 */

import { Readable } from 'node:stream';
import { ImageError } from '../../errors.js';
import {
  type FetchOptions,
  type ImageSource,
  type ImageTarget,
  maxManifestBytes,
  type PushOptions,
} from '../content.js';
import type { Descriptor } from '../descriptor.js';
import { DigestVerifier, parseDigest } from '../digest.js';
import { isIndexMediaType, isManifestMediaType, isSchema1MediaType } from '../media-types.js';
import { formatImageReference, type ImageReference, type RegistryReference } from '../reference.js';
import {
  type ManifestResponse,
  RegistryClient,
  type RegistryClientOptions,
  type StagedUpload,
  schema1Error,
} from './client.js';

export type { Challenge, Credentials, CredentialsProvider } from './auth.js';
export { parseWwwAuthenticate } from './auth.js';
export type {
  ManifestResponse,
  PingResult,
  PutManifestResult,
  ReferrersOptions,
  RegistryClientOptions,
  RequestOptions,
  StagedUpload,
} from './client.js';
export { RegistryClient } from './client.js';
export type { CredentialOptions } from './credentials.js';
export { resolveCredentials } from './credentials.js';
export { apiHost, isInsecureRegistry } from './hosts.js';
export type { Timeouts } from './http.js';
export type { RetryPolicy } from './retry.js';

export interface RegistryOptions {
  /** `--creds USER:PASS`. */
  creds?: string;
  /** `--insecure-registry` entries. */
  insecureRegistries?: readonly string[];
  userAgent?: string;
  retry?: RegistryClientOptions['retry'];
  timeouts?: RegistryClientOptions['timeouts'];
  /** Everything else the client takes (credential lookup, upload sizes, clock). */
  client?: Omit<RegistryClientOptions, 'creds' | 'insecureRegistries' | 'userAgent' | 'retry' | 'timeouts'>;
  /** Use this client instead of making one (it is not closed by close()). */
  sharedClient?: RegistryClient;
}

function clientFor(ref: RegistryReference, options: RegistryOptions): RegistryClient {
  if (options.sharedClient) return options.sharedClient;
  const clientOptions: RegistryClientOptions = { credentialRepository: ref.repository, ...options.client };
  if (options.creds !== undefined) clientOptions.creds = options.creds;
  if (options.insecureRegistries !== undefined) clientOptions.insecureRegistries = options.insecureRegistries;
  if (options.userAgent !== undefined) clientOptions.userAgent = options.userAgent;
  if (options.retry !== undefined) clientOptions.retry = options.retry;
  if (options.timeouts !== undefined) clientOptions.timeouts = options.timeouts;
  return new RegistryClient(ref.registry, clientOptions);
}

function isManifestLike(mediaType: string): boolean {
  return isIndexMediaType(mediaType) || isManifestMediaType(mediaType) || isSchema1MediaType(mediaType);
}

function plainReference(ref: RegistryReference): RegistryReference {
  const out: RegistryReference = { registry: ref.registry, repository: ref.repository };
  if (ref.tag !== undefined) out.tag = ref.tag;
  if (ref.digest !== undefined) out.digest = ref.digest;
  return out;
}

/** Shared read side of source and target: manifests by digest (cached), blobs streamed. */
abstract class RegistryReader {
  readonly reference: ImageReference;
  readonly client: RegistryClient;
  protected readonly ref: RegistryReference;
  protected readonly name: string;
  private readonly ownsClient: boolean;
  /**
   * Manifest bytes already in hand, by digest: resolve() fills it so fetch(root) costs nothing.
   * Only under the digest the bytes were verified to hash to (remember()'s callers).
   */
  protected readonly manifests = new Map<string, Buffer>();
  private cachedBytes = 0;

  constructor(ref: RegistryReference, options: RegistryOptions) {
    this.ref = plainReference(ref);
    this.reference = { transport: 'docker', ...this.ref };
    this.name = formatImageReference(this.reference);
    this.client = clientFor(ref, options);
    this.ownsClient = options.sharedClient === undefined;
  }

  protected remember(digest: string, bytes: Buffer): void {
    if (this.manifests.has(digest)) return;
    // Manifests are small; keep at most 16 MiB of them.
    if (this.cachedBytes + bytes.length > 4 * maxManifestBytes) return;
    this.manifests.set(digest, bytes);
    this.cachedBytes += bytes.length;
  }

  /**
   * Manifest bytes by descriptor, verified against it. Bytes are kept only
   * under the digest they hash to (getManifest computes it for a tag, checks
   * it for a digest), so kept ones need only their size checked.
   */
  protected async manifestBytes(descriptor: Descriptor, options?: FetchOptions): Promise<Buffer> {
    const context = { image: this.name, blob: descriptor.digest };
    if (isSchema1MediaType(descriptor.mediaType)) throw schema1Error(context);
    // A digest, not a tag: getManifest fetches a tag unchecked (and it would be kept under it).
    parseDigest(descriptor.digest, { image: this.name });
    if (descriptor.size > maxManifestBytes) {
      throw new ImageError(
        'ERR_TOO_LARGE',
        `manifest is ${descriptor.size} bytes, over the ${maxManifestBytes}-byte limit`,
        context,
      );
    }
    let bytes = this.manifests.get(descriptor.digest);
    if (bytes === undefined) {
      const got: ManifestResponse = await this.client.getManifest(this.ref.repository, descriptor.digest, {
        image: this.name,
        ...(options?.signal ? { signal: options.signal } : {}),
      });
      bytes = got.bytes;
      this.remember(descriptor.digest, bytes);
    }
    if (bytes.length !== descriptor.size) {
      throw new ImageError(
        'ERR_SIZE_MISMATCH',
        `blob is ${bytes.length} bytes, its descriptor says ${descriptor.size}`,
        context,
      );
    }
    return bytes;
  }

  /** Manifests and indexes: one GET brings them whole. Blobs stream. */
  async fetchBytes(descriptor: Descriptor, options?: FetchOptions): Promise<Buffer | undefined> {
    return isManifestLike(descriptor.mediaType) ? this.manifestBytes(descriptor, options) : undefined;
  }

  async fetch(descriptor: Descriptor, options?: FetchOptions): Promise<Readable> {
    if (isManifestLike(descriptor.mediaType)) {
      return Readable.from([await this.manifestBytes(descriptor, options)]);
    }
    return this.client.fetchBlob(this.ref.repository, descriptor, {
      image: this.name,
      ...(options?.signal ? { signal: options.signal } : {}),
    });
  }

  async close(): Promise<void> {
    if (this.ownsClient) await this.client.close();
  }
}

export class RegistrySource extends RegistryReader implements ImageSource {
  private resolved: Descriptor | undefined;

  /**
   * The descriptor of the reference's manifest or index. A digest reference is
   * fetched by digest (and verified), a tag by tag; either way the bytes are
   * kept so fetching the root descriptor again costs no request.
   */
  async resolve(options?: FetchOptions): Promise<Descriptor> {
    if (this.resolved) return this.resolved;
    const reference = this.ref.digest ?? this.ref.tag ?? 'latest';
    const got = await this.client.getManifest(this.ref.repository, reference, {
      image: this.name,
      ...(options?.signal ? { signal: options.signal } : {}),
    });
    this.remember(got.descriptor.digest, got.bytes);
    this.resolved = got.descriptor;
    return got.descriptor;
  }
}

export class RegistryTarget extends RegistryReader implements ImageTarget {
  /** Blobs (digest -> size) the image manifest DEST's tag names, read once when asked (listBlobsOf). */
  private listed: Promise<ReadonlyMap<string, number>> | undefined;
  private listedTag: string | undefined;

  /**
   * Lets exists() take the blobs named by the image manifest that TAG points
   * to at DEST as present, without a HEAD each. A registry accepts a manifest
   * only once every blob it names is in the repository, and keeps them while
   * it is there: re-publishing a tag with a changed config (a label) then
   * costs one GET instead of a HEAD per layer. The manifest is read on the
   * first exists(); a tag that is absent, names an index or cannot be read
   * lists nothing, and every blob gets its HEAD, as without this.
   */
  listBlobsOf(tag: string): void {
    this.listedTag = tag;
  }

  private listedBlobs(options?: FetchOptions): Promise<ReadonlyMap<string, number>> {
    const tag = this.listedTag;
    if (tag === undefined) return Promise.resolve(new Map());
    this.listed ??= this.client
      .getManifest(this.ref.repository, tag, {
        image: this.name,
        ...(options?.signal ? { signal: options.signal } : {}),
      })
      .then(({ descriptor, bytes }) => blobsNamedBy(descriptor.mediaType, bytes))
      .catch(() => new Map<string, number>());
    return this.listed;
  }

  async exists(descriptor: Descriptor, options?: FetchOptions): Promise<boolean> {
    const request = { image: this.name, ...(options?.signal ? { signal: options.signal } : {}) };
    if (isManifestLike(descriptor.mediaType)) {
      if (this.manifests.has(descriptor.digest)) return true;
      return (await this.client.headManifest(this.ref.repository, descriptor.digest, request)) !== undefined;
    }
    if ((await this.listedBlobs(options)).get(descriptor.digest) === descriptor.size) return true;
    // Present means: this digest, and the size we expect when the registry states one.
    const found = await this.client.headBlob(this.ref.repository, descriptor.digest, request);
    return found !== undefined && (found.size < 0 || found.size === descriptor.size);
  }

  /**
   * Pushes a blob, or a manifest (by its digest; tag it with tag()). Manifests
   * are read whole (at most 4 MiB) and verified before they are sent.
   */
  async push(descriptor: Descriptor, content: Readable, options?: PushOptions): Promise<void> {
    const request = {
      image: this.name,
      ...(options?.signal ? { signal: options.signal } : {}),
      ...(options?.verified ? { verified: true } : {}),
    };
    if (isManifestLike(descriptor.mediaType)) {
      if (isSchema1MediaType(descriptor.mediaType))
        throw schema1Error({ image: this.name, blob: descriptor.digest });
      const bytes = await readVerified(content, descriptor, this.name);
      await this.client.putManifest(
        this.ref.repository,
        descriptor.digest,
        descriptor.mediaType,
        bytes,
        request,
      );
      this.remember(descriptor.digest, bytes);
      return;
    }
    await this.client.pushBlob(this.ref.repository, descriptor, content, request);
  }

  /**
   * Sends a blob into an upload session without closing it: nothing is
   * visible at the registry until the returned upload is committed.
   */
  async stage(descriptor: Descriptor, content: Readable, options?: PushOptions): Promise<StagedUpload> {
    return this.client.stageBlob(this.ref.repository, descriptor, content, {
      image: this.name,
      ...(options?.signal ? { signal: options.signal } : {}),
      ...(options?.verified ? { verified: true } : {}),
    });
  }

  /** Cross-repository mount from another repository of the same registry. */
  async mount(descriptor: Descriptor, fromRepository: string, options?: FetchOptions): Promise<boolean> {
    return this.client.mountBlob(this.ref.repository, descriptor.digest, fromRepository, {
      image: this.name,
      ...(options?.signal ? { signal: options.signal } : {}),
    });
  }

  /** Points `tag` at the manifest `descriptor` (PUT of the same bytes under the tag). */
  async tag(descriptor: Descriptor, tag: string, options?: FetchOptions): Promise<void> {
    const bytes = await this.manifestBytes(descriptor, options);
    await this.client.putManifest(this.ref.repository, tag, descriptor.mediaType, bytes, {
      image: this.name,
      ...(options?.signal ? { signal: options.signal } : {}),
    });
  }
}

async function readVerified(content: Readable, descriptor: Descriptor, image: string): Promise<Buffer> {
  if (descriptor.size > maxManifestBytes) {
    content.destroy();
    throw new ImageError(
      'ERR_TOO_LARGE',
      `manifest is ${descriptor.size} bytes, over the ${maxManifestBytes}-byte limit`,
      { image, blob: descriptor.digest },
    );
  }
  const verifier = new DigestVerifier(descriptor, image);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of content) {
      const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      verifier.update(buffer);
      chunks.push(buffer);
    }
  } catch (error) {
    content.destroy();
    throw error;
  }
  await verifier.finish();
  return Buffer.concat(chunks);
}

export function openRegistrySource(ref: RegistryReference, options: RegistryOptions = {}): RegistrySource {
  return new RegistrySource(ref, options);
}

export function openRegistryTarget(ref: RegistryReference, options: RegistryOptions = {}): RegistryTarget {
  return new RegistryTarget(ref, options);
}

/**
 * Config and layers (digest -> size) of an image manifest; nothing for
 * anything else (an index, bad JSON). Layers a registry need not hold are
 * left out: foreign and non-distributable ones, and any with `urls`, which a
 * registry accepts in a manifest without having them.
 */
export function blobsNamedBy(mediaType: string, bytes: Buffer): Map<string, number> {
  const blobs = new Map<string, number>();
  if (!isManifestMediaType(mediaType)) return blobs;
  let manifest: unknown;
  try {
    manifest = JSON.parse(bytes.toString('utf8'));
  } catch {
    return blobs;
  }
  if (typeof manifest !== 'object' || manifest === null) return blobs;
  const { config, layers } = manifest as { config?: unknown; layers?: unknown };
  for (const entry of [config, ...(Array.isArray(layers) ? layers : [])]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const {
      digest,
      size,
      urls,
      mediaType: type,
    } = entry as {
      digest?: unknown;
      size?: unknown;
      urls?: unknown;
      mediaType?: unknown;
    };
    if (urls !== undefined) continue;
    if (typeof type === 'string' && /nondistributable|foreign/.test(type)) continue;
    if (typeof digest === 'string' && typeof size === 'number' && Number.isSafeInteger(size) && size >= 0)
      blobs.set(digest, size);
  }
  return blobs;
}
