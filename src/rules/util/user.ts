import type { FileSystemView, PasswdEntry } from '../../oci/layer/filesystem.js';

/**
 * The config's `User` in its `user[:group]` forms (IVC-USER-001/002/004).
 * Docker and the OCI config take everything before the first ':' as the
 * user and the rest as the group; a part made of digits is an id.
 */
export interface ParsedUser {
  /** The value as the config carries it ('' when unset). */
  raw: string;
  /** The user part (before any ':'). */
  user: string;
  /** The group part, when the value has a ':'. */
  group: string | undefined;
  /** The user part is a number (a UID). */
  userNumeric: boolean;
  /** The group part is a number (a GID); false when there is no group part. */
  groupNumeric: boolean;
}

const digits = /^\d+$/;

export function parseUser(value: string | undefined): ParsedUser {
  const raw = value ?? '';
  const colon = raw.indexOf(':');
  const user = colon < 0 ? raw : raw.slice(0, colon);
  const group = colon < 0 ? undefined : raw.slice(colon + 1);
  return {
    raw,
    user,
    group,
    userNumeric: digits.test(user),
    groupNumeric: group !== undefined && digits.test(group),
  };
}

/** '0', '00', ... : a numeric id equal to zero. */
export function isZeroId(part: string): boolean {
  return digits.test(part) && Number(part) === 0;
}

/** Why the user part means root, or undefined when it does not (by the config alone). */
export function rootReason(parsed: ParsedUser): string | undefined {
  if (parsed.raw.trim() === '') return 'User is not set, so the container runs as root (UID 0)';
  if (parsed.user === '') return `User '${parsed.raw}' has an empty user part, which means root (UID 0)`;
  if (parsed.user === 'root') return `User '${parsed.raw}' is root`;
  if (isZeroId(parsed.user)) return `User '${parsed.raw}' is UID 0 (root)`;
  return undefined;
}

/** The passwd entry for the image's user: by name, or by UID for a numeric user. */
export function imageUserEntry(fs: FileSystemView, parsed: ParsedUser): PasswdEntry | undefined {
  const passwd = fs.passwd();
  if (!passwd.readable || parsed.user === '') return undefined;
  return parsed.userNumeric ? passwd.byId(Number(parsed.user)) : passwd.byName(parsed.user);
}
