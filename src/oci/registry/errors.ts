/**
 * Registry answers and network failures as typed errors with clear text.
 * Messages name the registry, image and digest; never a credential or token.
 */

import { type ErrorCode, TransportError } from '../../errors.js';
import { isTimeoutError, networkErrorCode } from './retry.js';

/** One entry of a distribution error body: `{"errors":[{"code","message","detail"}]}`. */
export interface RegistryErrorEntry {
  code: string;
  message: string;
}

/** Parses a distribution error body; [] when it is not one. */
export function parseRegistryErrors(body: string): RegistryErrorEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return [];
  }
  const errors = (parsed as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.flatMap((entry: unknown) => {
    if (entry === null || typeof entry !== 'object') return [];
    const { code, message } = entry as { code?: unknown; message?: unknown };
    return [
      {
        code: typeof code === 'string' ? clean(code, 64) : 'UNKNOWN',
        message: typeof message === 'string' ? clean(message, 300) : '',
      },
    ];
  });
}

/** Printable, single-line, bounded. */
function clean(text: string, max: number): string {
  const line = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/** What a request was about, for messages. */
export type Subject =
  | { kind: 'ping' }
  | { kind: 'manifest'; repository: string; reference: string }
  | { kind: 'blob'; repository: string; digest: string }
  | { kind: 'upload'; repository: string; digest: string }
  | { kind: 'tags'; repository: string }
  | { kind: 'referrers'; repository: string; digest: string };

export interface ErrorSite {
  registry: string;
  image?: string;
  subject: Subject;
  method: string;
}

function describeSubject(subject: Subject, registry: string): string {
  switch (subject.kind) {
    case 'ping':
      return `the API root of ${registry}`;
    case 'manifest':
      return `manifest ${subject.reference} in ${registry}/${subject.repository}`;
    case 'blob':
      return `blob ${subject.digest} in ${registry}/${subject.repository}`;
    case 'upload':
      return `the upload of ${subject.digest} to ${registry}/${subject.repository}`;
    case 'tags':
      return `the tags of ${registry}/${subject.repository}`;
    case 'referrers':
      return `the referrers of ${subject.digest} in ${registry}/${subject.repository}`;
  }
}

function blobOf(subject: Subject): string | undefined {
  switch (subject.kind) {
    case 'blob':
    case 'upload':
    case 'referrers':
      return subject.digest;
    case 'manifest':
      return subject.reference.includes(':') ? subject.reference : undefined;
    default:
      return undefined;
  }
}

/** The error for a registry's non-success answer. */
export function statusError(status: number, body: string, site: ErrorSite, attempts = 1): TransportError {
  const entries = parseRegistryErrors(body);
  const first = entries[0];
  const detail = first ? `${first.code}${first.message ? `: ${first.message}` : ''}` : undefined;
  const what = describeSubject(site.subject, site.registry);
  const context: { image?: string; blob?: string; status: number } = { status };
  if (site.image !== undefined) context.image = site.image;
  const blob = blobOf(site.subject);
  if (blob !== undefined) context.blob = blob;
  const codes = new Set(entries.map((e) => e.code));
  const suffix = detail ? ` (${detail})` : '';

  let code: ErrorCode = 'ERR_REGISTRY';
  let message: string;
  if (status === 401) {
    code = 'ERR_AUTH';
    message = `authentication required/failed for ${site.registry}${suffix}`;
  } else if (status === 403) {
    code = 'ERR_DENIED';
    message = `access denied to ${what}${suffix}`;
  } else if (status === 404) {
    if (codes.has('NAME_UNKNOWN')) {
      code = 'ERR_NOT_FOUND';
      const repository = 'repository' in site.subject ? site.subject.repository : '';
      message = `repository ${site.registry}/${repository} not found`;
    } else if (site.subject.kind === 'blob' || codes.has('BLOB_UNKNOWN')) {
      code = 'ERR_BLOB_NOT_FOUND';
      message = `${what} not found`;
    } else if (site.subject.kind === 'ping') {
      message = `${site.registry} is not an OCI distribution registry (GET /v2/ answered 404)`;
    } else {
      code = 'ERR_NOT_FOUND';
      message = `${what} not found`;
    }
  } else if (status === 429) {
    message = `${site.registry} is rate-limiting requests (HTTP 429) and refused ${site.method} ${what}${
      attempts > 1 ? ` ${attempts} times` : ''
    }${suffix}`;
  } else if (status >= 500) {
    message = `${site.registry} failed on ${site.method} ${what}: HTTP ${status}${
      attempts > 1 ? ` (after ${attempts} attempts)` : ''
    }${suffix}`;
  } else if (status === 413) {
    code = 'ERR_TOO_LARGE';
    message = `${site.registry} refused ${what} as too large (HTTP 413)${suffix}`;
  } else {
    message = `${site.registry} answered HTTP ${status} to ${site.method} ${what}${suffix}`;
  }
  return new TransportError(code, message, context);
}

const certificateCodes = new Set([
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
]);

function certificateCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && certificateCodes.has(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** The error for a request that got no (complete) answer from `host`. */
export function networkError(
  error: unknown,
  host: string,
  context: { image?: string; blob?: string },
  phase: 'request' | 'body' = 'request',
): TransportError {
  const code = networkErrorCode(error);
  const ctx = { ...context, cause: error };
  if (isTimeoutError(error)) {
    const doing =
      code === 'UND_ERR_CONNECT_TIMEOUT'
        ? `connecting to ${host}`
        : code === 'UND_ERR_HEADERS_TIMEOUT'
          ? `waiting for ${host} to answer`
          : code === 'UND_ERR_BODY_TIMEOUT'
            ? `waiting for data from ${host}`
            : `talking to ${host}`;
    return new TransportError('ERR_TIMEOUT', `timed out ${doing}`, ctx);
  }
  const cert = certificateCode(error);
  if (cert !== undefined) {
    return new TransportError(
      'ERR_NETWORK',
      `the TLS certificate of ${host} is not trusted (${cert}); for a registry you trust, use --insecure-registry ${host}`,
      ctx,
    );
  }
  const during = phase === 'body' ? ' while reading the response' : '';
  switch (code) {
    case 'ECONNREFUSED':
      return new TransportError('ERR_NETWORK', `cannot connect to ${host}: connection refused`, ctx);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new TransportError('ERR_NETWORK', `cannot resolve the host name of ${host}`, ctx);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new TransportError('ERR_NETWORK', `cannot reach ${host}: no route to host`, ctx);
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return new TransportError('ERR_NETWORK', `the connection to ${host} was closed or reset${during}`, ctx);
    default: {
      const text = error instanceof Error ? clean(error.message, 200) : 'unknown error';
      return new TransportError('ERR_NETWORK', `network error talking to ${host}${during}: ${text}`, ctx);
    }
  }
}
