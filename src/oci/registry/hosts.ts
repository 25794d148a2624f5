/**
 * Which host a registry name talks to, and how: Docker Hub's API host, and
 * the insecure (plain HTTP / unverified TLS) registries.
 *
 * Insecure registries are those named by `--insecure-registry HOST[:PORT]`
 * (a host without a port matches every port; an IPv4/IPv6 CIDR matches its
 * addresses) and, as docker does, loopback: `localhost`, 127.0.0.0/8, ::1.
 * For an insecure registry we first try TLS without verification and fall back
 * to plain HTTP when the server does not speak TLS, as docker does; the answer
 * is remembered for the process.
 */

import { BlockList, isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
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

/**
 * For an insecure registry: does it speak TLS? Connects once with TLS
 * (unverified); a handshake that fails for any reason but an unreachable host
 * means plain HTTP. Unreachable hosts resolve to 'https' and let the real
 * request report the error. Remembered per host for the process.
 */
export function probeScheme(host: string, timeoutMs: number): Promise<'http' | 'https'> {
  const cached = schemeCache.get(host);
  if (cached) return cached;
  const probe = new Promise<'http' | 'https'>((resolve) => {
    const { hostname, port } = splitHostPort(host);
    const options = {
      host: hostname,
      port: port ?? 443,
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
      ...(isIP(hostname) === 0 ? { servername: hostname } : {}),
    };
    const socket = tlsConnect(options);
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
    socket.once('secureConnect', () => done('https', true));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const unreachable = [
        'ECONNREFUSED',
        'ENOTFOUND',
        'EAI_AGAIN',
        'EHOSTUNREACH',
        'ENETUNREACH',
        'ETIMEDOUT',
      ];
      if (error.code !== undefined && unreachable.includes(error.code)) done('https', false);
      else done('http', true);
    });
    // A server that closes on a ClientHello without a word is not speaking TLS either.
    socket.once('close', () => done('http', true));
  });
  schemeCache.set(host, probe);
  return probe;
}

/** Forget probed schemes (tests). */
export function forgetProbedSchemes(): void {
  schemeCache.clear();
}
