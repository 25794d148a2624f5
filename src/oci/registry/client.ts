/**
 * A client for one OCI distribution registry (distribution-spec v1.1), on undici.
 *
 * Reads: ping, manifests (GET/HEAD, full Accept list, size-capped, digest
 * checked), blobs (streamed, verified, resumed after a dropped connection),
 * tags, referrers. Writes (publish): blob existence, cross-repository mount,
 * monolithic and chunked uploads, manifest PUT.
 */

import type { Readable } from 'node:stream';
import { ImageError, IvocError, TransportError } from '../../errors.js';
import { type BlobBody, BlobStream } from '../blob-stream.js';
import { collect, maxManifestBytes } from '../content.js';
import type { Descriptor } from '../descriptor.js';
import { type Digest, DigestVerifier, digestOf, isDigest, parseDigest } from '../digest.js';
import {
  isIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  MediaType,
  manifestAccept,
} from '../media-types.js';
import { formatImageReference } from '../reference.js';
import { type CredentialsProvider, repositoryScope } from './auth.js';
import { type CredentialOptions, resolveCredentials } from './credentials.js';
import { type ErrorSite, networkError, type Subject } from './errors.js';
import {
  defaultTimeouts,
  type HttpResponse,
  header,
  RegistryHttp,
  readText,
  siteContext,
  type Timeouts,
} from './http.js';
import { backoffDelay, isTransientNetworkError, type RetryPolicy, retryPolicy, waitFor } from './retry.js';

/** An upload whose content the registry holds in an open session (see stageBlob). */
export interface StagedUpload {
  /** Closes the session: the blob exists at the registry from now on. */
  commit(): Promise<void>;
  /** Deletes the session (best effort): nothing of it remains visible. */
  cancel(): Promise<void>;
}

export interface RegistryClientOptions {
  /** `--creds USER:PASS`: used for this registry instead of any config file. */
  creds?: string;
  /** Replaces credential resolution altogether (tests, embedding). */
  credentials?: CredentialsProvider;
  /** Where resolveCredentials looks (env, home, helper timeout). */
  credentialOptions?: Omit<CredentialOptions, 'creds'>;
  /** The repository credentials are for: namespace-scoped keys (`host/team`) of containers auth files. */
  credentialRepository?: string;
  /** `--insecure-registry` entries: HOST[:PORT] or a CIDR. Loopback is always insecure. */
  insecureRegistries?: readonly string[];
  userAgent?: string;
  retry?: Partial<RetryPolicy>;
  timeouts?: Partial<Timeouts>;
  /** Manifests larger than this are refused. Default 4 MiB. */
  maxManifestBytes?: number;
  /** Blobs up to this size are uploaded with one PUT. Default 16 MiB. */
  monolithicUploadBytes?: number;
  /** Chunk size of PATCH uploads for larger blobs. Default 16 MiB. */
  uploadChunkBytes?: number;
  /** Clock for token expiry (tests). */
  now?: () => number;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** How errors name the image (default `docker://REGISTRY/REPO[:TAG|@DIGEST]`). */
  image?: string;
}

export interface UploadOptions extends RequestOptions {
  /** The content is already verified as it flows (PushOptions.verified): its size is checked, not its hash. */
  verified?: boolean;
}

export interface ManifestResponse {
  descriptor: Descriptor;
  bytes: Buffer;
}

export interface PingResult {
  /** The origin the API answered on, e.g. `http://127.0.0.1:5000`. */
  origin: string;
  /** `Docker-Distribution-API-Version`, when sent. */
  apiVersion?: string;
  /** The auth scheme the registry asked for, if any ('basic', 'bearer'). */
  auth?: string;
}

export interface PutManifestResult {
  descriptor: Descriptor;
  /** The registry processed the manifest's `subject` (OCI-Subject header): referrers are indexed for it. */
  subjectProcessed: boolean;
}

export interface ReferrersOptions extends RequestOptions {
  artifactType?: string;
}

const defaultUserAgent = 'ivoc/0.1 (+oci-distribution-client)';
const genericContentTypes = new Set(['', 'application/json', 'text/plain', 'application/octet-stream']);

function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function isKnownManifestType(mediaType: string): boolean {
  return isIndexMediaType(mediaType) || isManifestMediaType(mediaType);
}

export function schema1Error(context: { image?: string; blob?: string }): ImageError {
  return new ImageError(
    'ERR_UNSUPPORTED',
    'Docker schema 1 manifests are not supported; re-push the image with a current docker, buildah or skopeo',
    context,
  );
}

export class RegistryClient {
  readonly registry: string;
  readonly http: RegistryHttp;
  private readonly maxManifest: number;
  private readonly monolithicUpload: number;
  private readonly uploadChunk: number;

  constructor(registry: string, options: RegistryClientOptions = {}) {
    this.registry = registry;
    const credentials =
      options.credentials ??
      (() =>
        resolveCredentials(
          registry,
          {
            ...options.credentialOptions,
            ...(options.creds === undefined ? {} : { creds: options.creds }),
          },
          options.credentialRepository,
        ));
    this.http = new RegistryHttp(registry, {
      ...(options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}),
      timeouts: { ...defaultTimeouts, ...options.timeouts },
      retry: retryPolicy(options.retry),
      userAgent: options.userAgent ?? defaultUserAgent,
      credentials,
      ...(options.now ? { now: options.now } : {}),
    });
    this.maxManifest = options.maxManifestBytes ?? maxManifestBytes;
    this.monolithicUpload = options.monolithicUploadBytes ?? 16 * 1024 * 1024;
    this.uploadChunk = Math.max(1, options.uploadChunkBytes ?? 16 * 1024 * 1024);
  }

  /** Token requests made so far (tests, diagnostics). */
  get tokenRequests(): number {
    return this.http.auth.tokenRequests;
  }

  private image(repository: string, reference?: string, options?: RequestOptions): string {
    if (options?.image !== undefined) return options.image;
    const ref: { registry: string; repository: string; tag?: string; digest?: string } = {
      registry: this.registry,
      repository,
    };
    if (reference !== undefined) {
      if (isDigest(reference)) ref.digest = reference;
      else ref.tag = reference;
    }
    return formatImageReference({ transport: 'docker', ...ref });
  }

  private site(method: string, subject: Subject, image: string | undefined): ErrorSite {
    const site: ErrorSite = { registry: this.registry, subject, method };
    if (image !== undefined) site.image = image;
    return site;
  }

  /** `GET /v2/`: reachable, speaks the API, and our credentials (if it wants some) work. */
  async ping(options: RequestOptions = {}): Promise<PingResult> {
    const site = this.site('GET', { kind: 'ping' }, options.image);
    const response = await this.http.request({
      method: 'GET',
      target: '/v2/',
      scopes: [],
      site,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (response.status !== 200) throw await this.http.fail(response, site);
    await response.body.dump().catch(() => undefined);
    const result: PingResult = { origin: await this.http.origin() };
    const apiVersion = header(response.headers, 'docker-distribution-api-version');
    if (apiVersion !== undefined) result.apiVersion = apiVersion;
    const scheme = this.http.auth.scheme;
    if (scheme !== undefined) result.auth = scheme;
    return result;
  }

  private manifestPath(repository: string, reference: string): string {
    return `/v2/${repository}/manifests/${reference}`;
  }

  /**
   * GET a manifest or index by tag or digest. Refuses more than
   * maxManifestBytes, schema 1 and unknown media types; checks the bytes
   * against the digest asked for and against Docker-Content-Digest.
   */
  async getManifest(
    repository: string,
    reference: string,
    options: RequestOptions = {},
  ): Promise<ManifestResponse> {
    const image = this.image(repository, reference, options);
    const subject: Subject = { kind: 'manifest', repository, reference };
    const site = this.site('GET', subject, image);
    const context = siteContext(site);
    const wanted = isDigest(reference) ? parseDigest(reference, { image }) : undefined;
    const response = await this.http.request({
      method: 'GET',
      target: this.manifestPath(repository, reference),
      headers: { accept: manifestAccept.join(', ') },
      scopes: [repositoryScope(repository, ['pull'])],
      site,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (response.status !== 200) throw await this.http.fail(response, site);

    const contentType = mediaTypeOf(header(response.headers, 'content-type'));
    if (isSchema1MediaType(contentType)) {
      await response.body.dump().catch(() => undefined);
      throw schema1Error(context);
    }
    const bytes = await this.readManifestBody(response, context);

    let body: unknown;
    try {
      body = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new ImageError('ERR_MANIFEST_INVALID', 'manifest is not valid JSON', context);
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new ImageError('ERR_MANIFEST_INVALID', 'manifest is not a JSON object', context);
    }
    const fields = body as {
      schemaVersion?: unknown;
      mediaType?: unknown;
      manifests?: unknown;
      config?: unknown;
    };
    if (fields.schemaVersion === 1) throw schema1Error(context);
    const declared = typeof fields.mediaType === 'string' ? fields.mediaType : undefined;
    if (declared !== undefined && isSchema1MediaType(declared)) throw schema1Error(context);

    let mediaType: string;
    if (isKnownManifestType(contentType)) {
      mediaType = contentType;
    } else if (genericContentTypes.has(contentType)) {
      // A registry that does not say: trust the body, as containerd does.
      mediaType =
        declared ??
        (Array.isArray(fields.manifests)
          ? MediaType.ociIndex
          : fields.config !== undefined
            ? MediaType.ociManifest
            : contentType);
    } else {
      mediaType = contentType;
    }
    if (!isKnownManifestType(mediaType)) {
      throw new ImageError(
        'ERR_MEDIA_TYPE',
        `unsupported manifest media type '${mediaType.slice(0, 100) || '(none)'}'`,
        context,
      );
    }

    const digest = digestOf(bytes, wanted?.algorithm ?? 'sha256');
    if (wanted !== undefined && digest !== reference) {
      throw new ImageError(
        'ERR_DIGEST_MISMATCH',
        `digest mismatch: the manifest served for ${reference} hashes to ${digest}`,
        { ...context, blob: reference },
      );
    }
    this.checkContentDigest(response, bytes, digest, { ...context, blob: context.blob ?? digest });
    return { descriptor: { mediaType, digest, size: bytes.length }, bytes };
  }

  private async readManifestBody(
    response: HttpResponse,
    context: { image?: string; blob?: string },
  ): Promise<Buffer> {
    const limit = this.maxManifest;
    const length = Number(header(response.headers, 'content-length') ?? Number.NaN);
    const tooLarge = (size?: number) =>
      new ImageError(
        'ERR_TOO_LARGE',
        size === undefined
          ? `manifest is over the ${limit}-byte limit`
          : `manifest is ${size} bytes, over the ${limit}-byte limit`,
        context,
      );
    if (Number.isFinite(length) && length > limit) {
      response.body.destroy();
      throw tooLarge(length);
    }
    try {
      return await collect(response.body, limit, tooLarge);
    } catch (error) {
      if (error instanceof IvocError) throw error;
      throw networkError(error, this.http.host, context, 'body');
    }
  }

  private checkContentDigest(
    response: HttpResponse,
    bytes: Buffer,
    digest: string,
    context: { image?: string; blob?: string },
  ): void {
    const claimed = header(response.headers, 'docker-content-digest')?.trim();
    if (claimed === undefined || claimed === '' || !isDigest(claimed)) return;
    const algorithm = parseDigest(claimed).algorithm;
    const actual = digest.startsWith(`${algorithm}:`) ? digest : digestOf(bytes, algorithm);
    if (actual !== claimed) {
      throw new ImageError(
        'ERR_DIGEST_MISMATCH',
        `digest mismatch: the registry says ${claimed} (Docker-Content-Digest) but the content hashes to ${actual}`,
        context,
      );
    }
  }

  /**
   * HEAD a manifest: its descriptor, or undefined when there is none. When the
   * registry leaves out Docker-Content-Digest for a tag, falls back to GET.
   */
  async headManifest(
    repository: string,
    reference: string,
    options: RequestOptions = {},
  ): Promise<Descriptor | undefined> {
    const image = this.image(repository, reference, options);
    const site = this.site('HEAD', { kind: 'manifest', repository, reference }, image);
    const response = await this.http.request({
      method: 'HEAD',
      target: this.manifestPath(repository, reference),
      headers: { accept: manifestAccept.join(', ') },
      scopes: [repositoryScope(repository, ['pull'])],
      site,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await response.body.dump().catch(() => undefined);
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw await this.http.fail(response, site);
    const mediaType = mediaTypeOf(header(response.headers, 'content-type'));
    if (isSchema1MediaType(mediaType)) throw schema1Error(siteContext(site));
    const claimed = header(response.headers, 'docker-content-digest')?.trim();
    const size = Number(header(response.headers, 'content-length'));
    const digest = isDigest(reference)
      ? reference
      : claimed !== undefined && isDigest(claimed)
        ? claimed
        : undefined;
    if (digest === undefined || !isKnownManifestType(mediaType) || !Number.isSafeInteger(size)) {
      return (await this.getManifest(repository, reference, options)).descriptor;
    }
    if (size > this.maxManifest) {
      throw new ImageError(
        'ERR_TOO_LARGE',
        `manifest is ${size} bytes, over the ${this.maxManifest}-byte limit`,
        siteContext(site),
      );
    }
    return { mediaType, digest: digest as Digest, size };
  }

  private blobPath(repository: string, digest: string): string {
    return `/v2/${repository}/blobs/${digest}`;
  }

  /** HEAD a blob: its size, or undefined when the registry does not have it. */
  async headBlob(
    repository: string,
    digest: string,
    options: RequestOptions = {},
  ): Promise<{ digest: Digest; size: number } | undefined> {
    const image = this.image(repository, undefined, options);
    parseDigest(digest, { image });
    const site = this.site('HEAD', { kind: 'blob', repository, digest }, image);
    const response = await this.http.request({
      method: 'HEAD',
      target: this.blobPath(repository, digest),
      scopes: [repositoryScope(repository, ['pull'])],
      site,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    await response.body.dump().catch(() => undefined);
    if (response.status === 404) return undefined;
    if (response.status !== 200) throw await this.http.fail(response, site);
    const size = Number(header(response.headers, 'content-length'));
    return { digest: digest as Digest, size: Number.isSafeInteger(size) ? size : -1 };
  }

  async blobExists(repository: string, digest: string, options: RequestOptions = {}): Promise<boolean> {
    return (await this.headBlob(repository, digest, options)) !== undefined;
  }

  /** Opens the blob body from `offset`; `skip` bytes of it are to be dropped (a server that ignored Range). */
  private async openBlob(
    repository: string,
    descriptor: Descriptor,
    offset: number,
    site: ErrorSite,
    signal: AbortSignal | undefined,
  ): Promise<BlobBody> {
    const response = await this.http.request({
      method: 'GET',
      target: this.blobPath(repository, descriptor.digest),
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: [repositoryScope(repository, ['pull'])],
      site,
      ...(signal ? { signal } : {}),
    });
    const context = siteContext(site);
    const length = Number(header(response.headers, 'content-length') ?? Number.NaN);
    if (response.status === 200) {
      if (Number.isFinite(length) && length !== descriptor.size) {
        response.body.destroy();
        throw new ImageError(
          'ERR_SIZE_MISMATCH',
          `blob is ${length} bytes, its descriptor says ${descriptor.size}`,
          context,
        );
      }
      return { body: response.body, skip: offset };
    }
    if (response.status === 206 && offset > 0) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(response.headers, 'content-range') ?? '');
      if (range && Number(range[1]) === offset) return { body: response.body, skip: 0 };
      response.body.destroy();
      throw new TransportError(
        'ERR_REGISTRY',
        `${this.registry} answered a resumed download with the wrong range`,
        {
          ...context,
          status: 206,
        },
      );
    }
    throw await this.http.fail(response, site);
  }

  /**
   * GET a blob as a stream, verified (digest and size) while it flows. The
   * promise resolves once the registry has answered with headers.
   *
   * Mid-body failures: a connection reset or a stalled body is resumed with a
   * `Range: bytes=N-` request from the byte where it broke (or, from a server
   * that ignores Range, by skipping the bytes already delivered), within the
   * retry policy's attempts. The consumer never sees a byte twice; when
   * resuming is impossible the stream errors (ERR_NETWORK / ERR_TIMEOUT naming
   * the blob) and what was delivered is a true prefix of the blob. The digest
   * covers every delivered byte, so a bad splice would be a mismatch error,
   * never data.
   */
  async fetchBlob(
    repository: string,
    descriptor: Descriptor,
    options: RequestOptions = {},
  ): Promise<Readable> {
    const image = this.image(repository, undefined, options);
    const site = this.site('GET', { kind: 'blob', repository, digest: descriptor.digest }, image);
    const context = siteContext(site);
    const verifier = new DigestVerifier(descriptor, image);
    const signal = options.signal;
    const first = await this.openBlob(repository, descriptor, 0, site, signal);
    const policy = this.http.retryPolicy;
    const http = this.http;
    const open = (offset: number, stop: AbortSignal) =>
      this.openBlob(repository, descriptor, offset, site, stop);

    let resumes = 0;
    return new BlobStream({
      first,
      verifier,
      onFailure: (error, offset, destroyed) => {
        if (error instanceof IvocError) return { fail: error };
        if (signal?.aborted) return { fail: signal.reason ?? error };
        // Every byte arrived before the connection broke: the digest decides.
        if (offset === descriptor.size && isTransientNetworkError(error)) return { finish: true };
        if (!isTransientNetworkError(error) || resumes + 1 >= policy.attempts || offset >= descriptor.size) {
          return { fail: networkError(error, http.host, context, 'body') };
        }
        resumes++;
        http.stats.retries++;
        return {
          resume: async () => {
            // Stop waiting (and opening) once the consumer has gone.
            const stop = signal ? AbortSignal.any([signal, destroyed]) : destroyed;
            await waitFor(policy, backoffDelay(resumes, policy), stop);
            return open(offset, stop);
          },
        };
      },
    });
  }

  // ---- push side ----

  private uploadSite(method: string, repository: string, digest: string, options: RequestOptions): ErrorSite {
    return this.site(
      method,
      { kind: 'upload', repository, digest },
      this.image(repository, undefined, options),
    );
  }

  private location(response: HttpResponse, site: ErrorSite): URL {
    const value = header(response.headers, 'location');
    if (value === undefined || value === '') {
      throw new TransportError('ERR_REGISTRY', `${this.registry} started an upload without a Location`, {
        ...siteContext(site),
        status: response.status,
      });
    }
    return new URL(value, response.url);
  }

  /**
   * Cross-repository mount (`POST ...uploads/?mount=D&from=R`): true when the
   * registry mounted the blob, false when it did not (the upload session it
   * opened instead is cancelled).
   */
  async mountBlob(
    repository: string,
    digest: string,
    fromRepository: string,
    options: RequestOptions = {},
  ): Promise<boolean> {
    const site = this.uploadSite('POST', repository, digest, options);
    parseDigest(digest, siteContext(site));
    const query = new URLSearchParams({ mount: digest, from: fromRepository });
    const response = await this.http.request({
      method: 'POST',
      target: `/v2/${repository}/blobs/uploads/?${query}`,
      scopes: [repositoryScope(repository, ['pull', 'push']), repositoryScope(fromRepository, ['pull'])],
      idempotent: true,
      site,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (response.status === 201) {
      await response.body.dump().catch(() => undefined);
      return true;
    }
    if (response.status === 202) {
      await response.body.dump().catch(() => undefined);
      await this.cancelUpload(this.location(response, site), repository, site);
      return false;
    }
    throw await this.http.fail(response, site);
  }

  /** Deletes an upload session; `once` (the caller aborted): one attempt, no waiting out a 429. */
  private async cancelUpload(
    location: URL,
    repository: string,
    site: ErrorSite,
    once = false,
  ): Promise<void> {
    try {
      const response = await this.http.request({
        method: 'DELETE',
        target: location,
        scopes: [repositoryScope(repository, ['pull', 'push'])],
        site,
        once,
      });
      await response.body.dump().catch(() => undefined);
    } catch {
      // Best effort: the registry expires abandoned uploads.
    }
  }

  /**
   * Uploads a blob: one PUT for blobs up to monolithicUploadBytes, else PATCH
   * chunks (Content-Range, following each Location and checking each Range)
   * then a closing PUT. The content is checked against the descriptor as it is
   * read; a mismatch cancels the upload.
   */
  async pushBlob(
    repository: string,
    descriptor: Descriptor,
    content: Readable,
    options: UploadOptions = {},
  ): Promise<void> {
    const staged = await this.stageBlob(repository, descriptor, content, options);
    try {
      await staged.commit();
    } catch (error) {
      // A failed closing PUT may leave the session open: delete it (best effort).
      await staged.cancel().catch(() => undefined);
      throw error;
    }
  }

  /**
   * The first part of pushBlob: the upload session is opened and the content
   * sent (a large blob in PATCH chunks; a small one is kept for the closing
   * PUT), verified against the descriptor, but the session is not closed. The
   * registry shows no blob until commit() sends the closing PUT; cancel()
   * deletes the session instead. Publish stages layers while it validates.
   */
  async stageBlob(
    repository: string,
    descriptor: Descriptor,
    content: Readable,
    options: UploadOptions = {},
  ): Promise<StagedUpload> {
    const { digest, size } = descriptor;
    const site = this.uploadSite('POST', repository, digest, options);
    const context = siteContext(site);
    const verifier = new DigestVerifier(descriptor, context.image, { sizeOnly: options.verified === true });
    const scopes = [repositoryScope(repository, ['pull', 'push'])];
    const signal = options.signal;
    signal?.throwIfAborted();
    // The request in flight is not aborted by the signal: a session the registry opened
    // must be known, to be deleted. Its retry waits (a Retry-After of up to 30 s) are.
    const started = await this.http.request({
      method: 'POST',
      target: `/v2/${repository}/blobs/uploads/`,
      scopes,
      // Starting an upload only opens a session: safe to repeat.
      idempotent: true,
      site,
      ...(signal ? { waitSignal: signal } : {}),
    });
    if (started.status !== 202) {
      if (started.status === 201) {
        // The registry says it took the blob as it stands (it had it), but this POST named no
        // digest: the 201 confirms nothing until a HEAD finds this digest, of this size.
        await started.body.dump().catch(() => undefined);
        const found = await this.headBlob(repository, digest, options);
        if (found === undefined || (found.size >= 0 && found.size !== size)) {
          throw new TransportError(
            'ERR_REGISTRY',
            'the registry answered 201 to an upload it was not sent, and does not have the blob',
            context,
          );
        }
        return { commit: async () => {}, cancel: async () => {} };
      }
      throw await this.http.fail(started, site);
    }
    await started.body.dump().catch(() => undefined);
    let location = this.location(started, site);
    if (signal?.aborted) {
      await this.cancelUpload(location, repository, site, true);
      throw signal.reason;
    }
    const minimum = Number(header(started.headers, 'oci-chunk-min-length') ?? 0);
    const chunkSize = Math.max(this.uploadChunk, Number.isSafeInteger(minimum) ? minimum : 0);

    const abort = async (error: unknown): Promise<never> => {
      await this.cancelUpload(location, repository, site, signal?.aborted === true);
      throw error;
    };

    const iterator = chunkStream(content, size <= this.monolithicUpload ? size + 1 : chunkSize);
    let offset = 0;
    let pending: Buffer | undefined;
    try {
      if (size <= this.monolithicUpload) {
        // One part at most (parts are size + 1 bytes; the verifier refuses more than size),
        // kept for the closing PUT: copied, as chunkStream reuses its buffer.
        for await (const part of iterator) {
          verifier.update(part);
          pending = Buffer.from(part);
        }
        await verifier.finish();
      } else {
        for await (const part of iterator) {
          verifier.update(part);
          location = await this.patchChunk(location, repository, part, offset, site, signal);
          offset += part.length;
        }
        await verifier.finish();
      }
    } catch (error) {
      verifier.abandon();
      return abort(
        error instanceof IvocError
          ? error
          : new ImageError('ERR_IO', `cannot read the blob to upload: ${(error as Error).message}`, {
              ...context,
              cause: error,
            }),
      );
    }

    let closed = false;
    return {
      commit: async () => {
        if (closed) throw new Error('stageBlob: upload already committed or cancelled');
        closed = true;
        try {
          await this.closeUpload(location, repository, descriptor, pending, options);
        } catch (error) {
          // A failed closing PUT may leave the session open: it is deleted (best effort).
          closed = false;
          throw error;
        }
      },
      cancel: async () => {
        if (closed) return;
        closed = true;
        await this.cancelUpload(location, repository, site, signal?.aborted === true);
      },
    };
  }

  /** The closing PUT of an upload session: the registry checks the digest and stores the blob. */
  private async closeUpload(
    location: URL,
    repository: string,
    descriptor: Descriptor,
    body: Buffer | undefined,
    options: RequestOptions,
  ): Promise<void> {
    const { digest } = descriptor;
    const put = new URL(location);
    put.searchParams.append('digest', digest);
    const finalSite = this.uploadSite('PUT', repository, digest, options);
    const response = await this.http.request({
      method: 'PUT',
      target: put,
      headers: { 'content-type': 'application/octet-stream' },
      body: body ?? Buffer.alloc(0),
      scopes: [repositoryScope(repository, ['pull', 'push'])],
      // Completing an upload consumes the session: not repeatable.
      idempotent: false,
      site: finalSite,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (response.status !== 201 && response.status !== 204) throw await this.http.fail(response, finalSite);
    await response.body.dump().catch(() => undefined);
    const claimed = header(response.headers, 'docker-content-digest')?.trim();
    if (claimed !== undefined && isDigest(claimed) && claimed !== digest) {
      throw new ImageError(
        'ERR_DIGEST_MISMATCH',
        `the registry stored the upload as ${claimed}, not ${digest}`,
        siteContext(finalSite),
      );
    }
  }

  private async patchChunk(
    location: URL,
    repository: string,
    part: Buffer,
    offset: number,
    site: ErrorSite,
    signal: AbortSignal | undefined,
  ): Promise<URL> {
    let url = location;
    let sent = 0;
    // A registry may keep less than we sent (its Range says so): send the rest again, a few times at most.
    for (let round = 0; round < 3 && sent < part.length; round++) {
      const start = offset + sent;
      const body = part.subarray(sent);
      const response = await this.http.request({
        method: 'PATCH',
        target: url,
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${start}-${start + body.length - 1}`,
        },
        body,
        scopes: [repositoryScope(repository, ['pull', 'push'])],
        idempotent: false,
        site: { ...site, method: 'PATCH' },
        ...(signal ? { signal } : {}),
      });
      if (response.status !== 202) throw await this.http.fail(response, { ...site, method: 'PATCH' });
      await response.body.dump().catch(() => undefined);
      url = this.location(response, site);
      const range = /^(?:bytes=)?(\d+)-(\d+)$/.exec(header(response.headers, 'range') ?? '');
      if (!range) {
        sent = part.length;
        break;
      }
      const end = Number(range[2]);
      if (end + 1 < start || end + 1 > offset + part.length) {
        throw new TransportError(
          'ERR_REGISTRY',
          `${this.registry} reports ${end + 1} bytes received, expected ${offset + part.length}`,
          { ...siteContext(site), status: 202 },
        );
      }
      sent = end + 1 - offset;
    }
    if (sent < part.length) {
      throw new TransportError('ERR_REGISTRY', `${this.registry} keeps losing chunk data of the upload`, {
        ...siteContext(site),
      });
    }
    return url;
  }

  /** PUT a manifest under a tag or its digest. */
  async putManifest(
    repository: string,
    reference: string,
    mediaType: string,
    bytes: Buffer,
    options: RequestOptions = {},
  ): Promise<PutManifestResult> {
    const image = this.image(repository, reference, options);
    const site = this.site('PUT', { kind: 'manifest', repository, reference }, image);
    const context = siteContext(site);
    if (bytes.length > this.maxManifest) {
      throw new ImageError(
        'ERR_TOO_LARGE',
        `manifest is ${bytes.length} bytes, over the ${this.maxManifest}-byte limit`,
        context,
      );
    }
    const wanted = isDigest(reference) ? parseDigest(reference, { image }) : undefined;
    const digest = digestOf(bytes, wanted?.algorithm ?? 'sha256');
    if (wanted !== undefined && digest !== reference) {
      throw new ImageError(
        'ERR_DIGEST_MISMATCH',
        `manifest bytes hash to ${digest}, not ${reference}`,
        context,
      );
    }
    const response = await this.http.request({
      method: 'PUT',
      target: this.manifestPath(repository, reference),
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: [repositoryScope(repository, ['pull', 'push'])],
      idempotent: true,
      site,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (response.status !== 201 && response.status !== 200 && response.status !== 204) {
      throw await this.http.fail(response, site);
    }
    await response.body.dump().catch(() => undefined);
    this.checkContentDigest(response, bytes, digest, { ...context, blob: digest });
    return {
      descriptor: { mediaType, digest, size: bytes.length },
      subjectProcessed: header(response.headers, 'oci-subject') !== undefined,
    };
  }

  /** Every tag of a repository (following `Link: <...>; rel="next"` pages). */
  async listTags(
    repository: string,
    options: RequestOptions & { pageSize?: number } = {},
  ): Promise<string[]> {
    const image = this.image(repository, undefined, options);
    const site = this.site('GET', { kind: 'tags', repository }, image);
    const tags: string[] = [];
    let target: string | URL =
      `/v2/${repository}/tags/list${options.pageSize ? `?n=${options.pageSize}` : ''}`;
    for (let page = 0; page < 10_000; page++) {
      const response = await this.http.request({
        method: 'GET',
        target,
        scopes: [repositoryScope(repository, ['pull'])],
        site,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (response.status !== 200) throw await this.http.fail(response, site);
      const text = await readText(response.body, 16 << 20);
      let body: { tags?: unknown };
      try {
        body = JSON.parse(text) as { tags?: unknown };
      } catch {
        throw new TransportError(
          'ERR_REGISTRY',
          `${this.registry} sent an invalid tag list`,
          siteContext(site),
        );
      }
      if (Array.isArray(body.tags)) tags.push(...body.tags.filter((t): t is string => typeof t === 'string'));
      const next = nextLink(header(response.headers, 'link'));
      if (next === undefined) break;
      target = new URL(next, response.url);
    }
    return tags;
  }

  /**
   * The referrers API (`GET /v2/<name>/referrers/<digest>`): descriptors of the
   * manifests whose subject is `digest`, or undefined when the registry does
   * not support the API (404), in which case publishers use the
   * `sha256-<hex>` fallback tag.
   */
  async referrers(
    repository: string,
    digest: string,
    options: ReferrersOptions = {},
  ): Promise<Descriptor[] | undefined> {
    const image = this.image(repository, digest, options);
    const site = this.site('GET', { kind: 'referrers', repository, digest }, image);
    parseDigest(digest, siteContext(site));
    const query = options.artifactType
      ? `?${new URLSearchParams({ artifactType: options.artifactType })}`
      : '';
    let target: string | URL = `/v2/${repository}/referrers/${digest}${query}`;
    const found: Descriptor[] = [];
    let filtered = true;
    for (let page = 0; page < 1000; page++) {
      const response = await this.http.request({
        method: 'GET',
        target,
        headers: { accept: MediaType.ociIndex },
        scopes: [repositoryScope(repository, ['pull'])],
        site,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      if (response.status === 404 && page === 0) {
        await response.body.dump().catch(() => undefined);
        return undefined;
      }
      if (response.status !== 200) throw await this.http.fail(response, site);
      const applied = header(response.headers, 'oci-filters-applied') ?? '';
      if (
        !applied
          .split(',')
          .map((s) => s.trim())
          .includes('artifactType')
      )
        filtered = false;
      const bytes = await this.readManifestBody(response, siteContext(site));
      let body: { manifests?: unknown };
      try {
        body = JSON.parse(bytes.toString('utf8')) as { manifests?: unknown };
      } catch {
        throw new TransportError(
          'ERR_REGISTRY',
          `${this.registry} sent an invalid referrers index`,
          siteContext(site),
        );
      }
      if (Array.isArray(body.manifests)) found.push(...(body.manifests as Descriptor[]));
      const next = nextLink(header(response.headers, 'link'));
      if (next === undefined) break;
      target = new URL(next, response.url);
    }
    if (options.artifactType && !filtered)
      return found.filter((d) => d.artifactType === options.artifactType);
    return found;
  }

  /** Delete a manifest by digest (registries with deletion enabled). */
  async deleteManifest(repository: string, digest: string, options: RequestOptions = {}): Promise<void> {
    const image = this.image(repository, digest, options);
    const site = this.site('DELETE', { kind: 'manifest', repository, reference: digest }, image);
    const response = await this.http.request({
      method: 'DELETE',
      target: this.manifestPath(repository, digest),
      scopes: [repositoryScope(repository, ['delete'])],
      site,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (response.status !== 202 && response.status !== 200 && response.status !== 204) {
      throw await this.http.fail(response, site);
    }
    await response.body.dump().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.http.close();
  }
}

/** `<url>; rel="next"` from a Link header. */
export function nextLink(link: string | undefined): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (match && /\brel="?next"?/i.test(match[2] ?? '')) return match[1];
  }
  return undefined;
}

/**
 * Re-chunks a stream into parts of exactly `size` bytes (the last may be
 * shorter), copied into one buffer that is reused: a part is valid only until
 * the next is asked for (each is PATCHed before that). A fresh 16 MiB buffer
 * per part cost a page fault per 4 KiB written: ~1.7 s of a 1.5 GB upload.
 */
async function* chunkStream(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let buffer: Buffer | undefined;
  let held = 0;
  for await (const chunk of stream) {
    let input = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    while (input.length > 0) {
      buffer ??= Buffer.allocUnsafe(size);
      const take = Math.min(size - held, input.length);
      input.copy(buffer, held, 0, take);
      held += take;
      input = input.subarray(take);
      if (held === size) {
        yield buffer;
        held = 0;
      }
    }
  }
  if (held > 0 && buffer !== undefined) yield buffer.subarray(0, held);
}
