/**
 * Layer bodies read straight off the socket (src/oci/registry/direct.ts):
 * against the real registry (through the fault proxy, which counts
 * connections) and against raw TCP servers written here, for the framings
 * and failures a registry or its blob storage may send: chunked bodies with
 * extensions and trailers, bodies ended by close, 1xx heads, heads split
 * across reads, kept-alive connections closed under us, oversized heads,
 * stalls and premature ends.
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { RegistryClient } from '../src/oci/registry/client.js';
import { DirectHttp, type DirectOptions } from '../src/oci/registry/direct.js';
import type { FaultProxy } from './env/fault-proxy.js';
import { drain, type PushedImage, pushBehindProxy, readStream, uniqueRepo } from './registry-support.js';
import { selfSignedCertificate } from './support/tls.js';

const env = inject('testEnv');

const options: DirectOptions = {
  timeouts: { connectMs: 5000, headersMs: 5000, bodyIdleMs: 5000 },
  maxHeaderBytes: 64 * 1024,
  keepAliveMs: 10_000,
  maxConnectionsPerOrigin: 32,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A raw TCP server: `answer` gets each request head (GET, no body) on its socket. */
interface RawServer {
  url: string;
  connections: number;
  requests: string[];
  close(): Promise<void>;
}

async function rawServer(answer: (socket: Socket, head: string, index: number) => void): Promise<RawServer> {
  const state = { connections: 0, requests: [] as string[] };
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setNoDelay(true);
    let pending = '';
    socket.on('data', (data) => {
      pending += data.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        state.requests.push(head);
        answer(socket, head, state.requests.length - 1);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    requests: state.requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Writes the parts with a pause between them, so that each arrives in its own read. */
async function trickle(socket: Socket, parts: (string | Buffer)[], pauseMs = 15): Promise<void> {
  for (const part of parts) {
    socket.write(part);
    await sleep(pauseMs);
  }
}

describe('direct layer reads from the real registry', () => {
  let proxy: FaultProxy;
  let image: PushedImage;
  const repo = uniqueRepo('direct');

  beforeAll(async () => {
    ({ image, proxy } = await pushBehindProxy(env.registries.anonymous.host, repo, [
      randomBytes(3 * 1024 * 1024 + 17),
    ]));
  });
  afterAll(async () => {
    await proxy.close();
  });
  afterEach(() => {
    proxy.clearFaults();
    proxy.clearLog();
  });

  it('reads a layer whole and verified, three times on one kept-alive connection', async () => {
    const client = new RegistryClient(proxy.host);
    try {
      const layer = image.layers[0]!;
      await client.getManifest(repo, 'v1');
      proxy.clearLog();
      for (let i = 0; i < 3; i++) {
        const bytes = await readStream(await client.fetchBlob(repo, layer.descriptor));
        expect(bytes.equals(layer.bytes)).toBe(true);
      }
      expect(proxy.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['GET 200', 'GET 200', 'GET 200']);
      // The manifest's connection, kept alive, served the layers too.
      expect(proxy.connections).toBe(0);
    } finally {
      await client.close();
    }
  });

  it('GETs with the same request headers as undici would send, and the registry answers them', async () => {
    const direct = new DirectHttp(options);
    try {
      const layer = image.layers[0]!;
      const url = new URL(`http://${proxy.host}/v2/${repo}/blobs/${layer.descriptor.digest}`);
      const response = await direct.request('GET', url, { 'user-agent': 'ivoc-test', range: 'bytes=1000-' });
      expect(response.status).toBe(206);
      expect(response.headers['content-range']).toBe(
        `bytes 1000-${layer.bytes.length - 1}/${layer.bytes.length}`,
      );
      const bytes = await readStream(response.body);
      expect(bytes.equals(layer.bytes.subarray(1000))).toBe(true);
    } finally {
      direct.close();
    }
  });

  it('pauses the socket while the consumer is busy: what is buffered stays bounded', async () => {
    const direct = new DirectHttp(options);
    try {
      const layer = image.layers[0]!;
      const url = new URL(`http://${proxy.host}/v2/${repo}/blobs/${layer.descriptor.digest}`);
      const response = await direct.request('GET', url, {});
      let received = 0;
      let mostBuffered = 0;
      for await (const chunk of response.body) {
        received += (chunk as Buffer).length;
        mostBuffered = Math.max(mostBuffered, response.body.readableLength);
        if (received < 1024 * 1024) await sleep(5);
      }
      expect(received).toBe(layer.bytes.length);
      // The body's high-water mark plus what one read brings.
      expect(mostBuffered).toBeLessThanOrEqual(64 * 1024 + 256 * 1024);
    } finally {
      direct.close();
    }
  });
});

describe('direct reads: framing', () => {
  let server: RawServer | undefined;
  const direct = new DirectHttp(options);
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  afterAll(() => direct.close());

  it('decodes a chunked body with extensions and trailers, split at every awkward place', async () => {
    server = await rawServer((socket) => {
      void trickle(socket, [
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n',
        'Content-Type: application/octet-stream\r\n\r\n5;name=v',
        'alue\r\nhel',
        'lo\r',
        '\n6\r\n world\r\n0\r\nX-Trailer: t\r',
        '\n\r\n',
      ]);
    });
    const response = await direct.request('GET', new URL(`${server.url}/chunked`), {});
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/octet-stream');
    expect((await readStream(response.body)).toString()).toBe('hello world');
    // The connection is kept for the next request.
    const again = await direct.request('GET', new URL(`${server.url}/chunked`), {});
    expect((await readStream(again.body)).toString()).toBe('hello world');
    expect(server.connections).toBe(1);
  });

  it('reads a body without a length to the end of the connection, and does not reuse it', async () => {
    server = await rawServer((socket) => {
      void trickle(socket, ['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of ', 'it']).then(() =>
        socket.end(),
      );
    });
    for (let i = 0; i < 2; i++) {
      const response = await direct.request('GET', new URL(`${server.url}/close`), {});
      expect((await readStream(response.body)).toString()).toBe('all of it');
    }
    expect(server.connections).toBe(2);
  });

  it('skips a 100 Continue head and keeps repeated headers as a list', async () => {
    server = await rawServer((socket) => {
      socket.write(
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nLink: <a>\r\nLink: <b>\r\nContent-Length: 2\r\n\r\nok',
      );
    });
    const response = await direct.request('GET', new URL(`${server.url}/continue`), {});
    expect(response.status).toBe(200);
    expect(response.headers.link).toEqual(['<a>', '<b>']);
    expect((await readStream(response.body)).toString()).toBe('ok');
  });

  it('ends an empty body at once (204, Content-Length: 0) and keeps the connection', async () => {
    server = await rawServer((socket, _head, index) => {
      socket.write(
        index === 0 ? 'HTTP/1.1 204 No Content\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
      );
    });
    for (const status of [204, 200]) {
      const response = await direct.request('GET', new URL(`${server.url}/empty`), {});
      expect(response.status).toBe(status);
      expect((await readStream(response.body)).length).toBe(0);
    }
    expect(server.connections).toBe(1);
  });

  it('sends the request again on a new connection when a kept-alive one was closed under it', async () => {
    server = await rawServer((socket, _head, index) => {
      // The server's idle timeout and our request cross: the second request meets a closing socket.
      if (index === 1) socket.destroy();
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc');
    });
    for (let i = 0; i < 2; i++) {
      const response = await direct.request('GET', new URL(`${server.url}/stale`), {});
      expect((await readStream(response.body)).toString()).toBe('abc');
    }
    expect(server.requests).toHaveLength(3);
    expect(server.connections).toBe(2);
  });

  it('does not send again a request whose answer had begun, nor one on a fresh connection', async () => {
    server = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Le');
      setTimeout(() => socket.destroy(), 20);
    });
    await expect(direct.request('GET', new URL(`${server.url}/cut-head`), {})).rejects.toMatchObject({
      code: 'UND_ERR_SOCKET',
    });
    expect(server.requests).toHaveLength(1);
  });

  it('fails a body cut short with UND_ERR_SOCKET, having delivered a true prefix', async () => {
    const bytes = randomBytes(1000);
    server = await rawServer((socket) => {
      void trickle(socket, [
        Buffer.concat([
          Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'),
          bytes.subarray(0, 600),
        ]),
      ]).then(() => socket.destroy());
    });
    const response = await direct.request('GET', new URL(`${server.url}/short`), {});
    const { bytes: got, error } = await drain(response.body);
    expect(error).toMatchObject({ code: 'UND_ERR_SOCKET' });
    expect(got.equals(bytes.subarray(0, got.length))).toBe(true);
    expect(got.length).toBe(600);
  });

  it('refuses a head over the size limit, a malformed status line and a bad chunk size', async () => {
    server = await rawServer((socket, head) => {
      if (head.includes('/big'))
        socket.write(`HTTP/1.1 200 OK\r\nX-Filler: ${'x'.repeat(70 * 1024)}\r\n\r\n`);
      else if (head.includes('/junk')) socket.write('SSH-2.0-OpenSSH\r\n\r\n');
      else socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    });
    await expect(direct.request('GET', new URL(`${server.url}/big`), {})).rejects.toMatchObject({
      code: 'UND_ERR_HEADERS_OVERFLOW',
    });
    await expect(direct.request('GET', new URL(`${server.url}/junk`), {})).rejects.toMatchObject({
      code: 'UND_ERR_SOCKET',
    });
    const chunked = await direct.request('GET', new URL(`${server.url}/bad-chunk`), {});
    expect((await drain(chunked.body)).error).toMatchObject({ code: 'UND_ERR_SOCKET' });
  });

  it('times out a silent server (headers) and a stalled body, but not a busy consumer', async () => {
    const quick = new DirectHttp({
      ...options,
      timeouts: { connectMs: 5000, headersMs: 200, bodyIdleMs: 200 },
    });
    // The body cases wait 1 s: a loaded machine's pause of 200 ms must not pass for a stall.
    const patient = new DirectHttp({
      ...options,
      timeouts: { connectMs: 5000, headersMs: 5000, bodyIdleMs: 1000 },
    });
    try {
      server = await rawServer((socket, head) => {
        if (head.includes('/silent')) return;
        if (head.includes('/stall')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
        else if (head.includes('/later'))
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${300_000}\r\n\r\n${'z'.repeat(200_000)}`);
        else void trickle(socket, ['HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc', 'def']);
      });
      await expect(quick.request('GET', new URL(`${server.url}/silent`), {})).rejects.toMatchObject({
        code: 'UND_ERR_HEADERS_TIMEOUT',
      });
      const stalled = await patient.request('GET', new URL(`${server.url}/stall`), {});
      expect((await drain(stalled.body)).error).toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
      // The consumer takes longer than the body timeout between reads: the server is not to blame.
      const slowReader = await patient.request('GET', new URL(`${server.url}/fine`), {});
      slowReader.body.pause();
      await sleep(1500);
      expect((await readStream(slowReader.body)).toString()).toBe('abcdef');
      // A consumer that was busy, then reads on while the server has stalled: the stall is caught.
      const later = await patient.request('GET', new URL(`${server.url}/later`), {});
      later.body.pause();
      await sleep(1500);
      const { bytes, error } = await drain(later.body);
      expect(bytes.length).toBe(200_000);
      expect(error).toMatchObject({ code: 'UND_ERR_BODY_TIMEOUT' });
    } finally {
      quick.close();
      patient.close();
    }
  });

  it('stops at once when the caller aborts, with the caller’s reason', async () => {
    server = await rawServer(() => undefined);
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    setTimeout(() => controller.abort(reason), 50);
    await expect(direct.request('GET', new URL(`${server.url}/never`), {}, controller.signal)).rejects.toBe(
      reason,
    );
  });

  it('refuses header values and paths that would split the request', async () => {
    server = await rawServer(() => undefined);
    await expect(
      direct.request('GET', new URL(`${server.url}/x`), { authorization: 'a\r\nx-evil: 1' }),
    ).rejects.toThrow(TypeError);
    expect(server.requests).toHaveLength(0);
  });

  it('finds a head whose blank line is split across three reads', async () => {
    server = await rawServer((socket) => {
      void trickle(socket, ['HTTP/1.1 200 OK\r\nContent-Length: 2\r', '\n\r', '\nok'], 30);
    });
    const response = await direct.request('GET', new URL(`${server.url}/seam`), {});
    expect((await readStream(response.body)).toString()).toBe('ok');
  });

  it('fails, never crashes, on endless 1xx heads and on a consumer that throws', async () => {
    let bodyTo: Socket | undefined;
    server = await rawServer((socket, head) => {
      if (head.includes('/interim'))
        socket.write(`${'HTTP/1.1 100 Continue\r\n\r\n'.repeat(8000)}HTTP/1.1 200 OK\r\n\r\n`);
      else {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
        bodyTo = socket;
      }
    });
    await expect(direct.request('GET', new URL(`${server.url}/interim`), {})).rejects.toMatchObject({
      code: 'UND_ERR_SOCKET',
      message: expect.stringMatching(/interim/),
    });
    const response = await direct.request('GET', new URL(`${server.url}/fine`), {});
    const failure = new Promise((resolve) => response.body.once('error', resolve));
    response.body.on('data', () => {
      throw new Error('consumer bug');
    });
    // The body is sent once the consumer listens, so that it is handed on inside the socket's read
    // (sent with the head, it would wait in the body's buffer and reach the consumer from a later tick).
    bodyTo?.write('hello');
    expect(await failure).toMatchObject({ message: 'consumer bug' });
  });

  it('keeps headers named like Object.prototype members as headers', async () => {
    server = await rawServer((socket) => {
      socket.write(
        'HTTP/1.1 200 OK\r\n__proto__: a\r\n__proto__: b\r\nConstructor: c\r\ntoString: d\r\nContent-Length: 0\r\n\r\n',
      );
    });
    const { headers } = await direct.request('GET', new URL(`${server.url}/proto`), {});
    expect(Object.getPrototypeOf(headers)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(headers, '__proto__')?.value).toEqual(['a', 'b']);
    expect(headers.constructor).toBe('c');
    expect(headers.tostring).toBe('d');
  });

  it('refuses framing a smuggler would use, and does not reuse a connection that sent both framings', async () => {
    server = await rawServer((socket, head) => {
      if (head.includes('/both'))
        socket.write(
          'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
        );
      else if (head.includes('/xchunked'))
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok');
    });
    const both = await direct.request('GET', new URL(`${server.url}/both`), {});
    expect((await readStream(both.body)).toString()).toBe('ok');
    await expect(direct.request('GET', new URL(`${server.url}/xchunked`), {})).rejects.toMatchObject({
      code: 'UND_ERR_SOCKET',
    });
    await expect(direct.request('GET', new URL(`${server.url}/space`), {})).rejects.toMatchObject({
      code: 'UND_ERR_SOCKET',
    });
    // Each answer above left its connection closed.
    expect(server.connections).toBe(3);
  });

  it('takes a reset at the end of a body without a length as its end, as undici does', async () => {
    server = await rawServer((socket) => {
      void trickle(socket, ['HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello']).then(() =>
        socket.resetAndDestroy(),
      );
    });
    const response = await direct.request('GET', new URL(`${server.url}/reset`), {});
    expect((await readStream(response.body)).toString()).toBe('hello');
  });

  it('opens at most maxConnectionsPerOrigin connections; other requests wait their turn', async () => {
    const capped = new DirectHttp({ ...options, maxConnectionsPerOrigin: 2 });
    try {
      server = await rawServer((socket, _head, index) => {
        setTimeout(
          () => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n${String(index).padStart(2, '0')}`),
          30,
        );
      });
      const url = new URL(`${server.url}/queued`);
      const bodies = await Promise.all(
        Array.from({ length: 6 }, async () =>
          (await readStream((await capped.request('GET', url, {})).body)).toString(),
        ),
      );
      expect(bodies.sort()).toEqual(['00', '01', '02', '03', '04', '05']);
      expect(server.connections).toBe(2);
      // A request waiting for its turn stops when its caller aborts.
      const controller = new AbortController();
      const reason = new Error('caller gave up');
      const busy = [capped.request('GET', url, {}), capped.request('GET', url, {})];
      const waiting = capped.request('GET', url, {}, controller.signal);
      controller.abort(reason);
      await expect(waiting).rejects.toBe(reason);
      for (const response of await Promise.all(busy)) await readStream(response.body);
    } finally {
      capped.close();
    }
  });

  it('dump() reads a small rest to keep the connection, and closes a big one', async () => {
    const big = 'y'.repeat(200 * 1024);
    server = await rawServer((socket, head) => {
      const body = head.includes('/big') ? big : 'small';
      socket.write(`HTTP/1.1 404 Not Found\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
    await (await direct.request('GET', new URL(`${server.url}/small`), {})).body.dump();
    await (await direct.request('GET', new URL(`${server.url}/small`), {})).body.dump();
    expect(server.connections).toBe(1);
    await (await direct.request('GET', new URL(`${server.url}/big`), {})).body.dump();
    await (await direct.request('GET', new URL(`${server.url}/small`), {})).body.dump();
    expect(server.connections).toBe(2);
  });
});

describe('direct reads over TLS', () => {
  it('reads over TLS (SNI for a host name, none for an address), keeps the connection, and refuses an untrusted certificate', async () => {
    const dir = await mkdtemp(join(env.workDir, 'direct-tls-'));
    const { key, cert } = await selfSignedCertificate(dir, { commonName: 'localhost' });
    const names: (string | false)[] = [];
    let connections = 0;
    const server = createTlsServer({ key, cert }, (socket) => {
      connections++;
      names.push((socket as TLSSocket & { servername: string | false }).servername);
      socket.on('error', () => undefined);
      let pending = '';
      socket.on('data', (data) => {
        pending += data.toString('latin1');
        for (let end = pending.indexOf('\r\n\r\n'); end !== -1; end = pending.indexOf('\r\n\r\n')) {
          pending = pending.slice(end + 4);
          socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const direct = new DirectHttp(options);
    try {
      const insecure = { rejectUnauthorized: false };
      for (const host of ['localhost', 'localhost', '127.0.0.1']) {
        const response = await direct.request(
          'GET',
          new URL(`https://${host}:${port}/x`),
          {},
          undefined,
          insecure,
        );
        expect((await readStream(response.body)).toString()).toBe('hello');
      }
      expect(names).toEqual(['localhost', false]);
      expect(connections).toBe(2);
      // A verified request never rides the kept-alive connection opened without verification
      // (it would have read 'hello'): it opens its own, and the certificate fails.
      await expect(
        direct.request('GET', new URL(`https://localhost:${port}/x`), {}, undefined, {
          rejectUnauthorized: true,
        }),
      ).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    } finally {
      direct.close();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
