/**
 * Shebang lines, read as Linux's binfmt_script does: after '#!', optional
 * blanks, the interpreter path up to the next blank, then the rest of the line
 * with surrounding blanks removed as ONE optional argument (never split).
 */

export interface Interpreter {
  /** The interpreter path as written, e.g. '/usr/bin/env'. */
  path: string;
  /** The single optional argument, e.g. 'python3'; absent when none. */
  arg?: string;
  /**
   * When the interpreter is `env`: the command env will look up on PATH,
   * exactly as env receives it. `#!/usr/bin/env python3 -u` gives
   * 'python3 -u' (one argument: env will not find it, a real bug);
   * `#!/usr/bin/env -S python3 -u` gives 'python3'.
   */
  envCommand?: string;
  /** The shebang line without '#!' and line end. */
  line: string;
}

/** Linux reads at most this many bytes of a script's first line (BINPRM_BUF_SIZE). */
export const shebangMaxBytes = 256;

const blank = /[ \t]/;

/**
 * Parse a shebang from a probe value or the first bytes of a body. Accepts
 * the line with or without its leading '#!' only when `probe` is true (the
 * probe records the '#!' line); a body must start with '#!'.
 */
export function parseShebang(text: string, probe = false): Interpreter | undefined {
  let line = text;
  if (line.startsWith('#!')) line = line.slice(2);
  else if (!probe) return undefined;
  const end = line.indexOf('\n');
  if (end >= 0) line = line.slice(0, end);
  if (line.endsWith('\r')) line = line.slice(0, -1);
  const rest = line.replace(/^[ \t]+/, '');
  if (rest === '') return undefined;
  let split = 0;
  while (split < rest.length && !blank.test(rest[split]!)) split++;
  const path = rest.slice(0, split);
  const arg = rest.slice(split).replace(/^[ \t]+|[ \t]+$/g, '');
  const result: Interpreter = { path, line };
  if (arg !== '') result.arg = arg;
  if (path === 'env' || path.endsWith('/env')) {
    const command = envCommand(arg);
    if (command !== undefined) result.envCommand = command;
  }
  return result;
}

/** Options of env(1) that take a separate value. */
const envOptionsWithValue = new Set(['-u', '-C', '-P', '--unset', '--chdir']);

/**
 * The command env runs, given its single shebang argument. Only `-S` (and
 * `--split-string`) makes env split that argument into words.
 */
function envCommand(arg: string): string | undefined {
  if (arg === '') return undefined;
  let words: string[];
  if (arg.startsWith('-S') || arg.startsWith('--split-string')) {
    const body = arg.startsWith('-S') ? arg.slice(2) : arg.slice('--split-string'.length).replace(/^=/, '');
    words = body.split(/[ \t]+/).filter((word) => word !== '');
  } else if (arg.startsWith('-')) {
    // One option word with no split: env gets no command to run.
    return undefined;
  } else {
    return arg;
  }
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '--') return words[i + 1];
    if (word.startsWith('-')) {
      if (envOptionsWithValue.has(word)) i++;
      continue;
    }
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(word)) continue;
    return word;
  }
  return undefined;
}
