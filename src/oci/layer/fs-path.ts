/**
 * Path helpers for the merged filesystem view: canonical absolute paths
 * ('/', '/etc', '/etc/passwd' — no trailing slash, no '.', '..' or '//'),
 * and the glob dialect of CaptureSpec ('*' and '?' within a component,
 * '**' across components).
 */

/** Parent of a canonical path; the root's parent is the root. */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/** Last component of a canonical path ('' for the root). */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Child path of a canonical directory path. */
export function childOf(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/**
 * The components of a path, dropping empty ones and '.'; '..' is kept because
 * its meaning depends on the symbolic links met on the way.
 */
export function components(path: string): string[] {
  const parts = path.split('/');
  let keep = 0;
  for (const part of parts) {
    if (part !== '' && part !== '.') parts[keep++] = part;
  }
  parts.length = keep;
  return parts;
}

/**
 * Lexical normalisation (no symbolic links consulted): absolute, '.', '//'
 * and trailing '/' removed, '..' applied and clamped at the root. Relative
 * paths are taken relative to `cwd` (default '/').
 */
export function normalizePath(path: string, cwd = '/'): string {
  const parts = path.startsWith('/') ? components(path) : [...components(cwd), ...components(path)];
  const out: string[] = [];
  for (const part of parts) {
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

/**
 * An absolute path for `path` (relative ones are taken from `cwd`), with
 * '.', '//' and trailing '/' removed but '..' kept: only a resolution that
 * follows symbolic links knows where '..' leads.
 */
export function absolutePath(path: string, cwd = '/'): string {
  return `/${components(path.startsWith('/') ? path : `${cwd}/${path}`).join('/')}`;
}

const regexSpecial = /[\\^$.|+(){}[\]]/g;

/**
 * Compile a CaptureSpec-style glob over absolute paths to a RegExp:
 * '*' matches any run of characters within one component (dot files
 * included), '?' one character within a component, and a '**' component any
 * number of whole components: zero or more in the middle of a pattern (the
 * components '/etc', '**', 'x.conf' match '/etc/x.conf'), one or more at its
 * end ('/home' then '**' matches what is below '/home', not '/home' itself),
 * as the scanner's capture globs read them. Everything else is literal.
 */
export function compileGlob(pattern: string): RegExp {
  const parts = components(pattern);
  let source = '^';
  for (const [index, part] of parts.entries()) {
    if (part === '**') {
      source += index === parts.length - 1 ? '(?:/[^/]+)+' : '(?:/[^/]+)*';
      continue;
    }
    source += '/';
    for (const char of part) {
      if (char === '*') source += '[^/]*';
      else if (char === '?') source += '[^/]';
      else source += char.replace(regexSpecial, '\\$&');
    }
  }
  if (parts.length === 0) source += '/';
  return new RegExp(`${source}$`);
}

/**
 * The longest directory prefix of a glob without wildcards: every match lies
 * under it, so a search can walk that subtree only.
 */
export function globBase(pattern: string): string {
  const parts = components(pattern);
  const literal: string[] = [];
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i]!;
    if (part.includes('*') || part.includes('?') || part === '..') break;
    literal.push(part);
  }
  return `/${literal.join('/')}`;
}
