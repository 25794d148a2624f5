/**
 * An HTTP proxy in front of a real registry, for fault injection: 5xx, 429 with
 * Retry-After, connections cut mid-body, slow bodies, flipped bytes. Everything
 * not matched by a fault passes through unchanged and streamed (the Host header
 * too, so the registry builds its Location URLs with the proxy's address).
 *
 *   const proxy = await startFaultProxy(env.registries.anonymous.host);
 *   proxy.addFault({ method: 'GET', path: /\/blobs\//, times: 1, fault: { kind: 'reset', afterBytes: 1000 } });
 *   // ... point the client at proxy.host ...
 *   expect(proxy.bytesSent(/\/blobs\//)).toBeLessThan(4096);
 *   await proxy.close();
 */

import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  /** Answer with this status (default 503) and a distribution-style error body; upstream is not called. */
  | { kind: 'error'; status?: number; body?: string; headers?: Record<string, string> }
  /** Answer 429 (or `status`) with `Retry-After: retryAfter` (seconds, or an HTTP date string). */
  | { kind: 'rate-limit'; retryAfter: number | string; status?: number }
  /**
   * Forward upstream's status and headers, then cut the connection after
   * `afterBytes` bytes of its body (FIN; with `hard`, a TCP RST, which may
   * also discard bytes the client has not read yet).
   */
  | { kind: 'reset'; afterBytes: number; hard?: boolean }
  /** Close the connection without any response. */
  | { kind: 'hangup' }
  /**
   * Forward the request, but cut the client's connection (and the upstream
   * request) once `afterBytes` bytes of its body have arrived: an upload
   * dropped mid-body.
   */
  | { kind: 'cut-request'; afterBytes: number }
  /** Wait `headerDelayMs` before the response headers, then send the body at `bytesPerSecond`. */
  | { kind: 'slow'; bytesPerSecond?: number; headerDelayMs?: number }
  /**
   * Flip (XOR 0xff) the body bytes at `offsets` (default: the middle byte, or
   * byte 0 if the length is unknown); length and headers unchanged.
   */
  | { kind: 'corrupt'; offsets?: number[] };

export interface FaultRule {
  /** HTTP method to match (case-insensitive); default any. */
  method?: string;
  /** Matched against the request path including the query string. */
  path: RegExp | string;
  /** How many matching requests it fires on; default every one. */
  times?: number;
  fault: Fault;
}

export interface FaultHandle {
  readonly rule: FaultRule;
  /** How many requests it has fired on so far. */
  readonly fired: number;
  /** Requests it will still fire on (Infinity when unlimited). */
  readonly remaining: number;
  remove(): void;
}

export interface ProxiedRequest {
  method: string;
  /** Path and query, as the client sent it. */
  path: string;
  /** Status sent downstream (0 when the connection was dropped before a status). */
  status: number;
  /** Response body bytes written downstream (headers not counted). */
  bytesSent: number;
  /** Request body bytes read from the client. */
  bytesReceived: number;
  /** Kind of the fault that fired on this request, if any. */
  fault?: Fault['kind'];
  /** True once the whole response was handed to the socket; false if cut (fault, abort, upstream error). */
  completed: boolean;
  /** Time to the end of the exchange (0 while it is still going). */
  durationMs: number;
}

export interface FaultProxy {
  /** '127.0.0.1:PORT' */
  host: string;
  /** 'http://127.0.0.1:PORT' */
  url: string;
  upstream: string;
  /**
   * One entry per request, in order of arrival, updated as it goes (bytesSent
   * counts as the body is written; `completed` is set before the last byte).
   */
  requests: ProxiedRequest[];
  /** Client connections accepted so far (clearLog resets it). */
  readonly connections: number;
  addFault(rule: FaultRule): FaultHandle;
  clearFaults(): void;
  /** Sum of response body bytes sent downstream, optionally only for paths matching `path`. */
  bytesSent(path?: RegExp): number;
  /** Empties `requests`. */
  clearLog(): void;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

interface ActiveRule {
  rule: FaultRule;
  fired: number;
  removed: boolean;
}

function pairsWithout(raw: string[], rewrite: (name: string, value: string) => string | undefined): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = rewrite(name.toLowerCase(), raw[i + 1]!);
    if (value !== undefined) out.push(name, value);
  }
  return out;
}

/** Resolves when `res` can take more data, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function startFaultProxy(upstreamHost: string): Promise<FaultProxy> {
  const rules: ActiveRule[] = [];
  const requests: ProxiedRequest[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const sockets = new Set<Socket>();
  let proxyHost = '';

  function match(req: IncomingMessage): ActiveRule | undefined {
    const path = req.url ?? '/';
    for (const active of rules) {
      const { rule } = active;
      if (active.removed) continue;
      if (active.fired >= (rule.times ?? Number.POSITIVE_INFINITY)) continue;
      if (rule.method && rule.method.toUpperCase() !== req.method) continue;
      const re = typeof rule.path === 'string' ? new RegExp(rule.path) : rule.path;
      if (!re.test(path)) continue;
      active.fired++;
      return active;
    }
    return undefined;
  }

  function rewriteLocation(value: string): string {
    try {
      const u = new URL(value);
      if (u.host === upstreamHost) {
        u.host = proxyHost;
        return u.toString();
      }
    } catch {
      // relative: fine as it is
    }
    return value;
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const started = Date.now();
    const entry: ProxiedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      status: 0,
      bytesSent: 0,
      bytesReceived: 0,
      completed: false,
      durationMs: 0,
    };
    requests.push(entry);
    const finished = () => {
      entry.durationMs = Date.now() - started;
    };
    res.on('finish', finished);
    res.on('close', finished);
    req.on('data', (chunk: Buffer) => {
      entry.bytesReceived += chunk.length;
    });

    const active = match(req);
    const fault = active?.rule.fault;
    if (fault) entry.fault = fault.kind;

    if (fault?.kind === 'hangup') {
      req.resume();
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'error' || fault?.kind === 'rate-limit') {
      // Read the request body first, so an uploading client sees the answer, not EPIPE.
      req.resume();
      req.on('end', () => {
        const status = fault.status ?? (fault.kind === 'error' ? 503 : 429);
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        let body: string;
        if (fault.kind === 'rate-limit') {
          headers['retry-after'] = String(fault.retryAfter);
          body = JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'injected rate limit' }] });
        } else {
          Object.assign(headers, fault.headers);
          body =
            fault.body ??
            JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `injected ${status}` }] });
        }
        headers['content-length'] = String(Buffer.byteLength(body));
        entry.status = status;
        res.writeHead(status, headers);
        entry.bytesSent += Buffer.byteLength(body);
        res.end(body);
        entry.completed = true;
      });
      return;
    }

    const upstreamReq = request({
      // A path is a unix socket (the Docker engine's), else host:port.
      ...(upstreamHost.startsWith('/')
        ? { socketPath: upstreamHost }
        : {
            host: upstreamHost.slice(0, upstreamHost.lastIndexOf(':')),
            port: Number(upstreamHost.slice(upstreamHost.lastIndexOf(':') + 1)),
          }),
      method: req.method,
      path: req.url,
      agent,
      headers: pairsWithout(req.rawHeaders, (name, value) => (HOP_BY_HOP.has(name) ? undefined : value)),
    });
    if (fault?.kind === 'cut-request') {
      // entry.bytesReceived already counts this chunk: its listener was added first.
      req.on('data', () => {
        if (entry.bytesReceived < fault.afterBytes || req.socket.destroyed) return;
        req.unpipe(upstreamReq);
        upstreamReq.destroy();
        req.socket.destroy();
      });
    }
    req.pipe(upstreamReq);
    req.on('aborted', () => upstreamReq.destroy());
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    upstreamReq.on('error', (err) => {
      if (!res.headersSent) {
        const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `proxy: ${err.message}` }] });
        entry.status = 502;
        res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      } else {
        res.destroy();
      }
    });
    upstreamReq.on('response', (upRes) => {
      void respond(upRes).catch(() => {
        upRes.destroy();
        res.destroy();
      });
    });

    async function respond(upRes: IncomingMessage): Promise<void> {
      const headers = pairsWithout(upRes.rawHeaders, (name, value) => {
        if (HOP_BY_HOP.has(name)) return undefined;
        if (name === 'location') return rewriteLocation(value);
        return value;
      });
      if (fault?.kind === 'slow' && fault.headerDelayMs) await sleep(fault.headerDelayMs);
      if (res.destroyed) {
        upRes.destroy();
        return;
      }
      const status = upRes.statusCode ?? 502;
      entry.status = status;
      res.writeHead(status, upRes.statusMessage, headers);
      const length = Number(upRes.headers['content-length']);
      const flip = new Set<number>(
        fault?.kind === 'corrupt'
          ? (fault.offsets ?? [Number.isFinite(length) && length > 0 ? Math.floor(length / 2) : 0])
          : [],
      );
      const rate = fault?.kind === 'slow' ? fault.bytesPerSecond : undefined;
      const cutAt = fault?.kind === 'reset' ? fault.afterBytes : undefined;
      let offset = 0;

      const write = async (chunk: Buffer): Promise<void> => {
        entry.bytesSent += chunk.length;
        // With a known length the client is done at the last byte: say so before it can look.
        if (cutAt === undefined && Number.isFinite(length) && entry.bytesSent >= length)
          entry.completed = true;
        if (!res.write(chunk)) await drained(res);
      };

      for await (const raw of upRes as AsyncIterable<Buffer>) {
        let chunk = raw;
        if (flip.size > 0) {
          chunk = Buffer.from(raw);
          for (const at of flip) {
            if (at >= offset && at < offset + chunk.length) chunk[at - offset]! ^= 0xff;
          }
        }
        if (cutAt !== undefined && offset + chunk.length >= cutAt) {
          const head = chunk.subarray(0, cutAt - offset);
          if (head.length > 0) {
            await new Promise<void>((resolve) => {
              entry.bytesSent += head.length;
              res.write(head, () => resolve());
            });
          }
          upRes.destroy();
          const socket = res.socket;
          if (fault?.kind === 'reset' && fault.hard && socket) {
            await sleep(20);
            socket.resetAndDestroy();
          } else {
            socket?.destroy();
          }
          return;
        }
        offset += chunk.length;
        if (rate && rate > 0) {
          const slice = Math.max(1, Math.floor(rate / 20));
          for (let i = 0; i < chunk.length; i += slice) {
            const part = chunk.subarray(i, i + slice);
            await sleep((part.length / rate) * 1000);
            if (res.destroyed) return;
            await write(part);
          }
        } else {
          await write(chunk);
        }
        if (res.destroyed) return;
      }
      if (cutAt !== undefined) {
        // The body was shorter than afterBytes: still cut before the end of the exchange.
        res.socket?.destroy();
        return;
      }
      entry.completed = true;
      res.end();
    }
  }

  const server = createServer(handle);
  let connections = 0;
  server.on('connection', (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  proxyHost = `127.0.0.1:${port}`;

  return {
    host: proxyHost,
    url: `http://${proxyHost}`,
    upstream: upstreamHost,
    requests,
    get connections() {
      return connections;
    },
    addFault(rule: FaultRule): FaultHandle {
      const active: ActiveRule = { rule, fired: 0, removed: false };
      rules.push(active);
      return {
        rule,
        get fired() {
          return active.fired;
        },
        get remaining() {
          return active.removed ? 0 : Math.max(0, (rule.times ?? Number.POSITIVE_INFINITY) - active.fired);
        },
        remove() {
          active.removed = true;
          const i = rules.indexOf(active);
          if (i >= 0) rules.splice(i, 1);
        },
      };
    },
    clearFaults() {
      for (const r of rules) r.removed = true;
      rules.length = 0;
    },
    bytesSent(path?: RegExp): number {
      return requests.filter((r) => !path || path.test(r.path)).reduce((n, r) => n + r.bytesSent, 0);
    },
    clearLog() {
      requests.length = 0;
      connections = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        agent.destroy();
      }),
  };
}
