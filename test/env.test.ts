/**
 * Proves the test environment is real: registries, token issuer, engine,
 * skopeo against each registry, and every fault the proxy injects.
 */

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type FaultProxy, startFaultProxy } from './env/fault-proxy.js';
import { STATE_DIR } from './env/global-setup.js';
import {
  ensureSigningMaterial,
  fetchToken,
  issuedTokens,
  resetTokenLifetime,
  setTokenLifetime,
  startTokenServer,
} from './env/token-server.js';

const env = inject('testEnv');
const run = randomBytes(4).toString('hex');

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** Set when the connection broke (before or during the body). */
  error?: string;
}

/** A plain node:http exchange that reports what arrived even when the connection breaks. */
function raw(
  target: string | { socketPath: string },
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<Raw> {
  return new Promise((resolve) => {
    const where =
      typeof target === 'string'
        ? { host: target.split(':')[0], port: Number(target.split(':')[1]) }
        : { socketPath: target.socketPath };
    const chunks: Buffer[] = [];
    let status = 0;
    let resHeaders: Raw['headers'] = {};
    const done = (error?: string) =>
      resolve({ status, headers: resHeaders, body: Buffer.concat(chunks), ...(error ? { error } : {}) });
    const req = request({ ...where, method, path, headers: { ...headers, connection: 'close' } }, (res) => {
      status = res.statusCode ?? 0;
      resHeaders = res.headers;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done());
      res.on('error', (err) => done(err.message || 'error'));
      res.on('aborted', () => done('aborted'));
    });
    req.on('error', (err) => done((err as NodeJS.ErrnoException).code ?? err.message));
    req.end(body);
  });
}

/** Monolithic upload: POST to open a session, then PUT the whole blob with its digest. */
async function pushBlob(host: string, repo: string, blob: Buffer, auth?: string): Promise<string> {
  const headers: Record<string, string> = auth ? { authorization: auth } : {};
  const opened = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  expect(opened.status).toBe(202);
  const location = new URL(opened.headers.get('location')!, `http://${host}`);
  location.searchParams.set('digest', sha256(blob));
  const put = await fetch(location, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body: blob,
  });
  expect(put.status).toBe(201);
  return sha256(blob);
}

function skopeo(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'skopeo',
      args,
      {
        timeout: 60_000,
        // Never read the developer's registry credentials.
        env: { ...process.env, REGISTRY_AUTH_FILE: join(env.workDir, 'no-auth.json') },
      },
      (err, stdout, stderr) =>
        err ? reject(new Error(`skopeo ${args.join(' ')}: ${stderr}`)) : resolve(stdout),
    );
  });
}

async function tinyLayer(): Promise<Buffer> {
  const p = pack();
  p.entry({ name: 'hello.txt', mode: 0o644 }, 'hello from the ivoc test environment\n');
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

/** A minimal OCI image layout: one gzip layer, a config, a manifest, index.json, oci-layout. */
async function buildLayout(dir: string): Promise<{ manifestDigest: string }> {
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (data: Buffer | string) => {
    const digest = sha256(data);
    await writeFile(join(blobs, digest.slice('sha256:'.length)), data);
    return { digest, size: Buffer.byteLength(data) };
  };
  const tar = await tinyLayer();
  const layer = await put(gzipSync(tar));
  const config = await put(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/bin:/bin'] },
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
    }),
  );
  const manifestJson = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  });
  const manifest = await put(manifestJson);
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { manifestDigest: manifest.digest };
}

describe('registries', () => {
  it('anonymous registry answers /v2/ with 200', async () => {
    const res = await fetch(`http://${env.registries.anonymous.host}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('basic registry challenges with Basic and accepts the test user', async () => {
    const { host, username, password } = env.registries.basic;
    const anon = await fetch(`http://${host}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toMatch(/^Basic realm="/);
    const wrong = await fetch(`http://${host}/v2/`, { headers: { authorization: basic(username!, 'nope') } });
    expect(wrong.status).toBe(401);
    const ok = await fetch(`http://${host}/v2/`, { headers: { authorization: basic(username!, password!) } });
    expect(ok.status).toBe(200);
  });

  it('token registry challenges with Bearer, and a token from our issuer pushes and pulls a blob', async () => {
    const { host, realm, service, username, password } = env.registries.token;
    const challenge = await fetch(`http://${host}/v2/`);
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get('www-authenticate')).toBe(`Bearer realm="${realm}",service="${service}"`);

    const repo = `ivoc-env-test/token-${run}`;
    const denied = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    expect(denied.status).toBe(401);
    // distribution lists the actions in no fixed order (pull,push or push,pull).
    const scope = /scope="repository:([^:"]+):([a-z,]+)"/.exec(denied.headers.get('www-authenticate') ?? '');
    expect(scope?.[1]).toBe(repo);
    expect(scope?.[2]?.split(',').sort()).toEqual(['pull', 'push']);

    const { token, access_token, expires_in, issued_at } = await fetchToken(realm, {
      service,
      scopes: [`repository:${repo}:pull,push`],
      username,
      password,
    });
    expect(access_token).toBe(token);
    expect(expires_in).toBe(300);
    expect(Number.isNaN(Date.parse(issued_at))).toBe(false);
    const [header, claims] = token
      .split('.')
      .slice(0, 2)
      .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
    expect(header.x5c).toHaveLength(1);
    expect(claims.access).toEqual([{ type: 'repository', name: repo, actions: ['pull', 'push'] }]);
    expect(claims.aud).toBe(service);

    const blob = Buffer.from(`tiny blob ${run}\n`);
    const digest = await pushBlob(host, repo, blob, `Bearer ${token}`);
    const back = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(back.status).toBe(200);
    expect(Buffer.from(await back.arrayBuffer())).toEqual(blob);

    // Anonymous tokens carry no access; the reader may pull but not push.
    const anonymous = await fetchToken(realm, { service, scopes: [`repository:${repo}:pull`] });
    const anonPull = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`, {
      headers: { authorization: `Bearer ${anonymous.token}` },
    });
    expect(anonPull.status).toBe(401);
    const reader = await fetchToken(realm, {
      service,
      scopes: [`repository:${repo}:pull,push`],
      username: 'ivoc-reader',
      password,
    });
    const readerPull = await fetch(`http://${host}/v2/${repo}/blobs/${digest}`, {
      headers: { authorization: `Bearer ${reader.token}` },
    });
    expect(readerPull.status).toBe(200);
    const readerPush = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${reader.token}` },
    });
    expect(readerPush.status).toBe(401);
  });

  it('issuer accepts the OAuth2 password grant and refuses bad passwords', async () => {
    const { realm, service, username, password } = env.registries.token;
    const form = new URLSearchParams({
      grant_type: 'password',
      service,
      client_id: 'ivoc-test',
      username: username!,
      password: password!,
      scope: `repository:ivoc-env-test/oauth-${run}:pull`,
    });
    const ok = await fetch(realm, { method: 'POST', body: form });
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { access_token: string; expires_in: number };
    expect(body.access_token.split('.')).toHaveLength(3);
    form.set('password', 'wrong');
    const bad = await fetch(realm, { method: 'POST', body: form });
    expect(bad.status).toBe(401);
  });

  it('token lifetime is configurable per repository, and the registry enforces it', async () => {
    const { host, realm, service, username, password } = env.registries.token;
    const repo = `ivoc-env-test/expiry-${run}`;
    await setTokenLifetime(realm, 2, `^${repo}$`);
    try {
      const t = await fetchToken(realm, { service, scopes: [`repository:${repo}:pull`], username, password });
      expect(t.expires_in).toBe(2);
      const auth = { authorization: `Bearer ${t.token}` };
      expect((await fetch(`http://${host}/v2/${repo}/tags/list`, { headers: auth })).status).not.toBe(401);
      await new Promise((r) => setTimeout(r, 3500));
      expect((await fetch(`http://${host}/v2/${repo}/tags/list`, { headers: auth })).status).toBe(401);
      const issued = await issuedTokens(realm, `^${repo}$`);
      expect(issued.map((i) => i.expiresIn)).toEqual([2]);
    } finally {
      await resetTokenLifetime(realm, `^${repo}$`);
    }
    const other = await fetchToken(realm, {
      service,
      scopes: [`repository:${repo}:pull`],
      username,
      password,
    });
    expect(other.expires_in).toBe(300);
  });

  it('a test can run its own issuer instance that the token registry trusts', async () => {
    const material = await ensureSigningMaterial(join(STATE_DIR, 'token'));
    // Not 1 s: the issuer's `exp` is whole seconds, so a 1 s token issued late in a second
    // may be refused by the time the registry checks it.
    const own = await startTokenServer({ material, lifetimeSeconds: 5 });
    try {
      const { host, service, username, password } = env.registries.token;
      const t = await fetchToken(own.realm, { service, scopes: ['registry:catalog:*'], username, password });
      expect(t.expires_in).toBe(5);
      const res = await fetch(`http://${host}/v2/`, { headers: { authorization: `Bearer ${t.token}` } });
      expect(res.status).toBe(200);
    } finally {
      await own.close();
    }
  });
});

describe('skopeo against each registry', () => {
  let layout: string;
  let manifestDigest: string;

  beforeAll(async () => {
    layout = join(env.workDir, `layout-${run}`);
    ({ manifestDigest } = await buildLayout(layout));
  });

  for (const kind of ['anonymous', 'basic', 'token'] as const) {
    it(`copies an OCI layout into the ${kind} registry and inspects it back`, async () => {
      const { host, username, password } = env.registries[kind];
      const creds = username ? [`${username}:${password}`] : [];
      const ref = `docker://${host}/ivoc-env-test/skopeo-${kind}:${run}`;
      await skopeo([
        'copy',
        '--quiet',
        '--dest-tls-verify=false',
        ...(creds.length ? ['--dest-creds', creds[0]!] : []),
        `oci:${layout}:latest`,
        ref,
      ]);
      const out = JSON.parse(
        await skopeo(['inspect', '--tls-verify=false', ...(creds.length ? ['--creds', creds[0]!] : []), ref]),
      ) as { Digest: string; Architecture: string };
      expect(out.Digest).toBe(manifestDigest);
      expect(out.Architecture).toBe('amd64');
    });
  }
});

describe('docker engine', () => {
  it('answers /_ping', async () => {
    const m = /^unix:\/\/(.+)$/.exec(env.dockerHost);
    const target = m
      ? { socketPath: m[1]! }
      : env.dockerHost.replace(/^(tcp|http):\/\//, '').replace(/\/$/, '');
    const res = await raw(target, 'GET', '/_ping');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('OK');
  });
});

describe('fault proxy', () => {
  let proxy: FaultProxy;
  const repo = `ivoc-env-test/faults-${run}`;
  const blob = randomBytes(64 * 1024);
  let blobPath: string;

  beforeAll(async () => {
    proxy = await startFaultProxy(env.registries.anonymous.host);
    // Pushed through the proxy: uploads stream, and Location stays on the proxy.
    const opened = await fetch(`${proxy.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    expect(opened.status).toBe(202);
    expect(new URL(opened.headers.get('location')!, proxy.url).host).toBe(proxy.host);
    await opened.arrayBuffer();
    const digest = await pushBlob(proxy.host, repo, blob);
    blobPath = `/v2/${repo}/blobs/${digest}`;
  });

  afterAll(async () => {
    await proxy?.close();
  });

  it('passes requests through unchanged and counts the bytes', async () => {
    proxy.clearLog();
    const res = await raw(proxy.host, 'GET', blobPath);
    expect(res.status).toBe(200);
    expect(res.body.equals(blob)).toBe(true);
    expect(res.headers['docker-content-digest']).toBe(sha256(blob));
    const head = await raw(proxy.host, 'HEAD', blobPath);
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(blob.length));
    expect(proxy.requests.map((r) => [r.method, r.status, r.bytesSent])).toEqual([
      ['GET', 200, blob.length],
      ['HEAD', 200, 0],
    ]);
    expect(proxy.bytesSent(/\/blobs\//)).toBe(blob.length);
  });

  it('answers 5xx a given number of times, then passes through', async () => {
    const fault = proxy.addFault({
      method: 'GET',
      path: /\/blobs\/sha256:/,
      times: 1,
      fault: { kind: 'error' },
    });
    const first = await raw(proxy.host, 'GET', blobPath);
    expect(first.status).toBe(503);
    expect(JSON.parse(first.body.toString()).errors[0].code).toBe('UNAVAILABLE');
    const second = await raw(proxy.host, 'GET', blobPath);
    expect(second.status).toBe(200);
    expect(fault.fired).toBe(1);
    expect(fault.remaining).toBe(0);
  });

  it('answers 429 with Retry-After', async () => {
    const fault = proxy.addFault({ path: '/blobs/', times: 1, fault: { kind: 'rate-limit', retryAfter: 7 } });
    const res = await raw(proxy.host, 'GET', blobPath);
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('7');
    fault.remove();
  });

  it('cuts the connection after K body bytes', async () => {
    proxy.clearLog();
    proxy.addFault({
      method: 'GET',
      path: /\/blobs\//,
      times: 1,
      fault: { kind: 'reset', afterBytes: 1000 },
    });
    const res = await raw(proxy.host, 'GET', blobPath);
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(blob.length));
    expect(res.error).toBeDefined();
    expect(res.body.length).toBe(1000);
    expect(res.body.equals(blob.subarray(0, 1000))).toBe(true);
    expect(proxy.requests[0]).toMatchObject({ fault: 'reset', bytesSent: 1000, completed: false });

    proxy.addFault({
      method: 'GET',
      path: /\/blobs\//,
      times: 1,
      fault: { kind: 'reset', afterBytes: 0, hard: true },
    });
    const hard = await raw(proxy.host, 'GET', blobPath);
    expect(hard.error).toBeDefined();
    expect(hard.body.length).toBe(0);
  });

  it('hangs up without a response', async () => {
    proxy.addFault({ path: /\/blobs\//, times: 1, fault: { kind: 'hangup' } });
    const res = await raw(proxy.host, 'GET', blobPath);
    expect(res.status).toBe(0);
    expect(res.error).toBeDefined();
  });

  it('corrupts bytes but keeps the length', async () => {
    proxy.addFault({ method: 'GET', path: /\/blobs\//, times: 1, fault: { kind: 'corrupt' } });
    const res = await raw(proxy.host, 'GET', blobPath);
    expect(res.status).toBe(200);
    expect(res.body.length).toBe(blob.length);
    expect(sha256(res.body)).not.toBe(sha256(blob));
    const differing = [...res.body.keys()].filter((i) => res.body[i] !== blob[i]);
    expect(differing).toEqual([blob.length / 2]);

    proxy.addFault({
      method: 'GET',
      path: /\/blobs\//,
      times: 1,
      fault: { kind: 'corrupt', offsets: [0, 40_000] },
    });
    const again = await raw(proxy.host, 'GET', blobPath);
    expect([...again.body.keys()].filter((i) => again.body[i] !== blob[i])).toEqual([0, 40_000]);
  });

  it('slows the headers and the body, and still delivers every byte', async () => {
    proxy.clearLog();
    proxy.addFault({
      method: 'GET',
      path: /\/blobs\//,
      times: 1,
      fault: { kind: 'slow', headerDelayMs: 100, bytesPerSecond: 256 * 1024 },
    });
    const res = await raw(proxy.host, 'GET', blobPath);
    expect(res.status).toBe(200);
    expect(res.body.equals(blob)).toBe(true);
    expect(proxy.requests[0]).toMatchObject({ fault: 'slow', bytesSent: blob.length, completed: true });
  });
});
