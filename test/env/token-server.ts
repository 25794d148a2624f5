/**
 * A small Bearer-token issuer for the `auth: token` test registry: it stands in
 * for Docker Hub's auth service (https://distribution.github.io/distribution/spec/auth/token/).
 *
 * Self-contained (node: imports only) so that global-setup can compile it with
 * esbuild and run it as a detached process that outlives one test run; tests
 * can also start their own instance in-process with `startTokenServer()`.
 *
 * Tokens are ES256 (or RS256, following the key) JWTs whose header carries the
 * signing certificate in `x5c`: that is how distribution 2.8 finds the key and
 * checks it against its `auth.token.rootcertbundle`.
 */

import { execFile } from 'node:child_process';
import {
  createHash,
  createPrivateKey,
  type KeyObject,
  randomBytes,
  randomUUID,
  sign,
  timingSafeEqual,
  X509Certificate,
} from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const TOKEN_DEFAULTS = {
  host: '127.0.0.1',
  port: 5103,
  issuer: 'ivoc-test-issuer',
  service: 'ivoc-test-registry',
  lifetimeSeconds: 300,
  /**
   * distribution 2.8 accepts a token up to 60 s past its `exp` (clock-skew
   * leeway). The issuer dates `exp` back by this much, so that the registry
   * really refuses a token `expires_in` seconds after it was issued.
   */
  registryLeewaySeconds: 60,
} as const;

export interface TokenUser {
  password: string;
  /** Actions this user may be granted on repositories; default: all (pull, push, delete, *). */
  actions?: string[];
}

/** The users every instance knows unless told otherwise. */
export const DEFAULT_USERS: Readonly<Record<string, TokenUser>> = {
  ivoc: { password: 'ivoc-test-password' },
  'ivoc-reader': { password: 'ivoc-test-password', actions: ['pull'] },
};

const ALL_ACTIONS = ['pull', 'push', 'delete', '*'];

export interface SigningMaterial {
  keyPem: string;
  certPem: string;
}

export interface SigningFiles extends SigningMaterial {
  keyPath: string;
  certPath: string;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${stderr || err.message}`));
      else resolve();
    });
  });
}

function materialMatches(keyPem: string, certPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    return (
      cert.checkPrivateKey(createPrivateKey(keyPem)) &&
      new Date(cert.validTo).getTime() > Date.now() + 86_400_000
    );
  } catch {
    return false;
  }
}

/**
 * The issuer's key (EC P-256) and self-signed certificate, as `key.pem` and
 * `cert.pem` in `dir`: reused when both are there and belong together,
 * otherwise generated (with openssl) and replaced together.
 */
export async function ensureSigningMaterial(dir: string): Promise<SigningFiles> {
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  await mkdir(dir, { recursive: true });
  try {
    const [keyPem, certPem] = await Promise.all([readFile(keyPath, 'utf8'), readFile(certPath, 'utf8')]);
    if (materialMatches(keyPem, certPem)) return { keyPem, certPem, keyPath, certPath };
  } catch {
    // missing: generate below
  }
  const tmp = await mkdtemp(join(dir, '.gen-'));
  try {
    const tmpKey = join(tmp, 'key.pem');
    const tmpCert = join(tmp, 'cert.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      tmpKey,
      '-out',
      tmpCert,
      '-days',
      '3650',
      '-subj',
      '/CN=ivoc test token issuer',
    ]);
    await rename(tmpKey, keyPath);
    await rename(tmpCert, certPath);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  const [keyPem, certPem] = await Promise.all([readFile(keyPath, 'utf8'), readFile(certPath, 'utf8')]);
  return { keyPem, certPem, keyPath, certPath };
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: AccessEntry[];
}

/**
 * Signs `claims` as a JWT the test registry accepts (header `x5c` = the
 * certificate). Exposed so tests can hand-craft tokens (wrong audience,
 * expired, foreign key...).
 */
export function signToken(material: SigningMaterial, claims: TokenClaims): string {
  const key: KeyObject = createPrivateKey(material.keyPem);
  const der = new X509Certificate(material.certPem).raw;
  const ec = key.asymmetricKeyType === 'ec';
  const header = { typ: 'JWT', alg: ec ? 'ES256' : 'RS256', x5c: [der.toString('base64')] };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = ec
    ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
    : sign('sha256', Buffer.from(input), key);
  return `${input}.${b64url(signature)}`;
}

/** Splits `repository:team/app:pull,push` (the name may itself hold ':'). */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  const actions = scope
    .slice(last + 1)
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

export interface TokenServerOptions {
  host?: string;
  /** 0 picks a free port. Default 0 (the shared instance uses 5103). */
  port?: number;
  material: SigningMaterial;
  issuer?: string;
  service?: string;
  users?: Record<string, TokenUser>;
  lifetimeSeconds?: number;
  registryLeewaySeconds?: number;
}

export interface IssuedToken {
  at: string;
  grant: 'get' | 'password' | 'refresh_token';
  user: string;
  scopes: string[];
  access: AccessEntry[];
  expiresIn: number;
}

export interface LifetimeRule {
  /** Regular expression source matched against the repository names of the requested scopes. */
  repository: string;
  seconds: number;
}

export interface TokenServer {
  /** 'http://127.0.0.1:PORT' */
  url: string;
  /** `${url}/token` */
  realm: string;
  host: string;
  port: number;
  issuer: string;
  service: string;
  /** Default lifetime when `repository` is omitted; otherwise a rule for matching repositories. */
  setLifetime(seconds: number, repository?: string): void;
  /** Back to the starting lifetime, no rules. */
  resetLifetime(): void;
  /** Tokens issued so far (latest 1000). */
  issued: IssuedToken[];
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit = 1 << 20): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, 'request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function safeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const host = options.host ?? TOKEN_DEFAULTS.host;
  const issuer = options.issuer ?? TOKEN_DEFAULTS.issuer;
  const service = options.service ?? TOKEN_DEFAULTS.service;
  const users = options.users ?? DEFAULT_USERS;
  const initialLifetime = options.lifetimeSeconds ?? TOKEN_DEFAULTS.lifetimeSeconds;
  const leeway = options.registryLeewaySeconds ?? TOKEN_DEFAULTS.registryLeewaySeconds;
  const material = options.material;
  const certSha256 = createHash('sha256').update(new X509Certificate(material.certPem).raw).digest('hex');
  // Fail now, not on the first request, if the key is unusable.
  signToken(material, {
    iss: issuer,
    sub: '',
    aud: service,
    exp: 0,
    nbf: 0,
    iat: 0,
    jti: 'probe',
    access: [],
  });

  let defaultLifetime = initialLifetime;
  let rules: LifetimeRule[] = [];
  const refreshTokens = new Map<string, string>();
  const issued: IssuedToken[] = [];

  function lifetimeFor(access: AccessEntry[]): number {
    let seconds = defaultLifetime;
    let matched = false;
    for (const rule of rules) {
      const re = new RegExp(rule.repository);
      if (access.some((a) => a.type === 'repository' && re.test(a.name))) {
        seconds = matched ? Math.min(seconds, rule.seconds) : rule.seconds;
        matched = true;
      }
    }
    return seconds;
  }

  function authenticate(username: string | undefined, password: string | undefined): string {
    if (username === undefined) return '';
    const user = users[username];
    if (!user || password === undefined || !safeEqual(user.password, password)) {
      throw new HttpError(401, 'incorrect username or password', {
        'www-authenticate': `Basic realm="${issuer}"`,
      });
    }
    return username;
  }

  function grant(user: string, scopes: string[]): AccessEntry[] {
    if (!user) return [];
    const allowed = users[user]?.actions ?? ALL_ACTIONS;
    const out: AccessEntry[] = [];
    for (const scope of scopes) {
      const entry = parseScope(scope);
      if (!entry) throw new HttpError(400, `invalid scope: ${scope}`);
      let actions: string[];
      if (entry.type === 'repository') {
        actions = entry.actions.filter((a) => allowed.includes(a) || allowed.includes('*'));
      } else if (entry.type === 'registry' && entry.name === 'catalog') {
        actions = allowed.includes('*') ? entry.actions.filter((a) => a === '*') : [];
      } else {
        actions = [];
      }
      const existing = out.find((e) => e.type === entry.type && e.name === entry.name);
      if (existing) existing.actions = [...new Set([...existing.actions, ...actions])];
      else out.push({ type: entry.type, name: entry.name, actions });
    }
    return out;
  }

  function issue(
    user: string,
    scopes: string[],
    grantType: IssuedToken['grant'],
    offline: boolean,
  ): Record<string, unknown> {
    const access = grant(user, scopes);
    const expiresIn = lifetimeFor(parseScopes(scopes));
    const now = Math.floor(Date.now() / 1000);
    const token = signToken(material, {
      iss: issuer,
      sub: user,
      aud: service,
      exp: now + expiresIn - leeway,
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access,
    });
    issued.push({
      at: new Date(now * 1000).toISOString(),
      grant: grantType,
      user,
      scopes,
      access,
      expiresIn,
    });
    if (issued.length > 1000) issued.splice(0, issued.length - 1000);
    const body: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: expiresIn,
      issued_at: new Date(now * 1000).toISOString(),
    };
    if (scopes.length > 0) body.scope = scopes.join(' ');
    if (offline && user) {
      const refresh = randomBytes(24).toString('base64url');
      refreshTokens.set(refresh, user);
      body.refresh_token = refresh;
    }
    return body;
  }

  function parseScopes(scopes: string[]): AccessEntry[] {
    return scopes.map(parseScope).filter((e): e is AccessEntry => e !== undefined);
  }

  function checkService(requested: string | null): void {
    if (requested !== null && requested !== '' && requested !== service) {
      throw new HttpError(400, `unknown service '${requested}' (this issuer serves '${service}')`);
    }
  }

  function basicCredentials(req: IncomingMessage): [string, string] | undefined {
    const header = req.headers.authorization;
    if (!header) return undefined;
    const m = /^Basic\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new HttpError(400, 'unsupported Authorization scheme');
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new HttpError(400, 'malformed Basic credentials');
    return [decoded.slice(0, colon), decoded.slice(colon + 1)];
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    if (url.pathname === '/token' && (req.method === 'GET' || req.method === 'HEAD')) {
      checkService(url.searchParams.get('service'));
      const creds = basicCredentials(req);
      const user = authenticate(creds?.[0], creds?.[1]);
      const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ').filter(Boolean));
      const offline = url.searchParams.get('offline_token') === 'true';
      sendJson(res, 200, issue(user, scopes, 'get', offline));
      return;
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      checkService(form.get('service'));
      const scopes = form.getAll('scope').flatMap((s) => s.split(' ').filter(Boolean));
      const grantType = form.get('grant_type');
      const offline = form.get('access_type') === 'offline';
      if (grantType === 'password') {
        const user = authenticate(form.get('username') ?? '', form.get('password') ?? '');
        sendJson(res, 200, issue(user, scopes, 'password', offline));
      } else if (grantType === 'refresh_token') {
        const user = refreshTokens.get(form.get('refresh_token') ?? '');
        if (!user) throw new HttpError(401, 'invalid refresh token');
        sendJson(res, 200, issue(user, scopes, 'refresh_token', false));
      } else {
        throw new HttpError(400, `unsupported grant_type '${grantType ?? ''}'`);
      }
      return;
    }
    if (url.pathname === '/_admin/info' && req.method === 'GET') {
      sendJson(res, 200, {
        issuer,
        service,
        certSha256,
        lifetimeSeconds: defaultLifetime,
        lifetimeRules: rules,
        registryLeewaySeconds: leeway,
      });
      return;
    }
    if (url.pathname === '/_admin/lifetime' && (req.method === 'PUT' || req.method === 'POST')) {
      const body = JSON.parse((await readBody(req)) || '{}') as { seconds?: unknown; repository?: unknown };
      if (typeof body.seconds !== 'number' || !(body.seconds > 0)) {
        throw new HttpError(400, 'body must be {"seconds": N, "repository"?: "regexp"}');
      }
      if (body.repository !== undefined && typeof body.repository !== 'string') {
        throw new HttpError(400, 'repository must be a regexp source string');
      }
      setLifetime(body.seconds, body.repository);
      sendJson(res, 200, { lifetimeSeconds: defaultLifetime, lifetimeRules: rules });
      return;
    }
    if (url.pathname === '/_admin/lifetime' && req.method === 'DELETE') {
      const repository = url.searchParams.get('repository');
      if (repository === null) resetLifetime();
      else rules = rules.filter((r) => r.repository !== repository);
      sendJson(res, 200, { lifetimeSeconds: defaultLifetime, lifetimeRules: rules });
      return;
    }
    if (url.pathname === '/_admin/issued' && req.method === 'GET') {
      const repository = url.searchParams.get('repository');
      const re = repository === null ? undefined : new RegExp(repository);
      sendJson(
        res,
        200,
        re ? issued.filter((t) => parseScopes(t.scopes).some((a) => re.test(a.name))) : issued,
      );
      return;
    }
    throw new HttpError(404, 'not found');
  }

  function setLifetime(seconds: number, repository?: string): void {
    if (repository === undefined) {
      defaultLifetime = seconds;
      return;
    }
    new RegExp(repository); // validate
    rules = [...rules.filter((r) => r.repository !== repository), { repository, seconds }];
  }

  function resetLifetime(): void {
    defaultLifetime = initialLifetime;
    rules = [];
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof HttpError) {
        sendJson(res, err.status, { details: err.message }, err.headers);
      } else {
        sendJson(res, 500, { details: err instanceof Error ? err.message : String(err) });
      }
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host}:${port}`;
  return {
    url,
    realm: `${url}/token`,
    host,
    port,
    issuer,
    service,
    setLifetime,
    resetLifetime,
    issued,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

// --- helpers for tests talking to a running issuer (e.g. the shared one on 5103) ---

export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

/** Asks `realm` for a token, as a registry client would after a Bearer challenge. */
export async function fetchToken(
  realm: string,
  options: { service?: string; scopes?: string[]; username?: string; password?: string } = {},
): Promise<TokenResponse> {
  const url = new URL(realm);
  if (options.service) url.searchParams.set('service', options.service);
  for (const scope of options.scopes ?? []) url.searchParams.append('scope', scope);
  const headers: Record<string, string> = {};
  if (options.username !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}`;
  }
  const res = await fetch(url, { headers });
  const text = await res.text();
  if (!res.ok) throw new Error(`token request to ${realm} failed: ${res.status} ${text}`);
  return JSON.parse(text) as TokenResponse;
}

function adminUrl(base: string, path: string): URL {
  const u = new URL(base);
  return new URL(path, `${u.protocol}//${u.host}`);
}

/**
 * Sets the lifetime of tokens issued by a running issuer (give its url or realm).
 * With `repository` (a regexp source), only tokens whose scopes name a matching
 * repository get it — use a repository name unique to your test so concurrent
 * tests are unaffected. Undo with `resetTokenLifetime`.
 */
export async function setTokenLifetime(base: string, seconds: number, repository?: string): Promise<void> {
  const res = await fetch(adminUrl(base, '/_admin/lifetime'), {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ seconds, repository }),
  });
  if (!res.ok) throw new Error(`setting token lifetime failed: ${res.status} ${await res.text()}`);
}

/** Removes the rule for `repository`, or (without it) every rule and the default override. */
export async function resetTokenLifetime(base: string, repository?: string): Promise<void> {
  const u = adminUrl(base, '/_admin/lifetime');
  if (repository !== undefined) u.searchParams.set('repository', repository);
  const res = await fetch(u, { method: 'DELETE' });
  if (!res.ok) throw new Error(`resetting token lifetime failed: ${res.status} ${await res.text()}`);
}

/** Tokens a running issuer has handed out, optionally only those whose scopes match `repository`. */
export async function issuedTokens(base: string, repository?: string): Promise<IssuedToken[]> {
  const u = adminUrl(base, '/_admin/issued');
  if (repository !== undefined) u.searchParams.set('repository', repository);
  const res = await fetch(u);
  if (!res.ok) throw new Error(`listing issued tokens failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as IssuedToken[];
}

// --- run as a process: node token-server.mjs --key K --cert C [--port 5103] ... ---

async function main(argv: string[]): Promise<void> {
  const opts = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (!k?.startsWith('--') || v === undefined) throw new Error(`bad arguments: ${argv.join(' ')}`);
    opts.set(k.slice(2), v);
  }
  const keyPath = opts.get('key');
  const certPath = opts.get('cert');
  if (!keyPath || !certPath) throw new Error('--key and --cert are required');
  const server = await startTokenServer({
    material: { keyPem: await readFile(keyPath, 'utf8'), certPem: await readFile(certPath, 'utf8') },
    host: opts.get('host') ?? TOKEN_DEFAULTS.host,
    port: Number(opts.get('port') ?? TOKEN_DEFAULTS.port),
    issuer: opts.get('issuer') ?? TOKEN_DEFAULTS.issuer,
    service: opts.get('service') ?? TOKEN_DEFAULTS.service,
    lifetimeSeconds: Number(opts.get('lifetime') ?? TOKEN_DEFAULTS.lifetimeSeconds),
  });
  console.log(`token issuer listening on ${server.url} (realm ${server.realm}, service ${server.service})`);
  const stop = () => {
    server.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
