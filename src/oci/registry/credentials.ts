/**
 * Where registry credentials come from, in order:
 *  1. `--creds USER:PASS`;
 *  2. the containers auth file: `REGISTRY_AUTH_FILE`, else
 *     `${XDG_RUNTIME_DIR}/containers/auth.json` (keys may name a repository
 *     namespace, `host/team`, the most specific wins, as containers/image does);
 *  3. docker's config: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`:
 *     `credHelpers[host]`, then `auths[host]`, then `credsStore`.
 * Keys match as docker matches them: a bare host, `http(s)://host`, or a URL
 * with a path; Docker Hub is `https://index.docker.io/v1/`.
 *
 * Nothing here logs or puts a secret in a message.
 */

import { join } from 'node:path';
import { UsageError } from '../../errors.js';
import { homeDirectory } from '../home.js';
import { dockerHubRegistry } from '../reference.js';
import type { Credentials } from './auth.js';

export interface CredentialOptions {
  /** `--creds USER:PASS`. */
  creds?: string;
  /** Environment to read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Home directory (default os.homedir()). */
  home?: string;
  /** Time allowed to a `docker-credential-*` helper, ms. Default 30000. */
  helperTimeoutMs?: number;
}

/** The key docker uses for Docker Hub in config files and with helpers. */
export const dockerHubAuthKey = 'https://index.docker.io/v1/';

const dockerHubAliases = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

/** Parses `--creds USER:PASS` (the password may contain colons). */
export function parseCredsOption(value: string): Credentials {
  const colon = value.indexOf(':');
  if (colon <= 0) {
    throw new UsageError('--creds must be USER:PASS (a user name, a colon, then the password or token)');
  }
  return { username: value.slice(0, colon), password: value.slice(colon + 1), source: '--creds' };
}

/** Host part of a config key: `https://host:5000/v1/` → `host:5000`, `host/ns` → `host`. */
export function keyHostname(key: string): string {
  let rest = key.trim();
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  const slash = rest.indexOf('/');
  return (slash < 0 ? rest : rest.slice(0, slash)).toLowerCase();
}

function normaliseRegistry(registry: string): string {
  const host = registry.toLowerCase();
  return dockerHubAliases.has(host) ? dockerHubRegistry : host;
}

/** The server URL docker hands a credential helper for this registry. */
export function helperServerUrl(registry: string): string {
  return normaliseRegistry(registry) === dockerHubRegistry ? dockerHubAuthKey : registry;
}

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
  registrytoken?: unknown;
}

interface ConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

async function readConfig(path: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    // node:fs/promises costs ~2 ms to load: only a command that reads credentials loads it.
    text = await process.getBuiltinModule('node:fs/promises').readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new UsageError(`cannot read credentials file ${path}: ${(error as Error).message}`);
  }
  if (text.trim() === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // The parser's message may quote the file's text; say where, not what.
    const where = /position \d+/.exec((error as Error).message)?.[0];
    throw new UsageError(`credentials file ${path} is not valid JSON${where ? ` (at ${where})` : ''}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`credentials file ${path} is not a JSON object`);
  }
  const config = parsed as ConfigFile;
  for (const field of ['auths', 'credHelpers'] as const) {
    const value = config[field];
    if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      throw new UsageError(`credentials file ${path}: '${field}' must be an object`);
    }
  }
  if (config.credsStore !== undefined && typeof config.credsStore !== 'string') {
    throw new UsageError(`credentials file ${path}: 'credsStore' must be a string`);
  }
  return config;
}

/**
 * The value from `record` whose key names this registry: the exact key first
 * (host, then Docker Hub's URL key), then any key whose hostname matches, as
 * docker's ConvertToHostname does (scheme and path dropped). In a containers
 * auth file (`namespaces`), a key without a scheme but with a path names a
 * repository namespace (`host/team`): tried first, most specific first, and
 * never taken for the whole registry.
 */
function lookup<T>(
  record: Record<string, T> | undefined,
  registry: string,
  repository: string | undefined,
  namespaces: boolean,
): { key: string; value: T } | undefined {
  if (!record) return undefined;
  const host = normaliseRegistry(registry);
  const isHub = host === dockerHubRegistry;
  const keys = Object.keys(record);
  if (namespaces && repository !== undefined) {
    const parts = repository.split('/');
    for (let n = parts.length; n >= 1; n--) {
      const scoped = `${host}/${parts.slice(0, n).join('/')}`;
      const hit = keys.find((key) => key.toLowerCase() === scoped);
      if (hit !== undefined) return { key: hit, value: record[hit] as T };
    }
  }
  const exact = isHub
    ? [dockerHubAuthKey, 'docker.io', 'index.docker.io', 'registry-1.docker.io']
    : [registry];
  for (const key of exact) {
    if (Object.hasOwn(record, key)) return { key, value: record[key] as T };
  }
  for (const key of keys) {
    const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(key);
    const namespaced = !hasScheme && key.replace(/\/+$/, '').includes('/');
    if (namespaces && namespaced) continue;
    if (normaliseRegistry(keyHostname(key)) === host) return { key, value: record[key] as T };
  }
  return undefined;
}

function fromEntry(entry: AuthEntry, source: string, host: string): Credentials | undefined {
  if (entry === null || typeof entry !== 'object') return undefined;
  const identityToken =
    typeof entry.identitytoken === 'string' && entry.identitytoken !== '' ? entry.identitytoken : undefined;
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    let decoded: string;
    try {
      decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    } catch {
      decoded = '';
    }
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw new UsageError(
        `credentials file ${source}: the 'auth' entry for ${host} is not base64 of USER:PASS`,
      );
    }
    const creds: Credentials = {
      username: decoded.slice(0, colon),
      password: decoded.slice(colon + 1),
      source,
    };
    if (identityToken !== undefined) creds.identityToken = identityToken;
    return creds;
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username !== '') {
    const creds: Credentials = { username: entry.username, password: entry.password, source };
    if (identityToken !== undefined) creds.identityToken = identityToken;
    return creds;
  }
  if (identityToken !== undefined) {
    const creds: Credentials = { identityToken, source };
    if (typeof entry.username === 'string' && entry.username !== '') creds.username = entry.username;
    return creds;
  }
  return undefined;
}

/**
 * Runs `docker-credential-<helper> get` with the server URL on stdin, as the
 * docker-credential-helpers protocol says. "Not found" answers mean no
 * credentials; a missing binary is an error the user must fix.
 */
export async function runCredentialHelper(
  helper: string,
  serverUrl: string,
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; configPath?: string } = {},
): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(helper)) {
    throw new UsageError(
      `credential helper name '${helper}'${options.configPath ? ` in ${options.configPath}` : ''} is not valid`,
    );
  }
  const program = `docker-credential-${helper}`;
  const timeoutMs = options.timeoutMs ?? 30_000;
  // Loaded here: most runs use no helper, and child_process costs start-up time.
  const { spawn } = process.getBuiltinModule('node:child_process');
  const result = await new Promise<{
    code: number | null;
    stdout: string;
    stderr: string;
    spawnError?: Error;
  }>((resolve) => {
    const child = spawn(program, ['get'], {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= 1 << 20) out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.length < 64) err.push(chunk);
    });
    child.on('error', (spawnError) =>
      resolve({ code: null, stdout: '', stderr: '', spawnError: spawnError as Error }),
    );
    child.on('close', (code, signal) => {
      resolve({
        code: signal ? -1 : code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => {
      // The helper may exit without reading stdin; its exit status tells.
    });
    child.stdin.end(serverUrl);
  });
  const from = options.configPath ? ` (configured in ${options.configPath})` : '';
  if (result.spawnError) {
    const code = (result.spawnError as { code?: string }).code;
    if (code === 'ENOENT') {
      throw new UsageError(`credential helper ${program}${from} is not installed or not on PATH`);
    }
    throw new UsageError(`cannot run credential helper ${program}${from}: ${result.spawnError.message}`);
  }
  if (result.code === -1) {
    throw new UsageError(`credential helper ${program}${from} did not answer within ${timeoutMs} ms`);
  }
  if (result.code !== 0) {
    const said = `${result.stdout}\n${result.stderr}`;
    if (/credentials not found|not found in|no credentials/i.test(said)) return undefined;
    // Helpers print their own errors; they should not contain the secret we asked for, but keep it short.
    const first = said.trim().split('\n')[0]?.slice(0, 200) ?? '';
    throw new UsageError(
      `credential helper ${program}${from} failed (exit ${result.code})${first ? `: ${first}` : ''}`,
    );
  }
  let body: { Username?: unknown; Secret?: unknown };
  try {
    body = JSON.parse(result.stdout) as typeof body;
  } catch {
    throw new UsageError(`credential helper ${program}${from} did not print JSON`);
  }
  const username = typeof body.Username === 'string' ? body.Username : '';
  const secret = typeof body.Secret === 'string' ? body.Secret : '';
  if (secret === '') return undefined;
  const source = `credential helper ${program}`;
  if (username === '<token>') return { identityToken: secret, source };
  return { username, password: secret, source };
}

/** $DOCKER_CONFIG/config.json, else ~/.docker/config.json; undefined without either. */
export function dockerConfigPath(env: NodeJS.ProcessEnv, home: string | undefined): string | undefined {
  if (env.DOCKER_CONFIG && env.DOCKER_CONFIG !== '') return join(env.DOCKER_CONFIG, 'config.json');
  return home === undefined ? undefined : join(home, '.docker', 'config.json');
}

export function containersAuthPath(env: NodeJS.ProcessEnv): string | undefined {
  if (env.REGISTRY_AUTH_FILE && env.REGISTRY_AUTH_FILE !== '') return env.REGISTRY_AUTH_FILE;
  if (env.XDG_RUNTIME_DIR && env.XDG_RUNTIME_DIR !== '') {
    return join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
  }
  return undefined;
}

/** Resolves credentials for `registry` (and optionally a repository, for namespace-scoped keys). */
export async function resolveCredentials(
  registry: string,
  options: CredentialOptions = {},
  repository?: string,
): Promise<Credentials | undefined> {
  if (options.creds !== undefined) return parseCredsOption(options.creds);
  const env = options.env ?? process.env;
  const helperOptions = (configPath: string) => ({
    env,
    configPath,
    ...(options.helperTimeoutMs === undefined ? {} : { timeoutMs: options.helperTimeoutMs }),
  });

  const authFile = containersAuthPath(env);
  if (authFile !== undefined) {
    const config = await readConfig(authFile);
    if (config) {
      const helper = lookup(config.credHelpers, registry, repository, true);
      if (helper && typeof helper.value === 'string' && helper.value !== '') {
        const creds = await runCredentialHelper(
          helper.value,
          helperServerUrl(registry),
          helperOptions(authFile),
        );
        if (creds) return creds;
      }
      const entry = lookup(config.auths, registry, repository, true);
      const creds = entry ? fromEntry(entry.value, authFile, registry) : undefined;
      if (creds) return creds;
    }
  }

  const dockerConfig = dockerConfigPath(env, options.home ?? homeDirectory());
  if (dockerConfig === undefined) return undefined;
  const config = await readConfig(dockerConfig);
  if (config) {
    const helper = lookup(config.credHelpers, registry, undefined, false);
    if (helper && typeof helper.value === 'string' && helper.value !== '') {
      return runCredentialHelper(helper.value, helperServerUrl(registry), helperOptions(dockerConfig));
    }
    const entry = lookup(config.auths, registry, undefined, false);
    const creds = entry ? fromEntry(entry.value, dockerConfig, registry) : undefined;
    if (creds) return creds;
    if (typeof config.credsStore === 'string' && config.credsStore !== '') {
      return runCredentialHelper(config.credsStore, helperServerUrl(registry), helperOptions(dockerConfig));
    }
  }
  return undefined;
}
