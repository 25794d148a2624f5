/**
 * Which host a registry name talks to, and how: Docker Hub's API host, and
 * the insecure (plain HTTP / unverified TLS) registries.
 *
 * Insecure registries are those named by `--insecure-registry HOST[:PORT]`
 * (a host without a port matches every port; an IPv4/IPv6 CIDR matches its
 * addresses) and, as docker does, loopback: `localhost`, 127.0.0.0/8, ::1.
 * For an insecure registry we use TLS without verification when the server
 * speaks TLS, else plain HTTP, as docker does; the answer is remembered for
 * the process.
 */

import { BlockList, isIP, connect as netConnect } from 'node:net';
import { dockerHubRegistry } from '../reference.js';

export const dockerHubApiHost = 'registry-1.docker.io';

/** The host[:port] serving the registry API for a registry name. */
export function apiHost(registry: string): string {
  return registry === dockerHubRegistry || registry === 'index.docker.io' ? dockerHubApiHost : registry;
}

/** Splits `host[:port]` / `[v6]:port` into hostname (no brackets) and port. */
export function splitHostPort(hostPort: string): { hostname: string; port?: number } {
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    const hostname = hostPort.slice(1, end < 0 ? undefined : end);
    const rest = end < 0 ? '' : hostPort.slice(end + 1);
    return rest.startsWith(':') ? { hostname, port: Number(rest.slice(1)) } : { hostname };
  }
  const colon = hostPort.lastIndexOf(':');
  if (colon > 0 && hostPort.indexOf(':') === colon && /^\d+$/.test(hostPort.slice(colon + 1))) {
    return { hostname: hostPort.slice(0, colon), port: Number(hostPort.slice(colon + 1)) };
  }
  return { hostname: hostPort };
}

export function isLoopbackHost(hostPort: string): boolean {
  const { hostname } = splitHostPort(hostPort.toLowerCase());
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) return true;
  if (isIP(hostname) === 4) return hostname.startsWith('127.');
  if (isIP(hostname) === 6) return hostname === '::1' || hostname === '0:0:0:0:0:0:0:1';
  return false;
}

/** Does `--insecure-registry` (plus loopback) cover this registry? */
export function isInsecureRegistry(registry: string, insecure: readonly string[] = []): boolean {
  const host = registry.toLowerCase();
  if (isLoopbackHost(host)) return true;
  const { hostname, port } = splitHostPort(host);
  for (const raw of insecure) {
    const entry = raw
      .trim()
      .toLowerCase()
      .replace(/^[a-z]+:\/\//, '')
      .replace(/\/+$/, '');
    if (entry === '') continue;
    if (entry.includes('/')) {
      const [net, bits] = entry.split('/');
      const family = isIP(net ?? '');
      const ipFamily = isIP(hostname);
      if (family !== 0 && ipFamily === family && /^\d+$/.test(bits ?? '')) {
        const list = new BlockList();
        list.addSubnet(net!, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
        if (list.check(hostname, family === 4 ? 'ipv4' : 'ipv6')) return true;
      }
      continue;
    }
    const wanted = splitHostPort(entry);
    if (wanted.hostname !== hostname) continue;
    if (wanted.port === undefined || wanted.port === port) return true;
  }
  return false;
}

const schemeCache = new Map<string, Promise<'http' | 'https'>>();

const unreachable = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
]);

/**
 * For an insecure registry: does it speak TLS? Sends a TLS ClientHello over a
 * plain TCP connection and looks at the first byte of the answer: a TLS server
 * answers with a handshake record (0x16) or an alert (0x15), whatever it makes
 * of our hello; an HTTP server answers `HTTP/1.x 400` or closes. Unreachable
 * hosts resolve to 'https' and let the real request report the error.
 * Remembered per host for the process. (A raw hello rather than tls.connect:
 * loading node:tls and a secure context cost ~25 ms of every command's start.)
 */
export function probeScheme(host: string, timeoutMs: number): Promise<'http' | 'https'> {
  const cached = schemeCache.get(host);
  if (cached) return cached;
  const probe = new Promise<'http' | 'https'>((resolve) => {
    const { hostname, port } = splitHostPort(host);
    const socket = netConnect({ host: hostname, port: port ?? 443 });
    socket.setNoDelay(true);
    let settled = false;
    const done = (scheme: 'http' | 'https', keep: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (!keep) schemeCache.delete(host);
      resolve(scheme);
    };
    const timer = setTimeout(() => done('https', false), timeoutMs);
    socket.once('connect', () => {
      socket.write(clientHello(isIP(hostname) === 0 ? hostname : undefined));
    });
    socket.once('data', (chunk: Buffer) => {
      const first = chunk[0];
      done(first === tlsHandshakeRecord || first === tlsAlertRecord ? 'https' : 'http', true);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== undefined && unreachable.has(error.code)) done('https', false);
      else done('http', true);
    });
    // A server that closes on a ClientHello without a word is not speaking TLS either.
    socket.once('close', () => done('http', true));
  });
  schemeCache.set(host, probe);
  return probe;
}

const tlsHandshakeRecord = 0x16;
const tlsAlertRecord = 0x15;

// Built from plain arrays: Buffer.alloc and Buffer.concat, run cold, cost a start ~0.5 ms here.
function u16(value: number): number[] {
  return [(value >>> 8) & 0xff, value & 0xff];
}

/** A TLS vector with a 2-byte length. */
function vector16(body: number[]): number[] {
  return [...u16(body.length), ...body];
}

function extension(type: number, body: number[]): number[] {
  return [...u16(type), ...vector16(body)];
}

/**
 * A ClientHello offering TLS 1.3 and 1.2 (RFC 8446 section 4.1.2): enough for
 * a TLS server to answer with a ServerHello or a HelloRetryRequest (any
 * answer in TLS, an alert included, tells the probe enough). The probe never
 * completes a handshake, so neither its random nor its key shares matter.
 */
export function clientHello(serverName: string | undefined): Buffer {
  const extensions = [
    // supported_groups: x25519, secp256r1
    ...extension(0x000a, vector16([0x00, 0x1d, 0x00, 0x17])),
    // signature_algorithms: ecdsa_secp256r1_sha256, rsa_pss_rsae_sha256, rsa_pkcs1_sha256
    ...extension(0x000d, vector16([0x04, 0x03, 0x08, 0x04, 0x04, 0x01])),
    // ec_point_formats: uncompressed
    ...extension(0x000b, [0x01, 0x00]),
    // supported_versions: TLS 1.3, TLS 1.2
    ...extension(0x002b, [0x04, 0x03, 0x04, 0x03, 0x03]),
    // key_share: no shares (allowed; a TLS 1.3 server answers with a HelloRetryRequest)
    ...extension(0x0033, vector16([])),
  ];
  if (serverName !== undefined) {
    // server_name: one host_name entry (the caller passes a DNS name: ASCII)
    const name = [...Buffer.from(serverName, 'ascii')];
    extensions.unshift(...extension(0x0000, vector16([0x00, ...vector16(name)])));
  }
  const body = [
    ...[0x03, 0x03], // legacy_version: TLS 1.2
    ...new Array<number>(32).fill(0), // random
    0x00, // legacy_session_id: empty
    // cipher_suites: TLS_AES_128_GCM_SHA256, ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-RSA-AES128-GCM-SHA256
    ...vector16([0x13, 0x01, 0xc0, 0x2b, 0xc0, 0x2f]),
    ...[0x01, 0x00], // legacy_compression_methods: null
    ...vector16(extensions),
  ];
  // client_hello, with a uint24 length
  const handshake = [
    0x01,
    (body.length >>> 16) & 0xff,
    (body.length >>> 8) & 0xff,
    body.length & 0xff,
    ...body,
  ];
  return Buffer.from([tlsHandshakeRecord, 0x03, 0x01, ...vector16(handshake)]);
}

/** Forget probed schemes (tests). */
export function forgetProbedSchemes(): void {
  schemeCache.clear();
}
