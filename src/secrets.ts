/**
 * Heuristics for credentials, shared by output redaction and the secret rule.
 * Reports name a key or a path, never a value.
 */

const secretName =
  /(pass(word|wd)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|auth)(?![a-z])/i;
const harmlessName = /^(path|home|lang|tz|term|user|shell|hostname|pwd|ld_library_path|pythonpath)$/i;

/** Words one of which secretName needs: most names have none, and are told so without a regex. */
const secretNameWords = ['pass', 'secret', 'token', 'key', 'credential', 'auth'];

/** A name such as AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, DB_PASSWORD. */
export function looksLikeSecretName(name: string): boolean {
  // Compiling these regexes cost a metadata-only inspect ~1 ms: skipped when secretName cannot match.
  const lower = name.toLowerCase();
  if (!secretNameWords.some((word) => lower.includes(word))) return false;
  if (harmlessName.test(name)) return false;
  if (/(_FILE|_PATH|_URL|_ENDPOINT|_HOST|_PORT|_USER(NAME)?)$/i.test(name)) return false;
  return secretName.test(name);
}

interface ValuePattern {
  kind: string;
  /** Literal text every match contains, one of these: a value with none is not tested (or compiled) at all. */
  hints: string[];
  pattern: RegExp;
}

const valuePatterns: ValuePattern[] = [
  { kind: 'AWS access key id', hints: ['AKIA', 'ASIA'], pattern: /\b(AKIA|ASIA)[0-9A-Z]{16}\b/ },
  {
    kind: 'GitHub token',
    hints: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'],
    pattern: /\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b/,
  },
  { kind: 'GitLab token', hints: ['glpat-'], pattern: /\bglpat-[A-Za-z0-9_-]{20,}\b/ },
  { kind: 'Slack token', hints: ['xox'], pattern: /\bxox[baprs]-[A-Za-z0-9-]{10,}\b/ },
  { kind: 'private key', hints: ['-----BEGIN '], pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----/ },
  {
    kind: 'JSON web token',
    hints: ['eyJ'],
    pattern: /\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/,
  },
  { kind: 'URL with a password', hints: ['://'], pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i },
];

/** The kind of credential a value looks like, or undefined. */
export function secretValueKind(value: string): string | undefined {
  return valuePatterns.find(
    ({ hints, pattern }) => hints.some((hint) => value.includes(hint)) && pattern.test(value),
  )?.kind;
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
