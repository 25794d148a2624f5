/**
 * The HTTP layer under the registry client: one undici Pool per origin (kept
 * alive and reused), the scheme decision for insecure registries, auth on 401,
 * redirects (Authorization only ever sent to the registry's own origin), and
 * retries (retry.ts). Bodies are Buffers so any request can be sent again.
 */

import type { Readable } from 'node:stream';
import { IvocError, TransportError } from '../../errors.js';
import { type AuthUse, type CredentialsProvider, RegistryAuth } from './auth.js';
import { DirectHttp } from './direct.js';
import { type ErrorSite, networkError, statusError } from './errors.js';
import { apiHost, isInsecureRegistry, probeScheme } from './hosts.js';
import { prepareHttpParser } from './llhttp.js';
import {
  isRetryableStatus,
  isTransientNetworkError,
  type RetryKind,
  type RetryPolicy,
  retryDelay,
  waitFor,
} from './retry.js';
import type { Pool } from './undici.js';

export interface Timeouts {
  /** TCP + TLS connect, ms. */
  connectMs: number;
  /** From request sent to response headers, ms. */
  headersMs: number;
  /** Longest silence while reading a body, ms. */
  bodyIdleMs: number;
}

export const defaultTimeouts: Timeouts = { connectMs: 15_000, headersMs: 60_000, bodyIdleMs: 60_000 };

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export type Headers = Record<string, string | string[] | undefined>;

/** A response body as undici gives it. */
export type Body = Readable & { dump(options?: { limit?: number }): Promise<void> };

export interface HttpRequest {
  method: Method;
  /** A path on the registry (`/v2/...`, with query) or an absolute URL (an upload Location). */
  target: string | URL;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Token scopes the request needs. */
  scopes: readonly string[];
  /** Safe to send twice. Default: GET, HEAD, PUT, DELETE. */
  idempotent?: boolean;
  /** Follow 3xx. Default for GET and HEAD. */
  followRedirects?: boolean;
  signal?: AbortSignal;
  /**
   * Aborts the waits between attempts (and a token's fetch), not a request in
   * flight: for a request whose answer must be seen (an upload's POST opens a
   * session to delete). Ignored when `signal` is given.
   */
  waitSignal?: AbortSignal;
  /** One attempt, no retry: a best-effort request made after the caller gave up (an upload's DELETE). */
  once?: boolean;
  site: ErrorSite;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: Body;
  /** Where the answer came from (after redirects). */
  url: URL;
  /** Attempts it took. */
  attempts: number;
}

export interface HttpOptions {
  insecureRegistries?: readonly string[];
  timeouts: Timeouts;
  retry: RetryPolicy;
  userAgent: string;
  credentials: CredentialsProvider;
  /** Clock for token expiry (tests). */
  now?: () => number;
  /** Upper bound on pooled connections per origin. */
  connectionsPerOrigin?: number;
}

export interface HttpStats {
  requests: number;
  retries: number;
  redirects: number;
}

export function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Reads a (small) body as text, at most `limit` bytes. */
export async function readText(body: Readable, limit = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = chunk as Buffer;
    if (size + buffer.length > limit) {
      chunks.push(buffer.subarray(0, limit - size));
      size = limit;
      body.destroy();
      break;
    }
    chunks.push(buffer);
    size += buffer.length;
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

type Undici = typeof import('./undici.js');

let undiciModule: Promise<Undici> | undefined;

/**
 * undici, loaded on the first request that needs it (one with a body: an
 * upload); GETs and HEADs go through direct.ts, so a read-only command never does.
 */
function loadUndici(): Promise<Undici> {
  undiciModule ??= import('./undici.js');
  return undiciModule;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
/** How long an idle connection is kept for the next request. */
const keepAliveMs = 10_000;
/** Largest response head: four times Node's 16 KiB, for registries with long auth challenges or links. */
const maxHeaderBytes = 64 * 1024;
const maxRedirects = 5;

export class RegistryHttp {
  /** The registry as named in references (`docker.io`, `host:port`). */
  readonly registry: string;
  /** Host[:port] serving its API. */
  readonly host: string;
  readonly insecure: boolean;
  readonly auth: RegistryAuth;
  readonly stats: HttpStats = { requests: 0, retries: 0, redirects: 0 };
  private readonly options: HttpOptions;
  private readonly pools = new Map<string, Pool>();
  private readonly direct: DirectHttp;
  private schemePromise: Promise<'http' | 'https'> | undefined;
  private closed = false;

  constructor(registry: string, options: HttpOptions) {
    this.registry = registry;
    this.host = apiHost(registry);
    this.options = options;
    this.insecure =
      isInsecureRegistry(this.host, options.insecureRegistries) ||
      isInsecureRegistry(registry, options.insecureRegistries);
    this.direct = new DirectHttp({
      timeouts: options.timeouts,
      maxHeaderBytes: maxHeaderBytes,
      keepAliveMs: keepAliveMs,
      maxConnectionsPerOrigin: options.connectionsPerOrigin ?? 32,
    });
    this.auth = new RegistryAuth({
      registry,
      credentials: options.credentials,
      http: (url, init, signal) => this.tokenRequest(url, init, signal),
      ...(options.now ? { now: options.now } : {}),
    });
  }

  get retryPolicy(): RetryPolicy {
    return this.options.retry;
  }

  /** `https://host` or, for an insecure registry without TLS, `http://host`. */
  async origin(): Promise<string> {
    if (this.schemePromise === undefined) {
      this.schemePromise = this.insecure
        ? probeScheme(this.host, this.options.timeouts.connectMs)
        : Promise.resolve('https');
    }
    return `${await this.schemePromise}://${this.host}`;
  }

  async url(path: string): Promise<URL> {
    return new URL(path, await this.origin());
  }

  /** TLS verification is off only for registries the user called insecure (and loopback). */
  private verifiesTls(url: URL): boolean {
    return !isInsecureRegistry(url.host, this.options.insecureRegistries);
  }

  private async pool(origin: string): Promise<{ pool: Pool; undici: Undici }> {
    const undici = await loadUndici();
    if (this.closed) throw new TransportError('ERR_NETWORK', `the client for ${this.registry} is closed`);
    let pool = this.pools.get(origin);
    if (!pool) {
      const { Pool } = undici;
      const { timeouts } = this.options;
      pool = new Pool(origin, {
        connections: this.options.connectionsPerOrigin ?? 32,
        connect: { timeout: timeouts.connectMs, rejectUnauthorized: this.verifiesTls(new URL(origin)) },
        headersTimeout: timeouts.headersMs,
        bodyTimeout: timeouts.bodyIdleMs,
        keepAliveTimeout: keepAliveMs,
        // Set, so that undici never reads Node's default from node:http (scripts/build.mjs).
        // (So node's --max-http-header-size does not apply to registry responses.)
        maxHeaderSize: maxHeaderBytes,
      });
      this.pools.set(origin, pool);
    }
    return { pool, undici };
  }

  /** One exchange on the wire, no auth, retry or redirect handling. */
  private async exchange(
    url: URL,
    method: Method,
    headers: Record<string, string>,
    body: Buffer | string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    this.stats.requests++;
    if ((method === 'GET' || method === 'HEAD') && body === undefined) {
      if (this.closed) throw new TransportError('ERR_NETWORK', `the client for ${this.registry} is closed`);
      const response = await this.direct.request(
        method,
        url,
        { 'user-agent': this.options.userAgent, ...headers },
        signal,
        { rejectUnauthorized: this.verifiesTls(url) },
      );
      return { status: response.status, headers: response.headers, body: response.body, url, attempts: 1 };
    }
    // undici frees a keep-alive connection one event-loop turn after its response
    // ended (client-h1.js: setImmediate before reuse); a request sent sooner, as the
    // config request right after the manifest, would open another connection.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const { pool, undici } = await this.pool(url.origin);
    const pending = undici.request(pool, {
      path: `${url.pathname}${url.search}`,
      method,
      headers: { 'user-agent': this.options.userAgent, ...headers },
      body: body ?? null,
      signal: signal ?? null,
      // undici closes the connection after every HEAD unless told otherwise, in case a
      // server sends a body anyway; registries do not (Go's client, as skopeo and
      // containerd use it, keeps the connection too). A publish checks each layer with
      // a HEAD: without this, each of them cost a new connection.
      ...(method === 'HEAD' ? { reset: false } : {}),
    });
    // A first connection is under way: compile undici's parser meanwhile (llhttp.ts).
    prepareHttpParser();
    const response = await pending;
    return {
      status: response.statusCode,
      headers: response.headers as Headers,
      body: response.body as unknown as Body,
      url,
      attempts: 1,
    };
  }

  private kind(request: HttpRequest): RetryKind {
    const method = request.method;
    return {
      read: method === 'GET' || method === 'HEAD',
      idempotent:
        request.idempotent ??
        (method === 'GET' || method === 'HEAD' || method === 'PUT' || method === 'DELETE'),
      replayable: true,
    };
  }

  /**
   * Sends a request: authenticates on challenge, follows redirects, retries
   * what retry.ts allows. Returns any final status; the caller judges it.
   */
  async request(request: HttpRequest): Promise<HttpResponse> {
    const policy = this.options.retry;
    const kind = this.kind(request);
    const signal = request.signal ?? request.waitSignal;
    const attempts = request.once === true ? 1 : policy.attempts;
    for (let attempt = 1; ; attempt++) {
      let response: HttpResponse;
      try {
        response = await this.authenticated(request);
      } catch (error) {
        if (signal?.aborted) throw abortReason(signal, error);
        if (error instanceof IvocError) throw error;
        if (attempt < attempts && kind.idempotent && isTransientNetworkError(error)) {
          this.stats.retries++;
          await waitFor(policy, retryDelay(attempt, policy), signal);
          continue;
        }
        throw networkError(error, this.host, siteContext(request.site));
      }
      if (attempt < attempts && isRetryableStatus(response.status, kind)) {
        const delay = retryDelay(attempt, policy, header(response.headers, 'retry-after'));
        await response.body.dump().catch(() => undefined);
        this.stats.retries++;
        await waitFor(policy, delay, signal);
        continue;
      }
      response.attempts = attempt;
      return response;
    }
  }

  /** The request with auth: up front when the challenge is known, else after a 401. */
  private async authenticated(request: HttpRequest): Promise<HttpResponse> {
    let scopes = request.scopes;
    for (let round = 0; ; round++) {
      const use: AuthUse = await this.auth.authorize(scopes, request.signal ?? request.waitSignal);
      const response = await this.redirected(request, use.header);
      if (response.status !== 401 || response.url.origin !== (await this.origin())) return response;
      const challenge = response.headers['www-authenticate'];
      await response.body.dump().catch(() => undefined);
      const context = siteContext(request.site);
      // Round 0 learns the challenge, round 1 may replace a stale cached token; no more.
      scopes = await this.auth.unauthorized(challenge, scopes, use, context, round >= 2);
    }
  }

  private async redirected(request: HttpRequest, authorization: string | undefined): Promise<HttpResponse> {
    const origin = await this.origin();
    let url = typeof request.target === 'string' ? new URL(request.target, origin) : request.target;
    let method = request.method;
    let body = request.body;
    const follow = request.followRedirects ?? (method === 'GET' || method === 'HEAD');
    for (let hops = 0; ; hops++) {
      const headers: Record<string, string> = { ...request.headers };
      if (body !== undefined) headers['content-length'] = String(body.length);
      // Credentials go to the registry's own origin only: never to blob storage it redirects to.
      if (authorization !== undefined && url.origin === origin) headers.authorization = authorization;
      const response = await this.exchange(url, method, headers, body, request.signal);
      const location = header(response.headers, 'location');
      if (!follow || !redirectStatuses.has(response.status) || location === undefined) return response;
      await response.body.dump().catch(() => undefined);
      if (hops >= maxRedirects) {
        throw new TransportError(
          'ERR_REGISTRY',
          `${this.registry} redirected more than ${maxRedirects} times`,
          {
            ...siteContext(request.site),
            status: response.status,
          },
        );
      }
      this.stats.redirects++;
      const next = new URL(location, url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new TransportError('ERR_REGISTRY', `${this.registry} redirected to an unsupported URL scheme`, {
          ...siteContext(request.site),
          status: response.status,
        });
      }
      if (response.status === 303 && method !== 'HEAD') {
        method = 'GET';
        body = undefined;
      }
      url = next;
    }
  }

  /** Token service requests (auth.ts): same pools and timeouts, retried like reads. */
  private async tokenRequest(
    url: URL,
    init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
    signal?: AbortSignal,
  ): Promise<{ status: number; headers: Headers; body: string }> {
    const policy = this.options.retry;
    const kind: RetryKind = { read: init.method === 'GET', idempotent: true, replayable: true };
    const carriesSecret = init.headers.authorization !== undefined || init.body !== undefined;
    if (
      carriesSecret &&
      url.protocol === 'http:' &&
      !this.insecure &&
      !isInsecureRegistry(url.host, this.options.insecureRegistries)
    ) {
      throw new TransportError(
        'ERR_AUTH',
        `refusing to send credentials for ${this.registry} to the token service at ${url.host} over plain HTTP (use --insecure-registry ${url.host} if you trust that network)`,
      );
    }
    for (let attempt = 1; ; attempt++) {
      try {
        const headers: Record<string, string> = { accept: 'application/json', ...init.headers };
        if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
        const response = await this.exchange(url, init.method, headers, init.body, signal);
        if (attempt < policy.attempts && isRetryableStatus(response.status, kind)) {
          const wait = retryDelay(attempt, policy, header(response.headers, 'retry-after'));
          await response.body.dump().catch(() => undefined);
          this.stats.retries++;
          await policy.sleep(wait, signal);
          continue;
        }
        return {
          status: response.status,
          headers: response.headers,
          body: await readText(response.body, 1 << 20),
        };
      } catch (error) {
        if (signal?.aborted) throw abortReason(signal, error);
        if (error instanceof IvocError) throw error;
        if (attempt < policy.attempts && isTransientNetworkError(error)) {
          this.stats.retries++;
          await policy.sleep(retryDelay(attempt, policy), signal);
          continue;
        }
        throw networkError(error, `the token service at ${url.host}`, {});
      }
    }
  }

  /** Reads an error answer's body and turns it into the typed error. */
  async fail(response: HttpResponse, site: ErrorSite): Promise<TransportError> {
    const text = await readText(response.body).catch(() => '');
    return statusError(response.status, text, site, response.attempts);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.direct.close();
    const pools = [...this.pools.values()];
    this.pools.clear();
    // destroy, not close: a body nobody reads any more must not keep close() waiting.
    await Promise.all(pools.map((pool) => pool.destroy().catch(() => undefined)));
  }
}

export function siteContext(site: ErrorSite): { image?: string; blob?: string } {
  const context: { image?: string; blob?: string } = {};
  if (site.image !== undefined) context.image = site.image;
  const subject = site.subject;
  if (subject.kind === 'blob' || subject.kind === 'upload' || subject.kind === 'referrers') {
    context.blob = subject.digest;
  } else if (subject.kind === 'manifest' && subject.reference.includes(':')) {
    context.blob = subject.reference;
  }
  return context;
}

function abortReason(signal: AbortSignal, fallback: unknown): unknown {
  return signal.reason ?? fallback;
}
