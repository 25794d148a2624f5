import { UsageError } from '../errors.js';

/**
 * The command line. tokenize() splits the words (`--opt=value`, `--opt
 * value`, `-qo FILE`, `--no-X`, `--`) exactly as Node's `util.parseArgs`
 * does with `strict: false` and `tokens: true` (test/cli-args.test.ts
 * compares the two); this module gives them meaning from a table of
 * commands: unknown options, missing values, choices, defaults, positionals,
 * help. Global options go before or after the command, a command's own
 * options after it: `ivoc [global options] COMMAND [options] ARGS`.
 * (yargs cost ~40 ms of every start-up; parseArgs, whose modules load and
 * validate their input on first use, ~1 ms of a metadata-only inspect.)
 */

export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  /** One-letter alias: `-o FILE`. */
  short?: string;
  /** Repeatable (`--tag a --tag b`); the command gets a string[]. */
  multiple?: boolean;
  choices?: readonly string[];
  default?: string | boolean;
  /** Placeholder for the value in help: `--output FILE`. */
  value?: string;
}

export interface PositionalSpec {
  name: string;
  description: string;
  required: boolean;
  /** Takes every remaining argument (`<images..>`); only the last positional. */
  variadic?: boolean;
}

/** Option values by camelCase name (`--fail-on` is `failOn`), as the command modules read them. */
export type OptionValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

export interface CommandSpec {
  name: string;
  description: string;
  positionals: readonly PositionalSpec[];
  /** The command's own options, by kebab-case name. Global options are added. */
  options: Readonly<Record<string, OptionSpec>>;
  /** Does the work (importing its module lazily); resolves to the exit code. */
  run(positionals: string[], options: OptionValues): Promise<number>;
}

export interface CliSpec {
  name: string;
  /** Options every command takes, before or after the command name. */
  globalOptions: Readonly<Record<string, OptionSpec>>;
  commands: readonly CommandSpec[];
}

export type Invocation =
  | { kind: 'run'; command: CommandSpec; positionals: string[]; options: OptionValues }
  | { kind: 'help'; command?: CommandSpec }
  | { kind: 'version' };

/** `--help`/`-h` and `--version`, taken everywhere, added to every table. */
const builtinOptions: Readonly<Record<string, OptionSpec>> = {
  help: { type: 'boolean', short: 'h', description: 'show this help' },
  version: { type: 'boolean', description: 'print the version of ivoc' },
};

/** A word of the command line, as `util.parseArgs` tokens are (`index` is the word's position in argv). */
export type Token =
  | {
      kind: 'option';
      /** The long name (a short one's long name when it has one; without `no-` for `--no-X`). */
      name: string;
      /** As written: `--name`, `-n`, `--no-name`. */
      rawName: string;
      index: number;
      value: string | undefined;
      /** True for `--name=value` and `-nvalue`, false for a value in the next word. */
      inlineValue: boolean | undefined;
    }
  | { kind: 'positional'; index: number; value: string }
  | { kind: 'option-terminator'; index: number };
type OptionToken = Extract<Token, { kind: 'option' }>;

export function parseCommandLine(cli: CliSpec, argv: readonly string[]): Invocation {
  const globals = { ...cli.globalOptions, ...builtinOptions };

  // 1. The command is the first positional word; only global options may precede it.
  const before = tokenize(argv, globals);
  const first = before.findIndex((token) => token.kind === 'positional');
  const prefix = first === -1 ? before : before.slice(0, first);
  for (const token of prefix) {
    if (token.kind === 'option' && lookup(globals, token) === undefined) {
      if (cli.commands.some((command) => Object.hasOwn(command.options, token.name))) {
        throw usage(cli, undefined, `option '${token.rawName}' belongs after the command`);
      }
      const known = Object.keys(globals).map((name) => `--${name}`);
      throw usage(cli, undefined, `unknown option '${token.rawName}'${suggestion(token.rawName, known)}`);
    }
  }
  const commandToken = before[first];
  if (commandToken?.kind !== 'positional') {
    const values = interpret(cli, undefined, prefix, globals);
    if (values.help === true) return { kind: 'help' };
    if (values.version === true) return { kind: 'version' };
    throw usage(cli, undefined, 'name a command');
  }
  const name = commandToken.value;
  const afterTerminator = prefix.some((token) => token.kind === 'option-terminator');
  const rest = argv.slice(commandToken.index + 1);

  if (name === 'help' && !afterTerminator) {
    const topic = rest.find((word) => !word.startsWith('-'));
    return topic === undefined ? { kind: 'help' } : { kind: 'help', command: findCommand(cli, topic) };
  }
  const command = findCommand(cli, name);

  // 2. Everything after the command, with the command's options and the global ones.
  const options = { ...globals, ...command.options };
  const tokens = [...prefix, ...tokenize(afterTerminator ? ['--', ...rest] : rest, options)];
  if (tokens.some((token) => token.kind === 'option' && token.name === 'help'))
    return { kind: 'help', command };
  const values = interpret(cli, command, tokens, options);
  if (values.version === true) return { kind: 'version' };

  const positionals = tokens.flatMap((token) => (token.kind === 'positional' ? [token.value] : []));
  const required = command.positionals.filter((positional) => positional.required);
  const missing = required[positionals.length];
  if (missing !== undefined) throw usage(cli, command, `missing argument ${placeholder(missing)}`);
  const last = command.positionals[command.positionals.length - 1];
  if (last?.variadic !== true && positionals.length > command.positionals.length) {
    throw usage(cli, command, `unexpected argument '${positionals[command.positionals.length]}'`);
  }
  const { help: _help, version: _version, ...commandValues } = values;
  return { kind: 'run', command, positionals, options: commandValues };
}

/**
 * Splits words into tokens as `util.parseArgs({ strict: false, allowPositionals:
 * true, allowNegative: true, tokens: true })` does, the edge cases included
 * (`-q=1` is three short options, `--output --quiet` gives output the value
 * `--quiet`): interpret() refuses what is wrong, with our messages.
 */
export function tokenize(args: readonly string[], options: Readonly<Record<string, OptionSpec>>): Token[] {
  const tokens: Token[] = [];
  const longOf = (short: string): string => {
    for (const [name, spec] of Object.entries(options)) if (spec.short === short) return name;
    return short;
  };
  const takesValue = (name: string): boolean =>
    Object.hasOwn(options, name) && options[name]?.type === 'string';
  const option = (name: string, rawName: string, index: number, value?: string, inlineValue?: boolean) => {
    // Without a value, a name in `no-` is negated, however it was written (parseArgs' allowNegative).
    const negated = value === undefined && name.startsWith('no-');
    tokens.push({ kind: 'option', name: negated ? name.slice(3) : name, rawName, index, value, inlineValue });
  };
  const words = [...args];
  let index = -1;
  // Words a short group (`-abc`) was expanded into: they share the group's index.
  let grouped = 0;
  // `-o FILE`, `--output FILE`: a string option takes the next word, whatever it is.
  const optionWithNext = (name: string, rawName: string, next: string | undefined) => {
    if (takesValue(name) && next !== undefined) {
      words.shift();
      option(name, rawName, index, next, false);
      index++;
    } else {
      option(name, rawName, index);
    }
  };
  while (words.length > 0) {
    const word = words.shift() as string;
    const next = words[0];
    if (grouped > 0) grouped--;
    else index++;
    if (word === '--') {
      tokens.push({ kind: 'option-terminator', index });
      for (const rest of words) tokens.push({ kind: 'positional', index: ++index, value: rest });
      break;
    }
    const short = word.length >= 2 && word[0] === '-' && word[1] !== '-';
    if (short && word.length === 2) {
      // -o [value]
      optionWithNext(longOf(word[1] as string), word, next);
      continue;
    }
    if (short) {
      const name = longOf(word[1] as string);
      if (takesValue(name)) {
        // -oFILE
        option(name, word.slice(0, 2), index, word.slice(2), true);
        continue;
      }
      // -abc is -a -b -c; a string option in the middle takes the rest: -abFILE is -a -bFILE.
      const expanded: string[] = [];
      for (let at = 1; at < word.length; at++) {
        if (!takesValue(longOf(word[at] as string)) || at === word.length - 1) {
          expanded.push(`-${word[at]}`);
        } else {
          expanded.push(`-${word.slice(at)}`);
          break;
        }
      }
      words.unshift(...expanded);
      grouped = expanded.length;
      continue;
    }
    if (word.length > 2 && word.startsWith('--')) {
      if (!word.includes('=', 3)) {
        // --name [value]
        optionWithNext(word.slice(2), word, next);
      } else {
        // --name=value, split at the first `=` (`--=x=y` is an empty name)
        const equals = word.indexOf('=');
        const name = word.slice(2, equals);
        option(name, `--${name}`, index, word.slice(equals + 1), true);
      }
      continue;
    }
    tokens.push({ kind: 'positional', index, value: word });
  }
  return tokens;
}

/** The spec of an option token, or undefined for an unknown option (`--no-X` only for booleans). */
function lookup(options: Readonly<Record<string, OptionSpec>>, token: OptionToken): OptionSpec | undefined {
  const spec = Object.hasOwn(options, token.name) ? options[token.name] : undefined;
  if (spec === undefined) return undefined;
  if (isNegated(token) && spec.type !== 'boolean') return undefined;
  return spec;
}

/** `--no-cache`: parseArgs reports it as `cache` with no value. */
function isNegated(token: OptionToken): boolean {
  return token.rawName.startsWith('--no-') && token.rawName !== `--${token.name}`;
}

/** Option tokens to values by camelCase name, checked against the table, with the defaults. */
function interpret(
  cli: CliSpec,
  command: CommandSpec | undefined,
  tokens: readonly Token[],
  options: Readonly<Record<string, OptionSpec>>,
): Record<string, string | boolean | string[] | undefined> {
  const values: Record<string, string | boolean | string[] | undefined> = {};
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = lookup(options, token);
    if (spec === undefined) {
      // `--no-color=yes` comes back as an unknown `no-color` with a value.
      const negatedWithValue =
        token.name.startsWith('no-') && options[token.name.slice(3)]?.type === 'boolean';
      if (negatedWithValue) throw usage(cli, command, `option '${token.rawName}' takes no value`);
      const known = Object.keys(options).flatMap((name) =>
        options[name]?.type === 'boolean' ? [`--${name}`, `--no-${name}`] : [`--${name}`],
      );
      throw usage(cli, command, `unknown option '${token.rawName}'${suggestion(token.rawName, known)}`);
    }
    const key = camelCase(token.name);
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw usage(cli, command, `option '${token.rawName}' takes no value`);
      values[key] = !isNegated(token);
      continue;
    }
    // parseArgs (not strict) takes `--output --quiet` as output "--quiet": refuse, as strict mode does.
    const value = token.value;
    if (
      value === undefined ||
      value === '' ||
      (!token.inlineValue && value.length > 1 && value.startsWith('-'))
    ) {
      throw usage(cli, command, `option '${token.rawName}' needs a value`);
    }
    if (spec.choices !== undefined && !spec.choices.includes(value)) {
      const choices = spec.choices.join(', ');
      throw usage(cli, command, `invalid value '${value}' for '${token.rawName}'; choose one of ${choices}`);
    }
    if (spec.multiple === true) {
      const previous = values[key];
      values[key] = Array.isArray(previous) ? [...previous, value] : [value];
    } else {
      values[key] = value;
    }
  }
  for (const [name, spec] of Object.entries(options)) {
    const key = camelCase(name);
    if (values[key] === undefined && spec.default !== undefined) values[key] = spec.default;
  }
  return values;
}

function findCommand(cli: CliSpec, name: string): CommandSpec {
  const command = cli.commands.find((candidate) => candidate.name === name);
  if (command !== undefined) return command;
  const names = [...cli.commands.map((candidate) => candidate.name), 'help'];
  throw usage(cli, undefined, `unknown command '${name}'${suggestion(name, names)}`);
}

function usage(cli: CliSpec, command: CommandSpec | undefined, message: string): UsageError {
  const help = command === undefined ? `${cli.name} --help` : `${cli.name} ${command.name} --help`;
  return new UsageError(`${message} (see ${help})`);
}

function camelCase(name: string): string {
  return name.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function placeholder(positional: PositionalSpec): string {
  return positional.variadic === true ? `<${positional.name}..>` : `<${positional.name}>`;
}

/** `; did you mean 'lint'?` for a near miss (at most two edits), else ''. */
export function suggestion(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best === undefined ? '' : `; did you mean '${best}'?`;
}

/** Levenshtein distance, a swap of neighbours counting as one edit (`inpsect`). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, rows[i - 2]![j - 2]! + 1);
      }
      row.push(distance);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}

// ---------------------------------------------------------------- help

/** Help for the whole tool, or for one command, from the same table, wrapped to `width` columns. */
export function formatHelp(cli: CliSpec, command: CommandSpec | undefined, width: number): string {
  const globals = { ...cli.globalOptions, ...builtinOptions };
  const lines: string[] = [];
  if (command === undefined) {
    lines.push(...wrap(`Usage: ${cli.name} [options] <command> [command options]`, width), '');
    const commands = cli.commands.map((entry): [string, string] => [
      [cli.name, entry.name, ...positionalWords(entry)].join(' '),
      entry.description,
    ]);
    lines.push('Commands:', ...table(commands, width), '');
    lines.push('Options:', ...table(optionRows(globals), width), '');
    lines.push(
      ...wrap(`Run '${cli.name} <command> --help' (or '${cli.name} help <command>') for its options.`, width),
    );
    return `${lines.join('\n')}\n`;
  }
  const usage = [`Usage: ${cli.name} ${command.name} [options]`, ...positionalWords(command)].join(' ');
  lines.push(...wrap(usage, width), '', ...wrap(command.description, width), '');
  if (command.positionals.length > 0) {
    const words = positionalWords(command);
    const rows = command.positionals.map((positional, i): [string, string] => [
      words[i]!,
      positional.description,
    ]);
    lines.push('Arguments:', ...table(rows, width), '');
  }
  if (Object.keys(command.options).length > 0) {
    lines.push('Options:', ...table(optionRows(command.options), width), '');
  }
  lines.push('Global options:', ...table(optionRows(globals), width));
  return `${lines.join('\n')}\n`;
}

function positionalWords(command: CommandSpec): string[] {
  return command.positionals.map((positional) =>
    positional.required ? placeholder(positional) : `[${positional.name}]`,
  );
}

function optionRows(options: Readonly<Record<string, OptionSpec>>): Array<[string, string]> {
  return Object.entries(options).map(([name, spec]) => {
    const flag = spec.short === undefined ? `    --${name}` : `-${spec.short}, --${name}`;
    const left = spec.type === 'string' ? `${flag} ${spec.value ?? 'VALUE'}` : flag;
    const notes: string[] = [];
    if (spec.choices !== undefined) notes.push(`choices: ${spec.choices.join(', ')}`);
    if (spec.default !== undefined) notes.push(`default: ${String(spec.default)}`);
    if (spec.multiple === true) notes.push('repeatable');
    return [left, notes.length === 0 ? spec.description : `${spec.description} [${notes.join('; ')}]`];
  });
}

/** Two columns: the left one as wide as its longest entry (at most 26), the right one wrapped. */
function table(rows: ReadonlyArray<readonly [string, string]>, width: number): string[] {
  const indent = 2;
  const left = Math.min(26, Math.max(...rows.map(([key]) => key.length))) + indent + 2;
  const lines: string[] = [];
  for (const [key, text] of rows) {
    const wrapped = wrap(text, Math.max(20, width - left));
    const head = ' '.repeat(indent) + key;
    if (head.length + 2 > left) {
      lines.push(head);
    } else {
      lines.push(head.padEnd(left) + (wrapped.shift() ?? ''));
    }
    for (const line of wrapped) lines.push(' '.repeat(left) + line);
  }
  return lines;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}
