/**
 * The registry client when things go wrong: faults injected by the test
 * environment's proxy in front of the real registries (5xx, 429, resets
 * mid-body, slow answers, flipped bytes), and redirects to another host.
 */

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { MediaType } from '../src/oci/media-types.js';
import { RegistryClient } from '../src/oci/registry/client.js';
import { blobsNamedBy, openRegistryTarget } from '../src/oci/registry/index.js';
import { parseRetryAfter } from '../src/oci/registry/retry.js';
import { type FaultProxy, startFaultProxy } from './env/fault-proxy.js';
import {
  blobOf,
  drain,
  failure,
  type PushedImage,
  pushBehindProxy,
  pushImage,
  readStream,
  recordingRetry,
  uniqueRepo,
} from './registry-support.js';

const env = inject('testEnv');
const blobPath = /\/blobs\/sha256:/;

describe('faults between client and registry', () => {
  let proxy: FaultProxy;
  let image: PushedImage;
  const repo = uniqueRepo('faults');

  beforeAll(async () => {
    ({ image, proxy } = await pushBehindProxy(env.registries.anonymous.host, repo, [
      randomBytes(512 * 1024),
    ]));
  });
  afterAll(async () => {
    await proxy.close();
  });
  afterEach(() => {
    proxy.clearFaults();
    proxy.clearLog();
  });

  const layer = () => image.layers[0]!;

  /** Pushes a small blob, aborted after 300 ms: the push must fail with the caller's reason. */
  async function expectAbortedPush(client: RegistryClient, name: string): Promise<void> {
    const blob = blobOf(randomBytes(2000), MediaType.ociLayerGzip);
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    setTimeout(() => controller.abort(reason), 300);
    const pushed = client.pushBlob(uniqueRepo(name), blob.descriptor, Readable.from([blob.bytes]), {
      signal: controller.signal,
    });
    await expect(pushed).rejects.toBe(reason);
  }

  /** A client of the proxy for one test, closed after it. */
  async function withClient(
    options: ConstructorParameters<typeof RegistryClient>[1],
    use: (client: RegistryClient) => Promise<void>,
  ): Promise<void> {
    const client = new RegistryClient(proxy.host, options);
    try {
      await use(client);
    } finally {
      await client.close();
    }
  }

  it('keeps the connection after a HEAD: five blob checks one after another open no other', async () => {
    const client = new RegistryClient(proxy.host);
    try {
      // The first request probes the scheme (a connection of its own) and opens the pool's.
      expect(await client.blobExists(repo, layer().descriptor.digest)).toBe(true);
      proxy.clearLog();
      for (let i = 0; i < 5; i++) expect(await client.blobExists(repo, layer().descriptor.digest)).toBe(true);
      expect(proxy.requests.map((r) => r.method)).toEqual(['HEAD', 'HEAD', 'HEAD', 'HEAD', 'HEAD']);
      // Closing after each HEAD (undici's default) opened five.
      expect(proxy.connections).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('sends a request made right after a response on that connection, as an inspect does (manifest, then config)', async () => {
    const client = new RegistryClient(proxy.host);
    try {
      // The probe of the scheme and the pool's first connection.
      expect(await client.blobExists(repo, layer().descriptor.digest)).toBe(true);
      proxy.clearLog();
      for (let i = 0; i < 3; i++) {
        await client.getManifest(repo, 'v1');
        const config = await readStream(await client.fetchBlob(repo, image.config.descriptor));
        expect(config.equals(image.config.bytes)).toBe(true);
      }
      expect(proxy.requests.map((r) => r.method)).toEqual(['GET', 'GET', 'GET', 'GET', 'GET', 'GET']);
      // undici frees a connection a loop turn after its response; a request made sooner opened another.
      expect(proxy.connections).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('a target listing the tag at DEST takes the blobs its image names as present (GET once, no HEAD); others get a HEAD', async () => {
    const target = openRegistryTarget({ registry: proxy.host, repository: repo });
    try {
      target.listBlobsOf('v1');
      const layerDescriptor = layer().descriptor;
      expect(await target.exists(layerDescriptor)).toBe(true);
      expect(await target.exists(image.config.descriptor)).toBe(true);
      expect(proxy.requests.map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
        `GET /v2/${repo}/manifests/v1 200`,
      ]);
      // Same digest, another size: not what the tag names, so asked (and the registry says otherwise).
      expect(await target.exists({ ...layerDescriptor, size: layerDescriptor.size + 1 })).toBe(false);
      const unknown = { ...layerDescriptor, digest: `sha256:${'0'.repeat(64)}` as const };
      expect(await target.exists(unknown)).toBe(false);
      expect(proxy.requests.slice(1).map((r) => r.method)).toEqual(['HEAD', 'HEAD']);
    } finally {
      await target.close();
    }
  });

  it('a tag that is absent at DEST lists nothing: every blob gets its HEAD', async () => {
    const target = openRegistryTarget({ registry: proxy.host, repository: repo });
    try {
      target.listBlobsOf('no-such-tag');
      expect(await target.exists(layer().descriptor)).toBe(true);
      expect(proxy.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['GET 404', 'HEAD 200']);
    } finally {
      await target.close();
    }
  });

  it('turns flipped bytes into ERR_DIGEST_MISMATCH naming the blob, never data, read at once or late', async () => {
    await withClient({}, async (client) => {
      // Late: a push from a registry source awaits its upload session before it reads the blob.
      // The config is small enough to arrive whole, unread, in the stream's buffers.
      const cases = [
        { descriptor: layer().descriptor, offset: 1000, readAfterMs: 0 },
        { descriptor: image.config.descriptor, offset: 10, readAfterMs: 300 },
      ];
      for (const { descriptor, offset, readAfterMs } of cases) {
        proxy.addFault({
          method: 'GET',
          path: blobPath,
          times: 1,
          fault: { kind: 'corrupt', offsets: [offset] },
        });
        const stream = await client.fetchBlob(repo, descriptor);
        await new Promise((resolve) => setTimeout(resolve, readAfterMs));
        const { bytes, error } = await drain(stream);
        expect(error).toMatchObject({ code: 'ERR_DIGEST_MISMATCH', blob: descriptor.digest });
        // Everything before the end was passed on provisionally; the end never came.
        expect(bytes.length).toBeLessThanOrEqual(descriptor.size);
      }
    });
  });

  it('waits as Retry-After says on 429, then succeeds', async () => {
    const { delays, policy } = recordingRetry();
    const client = new RegistryClient(proxy.host, { retry: policy });
    try {
      proxy.addFault({
        method: 'GET',
        path: /\/manifests\//,
        times: 1,
        fault: { kind: 'rate-limit', retryAfter: 3 },
      });
      // A whole second 5 s or more ahead: HTTP dates drop the milliseconds, and a slow machine
      // may take a while to the second 429.
      const when = new Date(Math.ceil(Date.now() / 1000) * 1000 + 5000).toUTCString();
      proxy.addFault({
        method: 'GET',
        path: /\/manifests\//,
        times: 1,
        fault: { kind: 'rate-limit', retryAfter: when },
      });
      const got = await client.getManifest(repo, 'v1');
      expect(got.descriptor).toEqual(image.manifest.descriptor);
      expect(delays).toHaveLength(2);
      expect(delays[0]).toBe(3000);
      // An HTTP date: 5-6 s from when it was made, less the time to the second 429.
      expect(delays[1]).toBeGreaterThan(2000);
      expect(delays[1]).toBeLessThanOrEqual(6000);
      expect(proxy.requests.filter((r) => r.path.includes('/manifests/')).map((r) => r.status)).toEqual([
        429, 429, 200,
      ]);
    } finally {
      await client.close();
    }
  });

  it('caps a long Retry-After', async () => {
    const { delays, policy } = recordingRetry();
    const client = new RegistryClient(proxy.host, { retry: { ...policy, maxRetryAfterMs: 5000 } });
    try {
      proxy.addFault({ path: /\/manifests\//, times: 1, fault: { kind: 'rate-limit', retryAfter: 3600 } });
      await client.getManifest(repo, 'v1');
      expect(delays).toEqual([5000]);
    } finally {
      await client.close();
    }
  });

  it('retries 503 with growing backoff, and gives up with a clear error after the attempts', async () => {
    const { delays, policy } = recordingRetry(4);
    const client = new RegistryClient(proxy.host, {
      retry: { ...policy, baseDelayMs: 100, random: () => 1 },
    });
    try {
      proxy.addFault({ method: 'GET', path: blobPath, times: 2, fault: { kind: 'error', status: 503 } });
      const bytes = await readStream(await client.fetchBlob(repo, layer().descriptor));
      expect(bytes.equals(layer().bytes)).toBe(true);
      expect(delays).toEqual([100, 200]);

      delays.length = 0;
      proxy.addFault({ method: 'GET', path: /\/manifests\//, fault: { kind: 'error', status: 503 } });
      const error = await failure(client.getManifest(repo, 'v1'));
      expect(error.code).toBe('ERR_REGISTRY');
      expect((error as { status?: number }).status).toBe(503);
      expect(error.message).toContain('after 4 attempts');
      expect(delays).toEqual([100, 200, 400]);
    } finally {
      await client.close();
    }
  });

  it('does not retry a 500 on a write, but does on a read', async () => {
    const { delays, policy } = recordingRetry();
    const client = new RegistryClient(proxy.host, { retry: policy });
    try {
      proxy.addFault({
        method: 'GET',
        path: /\/manifests\//,
        times: 1,
        fault: { kind: 'error', status: 500 },
      });
      await client.getManifest(repo, 'v1');
      expect(delays).toHaveLength(1);
      proxy.addFault({
        method: 'PUT',
        path: /\/manifests\//,
        times: 1,
        fault: { kind: 'error', status: 500 },
      });
      const error = await failure(
        client.putManifest(repo, 'again', image.manifest.descriptor.mediaType, image.manifest.bytes),
      );
      expect(error.code).toBe('ERR_REGISTRY');
      expect(delays).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('resumes a blob cut mid-body from where it broke (Range), delivering every byte once', async () => {
    const { policy } = recordingRetry();
    const client = new RegistryClient(proxy.host, { retry: policy });
    try {
      proxy.addFault({
        method: 'GET',
        path: blobPath,
        times: 1,
        fault: { kind: 'reset', afterBytes: 200_000 },
      });
      const bytes = await readStream(await client.fetchBlob(repo, layer().descriptor));
      expect(bytes.equals(layer().bytes)).toBe(true);
      const gets = proxy.requests.filter((r) => r.method === 'GET' && blobPath.test(r.path));
      expect(gets).toHaveLength(2);
      expect(gets[0]!.completed).toBe(false);
      // The second request asked only for the rest.
      expect(gets[1]!.status).toBe(206);
      expect(gets[1]!.bytesSent).toBeLessThan(layer().bytes.length);
      expect(gets[0]!.bytesSent + gets[1]!.bytesSent).toBeGreaterThanOrEqual(layer().bytes.length);
    } finally {
      await client.close();
    }
  });

  it('errors cleanly when a blob keeps being cut, having delivered only a true prefix', async () => {
    const { policy } = recordingRetry(3);
    await withClient({ retry: policy }, async (client) => {
      proxy.addFault({
        method: 'GET',
        path: blobPath,
        fault: { kind: 'reset', afterBytes: 100_000, hard: true },
      });
      const { bytes, error } = await drain(await client.fetchBlob(repo, layer().descriptor));
      expect(error).toMatchObject({ code: 'ERR_NETWORK', blob: layer().descriptor.digest });
      expect((error as Error).message).toContain(proxy.host);
      expect(bytes.length).toBeLessThan(layer().bytes.length);
      expect(bytes.equals(layer().bytes.subarray(0, bytes.length))).toBe(true);
      expect(proxy.requests.filter((r) => r.method === 'GET' && blobPath.test(r.path))).toHaveLength(3);
    });
  });

  it('retries a connection closed without an answer', async () => {
    const { delays, policy } = recordingRetry();
    const client = new RegistryClient(proxy.host, { retry: policy });
    try {
      proxy.addFault({ path: /\/manifests\//, times: 1, fault: { kind: 'hangup' } });
      expect((await client.getManifest(repo, 'v1')).descriptor).toEqual(image.manifest.descriptor);
      expect(delays).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('times out waiting for headers (ERR_TIMEOUT) and for a stalled body', async () => {
    const { policy } = recordingRetry(2);
    const impatient = new RegistryClient(proxy.host, { retry: policy, timeouts: { headersMs: 300 } });
    // The proxy's slow body sends its headers with the first byte, a second late.
    const stalled = new RegistryClient(proxy.host, {
      retry: policy,
      timeouts: { headersMs: 5000, bodyIdleMs: 300 },
    });
    try {
      proxy.addFault({ path: /\/manifests\//, fault: { kind: 'slow', headerDelayMs: 1500 } });
      const headers = await failure(impatient.getManifest(repo, 'v1'));
      expect(headers.code).toBe('ERR_TIMEOUT');
      expect(headers.message).toContain(proxy.host);
      proxy.addFault({ method: 'GET', path: blobPath, fault: { kind: 'slow', bytesPerSecond: 1 } });
      const { bytes, error } = await drain(await stalled.fetchBlob(repo, layer().descriptor));
      expect(error).toMatchObject({ code: 'ERR_TIMEOUT', blob: layer().descriptor.digest });
      expect((error as Error).message).toContain('waiting for data');
      expect(bytes.equals(layer().bytes.subarray(0, bytes.length))).toBe(true);
    } finally {
      await impatient.close();
      await stalled.close();
    }
  });

  it('stops a blob download when the caller aborts', async () => {
    const client = new RegistryClient(proxy.host);
    try {
      proxy.addFault({ method: 'GET', path: blobPath, fault: { kind: 'slow', bytesPerSecond: 50_000 } });
      const controller = new AbortController();
      const stream = await client.fetchBlob(repo, layer().descriptor, { signal: controller.signal });
      const reason = new Error('caller gave up');
      setTimeout(() => controller.abort(reason), 100);
      const { error } = await drain(stream);
      expect(error).toBe(reason);
    } finally {
      await client.close();
    }
  });

  it("stops waiting to resume a cut blob when the caller aborts, failing with the caller's reason", async () => {
    // A real wait (10 s), cut short by the abort: the stream ends with the reason, not the timer's AbortError.
    const policy = {
      attempts: 4,
      sleep: (_ms: number, signal?: AbortSignal) => delay(10_000, undefined, signal ? { signal } : {}),
    };
    const client = new RegistryClient(proxy.host, { retry: policy });
    try {
      proxy.addFault({
        method: 'GET',
        path: blobPath,
        fault: { kind: 'reset', afterBytes: 100_000, hard: true },
      });
      const controller = new AbortController();
      const stream = await client.fetchBlob(repo, layer().descriptor, { signal: controller.signal });
      const reason = new Error('caller gave up');
      const reading = drain(stream);
      await new Promise((resolve) => setTimeout(resolve, 300));
      controller.abort(reason);
      const { error } = await reading;
      expect(error).toBe(reason);
      expect(proxy.requests.filter((r) => r.method === 'GET' && blobPath.test(r.path))).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it("an upload stops waiting out a 429's Retry-After when the caller aborts, with the caller's reason", async () => {
    await withClient({}, async (client) => {
      // The POST that opens the session is not aborted in flight (a session it opened must be
      // deleted); the wait before its retry is: an hour here.
      proxy.addFault({
        method: 'POST',
        path: /\/blobs\/uploads\//,
        times: 1,
        fault: { kind: 'rate-limit', retryAfter: 3600 },
      });
      await expectAbortedPush(client, 'abort-post');
      expect(proxy.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 429']);
    });
  });

  it("an aborted upload deletes its session with one try, not waiting out the DELETE's 429", async () => {
    await withClient({}, async (client) => {
      // The closing PUT hangs until the abort; the DELETE that follows is rate-limited for an hour.
      proxy.addFault({
        method: 'PUT',
        path: /\/blobs\/uploads\//,
        fault: { kind: 'slow', headerDelayMs: 60_000 },
      });
      proxy.addFault({
        method: 'DELETE',
        path: /\/blobs\/uploads\//,
        fault: { kind: 'rate-limit', retryAfter: 3600 },
      });
      await expectAbortedPush(client, 'abort-put');
      const deletes = proxy.requests.filter((r) => r.method === 'DELETE');
      expect(deletes.map((r) => r.status)).toEqual([429]);
    });
  });

  it('deletes the upload session when the closing PUT fails', async () => {
    const { policy } = recordingRetry(2);
    await withClient({ retry: policy }, async (client) => {
      proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'hangup' } });
      const blob = blobOf(randomBytes(2000), MediaType.ociLayerGzip);
      const error = await failure(
        client.pushBlob(uniqueRepo('put-fails'), blob.descriptor, Readable.from([blob.bytes])),
      );
      expect(error.code).toBe('ERR_NETWORK');
      const uploads = proxy.requests.filter((r) => /\/blobs\/uploads\//.test(r.path)).map((r) => r.method);
      expect(uploads[0]).toBe('POST');
      expect(uploads).toContain('PUT');
      expect(uploads.at(-1)).toBe('DELETE');
    });
  });

  it('reports a refused connection as ERR_NETWORK naming the host, at once', async () => {
    const { delays, policy } = recordingRetry();
    const client = new RegistryClient('127.0.0.1:1', { retry: policy });
    try {
      const error = await failure(client.ping());
      expect(error.code).toBe('ERR_NETWORK');
      expect(error.message).toContain('127.0.0.1:1');
      expect(error.message).toContain('refused');
      expect(delays).toHaveLength(0);
    } finally {
      await client.close();
    }
  });
});

describe('redirects to blob storage', () => {
  let proxy: FaultProxy;
  let storage: Server;
  let storageHost: string;
  let connections = 0;
  let cutRequests = 0;
  const seen: IncomingHttpHeaders[] = [];
  let image: PushedImage;
  const repo = uniqueRepo('redirect');
  const basic = env.registries.basic;
  const creds = `${basic.username}:${basic.password}`;

  beforeAll(async () => {
    const seed = new RegistryClient(basic.host, { creds });
    try {
      image = await pushImage(seed, repo, 'v1', { layers: [randomBytes(100_000)] });
    } finally {
      await seed.close();
    }
    // "Blob storage" on another loopback address: serves the layer, records what it was sent.
    storage = createServer((req, res) => {
      seen.push(req.headers);
      const layer = image.layers[0]!;
      if (req.url === `/storage-cut/${layer.descriptor.digest}`) {
        // First answer breaks off half-way; later ones ignore Range and send it all (200).
        cutRequests++;
        res.writeHead(200, { 'content-length': layer.bytes.length });
        if (cutRequests === 1) {
          res.write(layer.bytes.subarray(0, 40_000), () => res.destroy());
        } else {
          res.end(layer.bytes);
        }
        return;
      }
      if (req.url !== `/storage/${layer.descriptor.digest}`) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': layer.bytes.length,
      });
      res.end(layer.bytes);
    });
    storage.on('connection', () => {
      connections++;
    });
    await new Promise<void>((resolve) => storage.listen(0, '127.0.0.2', resolve));
    storageHost = `127.0.0.2:${(storage.address() as AddressInfo).port}`;
    proxy = await startFaultProxy(basic.host);
  });
  afterAll(async () => {
    await proxy.close();
    await new Promise((resolve) => storage.close(resolve));
  });

  it('follows the redirect without sending Authorization to the other host, reusing its connection', async () => {
    const layer = image.layers[0]!;
    proxy.addFault({
      method: 'GET',
      path: blobPath,
      fault: {
        kind: 'error',
        status: 307,
        body: '',
        headers: { location: `http://${storageHost}/storage/${layer.descriptor.digest}` },
      },
    });
    const client = new RegistryClient(proxy.host, { creds });
    try {
      // The manifest GET meets the Basic challenge: from then on Authorization goes up front.
      await client.getManifest(repo, 'v1');
      for (let i = 0; i < 3; i++) {
        const bytes = await readStream(await client.fetchBlob(repo, layer.descriptor));
        expect(bytes.equals(layer.bytes)).toBe(true);
      }
      expect(seen).toHaveLength(3);
      for (const headers of seen) expect(headers.authorization).toBeUndefined();
      expect(client.http.stats.redirects).toBe(3);
      expect(connections).toBe(1);
      expect(client.http.auth.scheme).toBe('basic');
    } finally {
      await client.close();
      proxy.clearFaults();
    }
  });

  it('resumes from a server that ignores Range by skipping what was already delivered', async () => {
    const layer = image.layers[0]!;
    proxy.addFault({
      method: 'GET',
      path: blobPath,
      fault: {
        kind: 'error',
        status: 302,
        body: '',
        headers: { location: `http://${storageHost}/storage-cut/${layer.descriptor.digest}` },
      },
    });
    seen.length = 0;
    const { policy } = recordingRetry();
    const client = new RegistryClient(proxy.host, { creds, retry: policy });
    try {
      const bytes = await readStream(await client.fetchBlob(repo, layer.descriptor));
      expect(bytes.equals(layer.bytes)).toBe(true);
      expect(cutRequests).toBe(2);
      expect(seen[0]?.range).toBeUndefined();
      expect(seen[1]?.range).toMatch(/^bytes=\d+-$/);
    } finally {
      await client.close();
      proxy.clearFaults();
    }
  });
});

describe('Retry-After parsing', () => {
  it('reads seconds and HTTP dates, and ignores junk', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:05 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});

describe('blobsNamedBy: what the tag at DEST vouches for', () => {
  const manifest = (layers: object[]) =>
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: `sha256:${'c'.repeat(64)}`, size: 10 },
        layers,
      }),
    );
  const layerOf = (fill: string, extra: object = {}) => ({
    mediaType: MediaType.ociLayerGzip,
    digest: `sha256:${fill.repeat(64)}`,
    size: 100,
    ...extra,
  });

  it('names the config and the layers a registry holds, not foreign, non-distributable or URL layers', () => {
    const blobs = blobsNamedBy(
      MediaType.ociManifest,
      manifest([
        layerOf('1'),
        layerOf('2', { mediaType: MediaType.ociLayerNondistributableGzip }),
        layerOf('3', { mediaType: MediaType.dockerLayerForeignGzip }),
        layerOf('4', { urls: ['https://example.org/layer'] }),
      ]),
    );
    expect([...blobs]).toEqual([
      [`sha256:${'c'.repeat(64)}`, 10],
      [`sha256:${'1'.repeat(64)}`, 100],
    ]);
  });

  it('names nothing for an index, another media type or bad JSON', () => {
    expect(blobsNamedBy(MediaType.ociIndex, manifest([layerOf('1')])).size).toBe(0);
    expect(blobsNamedBy(MediaType.ociManifest, Buffer.from('{not json')).size).toBe(0);
  });
});
