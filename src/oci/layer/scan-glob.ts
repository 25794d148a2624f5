/**
 * A tiny glob matcher over absolute paths: '*' and '?' stay within one
 * component, '**' crosses components ('/a/**' + '/b' also matches '/a/b').
 * Patterns not starting with '/' are taken from the root.
 */

export type PathMatcher = (path: string) => boolean;

export function compilePathGlob(pattern: string): RegExp {
  const source = pattern.startsWith('/') ? pattern : `/${pattern}`;
  let regex = '^';
  for (let i = 0; i < source.length; i++) {
    const char = source[i] as string;
    if (char === '*') {
      if (source[i + 1] === '*') {
        i++;
        if (source[i + 1] === '/') {
          // '**/': zero or more whole components.
          i++;
          regex += '(?:[^/]*/)*';
        } else {
          regex += '.*';
        }
      } else {
        regex += '[^/]*';
      }
    } else if (char === '?') {
      regex += '[^/]';
    } else {
      regex += char.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
    }
  }
  return new RegExp(`${regex}$`, 's');
}

/** One matcher for many globs (a single alternation); undefined when there are none. */
export function compilePathGlobs(patterns: readonly string[]): PathMatcher | undefined {
  if (patterns.length === 0) return undefined;
  const sources = patterns.map((pattern) => compilePathGlob(pattern).source);
  const combined = new RegExp(sources.map((source) => `(?:${source})`).join('|'), 's');
  return (path) => combined.test(path);
}
