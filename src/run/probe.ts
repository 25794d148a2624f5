import { request } from 'node:http';
import { connect } from 'node:net';
import type { HttpProbe } from './observations.js';

/**
 * Network probes of a published port on loopback. The engine's userland
 * proxy accepts every connection on the host port and closes it at once when
 * nothing listens inside, so "accepts TCP" means: the connection opens and is
 * still open `holdMs` later (a server waits for the request).
 */
export function tcpAccepts(host: string, port: number, holdMs = 300, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      setTimeout(() => finish(true), holdMs);
    });
    socket.once('end', () => finish(false));
    socket.once('close', () => finish(false));
    socket.once('error', () => finish(false));
  });
}

/** One GET without following redirects. */
export function httpGet(url: string, startedAt: number, timeoutMs = 5_000): Promise<HttpProbe> {
  const begin = Date.now();
  const base = { url, atMs: begin - startedAt };
  return new Promise((resolve) => {
    const req = request(
      url,
      { method: 'GET', headers: { accept: 'text/html,*/*', 'user-agent': 'ivoc-run' } },
      (res) => {
        const probe: HttpProbe = { ...base, status: res.statusCode ?? 0, ms: Date.now() - begin };
        const location = res.headers.location;
        if (location !== undefined) probe.location = location;
        const challenge = res.headers['www-authenticate'];
        if (challenge !== undefined) probe.challenge = challenge;
        res.resume();
        resolve(probe);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (error) => resolve({ ...base, error: error.message, ms: Date.now() - begin }));
    req.end();
  });
}

/**
 * GET the access path and follow redirects while they stay on the same host
 * and inside the path (at most `maxHops`): the chain the run rules classify.
 */
export async function probeChain(
  origin: string,
  accessPath: string,
  startedAt: number,
  maxHops = 5,
): Promise<HttpProbe[]> {
  const chain: HttpProbe[] = [];
  let url = new URL(accessPath, origin).toString();
  for (let hop = 0; hop <= maxHops; hop++) {
    const probe = await httpGet(url, startedAt);
    chain.push(probe);
    if (
      probe.status === undefined ||
      probe.status < 300 ||
      probe.status >= 400 ||
      probe.location === undefined
    )
      break;
    let target: URL;
    try {
      target = new URL(probe.location, url);
    } catch {
      break;
    }
    if (target.host !== new URL(origin).host || !target.pathname.startsWith(accessPath)) break;
    url = target.toString();
  }
  return chain;
}
