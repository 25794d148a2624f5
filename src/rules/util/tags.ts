/**
 * Does a tag look immutable (IVC-PLAT-002, spec/standard.md)? It does when it
 * starts with a full version (`2.3.0`, `v2.3.0`, `2.3.0-cuda12`) or a full
 * calendar date (`2025-03-14`, `20250314`, `2025.03.14`, with a suffix).
 * `latest`, names such as `main` or `stable`, and partial versions such as
 * `3` or `3.11` (which move with each release) do not.
 */

export type TagKind = 'version' | 'date' | 'latest' | 'mutable';

/** MAJOR.MINOR.PATCH at the start, not running on into more digits. */
const fullVersion = /^v?\d+\.\d+\.\d+(?!\d)/;

/** YYYY-MM-DD, YYYYMMDD or YYYY.MM.DD at the start (one separator throughout), not running on into more digits. */
const fullDate = /^(?:19|20)\d{2}([-.]?)(?:0[1-9]|1[0-2])\1(?:0[1-9]|[12]\d|3[01])(?!\d)/;

export function tagKind(tag: string): TagKind {
  if (tag === 'latest') return 'latest';
  if (fullDate.test(tag)) return 'date';
  if (fullVersion.test(tag)) return 'version';
  return 'mutable';
}

/** Why a mutable tag moves, for the message: partial versions get their own reason. */
export function whyMutable(tag: string): string {
  if (/^(?:19|20)\d{2}[-.]?(?:0[1-9]|1[0-2])$/.test(tag)) return 'a month, not a full date';
  if (/^v?\d+(\.\d+)?$/.test(tag)) return 'a partial version, which moves with each release';
  return 'neither a full version nor a date';
}
