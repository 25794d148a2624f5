import type { ImageConfig } from '../../oci/descriptor.js';
import {
  type FileSystemView,
  type FsNode,
  pathFromEnv,
  type WhichResult,
} from '../../oci/layer/filesystem.js';
import { absolutePath } from '../../oci/layer/fs-path.js';
import { parseShebang } from '../../oci/layer/fs-script.js';
import { redacted, secretValueKind } from '../../secrets.js';
import type { ResolvedProfile } from '../types.js';

/**
 * The startup recipe (Entrypoint, Cmd) and the commands it runs, for the
 * START and AUTH rules: what the engine executes, the image's own PATH and
 * WorkingDir, `sh -c` strings, a small shell tokenizer for those strings and
 * for startup scripts, and the scripts a recipe hands over to.
 */

export interface Recipe {
  entrypoint: string[];
  cmd: string[];
  /** What the engine executes: Entrypoint then Cmd, or Cmd alone when Entrypoint is empty. */
  argv: string[];
  /** Where argv[0] comes from. */
  programKey: 'Entrypoint' | 'Cmd';
}

type ConfigBody = ImageConfig['config'];

/** An Entrypoint of only empty strings is no Entrypoint (`ENTRYPOINT [""]` resets it). */
function meaningful(list: readonly string[] | null | undefined): string[] {
  const items = [...(list ?? [])];
  return items.every((item) => item === '') ? [] : items;
}

export function recipeOf(config: ConfigBody): Recipe {
  const entrypoint = meaningful(config?.Entrypoint);
  const cmd = meaningful(config?.Cmd);
  return entrypoint.length > 0
    ? { entrypoint, cmd, argv: [...entrypoint, ...cmd], programKey: 'Entrypoint' }
    : { entrypoint, cmd, argv: cmd, programKey: 'Cmd' };
}

/** The config's Env as a map (the last assignment of a name wins, as the engine does). */
export function envOf(config: ConfigBody): Map<string, string> {
  const env = new Map<string, string>();
  for (const item of config?.Env ?? []) {
    const equals = item.indexOf('=');
    if (equals > 0) env.set(item.slice(0, equals), item.slice(equals + 1));
    else if (equals < 0 && item !== '') env.set(item, '');
  }
  return env;
}

/** The PATH processes of the image get. */
export function imagePath(config: ConfigBody): string {
  return pathFromEnv(config?.Env);
}

/** WorkingDir, or '/' (the engine's default). */
export function workingDir(config: ConfigBody): string {
  const dir = config?.WorkingDir;
  return dir ? absolutePath(dir) : '/';
}

export function baseNameOf(word: string): string {
  const trimmed = word.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

// ---------------------------------------------------------------- display

const secretWord = '[\\w.-]*(?:token|password|passwd|secret|api[_-]?key|credential)[\\w.-]*';
const secretAssignment = new RegExp(`((?:^|[\\s;&|])-{0,2}${secretWord}=)('[^']*'|"[^"]*"|[^\\s;&|]*)`, 'gi');
const secretFlag = new RegExp(`^-{1,2}${secretWord}$`, 'i');

/** A recipe word safe to print: values of token/password options and credential-looking values hidden. */
export function redactWord(word: string): string {
  if (secretValueKind(word) !== undefined) return redacted;
  return word.replace(secretAssignment, (whole, name: string, value: string) =>
    value === '' || value === "''" || value === '""' ? whole : `${name}${redacted}`,
  );
}

/** argv for a message: JSON form, secret values hidden (also `--token VALUE` as two words). */
export function displayArgv(argv: readonly string[]): string {
  const shown = argv.map((word, i) => {
    const previous = argv[i - 1];
    if (previous !== undefined && secretFlag.test(previous) && !word.startsWith('-')) return redacted;
    return redactWord(word);
  });
  return JSON.stringify(shown);
}

// ---------------------------------------------------------------- sh -c

const shells = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'mksh', 'yash']);

export function isShell(program: string): boolean {
  return shells.has(baseNameOf(program));
}

export interface ShellInvocation {
  /** The shell as written (argv[0], or 'sh' of `busybox sh`). */
  shell: string;
  /** The string after -c. */
  script: string;
  /** Index of the script string in argv. */
  index: number;
  /** A login or interactive shell (-l, -i, --login): it reads profile files that may change PATH. */
  login: boolean;
}

/** `["/bin/sh", "-c", "..."]` and the like (`bash -ec`, `busybox sh -c`); undefined otherwise. */
export function shellInvocation(argv: readonly string[]): ShellInvocation | undefined {
  let start = 0;
  if (argv.length > 1 && baseNameOf(argv[0] ?? '') === 'busybox' && isShell(argv[1] ?? '')) start = 1;
  const shell = argv[start];
  if (shell === undefined || !isShell(shell)) return undefined;
  let command = false;
  let login = false;
  let i = start + 1;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--' || word === '-') {
      i++;
      break;
    }
    if (word === '--login') {
      login = true;
      continue;
    }
    if (word.startsWith('--')) continue;
    if (!/^[-+][A-Za-z]+$/.test(word)) break;
    if (word.startsWith('-') && word.includes('c')) command = true;
    if (word.startsWith('-') && (word.includes('l') || word.includes('i'))) login = true;
    if (word.endsWith('o') || word.endsWith('O')) i++;
  }
  if (!command || i >= argv.length) return undefined;
  return { shell, script: argv[i]!, index: i, login };
}

// ---------------------------------------------------------------- shell words

export interface ShellWord {
  /** The word with quotes and escapes removed (expansions kept as written). */
  value: string;
  /** The word as written. */
  raw: string;
  /** Any part of it was quoted. */
  quoted: boolean;
  /** 1-based line where the word starts. */
  line: number;
}

export interface SimpleCommand {
  words: ShellWord[];
  /** The operator after it: ';', '&&', '||', '|', '&', or '\n' (end of line or of text). */
  then: string;
  line: number;
}

const operatorStarts = new Set([';', '&', '|', '\n']);

/**
 * Split shell text into simple commands and words. Enough of sh's grammar for
 * reading recipes, not a full parser: quotes, backslashes, comments, line
 * continuations and `$(...)` / backticks (kept inside the word) are
 * understood; compound commands (`if`, `for`, `{`) come out as words.
 */
export function simpleCommands(text: string): SimpleCommand[] {
  const commands: SimpleCommand[] = [];
  let words: ShellWord[] = [];
  let line = 1;
  let i = 0;
  const end = (then: string) => {
    if (words.length > 0) commands.push({ words, then, line: words[0]!.line });
    words = [];
  };
  while (i < text.length) {
    const char = text[i]!;
    if (char === ' ' || char === '\t' || char === '\r') {
      i++;
      continue;
    }
    if (char === '\\' && text[i + 1] === '\n') {
      i += 2;
      line++;
      continue;
    }
    if (char === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (operatorStarts.has(char) && !(char === '&' && text[i + 1] === '>')) {
      const two = text.slice(i, i + 2);
      if (two === '&&' || two === '||' || two === ';;') {
        end(two);
        i += 2;
      } else {
        end(char);
        if (char === '\n') line++;
        i++;
      }
      continue;
    }
    const startLine = line;
    const start = i;
    let value = '';
    let quoted = false;
    let depth = 0;
    while (i < text.length) {
      const c = text[i]!;
      // '2>&1', '>&2': the '&' of a redirection belongs to the word.
      const redirect = c === '&' && (value.endsWith('>') || value.endsWith('<'));
      if (
        depth === 0 &&
        !redirect &&
        i > start &&
        (c === ' ' || c === '\t' || c === '\r' || operatorStarts.has(c))
      )
        break;
      if (c === '\n') line++;
      if (c === '\\') {
        if (text[i + 1] === '\n') {
          i += 2;
          line++;
          continue;
        }
        value += text[i + 1] ?? '';
        i += 2;
        continue;
      }
      if (c === "'") {
        quoted = true;
        const close = text.indexOf("'", i + 1);
        const stop = close < 0 ? text.length : close;
        const part = text.slice(i + 1, stop);
        line += part.split('\n').length - 1;
        value += part;
        i = stop + 1;
        continue;
      }
      if (c === '"') {
        quoted = true;
        i++;
        while (i < text.length && text[i] !== '"') {
          const d = text[i]!;
          if (d === '\\' && i + 1 < text.length && '"\\$`\n'.includes(text[i + 1]!)) {
            if (text[i + 1] === '\n') line++;
            else value += text[i + 1];
            i += 2;
            continue;
          }
          if (d === '\n') line++;
          value += d;
          i++;
        }
        i++;
        continue;
      }
      if (c === '$' && text[i + 1] === '(') {
        depth++;
        value += '$(';
        i += 2;
        continue;
      }
      if (c === '(' && depth > 0) depth++;
      if (c === ')' && depth > 0) depth--;
      if (c === '`') {
        const close = text.indexOf('`', i + 1);
        const stop = close < 0 ? text.length : close;
        value += text.slice(i, stop + 1);
        i = stop + 1;
        continue;
      }
      value += c;
      i++;
    }
    words.push({ value, raw: text.slice(start, i), quoted, line: startLine });
  }
  end('\n');
  return commands;
}

/** The last command of a script (its hand-over), or undefined for an empty one. */
export function lastCommand(text: string): SimpleCommand | undefined {
  return simpleCommands(text).at(-1);
}

const assignment = /^[A-Za-z_][A-Za-z0-9_]*=/;

/** Options (of a wrapper) that take the next word as their value. */
const wrapperOptionValues: Record<string, Set<string>> = {
  exec: new Set(['-a']),
  env: new Set(['-u', '-C', '-S', '--unset', '--chdir', '--split-string']),
  sudo: new Set(['-u', '-g', '-C', '-D', '-h', '-p', '-r', '-t', '-U', '-T', '-R']),
  tini: new Set(['-e', '-p', '-l']),
  'dumb-init': new Set(['-r', '--rewrite']),
  nice: new Set(['-n']),
  stdbuf: new Set(['-i', '-o', '-e']),
  timeout: new Set(['-s', '-k', '--signal', '--kill-after']),
};
/** Wrappers that take a fixed number of leading operands before the command (a user, a duration). */
const wrapperOperands: Record<string, number> = { gosu: 1, 'su-exec': 1, 's6-setuidgid': 1, timeout: 1 };
const wrappers = new Set([
  'exec',
  'command',
  'nohup',
  'time',
  'env',
  'sudo',
  'gosu',
  'su-exec',
  's6-setuidgid',
  'tini',
  'tini-static',
  'dumb-init',
  'catatonit',
  'nice',
  'stdbuf',
  'timeout',
  'setsid',
]);

/**
 * The index of the program a command runs, past variable assignments and
 * wrappers (`exec`, `env`, `sudo -u x`, `gosu user`, `tini --`,
 * `conda run -n env`, ...); undefined when the command only assigns.
 */
export function programIndex(words: readonly string[], from = 0): number | undefined {
  let i = from;
  while (i < words.length && assignment.test(words[i]!)) i++;
  while (i < words.length) {
    const word = words[i]!;
    const name = baseNameOf(word);
    if (['conda', 'mamba', 'micromamba'].includes(name) && words[i + 1] === 'run') {
      i += 2;
      while (i < words.length && words[i]!.startsWith('-')) {
        if (['-n', '--name', '-p', '--prefix'].includes(words[i]!)) i++;
        i++;
      }
      continue;
    }
    if (!wrappers.has(name)) return i;
    const withValue = wrapperOptionValues[name] ?? new Set<string>();
    i++;
    while (i < words.length) {
      const next = words[i]!;
      if (next === '--') {
        i++;
        break;
      }
      if (name === 'env' && assignment.test(next)) {
        i++;
        continue;
      }
      if (!next.startsWith('-') || next === '-') break;
      if (withValue.has(next)) i++;
      i++;
    }
    i += wrapperOperands[name] ?? 0;
  }
  return undefined;
}

// ---------------------------------------------------------------- lookup

export interface ProgramLookup {
  /** The command as written. */
  command: string;
  result: WhichResult;
}

export function lookUp(fs: FileSystemView, command: string, config: ConfigBody): ProgramLookup {
  return { command, result: fs.whichExplain(command, imagePath(config), { cwd: workingDir(config) }) };
}

/** One line on why `command` was not found, from whichExplain's candidates. */
export function notFoundMessage(lookup: ProgramLookup, pathEnv: string): string {
  const { command, result } = lookup;
  if (result.found) return `${command} is ${result.path}`;
  const explain = result.tried
    .filter((candidate) => candidate.reason !== 'absent' && candidate.reason !== 'not-dir')
    .map((candidate) => {
      switch (candidate.reason) {
        case 'dangling-link':
          return `${candidate.path} is a symbolic link to ${candidate.linkTarget}, which does not exist`;
        case 'not-executable':
          return `${candidate.path} is not executable`;
        case 'not-regular-file':
          return `${candidate.path} is not a regular file`;
        default:
          return `${candidate.path} cannot be used`;
      }
    });
  if (command.includes('/')) {
    const candidate = result.tried[0];
    if (explain.length > 0) return explain[0]!;
    if (candidate?.reason === 'not-dir')
      return `${candidate.path} does not exist (a parent is not a directory)`;
    return `${candidate?.path ?? command} does not exist in the image`;
  }
  const where = `${command} is not on the image PATH (${pathEnv})`;
  return explain.length > 0 ? `${where}: ${explain.join('; ')}` : where;
}

/**
 * Executables named `name` elsewhere in the image (not on PATH): a hint for
 * the message ("jupyter is in /opt/conda/bin, which is not on PATH").
 */
export function executablesNamed(fs: FileSystemView, name: string, limit = 3): string[] {
  const found: string[] = [];
  for (const node of fs.walk()) {
    if (node.executable && node.path.endsWith(`/${name}`)) {
      found.push(node.path);
      if (found.length >= limit * 4) break;
    }
  }
  return found.sort().slice(0, limit);
}

// ---------------------------------------------------------------- scripts

/**
 * Where startup scripts usually live, for rules that read what a recipe
 * hands over to (the layer scan keeps only bodies declared in advance, and a
 * rule's capture cannot depend on the image): files directly in the image
 * root (`/start.sh`, `/docker-entrypoint.sh`, `/init`), /usr/local/bin
 * (`*.sh`, `start*`, `*entrypoint*`), CANFAR's /skaha, and `*.sh` in /app,
 * /opt, /opt/NAME and /opt/NAME/bin. Few globs on purpose: the scan tests every
 * tar entry against every glob of every rule.
 */
export const recipeScriptGlobs = [
  '/*',
  '/usr/local/bin/*.sh',
  '/usr/local/bin/start*',
  '/usr/local/bin/*entrypoint*',
  '/skaha/*.sh',
  '/app/*.sh',
  '/opt/*.sh',
  '/opt/*/*.sh',
  '/opt/*/bin/*.sh',
];

export interface RecipeScript {
  /** The path as the recipe reaches it. */
  path: string;
  node: FsNode;
  /** The body, when the scan kept it and it is a shell script. */
  text: string | undefined;
  /** 'shell' (read), 'other' (a script in another language, or a binary), 'not-read' (body not kept). */
  kind: 'shell' | 'other' | 'not-read';
}

const shellInterpreters = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'mksh']);

function classify(fs: FileSystemView, path: string, node: FsNode): RecipeScript {
  const read = fs.read(path);
  if (read.status !== 'ok' && read.status !== 'truncated') {
    const info = fs.scriptInfo(path);
    if (info.status === 'script') {
      const interpreter = info.interpreter;
      const name = baseNameOf(interpreter.envCommand ?? interpreter.path);
      return { path, node, text: undefined, kind: shellInterpreters.has(name) ? 'not-read' : 'other' };
    }
    return { path, node, text: undefined, kind: info.status === 'unknown' ? 'not-read' : 'other' };
  }
  const text = read.data.toString('utf8');
  const interpreter = parseShebang(text.slice(0, 256));
  if (interpreter === undefined) return { path, node, text: undefined, kind: 'other' };
  const name = baseNameOf(interpreter.envCommand ?? interpreter.path);
  return shellInterpreters.has(name)
    ? { path, node, text, kind: 'shell' }
    : { path, node, text: undefined, kind: 'other' };
}

/**
 * The scripts a recipe runs: the program of argv (past wrappers), any argv
 * word naming a file, the programs of a `sh -c` string, the profile's
 * startup script when the image ships it, and, from each shell script read,
 * the program its last command hands over to (depth 3).
 */
export function recipeScripts(
  fs: FileSystemView,
  config: ConfigBody,
  profile: ResolvedProfile,
): RecipeScript[] {
  const recipe = recipeOf(config);
  const cwd = workingDir(config);
  const pathEnv = imagePath(config);
  const seen = new Map<string, RecipeScript>();
  const queue: { path: string; depth: number }[] = [];
  const add = (word: string, depth: number, lookup: boolean) => {
    if (word === '' || word.startsWith('-') || word.includes('$')) return;
    let path: string | undefined;
    if (word.includes('/')) path = absolutePath(word, cwd);
    else if (lookup) {
      const found = fs.whichExplain(word, pathEnv, { cwd });
      if (found.found) path = found.path;
    }
    if (path !== undefined) queue.push({ path, depth });
  };
  const argv = recipe.argv;
  const program = programIndex(argv);
  if (program !== undefined) add(argv[program]!, 0, true);
  for (const word of argv) add(word, 0, false);
  const shell = shellInvocation(argv);
  if (shell) {
    for (const command of simpleCommands(shell.script)) {
      const words = command.words.map((word) => word.value);
      const index = programIndex(words);
      if (index !== undefined) add(words[index]!, 0, true);
    }
  }
  const startup = profile.parameters.startupScript;
  if (startup !== undefined) queue.push({ path: startup, depth: 0 });
  while (queue.length > 0) {
    const { path, depth } = queue.shift()!;
    if (seen.has(path)) continue;
    const node = fs.stat(path);
    if (node === undefined || node.type !== 'file') continue;
    const script = classify(fs, path, node);
    seen.set(path, script);
    if (script.kind !== 'shell' || depth >= 3) continue;
    const last = lastCommand(script.text!);
    if (last === undefined) continue;
    const words = last.words.map((word) => word.value);
    const index = programIndex(words);
    if (index !== undefined) add(words[index]!, depth + 1, true);
  }
  return [...seen.values()];
}

/** Which config key holds argv[index]. */
export function argvKey(recipe: Recipe, index: number): 'Entrypoint' | 'Cmd' {
  return index < recipe.entrypoint.length ? 'Entrypoint' : 'Cmd';
}

/** One command the recipe runs, as words: the exec-form argv, a command of its `sh -c` string, or of a script. */
export interface CommandSite {
  words: string[];
  origin: 'argv' | 'shell' | 'script';
  /** For argv and shell: the config key. */
  key?: 'Entrypoint' | 'Cmd';
  /** For script: the script. */
  script?: RecipeScript;
  line?: number;
  /** The last command of its sh -c string or script (what it hands over to). */
  last: boolean;
}

/** Every command the recipe runs that can be read: argv, its `sh -c` string, and the shell scripts it reaches. */
export function recipeCommandSites(
  fs: FileSystemView,
  config: ConfigBody,
  profile: ResolvedProfile,
): { sites: CommandSite[]; scripts: RecipeScript[] } {
  const recipe = recipeOf(config);
  const sites: CommandSite[] = [];
  if (recipe.argv.length > 0)
    sites.push({ words: recipe.argv, origin: 'argv', key: recipe.programKey, last: true });
  const shell = shellInvocation(recipe.argv);
  if (shell) {
    const commands = simpleCommands(shell.script);
    commands.forEach((command, i) => {
      sites.push({
        words: command.words.map((word) => word.value),
        origin: 'shell',
        key: argvKey(recipe, shell.index),
        last: i === commands.length - 1,
      });
    });
  }
  const scripts = recipeScripts(fs, config, profile);
  for (const script of scripts) {
    if (script.kind !== 'shell') continue;
    const commands = simpleCommands(script.text!);
    commands.forEach((command, i) => {
      sites.push({
        words: command.words.map((word) => word.value),
        origin: 'script',
        script,
        line: command.line,
        last: i === commands.length - 1,
      });
    });
  }
  return { sites, scripts };
}
