import { UsageError } from '../errors.js';
import { isDigest } from './digest.js';

/**
 * Image references in skopeo's transport syntax, with registry names
 * normalised as docker does (docker.io/library/NAME:latest).
 */

export type Transport = 'docker' | 'oci' | 'oci-archive' | 'docker-archive' | 'docker-daemon';

/** A reference to an image in a registry, normalised. */
export interface RegistryReference {
  /** Host[:port] as written, `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path inside the registry, e.g. `library/alpine`. */
  repository: string;
  tag?: string;
  digest?: string;
}

export type ImageReference =
  | ({ transport: 'docker' } & RegistryReference)
  | { transport: 'oci'; path: string; tag?: string }
  | { transport: 'oci-archive'; path: string; tag?: string }
  | { transport: 'docker-archive'; path: string; ref?: RegistryReference; index?: number }
  | {
      transport: 'docker-daemon';
      /** A normalised name, or an image ID when `id` is set. */
      ref?: RegistryReference;
      id?: string;
    };

export const dockerHubRegistry = 'docker.io';
export const defaultTag = 'latest';

const pathComponent = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const tagPattern = /^[\w][\w.-]{0,127}$/;
const domainComponent = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;

function badReference(input: string, why: string): UsageError {
  return new UsageError(`invalid image reference '${input}': ${why}`, 'ERR_REFERENCE');
}

function isDomain(candidate: string): boolean {
  if (candidate === 'localhost') return true;
  if (candidate.startsWith('[')) return /^\[[0-9a-fA-F:.]+\](?::\d+)?$/.test(candidate);
  if (!candidate.includes('.') && !candidate.includes(':')) return false;
  const [host, port, extra] = candidate.split(':');
  if (extra !== undefined || host === undefined) return false;
  if (port !== undefined && !/^\d{1,5}$/.test(port)) return false;
  return host.split('.').every((label) => domainComponent.test(label));
}

/** Parses a docker-style name `[REGISTRY/]REPO[:TAG][@DIGEST]` and normalises it as docker does. */
export function parseRegistryReference(
  input: string,
  options: { defaultTag?: boolean } = {},
): RegistryReference {
  if (input.length === 0) throw badReference(input, 'empty');
  if (input.length > 4096) throw badReference(`${input.slice(0, 40)}...`, 'too long');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw badReference(input, `'${digest}' is not a valid digest`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!tagPattern.test(tag)) throw badReference(input, `'${tag}' is not a valid tag`);
  }
  const parts = rest.split('/');
  let registry = dockerHubRegistry;
  const first = parts[0] ?? '';
  if (parts.length > 1 && isDomain(first)) {
    registry = first;
    parts.shift();
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = dockerHubRegistry;
  if (parts.length === 0 || parts.some((part) => part.length === 0))
    throw badReference(input, 'empty path component');
  for (const part of parts) {
    if (!pathComponent.test(part)) {
      const why =
        part !== part.toLowerCase() ? 'repository name must be lowercase' : `invalid component '${part}'`;
      throw badReference(input, why);
    }
  }
  if (registry === dockerHubRegistry && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > 255) throw badReference(input, 'repository name longer than 255 characters');
  if (tag === undefined && digest === undefined && options.defaultTag !== false) tag = defaultTag;
  const reference: RegistryReference = { registry, repository };
  if (tag !== undefined) reference.tag = tag;
  if (digest !== undefined) reference.digest = digest;
  return reference;
}

/** `docker.io/library/alpine:3.20@sha256:...` */
export function formatRegistryReference(reference: RegistryReference): string {
  let out = `${reference.registry}/${reference.repository}`;
  if (reference.tag !== undefined) out += `:${reference.tag}`;
  if (reference.digest !== undefined) out += `@${reference.digest}`;
  return out;
}

/** Shortest familiar form, as docker prints it: `alpine:3.20`, `team/app:1`, `127.0.0.1:5000/team/app:1`. */
export function familiarName(reference: RegistryReference): string {
  let name = `${reference.registry}/${reference.repository}`;
  if (reference.registry === dockerHubRegistry) {
    name = reference.repository.startsWith('library/') ? reference.repository.slice(8) : reference.repository;
  }
  if (reference.tag !== undefined) name += `:${reference.tag}`;
  if (reference.digest !== undefined) name += `@${reference.digest}`;
  return name;
}

/** Splits `PATH[:REST]` at the first colon, as containers/image does for layout and archive transports. */
function splitPath(input: string, rest: string): [string, string | undefined] {
  const colon = rest.indexOf(':');
  const path = colon < 0 ? rest : rest.slice(0, colon);
  const suffix = colon < 0 ? undefined : rest.slice(colon + 1);
  if (path.length === 0) throw badReference(input, 'empty path');
  return [path, suffix === '' ? undefined : suffix];
}

/** Parses any transport form of interfaces.md; a bare reference means `docker://`. */
export function parseImageReference(input: string): ImageReference {
  const trimmed = input.trim();
  if (trimmed.length === 0) throw badReference(input, 'empty');
  if (trimmed.startsWith('docker://')) {
    return { transport: 'docker', ...parseRegistryReference(trimmed.slice('docker://'.length)) };
  }
  const colon = trimmed.indexOf(':');
  const prefix = colon < 0 ? '' : trimmed.slice(0, colon);
  const rest = trimmed.slice(colon + 1);
  switch (prefix) {
    case 'oci':
    case 'oci-archive': {
      const [path, tag] = splitPath(input, rest);
      if (tag !== undefined && !tagPattern.test(tag) && !/^[\w][\w.:/@+-]*$/.test(tag)) {
        throw badReference(input, `'${tag}' is not a valid reference name`);
      }
      return tag === undefined ? { transport: prefix, path } : { transport: prefix, path, tag };
    }
    case 'docker-archive': {
      const [path, suffix] = splitPath(input, rest);
      if (suffix === undefined) return { transport: 'docker-archive', path };
      if (suffix.startsWith('@')) {
        const index = Number(suffix.slice(1));
        if (!Number.isInteger(index) || index < 0)
          throw badReference(input, `'${suffix}' is not a valid source index`);
        return { transport: 'docker-archive', path, index };
      }
      return { transport: 'docker-archive', path, ref: parseRegistryReference(suffix) };
    }
    case 'docker-daemon': {
      if (rest.length === 0) throw badReference(input, 'empty image name');
      if (/^sha256:[a-f0-9]{64}$/.test(rest)) return { transport: 'docker-daemon', id: rest };
      return { transport: 'docker-daemon', ref: parseRegistryReference(rest) };
    }
    default:
      if (/^[a-z][a-z0-9+.-]*:\/\//.test(trimmed)) {
        throw badReference(input, `unknown transport '${trimmed.slice(0, trimmed.indexOf(':'))}'`);
      }
      return { transport: 'docker', ...parseRegistryReference(trimmed) };
  }
}

/** The reference in transport syntax, normalised: what reports and errors show. */
export function formatImageReference(reference: ImageReference): string {
  switch (reference.transport) {
    case 'docker':
      return `docker://${formatRegistryReference(reference)}`;
    case 'oci':
    case 'oci-archive':
      return reference.tag === undefined
        ? `${reference.transport}:${reference.path}`
        : `${reference.transport}:${reference.path}:${reference.tag}`;
    case 'docker-archive':
      if (reference.ref) return `docker-archive:${reference.path}:${formatRegistryReference(reference.ref)}`;
      if (reference.index !== undefined) return `docker-archive:${reference.path}:@${reference.index}`;
      return `docker-archive:${reference.path}`;
    case 'docker-daemon':
      return reference.id !== undefined
        ? `docker-daemon:${reference.id}`
        : `docker-daemon:${formatRegistryReference(reference.ref!)}`;
  }
}
