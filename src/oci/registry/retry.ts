/**
 * Retries for registry requests: exponential backoff with jitter, `Retry-After`
 * honoured (capped), a bounded number of attempts.
 *
 * What is retried, and why:
 * - 429 for any request whose body can be sent again: the registry refused it
 *   before doing anything (RFC 6585).
 * - 502, 503, 504 for idempotent requests (GET, HEAD, PUT of a manifest, and
 *   the upload-starting POST, whose only effect is an abandoned session).
 * - 500 only for GET and HEAD: reads cannot have half-happened.
 * - connection resets, sockets closed early, connect/header/body timeouts,
 *   for idempotent requests.
 * A request that streams its body (a blob upload PATCH/PUT) is never retried:
 * the stream cannot be replayed. Connection refused and DNS failures are not
 * retried either: the answer would be the same a second later, and the user
 * should hear about a wrong host or port at once.
 *
 * A blob GET that fails mid-body is resumed by the client (see client.ts), not
 * here: this module only decides and waits.
 */

export interface RetryPolicy {
  /** Total attempts, first one included. Default 4. */
  attempts: number;
  /** First backoff delay in ms; doubles each time. Default 200. */
  baseDelayMs: number;
  /** Upper bound of one backoff delay in ms. Default 5000. */
  maxDelayMs: number;
  /** Upper bound for a wait asked by `Retry-After`, in ms. Default 30000. */
  maxRetryAfterMs: number;
  /** Waits; tests replace it to record delays instead of sleeping. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Random source in [0, 1) for jitter. */
  random: () => number;
}

export const defaultRetryPolicy: RetryPolicy = {
  attempts: 4,
  baseDelayMs: 200,
  maxDelayMs: 5000,
  maxRetryAfterMs: 30_000,
  // node:timers/promises loaded on the first wait, not with every command (~0.3 ms).
  sleep: (ms, signal) =>
    process
      .getBuiltinModule('node:timers/promises')
      .setTimeout(ms, undefined, signal === undefined ? undefined : { signal }),
  random: Math.random,
};

/**
 * The policy's wait. Aborted, it fails with the signal's reason: the timer
 * rejects with a generic AbortError, and the caller wants its own.
 */
export async function waitFor(policy: RetryPolicy, ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await policy.sleep(ms, signal);
  } catch (error) {
    throw signal?.aborted ? (signal.reason ?? error) : error;
  }
}

export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const policy = { ...defaultRetryPolicy };
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) (policy as Record<string, unknown>)[key] = value;
  }
  policy.attempts = Math.max(1, Math.floor(policy.attempts));
  return policy;
}

/**
 * Parses `Retry-After`: delta-seconds or an HTTP date. Returns ms from `now`
 * (never negative), or undefined when absent or unparsable.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const when = Date.parse(text);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - now);
}

/** Backoff before retry number `retry` (1 for the first retry): equal jitter over an exponential step. */
export function backoffDelay(retry: number, policy: RetryPolicy): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(step / 2 + (step / 2) * policy.random());
}

/** The wait before the next attempt: `Retry-After` (capped) when given, else backoff. */
export function retryDelay(retry: number, policy: RetryPolicy, retryAfter?: string): number {
  const asked = parseRetryAfter(retryAfter);
  if (asked !== undefined) return Math.min(asked, policy.maxRetryAfterMs);
  return backoffDelay(retry, policy);
}

export interface RetryKind {
  /** GET or HEAD. */
  read: boolean;
  /** Safe to send again (no side effect beyond the first). */
  idempotent: boolean;
  /** The body can be sent again (none, or a buffer). */
  replayable: boolean;
}

export function isRetryableStatus(status: number, kind: RetryKind): boolean {
  if (!kind.replayable) return false;
  if (status === 429) return true;
  if (status === 502 || status === 503 || status === 504) return kind.idempotent;
  if (status === 500) return kind.read;
  return false;
}

const transientCodes = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** The low-level error code of a network failure, looking through `cause`. */
export function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      (code.startsWith('E') || code.startsWith('UND_ERR') || code.startsWith('ERR_SSL'))
    )
      return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isTransientNetworkError(error: unknown): boolean {
  const code = networkErrorCode(error);
  return code !== undefined && transientCodes.has(code);
}

export function isTimeoutError(error: unknown): boolean {
  const code = networkErrorCode(error);
  return (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'ETIMEDOUT'
  );
}
