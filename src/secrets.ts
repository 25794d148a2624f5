/**
 * Heuristics for credentials, shared by output redaction and the secret rule.
 * Reports name a key or a path, never a value.
 */

const secretName =
  /(pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth)(?![a-z])/i;
const harmlessName = /^(path|home|lang|tz|term|user|shell|hostname|pwd|ld_library_path|pythonpath)$/i;

/** A name such as AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, DB_PASSWORD. */
export function looksLikeSecretName(name: string): boolean {
  if (harmlessName.test(name)) return false;
  if (/(_FILE|_PATH|_URL|_ENDPOINT|_HOST|_PORT|_USER(NAME)?)$/i.test(name)) return false;
  return secretName.test(name);
}

interface ValuePattern {
  kind: string;
  pattern: RegExp;
}

const valuePatterns: ValuePattern[] = [
  { kind: 'AWS access key id', pattern: /\b(AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { kind: 'GitHub token', pattern: /\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b/ },
  { kind: 'GitLab token', pattern: /\bglpat-[A-Za-z0-9_-]{20,}\b/ },
  { kind: 'Slack token', pattern: /\bxox[baprs]-[A-Za-z0-9-]{10,}\b/ },
  { kind: 'private key', pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
  { kind: 'JSON web token', pattern: /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/ },
  { kind: 'URL with a password', pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i },
];

/** The kind of credential a value looks like, or undefined. */
export function secretValueKind(value: string): string | undefined {
  return valuePatterns.find(({ pattern }) => pattern.test(value))?.kind;
}

export const redacted = '<redacted>';

/** `NAME=value` with the value hidden when the name or the value looks like a credential. */
export function redactEnvEntry(entry: string): string {
  const equals = entry.indexOf('=');
  if (equals < 0) return entry;
  const name = entry.slice(0, equals);
  const value = entry.slice(equals + 1);
  return looksLikeSecretName(name) || secretValueKind(value) !== undefined ? `${name}=${redacted}` : entry;
}

export function redactValue(name: string, value: string): string {
  return looksLikeSecretName(name) || secretValueKind(value) !== undefined ? redacted : value;
}
