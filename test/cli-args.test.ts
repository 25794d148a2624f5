import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formatHelp, type Invocation, type OptionSpec, parseCommandLine, tokenize } from '../src/cli/args.js';
import { cli } from '../src/cli/commands.js';
import { commandOf, globalValueOptions, globalValueShorts } from '../src/cli/launch-args.js';
import { ExitCode, UsageError } from '../src/errors.js';
import { runIvoc } from './support/cli.js';

const version = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

function parse(...argv: string[]): Invocation {
  return parseCommandLine(cli, argv);
}

/** The command line must run a command; returns what it gets. */
function run(...argv: string[]) {
  const invocation = parse(...argv);
  if (invocation.kind !== 'run') throw new Error(`expected a command to run, got ${invocation.kind}`);
  return {
    command: invocation.command.name,
    positionals: invocation.positionals,
    options: invocation.options,
  };
}

/** The command line must be refused as a usage error; returns its message. */
function refused(...argv: string[]): string {
  try {
    parse(...argv);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(ExitCode.usage);
    expect((error as UsageError).message).not.toContain('\n');
    return (error as UsageError).message;
  }
  throw new Error(`accepted: ivoc ${argv.join(' ')}`);
}

describe('command line: commands and positionals', () => {
  it('runs each command with its positionals', () => {
    expect(run('inspect', 'oci:x')).toMatchObject({ command: 'inspect', positionals: ['oci:x'] });
    expect(run('lint', 'a', 'b', 'c')).toMatchObject({ command: 'lint', positionals: ['a', 'b', 'c'] });
    expect(run('publish', 'oci:x', 'reg/repo:1')).toMatchObject({
      command: 'publish',
      positionals: ['oci:x', 'reg/repo:1'],
    });
    expect(run('rules')).toMatchObject({ command: 'rules', positionals: [] });
    expect(run('rules', 'IVC-USER-001')).toMatchObject({ positionals: ['IVC-USER-001'] });
    expect(run('profiles', 'canfar')).toMatchObject({ command: 'profiles', positionals: ['canfar'] });
  });

  it('refuses no command, an unknown command (suggesting the closest) and a misplaced help', () => {
    expect(refused()).toBe('name a command (see ivoc --help)');
    expect(refused('lnt', 'x')).toBe("unknown command 'lnt'; did you mean 'lint'? (see ivoc --help)");
    expect(refused('inpsect', 'x')).toContain("did you mean 'inspect'?");
    expect(refused('profile')).toContain("did you mean 'profiles'?");
    expect(refused('frobnicate')).toBe("unknown command 'frobnicate' (see ivoc --help)");
    expect(refused('help', 'lnt')).toContain("unknown command 'lnt'; did you mean 'lint'?");
  });

  it('refuses a missing positional and too many positionals', () => {
    expect(refused('inspect')).toBe('missing argument <image> (see ivoc inspect --help)');
    expect(refused('lint')).toBe('missing argument <images..> (see ivoc lint --help)');
    expect(refused('publish', 'oci:x')).toBe('missing argument <dest> (see ivoc publish --help)');
    expect(refused('inspect', 'a', 'b')).toBe("unexpected argument 'b' (see ivoc inspect --help)");
    expect(refused('rules', 'A', 'B')).toContain("unexpected argument 'B'");
    expect(refused('publish', 'a', 'b', 'c')).toContain("unexpected argument 'c'");
  });

  it('ends options at --', () => {
    expect(run('inspect', '--', '--odd-name')).toMatchObject({ positionals: ['--odd-name'] });
    expect(run('lint', 'a', '--', '-b', '--quiet').positionals).toEqual(['a', '-b', '--quiet']);
    expect(run('lint', 'a', '--', '-b').options.quiet).toBeUndefined();
    expect(run('inspect', '-')).toMatchObject({ positionals: ['-'] });
  });
});

describe('command line: options', () => {
  it('applies the defaults', () => {
    expect(run('inspect', 'x').options).toEqual({ platform: 'linux/amd64', format: 'text', cache: true });
    expect(run('lint', 'x').options).toEqual({
      platform: 'linux/amd64',
      profile: 'ivoa',
      format: 'text',
      failOn: 'error',
      cache: true,
    });
    expect(run('publish', 'a', 'b').options).toMatchObject({
      profile: 'ivoa',
      format: 'text',
      failOn: 'error',
    });
  });

  it('takes --opt=value and --opt value alike, and the one-letter aliases', () => {
    const spaced = run('lint', 'x', '--format', 'json', '--output', 'out.json', '--platform', 'linux/arm64');
    const joined = run('lint', 'x', '--format=json', '--output=out.json', '--platform=linux/arm64');
    const short = run('lint', 'x', '-f', 'json', '-o', 'out.json', '--platform', 'linux/arm64');
    expect(spaced.options).toMatchObject({ format: 'json', output: 'out.json', platform: 'linux/arm64' });
    expect(joined.options).toEqual(spaced.options);
    expect(short.options).toEqual(spaced.options);
    expect(run('lint', 'x', '-qo', 'out.txt').options).toMatchObject({ quiet: true, output: 'out.txt' });
    expect(run('inspect', 'x', '-o', '-').options.output).toBe('-');
    expect(run('inspect', 'x', '--creds=-user:pass').options.creds).toBe('-user:pass');
  });

  it('takes --jobs N and -j N for lint (lint itself checks the number)', () => {
    expect(run('lint', 'a', 'b', '--jobs', '2').options.jobs).toBe('2');
    expect(run('lint', 'a', '-j', '3').options.jobs).toBe('3');
    expect(run('lint', 'a').options.jobs).toBeUndefined();
    expect(refused('inspect', 'a', '--jobs', '2')).toMatch(/jobs/);
  });

  it('takes --no-cache for publish too', () => {
    expect(run('publish', 'oci:a', 'docker://r/b', '--no-cache').options.cache).toBe(false);
    expect(run('publish', 'oci:a', 'docker://r/b').options.cache).toBe(true);
  });

  it('gives kebab-case options to the commands in camelCase', () => {
    const publish = run(
      'publish',
      'a',
      'b',
      '--semver-tags',
      '--all-platforms',
      '--dry-run',
      '--digest-file',
      'd.txt',
      '--fail-on',
      'warning',
      '--insecure-registry',
      'localhost:5000',
    );
    expect(publish.options).toMatchObject({
      semverTags: true,
      allPlatforms: true,
      dryRun: true,
      digestFile: 'd.txt',
      failOn: 'warning',
      insecureRegistry: ['localhost:5000'],
    });
    expect(Object.keys(publish.options).some((key) => key.includes('-'))).toBe(false);
    expect(publish.options).not.toHaveProperty('help');
    expect(publish.options).not.toHaveProperty('version');
  });

  it('collects repeatable options in order, and keeps the last of the others', () => {
    expect(run('publish', 'a', 'b', '--tag', 'x', '-t', 'y', '--tag=z').options.tag).toEqual(['x', 'y', 'z']);
    expect(run('lint', 'i', '--rule', 'IVC-USER-001', '--rule=IVC-META-001').options.rule).toEqual([
      'IVC-USER-001',
      'IVC-META-001',
    ]);
    expect(run('inspect', 'i', '--path', '/a', '--path', '/b').options.path).toEqual(['/a', '/b']);
    expect(
      run('lint', 'i', '--insecure-registry', 'h1', '--insecure-registry', 'h2:5000').options
        .insecureRegistry,
    ).toEqual(['h1', 'h2:5000']);
    expect(run('lint', 'i', '--format', 'json', '--format', 'sarif').options.format).toBe('sarif');
    expect(run('lint', 'i').options.rule).toBeUndefined();
  });

  it('negates booleans with --no-X', () => {
    expect(run('inspect', 'x', '--no-cache').options.cache).toBe(false);
    expect(run('lint', 'x', '--no-cache').options.cache).toBe(false);
    expect(run('lint', 'x', '--no-color').options.color).toBe(false);
    expect(run('lint', 'x', '--color').options.color).toBe(true);
    expect(run('lint', 'x').options.color).toBeUndefined();
    expect(run('lint', 'x', '--no-color', '--color').options.color).toBe(true);
    expect(run('lint', 'x', '--run', '--verbose', '--attached').options).toMatchObject({
      run: true,
      verbose: true,
      attached: true,
    });
  });

  it('takes global options before the command, and after it', () => {
    const before = run(
      '--insecure-registry',
      'h1',
      '-q',
      '--creds',
      'u:p',
      'lint',
      'x',
      '--insecure-registry',
      'h2',
    );
    expect(before).toMatchObject({ command: 'lint', positionals: ['x'] });
    expect(before.options).toMatchObject({ insecureRegistry: ['h1', 'h2'], quiet: true, creds: 'u:p' });
    expect(run('-o', 'lint', 'inspect', 'x')).toMatchObject({
      command: 'inspect',
      options: { output: 'lint' },
    });
  });

  it('validates choices', () => {
    expect(run('lint', 'x', '--format', 'markdown').options.format).toBe('markdown');
    expect(run('lint', 'x', '--fail-on', 'never').options.failOn).toBe('never');
    expect(refused('lint', 'x', '--format', 'xml')).toBe(
      "invalid value 'xml' for '--format'; choose one of text, json, sarif, junit, github, markdown (see ivoc lint --help)",
    );
    expect(refused('lint', 'x', '-f', 'xml')).toContain("for '-f'");
    expect(refused('inspect', 'x', '--format=sarif')).toContain('choose one of text, json');
    expect(refused('publish', 'a', 'b', '--fail-on', 'sometimes')).toContain(
      'choose one of error, warning, never',
    );
  });

  it('refuses unknown options, suggesting the closest', () => {
    expect(refused('inspect', 'x', '--bogus')).toBe("unknown option '--bogus' (see ivoc inspect --help)");
    expect(refused('lint', 'x', '--fromat', 'json')).toContain(
      "unknown option '--fromat'; did you mean '--format'?",
    );
    expect(refused('lint', 'x', '--no-cahce')).toContain("did you mean '--no-cache'?");
    expect(refused('lint', 'x', '-z')).toContain("unknown option '-z'");
    // Another command's option.
    expect(refused('inspect', 'x', '--tag', 't')).toContain("unknown option '--tag'");
    expect(refused('lint', 'x', '-t', 't')).toContain("unknown option '-t'");
    // A command's option before the command.
    expect(refused('--run', 'lint', 'x')).toBe("option '--run' belongs after the command (see ivoc --help)");
    expect(refused('--bogus', 'lint', 'x')).toBe("unknown option '--bogus' (see ivoc --help)");
  });

  it('refuses an option missing its value, a value for a boolean, and --no- for a non-boolean', () => {
    expect(refused('lint', 'x', '--output')).toBe("option '--output' needs a value (see ivoc lint --help)");
    expect(refused('lint', 'x', '-o')).toContain("option '-o' needs a value");
    expect(refused('lint', 'x', '--output', '--quiet')).toContain("option '--output' needs a value");
    expect(refused('lint', 'x', '--output=')).toContain("option '--output' needs a value");
    expect(refused('publish', 'a', 'b', '--tag')).toContain("option '--tag' needs a value");
    expect(refused('lint', 'x', '--quiet=yes')).toBe(
      "option '--quiet' takes no value (see ivoc lint --help)",
    );
    expect(refused('lint', 'x', '--no-color=1')).toContain("option '--no-color' takes no value");
    expect(refused('lint', 'x', '--no-output')).toContain("unknown option '--no-output'");
  });
});

describe('command line: help and version', () => {
  it('asks for help in every usual way', () => {
    for (const argv of [['--help'], ['-h'], ['help'], ['-q', '--help']]) {
      expect(parse(...argv)).toEqual({ kind: 'help' });
    }
    for (const argv of [
      ['lint', '--help'],
      ['lint', '-h'],
      ['help', 'lint'],
      ['lint', 'x', '--bogus', '--help'],
    ]) {
      const invocation = parse(...argv);
      expect(invocation.kind).toBe('help');
      expect(invocation.kind === 'help' && invocation.command?.name).toBe('lint');
    }
    // After --, --help is an image name.
    expect(run('inspect', '--', '--help').positionals).toEqual(['--help']);
    expect(parse('--version')).toEqual({ kind: 'version' });
    expect(parse('lint', 'x', '--version')).toEqual({ kind: 'version' });
  });

  it('prints help from the table: usage, commands, arguments, options, defaults and choices', () => {
    const top = formatHelp(cli, undefined, 80);
    expect(top).toMatch(/^Usage: ivoc /);
    for (const command of cli.commands) expect(top).toContain(command.description.slice(0, 30));
    expect(top).toContain('ivoc lint <images..>');
    expect(top).toContain('--insecure-registry HOST[:PORT]');
    expect(top).toContain('-h, --help');
    expect(top).toContain('--version');

    const lint = formatHelp(
      cli,
      cli.commands.find((command) => command.name === 'lint'),
      80,
    );
    expect(lint).toMatch(/^Usage: ivoc lint \[options\] <images\.\.>\n/);
    expect(lint).toContain('<images..>');
    expect(lint).toContain('-f, --format FORMAT');
    expect(lint).toContain('default: ivoa');
    expect(lint.replace(/\s+/g, ' ')).toContain(
      'choices: text, json, sarif, junit, github, markdown; default: text',
    );
    expect(lint).toContain('--fail-on LEVEL');
    expect(lint).toContain('--creds USER:PASS');

    const publish = formatHelp(
      cli,
      cli.commands.find((command) => command.name === 'publish'),
      80,
    );
    expect(publish).toContain('-t, --tag TAG');
    expect(publish).toContain('--digest-file FILE');
  });

  it('wraps help to the width it is given', () => {
    for (const width of [60, 80, 110]) {
      for (const command of [undefined, ...cli.commands]) {
        for (const line of formatHelp(cli, command, width).split('\n')) {
          expect(line.length, line).toBeLessThanOrEqual(width);
        }
      }
    }
    const narrow = formatHelp(cli, undefined, 60).split('\n').length;
    const wide = formatHelp(cli, undefined, 110).split('\n').length;
    expect(wide).toBeLessThan(narrow);
  });
});

describe('ivoc (the built CLI)', () => {
  it('prints help and exits 0', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const result = await runIvoc(argv);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Usage: ivoc /);
      expect(result.stdout).toContain('ivoc publish <src> <dest>');
      expect(result.stderr).toBe('');
    }
    const lint = await runIvoc(['lint', '--help']);
    expect(lint.code).toBe(0);
    expect(lint.stdout).toMatch(/^Usage: ivoc lint /);
    expect(lint.stdout).toContain('--fail-on LEVEL');
  });

  it('prints one line and exits 2 on a usage error', async () => {
    const unknown = await runIvoc(['inspect', 'oci:x', '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toBe("ivoc: unknown option '--bogus' (see ivoc inspect --help)\n");

    const typo = await runIvoc(['lnt', 'oci:x']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toBe("ivoc: unknown command 'lnt'; did you mean 'lint'? (see ivoc --help)\n");

    const none = await runIvoc([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toBe('ivoc: name a command (see ivoc --help)\n');

    const choice = await runIvoc(['lint', 'oci:x', '--format', 'xml']);
    expect(choice.code).toBe(2);
    expect(choice.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('prints its version', async () => {
    const result = await runIvoc(['--version']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${version}\n`);
  });
});

describe('the launcher finds the command as args.ts does (src/cli/launch-args.ts)', () => {
  it('lists the global options that take a value, as commands.ts defines them', () => {
    const withValue = Object.entries(cli.globalOptions).filter(([, spec]) => spec.type === 'string');
    expect([...globalValueOptions].sort()).toEqual(withValue.map(([name]) => name).sort());
    expect([...globalValueShorts].sort()).toEqual(
      withValue.flatMap(([, spec]) => (spec.short === undefined ? [] : [spec.short])).sort(),
    );
  });

  it('names the command args.ts runs, whatever global options come first', () => {
    const lines = [
      ['inspect', 'oci:x'],
      ['-q', 'inspect', 'oci:x'],
      ['--platform', 'linux/arm64', 'inspect', 'oci:x'],
      ['--platform=linux/arm64', 'lint', 'oci:x'],
      ['--creds', 'inspect', 'lint', 'oci:x'],
      ['-o', 'inspect', 'lint', 'oci:x'],
      ['-qo', 'inspect', 'lint', 'oci:x'],
      ['-oinspect', 'lint', 'oci:x'],
      ['--insecure-registry', 'inspect', '--no-color', 'publish', 'oci:x', 'docker://r/x'],
      ['--', 'inspect', 'oci:x'],
      ['-q', '--', 'lint', 'oci:x'],
    ];
    for (const argv of lines) {
      const invocation = parseCommandLine(cli, argv);
      expect(invocation.kind, argv.join(' ')).toBe('run');
      if (invocation.kind === 'run') expect(commandOf(argv), argv.join(' ')).toBe(invocation.command.name);
    }
    expect(commandOf([])).toBe('none');
    expect(commandOf(['--version'])).toBe('none');
    expect(commandOf(['-q', 'Inspect'])).toBe('none');
  });
});

describe('tokenize() splits words as util.parseArgs does (strict: false, tokens: true)', () => {
  /** Node's tokens for the same words and table: the reference. */
  function nodeTokens(args: string[], options: Readonly<Record<string, OptionSpec>>): unknown {
    const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
    for (const [name, spec] of Object.entries(options)) {
      config[name] = spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short };
    }
    const { tokens } = parseArgs({
      args,
      options: config,
      strict: false,
      allowPositionals: true,
      allowNegative: true,
      tokens: true,
    });
    return JSON.parse(JSON.stringify(tokens));
  }
  const ours = (args: string[], options: Readonly<Record<string, OptionSpec>>) =>
    JSON.parse(JSON.stringify(tokenize(args, options)));
  const help: OptionSpec = { type: 'boolean', short: 'h', description: '' };
  const tables: Readonly<Record<string, OptionSpec>>[] = [
    // Options named in `no-`, with one-letter aliases: none of ours is, parseArgs negates them all the same.
    {
      'no-x': { type: 'boolean', short: 'n', description: '' },
      'no-y': { type: 'string', short: 'm', description: '' },
      quiet: { type: 'boolean', short: 'q', description: '' },
    },
    { ...cli.globalOptions, help },
    ...cli.commands.map((command) => ({ ...cli.globalOptions, ...command.options, help })),
  ];

  it('on the edge cases', () => {
    const lines = [
      [],
      ['--'],
      ['-'],
      ['---x'],
      ['--=x'],
      ['--no-'],
      ['--no-cache'],
      ['--no-cache=1'],
      ['--no-format', 'x'],
      ['--format', '--quiet'],
      ['--format'],
      ['--format='],
      ['--a=b=c'],
      ['--=x=y'],
      ['--=='],
      ['-n'],
      ['-m'],
      ['-m', 'v'],
      ['--no-y', 'v'],
      ['-qn', '--no-x=1'],
      ['-q=1'],
      ['-qo', 'FILE'],
      ['-oq'],
      ['-qoFILE', 'x'],
      ['-qqq', '-o'],
      ['-x', 'y'],
      ['-', '--', '-q', '--format', 'json'],
      ['lint', '-j4', 'oci:x', '--tag', 'a', '--tag=b'],
    ];
    for (const table of tables) {
      for (const args of lines) expect(ours(args, table), args.join(' ')).toEqual(nodeTokens(args, table));
    }
  });

  it('on random command lines made of every option of every command', () => {
    let seed = 20261203;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pick = (words: readonly string[]): string => words[random(words.length)] as string;
    for (const table of tables) {
      const names = Object.keys(table);
      const shorts = names.flatMap((name) => {
        const short = table[name]?.short;
        return short === undefined ? [] : [short];
      });
      const pieces = [
        () => `--${pick(names)}`,
        () => `--no-${pick(names)}`,
        () => `--${pick(names)}=${pick(['', 'v', '-v', '=', 'a=b'])}`,
        () => `--${pick(['', '=', 'x', '-'])}=${pick(['', 'v', '='])}`,
        () => `-${Array.from({ length: 1 + random(3) }, () => pick([...shorts, 'x', '=', '1'])).join('')}`,
        () => pick(['--', '-', '---', '', 'oci:x', 'docker://r/x:1', 'inspect', '-1', '--unknown', 'a b']),
      ];
      for (let line = 0; line < 2000; line++) {
        const args = Array.from({ length: random(6) }, () =>
          (pieces[random(pieces.length)] as () => string)(),
        );
        expect(ours(args, table), JSON.stringify(args)).toEqual(nodeTokens(args, table));
      }
    }
  });
});
