/**
 * GET and HEAD, read straight off the socket (plain TCP or TLS).
 *
 * A cold scan's main thread receives every byte of every layer. Through
 * undici each socket read became a fresh Buffer, pushed through the socket's
 * Readable, copied into llhttp's WebAssembly memory to be parsed, and pushed
 * through the response body's Readable: ~240 ms of the main thread per 210 MB
 * on the bench machine, against ~80 ms for reads into memory we hand the
 * socket ourselves (net's `onread`, which tls.connect takes too). Here reads
 * land in 256 KiB slabs and a body is handed on as views of them, without a
 * copy; only the framing (status line, headers, Content-Length, chunked, or
 * close) is parsed here. A metadata-only command then loads no undici at
 * all: its module, its parser's compile and its requests were ~20 ms of each
 * such command's start.
 *
 * Everything else (auth, redirects, retries, resumes) stays in http.ts and
 * client.ts, which see the same response shape as from undici. Requests with
 * a body (uploads) stay on undici. Connections are kept alive per origin (and
 * per TLS verification mode), one request at a time each, at most
 * maxConnectionsPerOrigin; a request that meets a kept-alive connection the
 * server had closed is sent again on a new one. Errors carry undici's codes
 * (UND_ERR_SOCKET, UND_ERR_*_TIMEOUT, or the socket's own, certificate codes
 * included), so retry.ts and errors.ts judge them alike.
 */

import { isIP, connect as netConnect, type OnReadOpts, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import type { Timeouts } from './http.js';

export type DirectHeaders = Record<string, string | string[]>;

export type DirectMethod = 'GET' | 'HEAD';

/** For https: origins. */
export interface DirectTls {
  /** False only for a registry the user called insecure. */
  rejectUnauthorized: boolean;
}

export interface DirectOptions {
  timeouts: Timeouts;
  /** Longest response head accepted, bytes. */
  maxHeaderBytes: number;
  /** How long an idle connection is kept for the next request, ms. */
  keepAliveMs: number;
  /** Most connections open to one origin at a time; more requests wait for one. */
  maxConnectionsPerOrigin: number;
}

export interface DirectResponse {
  status: number;
  headers: DirectHeaders;
  body: DirectBody;
}

/** Reads land here; a slab with less room than minReadRoom left is replaced by a fresh one. */
const slabBytes = 256 * 1024;
const minReadRoom = 64 * 1024;
/** What dump() reads to keep a connection, past which it closes it instead (undici's default). */
const dumpLimitBytes = 128 * 1024;

function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const crlfCrlf = Buffer.from('\r\n\r\n', 'latin1');
const noBytes = Buffer.alloc(0);
/** RFC 9110 token characters (field names). */
const fieldName = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
/** 1xx heads skipped before a final response, past which the server is misbehaving. */
const maxInterimResponses = 16;
const forbiddenInHeader = /[\r\n\0]/;

/** A response body: views of the connection's read slabs, pushed as they arrive. */
export class DirectBody extends Readable {
  /** Set while the connection waits for this body's consumer. */
  paused = false;
  private readonly connection: Connection;

  constructor(connection: Connection) {
    super({ highWaterMark: 64 * 1024 });
    this.connection = connection;
    // A body can fail in the read that completed its head, before the caller has its
    // response: not an uncaught error. Consumers see it by their own listener or `errored`.
    this.on('error', () => undefined);
  }

  override _read(): void {
    if (this.paused) {
      this.paused = false;
      this.connection.resumeBody(this);
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.connection.bodyDestroyed(this);
    callback(error);
  }

  /** Reads a small rest to its end (keeping the connection), or closes a big one; never rejects. */
  dump(options: { limit?: number } = {}): Promise<void> {
    const limit = options.limit ?? dumpLimitBytes;
    return new Promise<void>((resolve) => {
      if (this.readableEnded || this.destroyed) {
        resolve();
        return;
      }
      let seen = 0;
      this.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > limit) this.destroy();
      });
      this.once('end', () => resolve());
      this.once('close', () => resolve());
      this.once('error', () => resolve());
      this.resume();
    });
  }
}

type Framing =
  | { kind: 'length'; left: number }
  | { kind: 'chunked'; state: 'size' | 'data' | 'data-end' | 'trailer'; left: number; line: string }
  | { kind: 'close' }
  | { kind: 'none' };

interface Exchange {
  resolve(response: DirectResponse): void;
  reject(error: Error): void;
  /** Response bytes seen: none on a kept-alive socket the server had closed (sent again). */
  received: number;
  /** The response head read so far, and its length. */
  head: Buffer[];
  headBytes: number;
  /** The head's last (up to) 3 bytes, where a blank line may begin. */
  headTail: Buffer;
  /** Heads seen: 1xx ones are skipped, up to maxInterimResponses. */
  interim: number;
  body: DirectBody | undefined;
  framing: Framing | undefined;
  keepAlive: boolean;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  method: DirectMethod;
}

/** One socket; one exchange at a time. */
class Connection {
  readonly socket: Socket;
  /** The Host header's value: the origin's host[:port]. */
  private readonly host: string;
  /** Its origin and, for TLS, whether the certificate was verified: connections are reused within a pool only. */
  readonly pool: string;
  reused = false;
  private slab = Buffer.allocUnsafe(slabBytes);
  private used = 0;
  private exchange: Exchange | undefined;
  private readonly owner: DirectHttp;
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** Set once the socket can carry a request: connected and, for TLS, the handshake done. */
  private ready = false;
  private readonly readyEvent: 'connect' | 'secureConnect' = 'connect';

  constructor(owner: DirectHttp, url: URL, tls: DirectTls) {
    this.owner = owner;
    this.host = url.host;
    this.pool = poolKey(url, tls);
    const secure = url.protocol === 'https:';
    const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const onread = {
      buffer: () => {
        if (this.slab.length - this.used < minReadRoom) {
          this.slab = Buffer.allocUnsafe(slabBytes);
          this.used = 0;
        }
        return this.slab.subarray(this.used);
      },
      callback: (bytes: number, buffer: Uint8Array) => {
        this.used += bytes;
        // Nothing above catches here (a throw would be uncaught): a failure ends the exchange.
        try {
          return this.onBytes(buffer as Buffer, bytes);
        } catch (error) {
          this.fail(error instanceof Error ? error : new Error(String(error)));
          return false;
        }
      },
    };
    if (secure) {
      // node:tls only for a TLS origin: loading it costs every command that never needs it.
      const { connect: tlsConnect } = process.getBuiltinModule('node:tls');
      // tls.connect takes socket.connect()'s options too, onread among them (@types/node omits it).
      const options: ConnectionOptions & { onread: OnReadOpts } = {
        host: hostname,
        port,
        // SNI takes host names only (RFC 6066).
        ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
        rejectUnauthorized: tls.rejectUnauthorized,
        ALPNProtocols: ['http/1.1'],
        onread,
      };
      this.socket = tlsConnect(options);
      this.readyEvent = 'secureConnect';
    } else {
      this.socket = netConnect({ host: hostname, port, onread });
    }
    this.socket.setNoDelay(true);
    this.socket.once(this.readyEvent, () => {
      this.ready = true;
    });
    this.socket.on('error', (error: Error) => this.onClose(error));
    this.socket.on('end', () => this.onClose(undefined));
    this.socket.on('close', () => this.onClose(undefined));
  }

  /** Sends a request without a body; settles with the response head. */
  send(
    method: DirectMethod,
    path: string,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<DirectResponse> {
    return new Promise<DirectResponse>((resolve, reject) => {
      const exchange: Exchange = {
        resolve,
        reject,
        received: 0,
        head: [],
        headBytes: 0,
        headTail: noBytes,
        interim: 0,
        body: undefined,
        framing: undefined,
        keepAlive: true,
        timer: undefined,
        signal,
        onAbort: undefined,
        method,
      };
      this.exchange = exchange;
      if (this.idleTimer) clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      this.socket.ref();
      if (signal) {
        exchange.onAbort = () =>
          this.fail(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        signal.addEventListener('abort', exchange.onAbort, { once: true });
      }
      const { timeouts } = this.owner.options;
      if (!this.ready) {
        // Connecting, and for TLS the handshake too.
        exchange.timer = setTimeout(
          () => this.fail(codedError('UND_ERR_CONNECT_TIMEOUT', 'connect timed out')),
          timeouts.connectMs,
        );
        this.socket.once(this.readyEvent, () => {
          if (this.exchange !== exchange) return;
          clearTimeout(exchange.timer);
          this.startHeadersTimer(exchange);
        });
      } else {
        this.startHeadersTimer(exchange);
      }
      let text = `${method} ${path} HTTP/1.1\r\nhost: ${this.host}\r\n`;
      for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
      this.socket.write(`${text}\r\n`, 'latin1');
    });
  }

  private startHeadersTimer(exchange: Exchange): void {
    exchange.timer = setTimeout(
      () => this.fail(codedError('UND_ERR_HEADERS_TIMEOUT', 'headers timed out')),
      this.owner.options.timeouts.headersMs,
    );
  }

  /** The body's consumer wants more (a body already whole asks nothing of the next exchange). */
  resumeBody(body: DirectBody): void {
    const exchange = this.exchange;
    if (exchange === undefined || exchange.body !== body) return;
    exchange.timer?.refresh();
    this.socket.resume();
  }

  /** The consumer let go of the body: a connection with a body half read cannot serve another request. */
  bodyDestroyed(body: DirectBody): void {
    const exchange = this.exchange;
    if (exchange?.body !== body) return;
    this.exchange = undefined;
    this.settleTimer(exchange);
    this.destroy();
  }

  private settleTimer(exchange: Exchange): void {
    clearTimeout(exchange.timer);
    exchange.timer = undefined;
    if (exchange.onAbort) exchange.signal?.removeEventListener('abort', exchange.onAbort);
  }

  /** Bytes read into the slab at buffer[0..bytes). False pauses the socket. */
  private onBytes(buffer: Buffer, bytes: number): boolean {
    const exchange = this.exchange;
    if (exchange === undefined) {
      // Nothing asked: a server talking out of turn on an idle connection.
      this.destroy();
      return false;
    }
    exchange.received += bytes;
    let chunk = buffer.subarray(0, bytes);
    while (exchange.body === undefined) {
      const rest = this.onHeadBytes(exchange, chunk);
      if (rest === undefined) return !this.closed;
      // Failed, or a response without a body (more after it is a server talking out of turn).
      if (this.exchange !== exchange) return this.afterExchange(rest);
      chunk = rest;
      // A 1xx: the real head follows, in this read or a later one.
      if (exchange.body === undefined && chunk.length === 0) return true;
    }
    this.onBody(exchange, chunk);
    if (this.exchange !== exchange) return !this.closed;
    return exchange.body?.paused !== true;
  }

  /**
   * Gathers the response head: undefined while it is incomplete (or too
   * long: the exchange failed), else the bytes after it, once the head is
   * parsed. The parts are views of the slabs (never written again), joined
   * once; only the seam with the last part is searched again.
   */
  private onHeadBytes(exchange: Exchange, chunk: Buffer): Buffer | undefined {
    const parts = exchange.head;
    const before = exchange.headBytes;
    const tail = exchange.headTail;
    let end = -1;
    if (tail.length > 0) {
      const seam = Buffer.concat([tail, chunk.subarray(0, 3)]).indexOf(crlfCrlf);
      if (seam !== -1) end = before - tail.length + seam;
    }
    if (end === -1) {
      const at = chunk.indexOf(crlfCrlf);
      if (at !== -1) end = before + at;
    }
    const maxHeaderBytes = this.owner.options.maxHeaderBytes;
    if (end === -1 || end + 4 > maxHeaderBytes) {
      if (end !== -1 || before + chunk.length > maxHeaderBytes) {
        this.fail(codedError('UND_ERR_HEADERS_OVERFLOW', 'response headers too long'));
      } else {
        parts.push(chunk);
        exchange.headBytes += chunk.length;
        // The last 3 bytes so far, for the seam with the next read (parts may be shorter).
        exchange.headTail = Buffer.concat([tail, chunk]).subarray(-3);
      }
      return undefined;
    }
    const joined = parts.length === 0 ? chunk : Buffer.concat([...parts, chunk]);
    exchange.head = [];
    exchange.headBytes = 0;
    exchange.headTail = noBytes;
    if (++exchange.interim > maxInterimResponses) {
      this.fail(codedError('UND_ERR_SOCKET', 'too many interim (1xx) responses'));
      return joined.subarray(end + 4);
    }
    this.startResponse(exchange, joined.toString('latin1', 0, end));
    return joined.subarray(end + 4);
  }

  /** Reading goes on after a response only on a kept-alive connection, to see it close. */
  private afterExchange(rest: Buffer): boolean {
    if (rest.length > 0) this.destroy();
    return !this.closed;
  }

  /** Parses the head: a 1xx is skipped, a malformed one fails the exchange. */
  private startResponse(exchange: Exchange, head: string): void {
    const lines = head.split('\r\n');
    const status = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (status === null) {
      this.fail(codedError('UND_ERR_SOCKET', 'malformed response status line'));
      return;
    }
    const code = Number(status[2]);
    const headers: DirectHeaders = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      // A field name is a token, with no space before its colon (RFC 9112 section 5.1).
      if (colon <= 0 || !fieldName.test(name)) {
        this.fail(codedError('UND_ERR_SOCKET', 'malformed response header'));
        return;
      }
      const value = line.slice(colon + 1).trim();
      // Own properties only: a header named like one of Object.prototype's is a header, not a merge.
      const before = Object.hasOwn(headers, name) ? headers[name] : undefined;
      const merged =
        before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value];
      Object.defineProperty(headers, name, {
        value: merged,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    if (code >= 100 && code < 200) return;
    const own = (name: string) => (Object.hasOwn(headers, name) ? headers[name] : undefined);
    const connection = String(own('connection') ?? '').toLowerCase();
    const http11 = status[1] === '1';
    exchange.keepAlive = http11 ? !connection.includes('close') : connection.includes('keep-alive');
    const encodingHeader = own('transfer-encoding');
    const lengthHeader = own('content-length');
    if (exchange.method === 'HEAD' || code === 204 || code === 304) {
      exchange.framing = { kind: 'none' };
    } else if (encodingHeader !== undefined) {
      const codings = [encodingHeader]
        .flat()
        .join(',')
        .split(',')
        .map((coding) => coding.trim().toLowerCase());
      if (codings.at(-1) !== 'chunked') {
        this.fail(codedError('UND_ERR_SOCKET', `unsupported transfer-encoding: ${codings.join(', ')}`));
        return;
      }
      exchange.framing = { kind: 'chunked', state: 'size', left: 0, line: '' };
      // Both framings, or chunked from HTTP/1.0: read as chunked, but not a connection to reuse
      // (RFC 9112 section 6.3: a message smuggling attempt, or a confused intermediary).
      if (lengthHeader !== undefined || !http11) exchange.keepAlive = false;
    } else if (lengthHeader !== undefined) {
      const text = Array.isArray(lengthHeader) ? lengthHeader[0] : lengthHeader;
      if (
        !/^\d{1,15}$/.test(text ?? '') ||
        (Array.isArray(lengthHeader) && lengthHeader.some((v) => v !== text))
      ) {
        this.fail(codedError('UND_ERR_SOCKET', 'malformed content-length'));
        return;
      }
      exchange.framing = { kind: 'length', left: Number(text) };
    } else {
      exchange.framing = { kind: 'close' };
      exchange.keepAlive = false;
    }
    const body = new DirectBody(this);
    exchange.body = body;
    // From here the timer watches the body's silences.
    clearTimeout(exchange.timer);
    exchange.timer = setTimeout(() => {
      // Silence while the consumer is busy is not the server's: the wait starts again.
      if (body.paused) exchange.timer?.refresh();
      else this.fail(codedError('UND_ERR_BODY_TIMEOUT', 'body timed out'));
    }, this.owner.options.timeouts.bodyIdleMs);
    exchange.resolve({ status: code, headers, body });
    if (
      exchange.framing.kind === 'none' ||
      (exchange.framing.kind === 'length' && exchange.framing.left === 0)
    ) {
      this.complete(exchange);
    }
  }

  /** Hands body bytes on per the framing. */
  private onBody(exchange: Exchange, chunk: Buffer): void {
    const framing = exchange.framing as Framing;
    const body = exchange.body as DirectBody;
    exchange.timer?.refresh();
    if (framing.kind === 'length') {
      if (chunk.length > framing.left) {
        // More than the response holds: not a connection to trust with another request.
        exchange.keepAlive = false;
        chunk = chunk.subarray(0, framing.left);
      }
      framing.left -= chunk.length;
      if (chunk.length > 0) this.push(body, chunk);
      if (framing.left === 0) this.complete(exchange);
    } else if (framing.kind === 'close') {
      if (chunk.length > 0) this.push(body, chunk);
    } else if (framing.kind === 'chunked') {
      this.onChunked(exchange, framing, body, chunk);
    }
  }

  private push(body: DirectBody, chunk: Buffer): void {
    if (!body.push(chunk)) body.paused = true;
  }

  /** Chunked transfer coding (RFC 9112 section 7.1).  */
  private onChunked(
    exchange: Exchange,
    framing: Extract<Framing, { kind: 'chunked' }>,
    body: DirectBody,
    chunk: Buffer,
  ): void {
    let at = 0;
    while (at < chunk.length) {
      if (framing.state === 'data') {
        const take = Math.min(framing.left, chunk.length - at);
        this.push(body, chunk.subarray(at, at + take));
        at += take;
        framing.left -= take;
        if (framing.left === 0) framing.state = 'data-end';
        continue;
      }
      const newline = chunk.indexOf(10, at);
      const end = newline === -1 ? chunk.length : newline;
      framing.line += chunk.toString('latin1', at, end);
      at = newline === -1 ? chunk.length : newline + 1;
      if (newline === -1) {
        if (framing.line.length > 4096) {
          this.fail(codedError('UND_ERR_SOCKET', 'malformed chunked body'));
          return;
        }
        continue;
      }
      const line = framing.line.replace(/\r$/, '');
      framing.line = '';
      if (framing.state === 'data-end') {
        if (line !== '') {
          this.fail(codedError('UND_ERR_SOCKET', 'malformed chunked body'));
          return;
        }
        framing.state = 'size';
      } else if (framing.state === 'size') {
        const size = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/.exec(line);
        if (size === null) {
          this.fail(codedError('UND_ERR_SOCKET', 'malformed chunked body'));
          return;
        }
        framing.left = Number.parseInt(size[1] as string, 16);
        framing.state = framing.left === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        // The empty line after the trailer fields: the body is complete.
        if (at < chunk.length) exchange.keepAlive = false;
        this.complete(exchange);
        return;
      }
    }
  }

  /** The response is whole: the body ends, the connection goes back to the pool. */
  private complete(exchange: Exchange): void {
    this.exchange = undefined;
    this.settleTimer(exchange);
    exchange.body?.push(null);
    if (exchange.keepAlive && !this.closed) {
      this.reused = true;
      this.owner.release(this);
    } else {
      this.destroy();
    }
  }

  /** Ends the exchange with an error and the connection with it. */
  fail(error: Error): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    this.destroy();
    if (exchange === undefined) return;
    this.settleTimer(exchange);
    if (exchange.body) exchange.body.destroy(error);
    else exchange.reject(error);
  }

  private onClose(error: Error | undefined): void {
    const exchange = this.exchange;
    // A body that runs to the connection's end may end with a reset rather than a FIN (as undici reads it).
    const ending = error === undefined || (error as NodeJS.ErrnoException).code === 'ECONNRESET';
    if (exchange?.framing?.kind === 'close' && ending) {
      this.complete(exchange);
      return;
    }
    if (exchange === undefined) {
      this.destroy();
      return;
    }
    if (exchange.received === 0 && exchange.body === undefined && this.reused && !this.closed) {
      // A kept-alive connection the server had closed: the request never reached it.
      this.exchange = undefined;
      this.settleTimer(exchange);
      this.destroy();
      exchange.reject(codedError('IVOC_STALE_CONNECTION', 'kept-alive connection closed'));
      return;
    }
    this.fail(error ?? codedError('UND_ERR_SOCKET', 'other side closed'));
  }

  idle(keepAliveMs: number): void {
    this.socket.unref();
    this.idleTimer = setTimeout(() => this.destroy(), keepAliveMs);
    this.idleTimer.unref();
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.socket.destroy();
    this.owner.forget(this);
  }
}

function poolKey(url: URL, tls: DirectTls): string {
  return url.protocol === 'https:' && !tls.rejectUnauthorized ? `${url.origin} unverified` : url.origin;
}

/** Kept-alive connections per origin (and TLS verification mode), for GETs and HEADs. */
export class DirectHttp {
  readonly options: DirectOptions;
  private readonly idleConnections = new Map<string, Connection[]>();
  private readonly all = new Set<Connection>();
  /** Open connections per origin, and the requests waiting for one to come free. */
  private readonly opened = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();
  private closed = false;

  constructor(options: DirectOptions) {
    this.options = options;
  }

  /** GET or HEAD `url` (http: or https:) with `headers` (lower-case names). */
  async request(
    method: DirectMethod,
    url: URL,
    headers: Record<string, string>,
    signal?: AbortSignal,
    tls: DirectTls = { rejectUnauthorized: true },
  ): Promise<DirectResponse> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`direct ${method} of ${url.protocol} URL`);
    }
    const path = `${url.pathname}${url.search}`;
    for (const [name, value] of Object.entries(headers)) {
      if (forbiddenInHeader.test(name) || forbiddenInHeader.test(value) || name.includes(':')) {
        throw new TypeError(`invalid header ${JSON.stringify(name)}`);
      }
    }
    if (forbiddenInHeader.test(path) || path.includes(' ')) throw new TypeError('invalid request path');
    for (;;) {
      // Each attempt: an abort between a stale attempt and its resend would find no listener.
      signal?.throwIfAborted();
      if (this.closed) throw codedError('UND_ERR_CLOSED', 'client closed');
      const pool = poolKey(url, tls);
      const connection = this.take(pool) ?? this.open(url, tls);
      if (connection === undefined) {
        await this.turn(pool, signal);
        continue;
      }
      try {
        return await connection.send(method, path, headers, signal);
      } catch (error) {
        // Sent again on a new connection only when the old one had been closed under us.
        if ((error as { code?: string }).code !== 'IVOC_STALE_CONNECTION') throw error;
      }
    }
  }

  private take(pool: string): Connection | undefined {
    const list = this.idleConnections.get(pool);
    while (list && list.length > 0) {
      const connection = list.pop() as Connection;
      if (!connection.socket.destroyed) return connection;
    }
    return undefined;
  }

  /** A new connection, unless the origin has its most open already. */
  private open(url: URL, tls: DirectTls): Connection | undefined {
    const pool = poolKey(url, tls);
    const count = this.opened.get(pool) ?? 0;
    if (count >= this.options.maxConnectionsPerOrigin) return undefined;
    this.opened.set(pool, count + 1);
    const connection = new Connection(this, url, tls);
    this.all.add(connection);
    return connection;
  }

  /** Waits until a connection of `pool` is released or closed (or the caller aborts). */
  private turn(pool: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let list = this.waiting.get(pool);
      if (list === undefined) {
        list = [];
        this.waiting.set(pool, list);
      }
      const waiter = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const at = list.indexOf(waiter);
        if (at !== -1) list.splice(at, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      list.push(waiter);
    });
  }

  /** One waiting request may go on: a connection was released or closed. */
  private next(pool: string): void {
    this.waiting.get(pool)?.shift()?.();
  }

  release(connection: Connection): void {
    let list = this.idleConnections.get(connection.pool);
    if (list === undefined) {
      list = [];
      this.idleConnections.set(connection.pool, list);
    }
    list.push(connection);
    connection.idle(this.options.keepAliveMs);
    this.next(connection.pool);
  }

  forget(connection: Connection): void {
    if (!this.all.delete(connection)) return;
    this.opened.set(connection.pool, (this.opened.get(connection.pool) ?? 1) - 1);
    const list = this.idleConnections.get(connection.pool);
    const at = list?.indexOf(connection) ?? -1;
    if (list && at !== -1) list.splice(at, 1);
    this.next(connection.pool);
  }

  close(): void {
    this.closed = true;
    for (const connection of [...this.all]) connection.fail(codedError('UND_ERR_CLOSED', 'client closed'));
    this.idleConnections.clear();
    // Requests waiting for a connection find the client closed.
    for (const list of this.waiting.values()) for (const waiter of list.splice(0)) waiter();
  }
}
