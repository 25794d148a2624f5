/**
 * Challenge-driven registry auth: the registry's 401 names the scheme (Basic,
 * or Bearer with a token service), we answer with credentials or a token.
 *
 * Bearer follows the distribution token spec: GET realm?service=S&scope=A&scope=B
 * (Basic credentials when we have them, anonymous otherwise), or the OAuth2
 * form POST with a refresh token when the credentials hold an identity token.
 * Tokens are cached per scope set until `expires_in` (default 60 s) minus a
 * little skew; a cached token the registry refuses is dropped and fetched again
 * once. The challenge is remembered, so later requests authenticate up front.
 */

import { TransportError } from '../../errors.js';

export interface Challenge {
  /** Lowercase scheme: 'basic', 'bearer', ... */
  scheme: string;
  /** Parameters, names lowercased. */
  params: Record<string, string>;
  /** A token68 value, for schemes that use one. */
  token68?: string;
}

const tchar = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const token68char = /[A-Za-z0-9._~+/-]/;

/**
 * Parses WWW-Authenticate (RFC 9110 §11.6.1): several challenges, each a
 * scheme followed by a token68 or by comma-separated `name=value` parameters
 * whose values are tokens or quoted strings with backslash escapes.
 */
export function parseWwwAuthenticate(header: string | readonly string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  if (typeof header !== 'string') return header.flatMap((value) => parseWwwAuthenticate(value));
  const input = header;
  const challenges: Challenge[] = [];
  let pos = 0;

  const skipSpace = () => {
    while (pos < input.length && (input[pos] === ' ' || input[pos] === '\t')) pos++;
  };
  const readToken = (): string => {
    const start = pos;
    while (pos < input.length && tchar.test(input[pos]!)) pos++;
    return input.slice(start, pos);
  };
  const readQuoted = (): string => {
    // at the opening quote
    pos++;
    let out = '';
    while (pos < input.length) {
      const ch = input[pos]!;
      if (ch === '\\' && pos + 1 < input.length) {
        out += input[pos + 1];
        pos += 2;
        continue;
      }
      if (ch === '"') {
        pos++;
        return out;
      }
      out += ch;
      pos++;
    }
    return out; // unterminated: take what there is
  };
  /** Is there a `name =` (not `name==`, a token68's padding) at pos? */
  const paramAhead = (): boolean => {
    const save = pos;
    const name = readToken();
    skipSpace();
    const ok = name !== '' && input[pos] === '=' && input[pos + 1] !== '=';
    pos = save;
    return ok;
  };

  while (pos < input.length) {
    skipSpace();
    while (input[pos] === ',') {
      pos++;
      skipSpace();
    }
    if (pos >= input.length) break;
    const scheme = readToken();
    if (scheme === '') {
      // Unparsable: skip to the next comma and try again.
      while (pos < input.length && input[pos] !== ',') pos++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    skipSpace();
    if (pos < input.length && input[pos] !== ',' && !paramAhead()) {
      // token68
      const start = pos;
      while (pos < input.length && token68char.test(input[pos]!)) pos++;
      while (input[pos] === '=') pos++;
      if (pos > start) challenge.token68 = input.slice(start, pos);
      skipSpace();
      continue;
    }
    // auth-params
    for (;;) {
      skipSpace();
      while (input[pos] === ',') {
        pos++;
        skipSpace();
      }
      if (pos >= input.length || !paramAhead()) break;
      const name = readToken().toLowerCase();
      skipSpace();
      pos++; // '='
      skipSpace();
      const value = input[pos] === '"' ? readQuoted() : readToken();
      challenge.params[name] = value;
      skipSpace();
      if (pos < input.length && input[pos] !== ',') {
        // Junk after a value: skip to the next comma.
        while (pos < input.length && input[pos] !== ',') pos++;
      }
    }
  }
  return challenges;
}

/** Credentials for one registry. Never printed. */
export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (docker config `identitytoken`). */
  identityToken?: string;
  /** Where they came from, for messages: '--creds', a file path, a helper name. */
  source: string;
}

export type CredentialsProvider = () => Promise<Credentials | undefined>;

/** What the client lends auth to talk to a token service. */
export type TokenHttp = (
  url: URL,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string },
  signal?: AbortSignal,
) => Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>;

export interface AuthOptions {
  /** The registry as the user names it (host[:port], docker.io), for messages. */
  registry: string;
  credentials: CredentialsProvider;
  http: TokenHttp;
  /** OAuth2 client_id sent with refresh-token grants. */
  clientId?: string;
  now?: () => number;
}

/** What was sent with a request, so a 401 can be judged. */
export interface AuthUse {
  header?: string;
  /** The token came from the cache (it may have expired at the registry). */
  cached: boolean;
  /** Cache key of the token used. */
  key?: string;
}

interface CachedToken {
  token: string;
  scopes: string[];
  expiresAt: number;
}

export function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** `repository:team/app:pull` and friends. */
export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

interface ParsedScope {
  resource: string;
  actions: Set<string>;
}

function parseScope(scope: string): ParsedScope | undefined {
  const last = scope.lastIndexOf(':');
  if (last <= 0) return undefined;
  return {
    resource: scope.slice(0, last),
    actions: new Set(
      scope
        .slice(last + 1)
        .split(',')
        .filter(Boolean),
    ),
  };
}

/** Merges scopes on the same resource: `repository:a:pull` + `repository:a:push` → `repository:a:pull,push`. */
export function mergeScopes(scopes: readonly string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  const opaque: string[] = [];
  for (const scope of scopes) {
    const parsed = parseScope(scope);
    if (!parsed) {
      if (!opaque.includes(scope)) opaque.push(scope);
      continue;
    }
    const actions = byResource.get(parsed.resource) ?? new Set<string>();
    for (const action of parsed.actions) actions.add(action);
    byResource.set(parsed.resource, actions);
  }
  const merged = [...byResource].map(([resource, actions]) => `${resource}:${[...actions].sort().join(',')}`);
  return [...merged, ...opaque].sort();
}

/** Does a token granted for `have` cover the request for `want`? */
function covers(have: readonly string[], want: readonly string[]): boolean {
  const granted = new Map<string, Set<string>>();
  for (const scope of have) {
    const parsed = parseScope(scope);
    if (parsed) granted.set(parsed.resource, parsed.actions);
  }
  return want.every((scope) => {
    const parsed = parseScope(scope);
    if (!parsed) return have.includes(scope);
    const actions = granted.get(parsed.resource);
    return actions !== undefined && [...parsed.actions].every((a) => actions.has(a) || actions.has('*'));
  });
}

export class RegistryAuth {
  private readonly options: AuthOptions;
  private readonly now: () => number;
  private challenge: Challenge | undefined;
  private credentialsPromise: Promise<Credentials | undefined> | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<string>>();
  private refreshToken: string | undefined;
  /** Token requests made, for tests and diagnostics. */
  tokenRequests = 0;

  constructor(options: AuthOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** The challenge remembered for this registry, if it asked for one. */
  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  credentials(): Promise<Credentials | undefined> {
    this.credentialsPromise ??= this.options.credentials();
    return this.credentialsPromise;
  }

  /** The Authorization header to send up front for a request needing `scopes`. */
  async authorize(scopes: readonly string[], signal?: AbortSignal): Promise<AuthUse> {
    const challenge = this.challenge;
    if (!challenge) return { cached: false };
    if (challenge.scheme === 'basic') {
      const creds = await this.credentials();
      if (creds?.username !== undefined && creds.password !== undefined) {
        return { header: basicHeader(creds.username, creds.password), cached: false };
      }
      return { cached: false };
    }
    if (challenge.scheme === 'bearer') {
      const wanted = mergeScopes(scopes);
      const key = wanted.join(' ');
      const cached = this.lookup(wanted);
      if (cached) return { header: `Bearer ${cached.token}`, cached: true, key: cached.key };
      // Requests running side by side (layers) share one token request.
      let pending = this.inflight.get(key);
      if (!pending) {
        pending = this.fetchToken(challenge, wanted, signal).finally(() => this.inflight.delete(key));
        this.inflight.set(key, pending);
      }
      const token = await pending;
      return { header: `Bearer ${token}`, cached: false, key };
    }
    return { cached: false };
  }

  private lookup(wanted: readonly string[]): { token: string; key: string } | undefined {
    const now = this.now();
    for (const [key, entry] of this.tokens) {
      if (entry.expiresAt <= now) {
        this.tokens.delete(key);
        continue;
      }
      if (covers(entry.scopes, wanted)) return { token: entry.token, key };
    }
    return undefined;
  }

  /**
   * A request got 401. Remembers the challenge and says whether sending it
   * again with (new) credentials can help; throws ERR_AUTH when it cannot.
   */
  async unauthorized(
    wwwAuthenticate: string | readonly string[] | undefined,
    scopes: readonly string[],
    used: AuthUse,
    context: { image?: string },
    final = false,
  ): Promise<readonly string[]> {
    const challenges = parseWwwAuthenticate(wwwAuthenticate);
    const challenge =
      challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ??
      challenges.find((c) => c.scheme === 'basic');
    const creds = await this.credentials();
    if (!challenge) {
      const schemes = challenges.map((c) => c.scheme).join(', ');
      throw new TransportError(
        'ERR_AUTH',
        schemes
          ? `authentication required for ${this.options.registry}: unsupported scheme(s) ${schemes}`
          : `authentication required for ${this.options.registry}: no usable WWW-Authenticate challenge`,
        { ...context, status: 401 },
      );
    }
    const known = this.challenge;
    const changed =
      known === undefined ||
      known.scheme !== challenge.scheme ||
      known.params.realm !== challenge.params.realm ||
      known.params.service !== challenge.params.service;
    this.challenge = challenge;

    let wanted = scopes;
    if (challenge.scheme === 'bearer' && challenge.params.scope) {
      wanted = mergeScopes([...scopes, ...challenge.params.scope.split(' ').filter(Boolean)]);
    }

    // The registry names a scope we did not ask for (insufficient_scope): ask again, for it too.
    const widened =
      challenge.scheme === 'bearer' &&
      challenge.params.scope !== undefined &&
      !covers(mergeScopes(scopes), mergeScopes(challenge.params.scope.split(' ').filter(Boolean)));

    if (used.key !== undefined) this.tokens.delete(used.key);
    if (!final && (used.header === undefined || used.cached || changed || widened)) {
      // First contact, a token the registry no longer takes, or a new challenge: try (again).
      if (challenge.scheme === 'bearer') return wanted;
      if (creds?.username !== undefined && creds.password !== undefined) return wanted;
    }
    throw this.failure(creds, challenge, context);
  }

  private failure(
    creds: Credentials | undefined,
    challenge: Challenge,
    context: { image?: string },
  ): TransportError {
    const registry = this.options.registry;
    if (!creds) {
      return new TransportError(
        'ERR_AUTH',
        `authentication required for ${registry}: no credentials found (use --creds USER:PASS, docker login, or REGISTRY_AUTH_FILE)`,
        { ...context, status: 401 },
      );
    }
    if (challenge.scheme === 'basic' && creds.username === undefined) {
      return new TransportError(
        'ERR_AUTH',
        `authentication required for ${registry}: it asks for Basic auth and the credentials from ${creds.source} hold only an identity token`,
        { ...context, status: 401 },
      );
    }
    const insufficient = challenge.params.error === 'insufficient_scope';
    const scope = challenge.params.scope ? ` (needs ${challenge.params.scope})` : '';
    return new TransportError(
      'ERR_AUTH',
      insufficient
        ? `authentication failed for ${registry}: the credentials from ${creds.source} do not grant access${scope}`
        : `authentication failed for ${registry}: the registry refused the credentials from ${creds.source}`,
      { ...context, status: 401 },
    );
  }

  private async fetchToken(challenge: Challenge, scopes: string[], signal?: AbortSignal): Promise<string> {
    const registry = this.options.registry;
    const realm = challenge.params.realm ?? '';
    let url: URL;
    try {
      url = new URL(realm);
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('not http');
    } catch {
      throw new TransportError('ERR_AUTH', `registry ${registry} names an invalid token realm`, {});
    }
    const creds = await this.credentials();
    const service = challenge.params.service;
    const key = scopes.join(' ');
    this.tokenRequests++;

    let response: Awaited<ReturnType<TokenHttp>>;
    const refresh = this.refreshToken ?? creds?.identityToken;
    if (refresh !== undefined) {
      const form = new URLSearchParams();
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', refresh);
      if (service !== undefined) form.set('service', service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      form.set('client_id', this.options.clientId ?? 'ivoc');
      form.set('access_type', 'offline');
      response = await this.options.http(
        url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
        },
        signal,
      );
    } else {
      const query = new URL(url);
      if (service !== undefined) query.searchParams.set('service', service);
      for (const scope of scopes) query.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      if (creds?.username !== undefined && creds.password !== undefined) {
        headers.authorization = basicHeader(creds.username, creds.password);
      }
      response = await this.options.http(query, { method: 'GET', headers }, signal);
    }

    if (response.status === 401 || response.status === 403) {
      throw new TransportError(
        'ERR_AUTH',
        creds
          ? `authentication failed for ${registry}: the token service at ${url.host} refused the credentials from ${creds.source}`
          : `authentication required for ${registry}: the token service at ${url.host} refused an anonymous token (use --creds USER:PASS, docker login, or REGISTRY_AUTH_FILE)`,
        { status: response.status },
      );
    }
    if (response.status !== 200) {
      throw new TransportError(
        'ERR_AUTH',
        `token service at ${url.host} for ${registry} answered HTTP ${response.status}`,
        { status: response.status },
      );
    }
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
    try {
      body = JSON.parse(response.body) as typeof body;
    } catch {
      throw new TransportError(
        'ERR_AUTH',
        `token service at ${url.host} for ${registry} sent invalid JSON`,
        {},
      );
    }
    const token =
      typeof body.token === 'string' && body.token !== ''
        ? body.token
        : typeof body.access_token === 'string'
          ? body.access_token
          : '';
    if (token === '') {
      throw new TransportError('ERR_AUTH', `token service at ${url.host} for ${registry} sent no token`, {});
    }
    if (typeof body.refresh_token === 'string' && body.refresh_token !== '')
      this.refreshToken = body.refresh_token;
    const lifetimeMs =
      (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    const skewMs = Math.min(10_000, lifetimeMs / 10);
    this.tokens.set(key, { token, scopes, expiresAt: this.now() + lifetimeMs - skewMs });
    return token;
  }
}
