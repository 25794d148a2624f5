/** `ExposedPorts` keys as docker writes them: `8888/tcp`, `8888` (tcp), `53/udp`, a range `8000-8010/tcp`. */

export interface ExposedPort {
  /** The key as written in the config. */
  key: string;
  /** First port of the key (the only one unless it is a range). */
  port: number;
  /** Last port of a range; equals `port` otherwise. */
  last: number;
  protocol: string;
}

const portKey = /^(\d{1,5})(?:-(\d{1,5}))?(?:\/([a-zA-Z]+))?$/;

/** Parses one `ExposedPorts` key; undefined when it is not a port. */
export function parseExposedPort(key: string): ExposedPort | undefined {
  const match = portKey.exec(key.trim());
  if (!match) return undefined;
  const port = Number(match[1]);
  const last = match[2] === undefined ? port : Number(match[2]);
  if (port < 1 || last > 65535 || last < port) return undefined;
  return { key, port, last, protocol: (match[3] ?? 'tcp').toLowerCase() };
}

export function exposedPortKeys(exposed: Record<string, object> | undefined | null): string[] {
  return Object.keys(exposed ?? {});
}

/** Whether the key exposes `port` over TCP. */
export function exposesTcp(port: ExposedPort | undefined, wanted: number): boolean {
  return port !== undefined && port.protocol === 'tcp' && port.port <= wanted && wanted <= port.last;
}

/** A decimal port number 1..65535, as a label carries it; undefined otherwise. */
export function parsePortNumber(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}
