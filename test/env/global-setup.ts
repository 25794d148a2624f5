/**
 * vitest globalSetup: the real test environment on loopback (see README.md here).
 *
 * - a Docker engine (DOCKER_HOST, /var/run/docker.sock, or our own dockerd);
 * - CNCF distribution registries: anonymous :5100, htpasswd Basic :5101, token :5102;
 * - the token issuer (token-server.ts) :5103 that the :5102 registry trusts.
 *
 * Whatever already answers as expected is reused (a previous run's services or
 * the developer's own). What this environment starts runs detached and is
 * recorded in STATE_DIR/services.json; each run holds a lease
 * (STATE_DIR/leases/PID), and the last run to finish stops the recorded
 * services — never anything it did not start (set IVOC_TEST_KEEP_ENV=1 to keep
 * them running for the next run).
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import type { TestEnv } from './contract.js';
import { ensureSigningMaterial, fetchToken, type SigningFiles, TOKEN_DEFAULTS } from './token-server.js';

export const STATE_DIR = process.env.IVOC_TEST_STATE_DIR ?? '/tmp/ivoc-test';
export const DOCKER_DATA_ROOT = process.env.IVOC_TEST_DOCKER_ROOT ?? '/var/lib/ivoc-test/docker';
export const RUN_DIR = process.env.IVOC_TEST_RUN_DIR ?? '/run/ivoc-test';
export const OWN_DOCKER_SOCKET = join(RUN_DIR, 'docker.sock');
export const LOG_DIR = join(STATE_DIR, 'logs');

export const PORTS = { anonymous: 5100, basic: 5101, token: 5102, issuer: 5103 } as const;
export const BASIC_USER = { username: 'ivoc', password: 'ivoc-test-password' } as const;
export const TOKEN_SERVICE = TOKEN_DEFAULTS.service;
export const TOKEN_ISSUER = TOKEN_DEFAULTS.issuer;
export const TOKEN_REALM = `http://127.0.0.1:${PORTS.issuer}/token`;

/** bcrypt of BASIC_USER's password, for machines without htpasswd. */
const FALLBACK_HTPASSWD = 'ivoc:$2y$10$3lCbKCu.jGi.yss5M5ruUeST8uj8ggaysgWcbo4Lny.P9RDnFiLU2\n';

const SERVICES_FILE = join(STATE_DIR, 'services.json');
const LEASE_DIR = join(STATE_DIR, 'leases');
const WORK_ROOT = join(STATE_DIR, 'work');

type ServiceName = 'dockerd' | 'token-issuer' | 'registry-anonymous' | 'registry-basic' | 'registry-token';

interface ServiceRecord {
  pid: number;
  /** A string the process's command line must contain for us to signal it. */
  signature: string;
  log: string;
  startedAt: string;
}

type Services = Partial<Record<ServiceName, ServiceRecord>>;

// ---------------------------------------------------------------- utilities

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Alive and not a zombie (pid 1 here may not reap orphans). */
async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && existsSync('/proc/self/stat')) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

async function cmdline(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

async function tail(file: string, lines = 25): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTP GET; rejects with the socket error (ECONNREFUSED, ENOENT...) if nothing answers. */
function get(
  target: { host: string; port: number } | { socketPath: string },
  path: string,
  headers: Record<string, string> = {},
  timeoutMs = 3000,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { ...target, path, method: 'GET', headers: { ...headers, connection: 'close' }, timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end();
  });
}

function loopback(port: number) {
  return { host: '127.0.0.1', port };
}

function basicHeader(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** 'ready' | 'absent' | a description of what answered instead. */
type Probe = 'ready' | 'absent' | { unexpected: string };

async function probeWith(fn: () => Promise<Probe>): Promise<Probe> {
  try {
    return await fn();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ECONNRESET') return 'absent';
    return { unexpected: `${code ?? ''} ${(err as Error).message}`.trim() };
  }
}

function describe(a: Answer): string {
  const body = a.body.replace(/\s+/g, ' ').trim().slice(0, 160);
  return `HTTP ${a.status} ${JSON.stringify(a.headers['www-authenticate'] ?? '')} ${body}`;
}

// ---------------------------------------------------------------- lock, leases, records

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  const lockDir = join(STATE_DIR, 'lock');
  const ownerFile = join(lockDir, 'owner');
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(ownerFile, String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(await readFile(ownerFile, 'utf8').catch(() => ''), 10);
      let stale = false;
      if (Number.isFinite(owner)) stale = !(await isAlive(owner));
      else stale = Date.now() - (await stat(lockDir).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs > 10_000;
      if (stale) {
        const aside = `${lockDir}.stale-${process.pid}-${Date.now()}`;
        await rename(lockDir, aside).catch(() => undefined);
        await rm(aside, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`test environment: lock ${lockDir} still held by pid ${owner} after 180 s`);
      }
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

async function readServices(): Promise<Services> {
  try {
    return JSON.parse(await readFile(SERVICES_FILE, 'utf8')) as Services;
  } catch {
    return {};
  }
}

async function writeServices(services: Services): Promise<void> {
  const tmp = `${SERVICES_FILE}.${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(services, null, 2)}\n`);
  await rename(tmp, SERVICES_FILE);
}

/** Is the recorded process still running, and still the program we started? */
async function recordAlive(record: ServiceRecord | undefined): Promise<boolean> {
  if (!record) return false;
  return (await isAlive(record.pid)) && (await cmdline(record.pid)).includes(record.signature);
}

/** Live leases other than ours; dead ones are removed. */
async function otherLeases(): Promise<number[]> {
  const live: number[] = [];
  for (const name of await readdir(LEASE_DIR).catch(() => [] as string[])) {
    const pid = Number.parseInt(name, 10);
    if (!Number.isFinite(pid)) continue;
    if (pid !== process.pid && (await isAlive(pid))) live.push(pid);
    else if (pid !== process.pid) await rm(join(LEASE_DIR, name), { force: true });
  }
  return live;
}

async function stopProcess(name: string, record: ServiceRecord, graceMs: number): Promise<void> {
  if (!(await recordAlive(record))) return;
  try {
    process.kill(record.pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await isAlive(record.pid))) return;
    await sleep(100);
  }
  console.warn(`test environment: ${name} (pid ${record.pid}) ignored SIGTERM for ${graceMs} ms; killing it`);
  try {
    process.kill(record.pid, 'SIGKILL');
  } catch {
    // gone
  }
}

const STOP_ORDER: ServiceName[] = [
  'registry-anonymous',
  'registry-basic',
  'registry-token',
  'token-issuer',
  'dockerd',
];

/** Stops every service this environment started (and recorded); leaves everything else alone. */
export async function stopRecordedServices(): Promise<void> {
  const services = await readServices();
  await Promise.all(
    STOP_ORDER.map(async (name) => {
      const record = services[name];
      if (!record) return;
      await stopProcess(name, record, name === 'dockerd' ? 30_000 : 10_000);
      delete services[name];
    }),
  );
  await writeServices(services);
}

// ---------------------------------------------------------------- starting services

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // distribution reads REGISTRY_* as config overrides: keep the developer's out of ours.
    if (!k.startsWith('REGISTRY_')) env[k] = v;
  }
  return env;
}

interface Launch {
  name: ServiceName;
  command: string;
  args: string[];
  signature: string;
  probe: () => Promise<Probe>;
  readyTimeoutMs: number;
}

async function launch(spec: Launch): Promise<ServiceRecord> {
  await mkdir(LOG_DIR, { recursive: true });
  const log = join(LOG_DIR, `${spec.name}.log`);
  // Logs are appended across runs; keep one older generation once they grow.
  if (((await stat(log).catch(() => undefined))?.size ?? 0) > 8 * 1024 * 1024) {
    await rename(log, `${log}.old`);
  }
  const fd = openSync(log, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.command, spec.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      cwd: STATE_DIR,
      env: childEnv(),
    });
  } finally {
    closeSync(fd);
  }
  let exited: string | undefined;
  let spawnError: Error | undefined;
  child.on('error', (err) => {
    spawnError = err;
  });
  child.on('exit', (code, signal) => {
    exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
  });
  child.unref();
  const deadline = Date.now() + spec.readyTimeoutMs;
  let last: Probe = 'absent';
  while (Date.now() < deadline) {
    if (spawnError)
      throw new Error(`test environment: cannot start ${spec.name} (${spec.command}): ${spawnError.message}`);
    if (exited) {
      throw new Error(
        `test environment: ${spec.name} ${exited} before it was ready; log ${log}:\n${await tail(log)}`,
      );
    }
    last = await spec.probe();
    if (last === 'ready') {
      return { pid: child.pid!, signature: spec.signature, log, startedAt: new Date().toISOString() };
    }
    await sleep(150);
  }
  try {
    if (child.pid) process.kill(child.pid, 'SIGKILL');
  } catch {
    // gone
  }
  throw new Error(
    `test environment: ${spec.name} not ready after ${spec.readyTimeoutMs} ms (last probe: ${JSON.stringify(last)}); log ${log}:\n${await tail(log)}`,
  );
}

/**
 * Reuses what answers as expected; otherwise starts it (replacing a
 * misbehaving instance only if we started it) and records it.
 */
async function ensureService(spec: Launch, services: Services, what: string): Promise<'reused' | 'started'> {
  const probe = await spec.probe();
  if (probe === 'ready') return 'reused';
  const record = services[spec.name];
  if (await recordAlive(record)) {
    // Ours but not answering properly: replace it.
    await stopProcess(spec.name, record!, 15_000);
  } else if (probe !== 'absent') {
    throw new Error(
      `test environment: ${what} is taken by something that is not the expected ${spec.name}: ${probe.unexpected}. Stop it, or free the port.`,
    );
  }
  delete services[spec.name];
  services[spec.name] = await launch(spec);
  return 'started';
}

// ---------------------------------------------------------------- the services

async function pingDocker(target: { host: string; port: number } | { socketPath: string }): Promise<boolean> {
  try {
    const a = await get(target, '/_ping', {}, 2000);
    return a.status === 200 && a.body.trim() === 'OK';
  } catch {
    return false;
  }
}

function dockerTarget(
  dockerHost: string,
): { host: string; port: number } | { socketPath: string } | undefined {
  if (dockerHost.startsWith('unix://')) return { socketPath: dockerHost.slice('unix://'.length) };
  const m = /^(?:tcp|http):\/\/([^:/]+):(\d+)\/?$/.exec(dockerHost);
  if (m) return { host: m[1]!, port: Number(m[2]) };
  return undefined;
}

async function ensureDocker(services: Services): Promise<{ dockerHost: string; how: string }> {
  const fromEnv = process.env.DOCKER_HOST;
  if (fromEnv) {
    const target = dockerTarget(fromEnv);
    if (target && (await pingDocker(target))) return { dockerHost: fromEnv, how: 'reused (DOCKER_HOST)' };
    console.warn(`test environment: DOCKER_HOST=${fromEnv} does not answer /_ping; looking further`);
  }
  for (const socketPath of ['/var/run/docker.sock', OWN_DOCKER_SOCKET]) {
    if (await pingDocker({ socketPath })) return { dockerHost: `unix://${socketPath}`, how: 'reused' };
  }
  if (process.getuid?.() !== 0) {
    throw new Error(
      'test environment: no Docker engine answers (DOCKER_HOST, /var/run/docker.sock) and starting dockerd needs root. Start one, or set DOCKER_HOST.',
    );
  }
  const pidfile = join(RUN_DIR, 'docker.pid');
  const execRoot = join(RUN_DIR, 'docker-exec');
  await mkdir(DOCKER_DATA_ROOT, { recursive: true });
  await mkdir(execRoot, { recursive: true });
  // A dockerd of ours whose socket died (or a crashed run's) would block the pidfile.
  const recorded = services.dockerd;
  if (await recordAlive(recorded)) await stopProcess('dockerd', recorded!, 30_000);
  const stalePid = Number.parseInt(await readFile(pidfile, 'utf8').catch(() => ''), 10);
  if (Number.isFinite(stalePid) && (await isAlive(stalePid))) {
    if ((await cmdline(stalePid)).includes(DOCKER_DATA_ROOT)) {
      await stopProcess(
        'dockerd',
        { pid: stalePid, signature: DOCKER_DATA_ROOT, log: '', startedAt: '' },
        30_000,
      );
    }
  }
  await rm(OWN_DOCKER_SOCKET, { force: true });
  delete services.dockerd;
  services.dockerd = await launch({
    name: 'dockerd',
    command: 'dockerd',
    args: [
      '--data-root',
      DOCKER_DATA_ROOT,
      '--exec-root',
      execRoot,
      '-H',
      `unix://${OWN_DOCKER_SOCKET}`,
      '--pidfile',
      pidfile,
      '--iptables=true',
    ],
    signature: DOCKER_DATA_ROOT,
    probe: async () => ((await pingDocker({ socketPath: OWN_DOCKER_SOCKET })) ? 'ready' : 'absent'),
    readyTimeoutMs: 60_000,
  });
  return { dockerHost: `unix://${OWN_DOCKER_SOCKET}`, how: 'started' };
}

async function htpasswdLine(): Promise<string> {
  return new Promise((resolve) => {
    execFile('htpasswd', ['-Bbn', BASIC_USER.username, BASIC_USER.password], (err, stdout) => {
      resolve(err ? FALLBACK_HTPASSWD : `${stdout.trim()}\n`);
    });
  });
}

type RegistryKind = 'anonymous' | 'basic' | 'token';

function registryConfig(kind: RegistryKind, dir: string, auth: string): string {
  return `# generated by test/env/global-setup.ts; rewritten whenever the test environment starts this registry
version: 0.1
log:
  level: info
  formatter: text
  fields:
    service: registry-${kind}
storage:
  filesystem:
    rootdirectory: ${join(dir, 'data')}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:${PORTS[kind]}
  secret: ivoc-test-upload-secret-${kind}
  headers:
    X-Content-Type-Options: [nosniff]
${auth}`;
}

async function probeRegistry(kind: RegistryKind): Promise<Probe> {
  return probeWith(async () => {
    const target = loopback(PORTS[kind]);
    const a = await get(target, '/v2/');
    const api = a.headers['docker-distribution-api-version'];
    const challenge = String(a.headers['www-authenticate'] ?? '');
    if (kind === 'anonymous') {
      return a.status === 200 && api === 'registry/2.0' ? 'ready' : { unexpected: describe(a) };
    }
    if (kind === 'basic') {
      if (a.status !== 401 || !/^Basic\s/i.test(challenge)) return { unexpected: describe(a) };
      const b = await get(target, '/v2/', {
        authorization: basicHeader(BASIC_USER.username, BASIC_USER.password),
      });
      return b.status === 200
        ? 'ready'
        : { unexpected: `with ${BASIC_USER.username}'s credentials: ${describe(b)}` };
    }
    const expected = `Bearer realm="${TOKEN_REALM}",service="${TOKEN_SERVICE}"`;
    return a.status === 401 && challenge === expected
      ? 'ready'
      : { unexpected: `${describe(a)} (expected challenge ${expected})` };
  });
}

async function ensureRegistry(kind: RegistryKind, services: Services, tokenCert: string): Promise<string> {
  const name: ServiceName = `registry-${kind}`;
  const dir = join(STATE_DIR, name);
  const configPath = join(dir, 'config.yml');
  const spec: Launch = {
    name,
    command: 'docker-registry',
    args: ['serve', configPath],
    signature: configPath,
    probe: () => probeRegistry(kind),
    readyTimeoutMs: 30_000,
  };
  if ((await spec.probe()) !== 'ready') {
    await mkdir(join(dir, 'data'), { recursive: true });
    let auth = '';
    if (kind === 'basic') {
      const htpasswd = join(dir, 'htpasswd');
      await writeFile(htpasswd, await htpasswdLine());
      auth = `auth:\n  htpasswd:\n    realm: ivoc-test-basic\n    path: ${htpasswd}\n`;
    } else if (kind === 'token') {
      auth = `auth:\n  token:\n    realm: ${TOKEN_REALM}\n    service: ${TOKEN_SERVICE}\n    issuer: ${TOKEN_ISSUER}\n    rootcertbundle: ${tokenCert}\n`;
    }
    await writeFile(configPath, registryConfig(kind, dir, auth));
  }
  return ensureService(spec, services, `127.0.0.1:${PORTS[kind]}`);
}

async function compileTokenServer(outFile: string): Promise<void> {
  const { transform } = await import('esbuild');
  const source = await readFile(fileURLToPath(new URL('./token-server.ts', import.meta.url)), 'utf8');
  const out = await transform(source, { loader: 'ts', format: 'esm', target: 'node20' });
  const tmp = `${outFile}.${process.pid}`;
  await writeFile(tmp, out.code);
  await rename(tmp, outFile);
}

async function ensureTokenIssuer(services: Services, material: SigningFiles): Promise<string> {
  const certSha256 = createHash('sha256').update(new X509Certificate(material.certPem).raw).digest('hex');
  const script = join(STATE_DIR, 'token', 'token-server.mjs');
  const spec: Launch = {
    name: 'token-issuer',
    command: process.execPath,
    args: [script, '--key', material.keyPath, '--cert', material.certPath, '--port', String(PORTS.issuer)],
    signature: script,
    probe: () =>
      probeWith(async () => {
        const a = await get(loopback(PORTS.issuer), '/_admin/info');
        if (a.status !== 200) return { unexpected: describe(a) };
        const info = JSON.parse(a.body) as { service?: string; issuer?: string; certSha256?: string };
        return info.service === TOKEN_SERVICE &&
          info.issuer === TOKEN_ISSUER &&
          info.certSha256 === certSha256
          ? 'ready'
          : { unexpected: `a token issuer with other settings or another certificate: ${a.body}` };
      }),
    readyTimeoutMs: 15_000,
  };
  if ((await spec.probe()) !== 'ready') await compileTokenServer(script);
  return ensureService(spec, services, `127.0.0.1:${PORTS.issuer}`);
}

/** Does the :5102 registry accept the issuer's tokens (same certificate)? */
async function tokenPairWorks(): Promise<boolean> {
  const { token } = await fetchToken(TOKEN_REALM, {
    service: TOKEN_SERVICE,
    scopes: ['repository:ivoc-env-probe/check:pull'],
    username: BASIC_USER.username,
    password: BASIC_USER.password,
  });
  const a = await get(loopback(PORTS.token), '/v2/', { authorization: `Bearer ${token}` });
  return a.status === 200;
}

// ---------------------------------------------------------------- entry points

export interface StartedEnv {
  testEnv: TestEnv;
  /** What was reused and what was started, per service. */
  report: Record<string, string>;
  stop(): Promise<void>;
}

/** Brings the environment up (reusing what runs); `stop()` releases this run's lease. */
export async function startTestEnv(): Promise<StartedEnv> {
  await mkdir(LEASE_DIR, { recursive: true });
  await mkdir(WORK_ROOT, { recursive: true });
  const report: Record<string, string> = {};
  const dockerHost = await withLock(async () => {
    await writeFile(join(LEASE_DIR, String(process.pid)), new Date().toISOString());
    await removeOrphanWorkDirs();
    const services = await readServices();
    try {
      const material = await ensureSigningMaterial(join(STATE_DIR, 'token'));
      const settled = await Promise.allSettled([
        ensureDocker(services),
        ensureTokenIssuer(services, material),
        ensureRegistry('anonymous', services, material.certPath),
        ensureRegistry('basic', services, material.certPath),
        ensureRegistry('token', services, material.certPath),
      ]);
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      const [docker, issuer, anonymous, basic] = settled.map(
        (r) => (r as PromiseFulfilledResult<unknown>).value,
      ) as [{ dockerHost: string; how: string }, string, string, string];
      let token = (settled[4] as PromiseFulfilledResult<string>).value;
      if (!(await tokenPairWorks()) && (await recordAlive(services['registry-token']))) {
        // Ours, but started with an older certificate: restart it with the current one.
        await stopProcess('registry-token', services['registry-token']!, 15_000);
        delete services['registry-token'];
        token = await ensureRegistry('token', services, material.certPath);
      }
      if (!(await tokenPairWorks())) {
        throw new Error(
          `test environment: the token registry on :${PORTS.token} refuses tokens from the issuer on :${PORTS.issuer}; they do not share a certificate. Stop the stale one (node scripts/test.mjs --env-stop, or the process on that port) and retry`,
        );
      }
      Object.assign(report, {
        docker: `${docker.how} ${docker.dockerHost}`,
        'token-issuer': issuer,
        'registry-anonymous': anonymous,
        'registry-basic': basic,
        'registry-token': token,
      });
      await writeServices(services);
      return docker.dockerHost;
    } catch (err) {
      // No teardown will run for this run: release our lease, and stop what we
      // started unless another run is using it.
      await writeServices(services);
      await rm(join(LEASE_DIR, String(process.pid)), { force: true });
      if ((await otherLeases()).length === 0 && process.env.IVOC_TEST_KEEP_ENV !== '1') {
        await stopRecordedServices();
      }
      throw err;
    }
  });
  const workDir = await mkdtemp(join(WORK_ROOT, `run-${process.pid}-`));
  const testEnv: TestEnv = {
    dockerHost,
    registries: {
      anonymous: { host: `127.0.0.1:${PORTS.anonymous}` },
      basic: { host: `127.0.0.1:${PORTS.basic}`, ...BASIC_USER },
      token: {
        host: `127.0.0.1:${PORTS.token}`,
        ...BASIC_USER,
        realm: TOKEN_REALM,
        service: TOKEN_SERVICE,
      },
    },
    workDir,
  };
  let stopped = false;
  return {
    testEnv,
    report,
    async stop() {
      if (stopped) return;
      stopped = true;
      await rm(workDir, { recursive: true, force: true });
      await withLock(async () => {
        await rm(join(LEASE_DIR, String(process.pid)), { force: true });
        if (process.env.IVOC_TEST_KEEP_ENV === '1') return;
        if ((await otherLeases()).length > 0) return; // the last run out stops them
        await stopRecordedServices();
      });
    },
  };
}

async function removeOrphanWorkDirs(): Promise<void> {
  for (const name of await readdir(WORK_ROOT).catch(() => [] as string[])) {
    const pid = Number.parseInt(/^run-(\d+)-/.exec(name)?.[1] ?? '', 10);
    if (Number.isFinite(pid) && !(await isAlive(pid))) {
      await rm(join(WORK_ROOT, name), { recursive: true, force: true });
    }
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const env = await startTestEnv();
  project.provide('testEnv', env.testEnv);
  if (process.env.IVOC_TEST_ENV_VERBOSE === '1' || Object.values(env.report).includes('started')) {
    const parts = Object.entries(env.report).map(([k, v]) => `${k} ${v}`);
    console.log(
      `test environment ready in ${Date.now() - started} ms: ${parts.join('; ')} (logs ${LOG_DIR})`,
    );
  }
  return () => env.stop();
}
