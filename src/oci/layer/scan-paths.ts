/**
 * Tar entry names to normalised absolute paths ('/etc/passwd'): leading './'
 * stripped, '//' and '.' collapsed, '..' resolved. Names that are absolute or
 * whose '..' climbs above the root are refused by the caller (ERR_LAYER_UNSAFE).
 */

export type NormalisedName =
  | { kind: 'path'; path: string }
  /** The root itself ('.', './'): not an entry. */
  | { kind: 'root' }
  | { kind: 'absolute' }
  | { kind: 'escape' }
  | { kind: 'empty' };

/** Names that need no work beyond a leading '/' and no trailing '/'. */
const simpleName = /^[^/.][^/]*(?:\/[^/.][^/]*)*\/?$/;

export function normaliseEntryName(name: string): NormalisedName {
  if (name === '') return { kind: 'empty' };
  if (simpleName.test(name)) {
    const path = name.endsWith('/') ? name.slice(0, -1) : name;
    return { kind: 'path', path: `/${path}` };
  }
  if (name.startsWith('/')) return { kind: 'absolute' };
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return { kind: 'escape' };
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  if (parts.length === 0) return { kind: 'root' };
  return { kind: 'path', path: `/${parts.join('/')}` };
}

/** The directory holding an absolute path ('/' for '/etc'). */
export function parentPath(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/** The last component of an absolute path. */
export function baseNameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
