import yargs from 'yargs';
import { ExitCode, IvocError } from '../errors.js';

/**
 * Entry point. Option parsing lives here; each command's work is imported
 * lazily so `ivoc inspect` never loads the engine client or the rule engine.
 */

export interface CommonOptions {
  creds?: string;
  insecureRegistry?: string[];
  platform?: string;
  format?: string;
  output?: string;
  quiet?: boolean;
  color?: boolean;
}

function fail(error: unknown): never {
  if (error instanceof IvocError) {
    process.stderr.write(`ivoc: ${error.describe()}\n`);
    if (process.env.IVOC_DEBUG && error.stack) process.stderr.write(`${error.stack}\n`);
    process.exit(error.exitCode);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`ivoc: internal error: ${message}\n`);
  if (process.env.IVOC_DEBUG && error instanceof Error && error.stack)
    process.stderr.write(`${error.stack}\n`);
  process.exit(ExitCode.failure);
}

export async function main(argv: string[]): Promise<void> {
  const parser = yargs(argv)
    .scriptName('ivoc')
    .usage('$0 <command> [options]')
    .option('creds', { type: 'string', describe: 'registry credentials USER:PASS', global: true })
    .option('insecure-registry', {
      type: 'string',
      array: true,
      describe: 'HOST[:PORT] reached over plain HTTP or without TLS verification',
      global: true,
    })
    .option('platform', {
      type: 'string',
      describe: 'os/arch[/variant] to select from an index',
      default: 'linux/amd64',
    })
    .option('output', { alias: 'o', type: 'string', describe: 'write the output to FILE instead of stdout' })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'print nothing but the result' })
    .option('color', { type: 'boolean', describe: 'colour (off on non-TTY, with --no-color or NO_COLOR)' })
    .command(
      'inspect <image>',
      "show an image's digest, platform, config and layers",
      (command) =>
        command
          .positional('image', {
            type: 'string',
            demandOption: true,
            describe: 'image reference (any transport)',
          })
          .option('format', { type: 'string', choices: ['text', 'json'], default: 'text' })
          .option('raw', { type: 'boolean', describe: 'print the manifest (or index) as stored' })
          .option('config', { type: 'boolean', describe: 'print the image config as stored' })
          .option('scan', {
            type: 'boolean',
            describe: 'read every layer too (verified) and summarise the filesystem',
          })
          .option('path', {
            type: 'string',
            array: true,
            describe: 'look PATH up in the merged filesystem (implies --scan)',
          })
          .option('cache', {
            type: 'boolean',
            default: true,
            describe: 'use the layer facts cache (--no-cache: read every layer)',
          }),
      async (args) => {
        const { inspectCommand } = await import('./inspect.js');
        process.exitCode = await inspectCommand(args.image, args);
      },
    )
    .command(
      'lint <images..>',
      'check images against a profile of the standard and print a report',
      (command) =>
        command
          .positional('images', {
            type: 'string',
            array: true,
            demandOption: true,
            describe: 'image references',
          })
          .option('profile', {
            type: 'string',
            default: 'ivoa',
            describe: 'built-in profile (ivoa, canfar, kubeflow) or a profile FILE',
          })
          .option('format', {
            alias: 'f',
            type: 'string',
            choices: ['text', 'json', 'sarif', 'junit', 'github', 'markdown'],
            default: 'text',
          })
          .option('fail-on', { type: 'string', choices: ['error', 'warning', 'never'], default: 'error' })
          .option('run', {
            type: 'boolean',
            describe: 'also start the container with a Docker engine (run rules)',
          })
          .option('rule', { type: 'string', array: true, describe: 'only these rule IDs' })
          .option('verbose', { type: 'boolean', describe: 'list passed rules and every finding' })
          .option('attached', {
            type: 'boolean',
            describe:
              'show the report ivoc publish attached to a registry image instead of checking it again',
          })
          .option('cache', { type: 'boolean', default: true, describe: 'use the layer facts cache' }),
      async (args) => {
        const { lintCommand } = await import('./lint.js');
        process.exitCode = await lintCommand(args.images as string[], args);
      },
    )
    .command(
      'publish <src> <dest>',
      'validate an image, then push it with discovery labels and its report attached',
      (command) =>
        command
          .positional('src', { type: 'string', demandOption: true, describe: 'source image (any transport)' })
          .positional('dest', {
            type: 'string',
            demandOption: true,
            describe: 'registry reference HOST/REPO[:TAG]',
          })
          .option('tag', {
            alias: 't',
            type: 'string',
            array: true,
            describe: 'also tag the pushed image TAG',
          })
          .option('semver-tags', {
            type: 'boolean',
            describe: 'also tag X.Y.Z, X.Y and X from org.opencontainers.image.version',
          })
          .option('all-platforms', {
            type: 'boolean',
            describe: 'index SRC: validate and publish every platform (default: --platform only)',
          })
          .option('dry-run', {
            type: 'boolean',
            describe: 'validate and show what would be pushed; write nothing',
          })
          .option('digest-file', { type: 'string', describe: 'write the pushed manifest digest to FILE' })
          .option('profile', {
            type: 'string',
            default: 'ivoa',
            describe: 'built-in profile (ivoa, canfar, kubeflow) or a profile FILE',
          })
          .option('format', { alias: 'f', type: 'string', choices: ['text', 'json'], default: 'text' })
          .option('fail-on', { type: 'string', choices: ['error', 'warning', 'never'], default: 'error' })
          .option('revision', {
            type: 'string',
            describe: 'org.opencontainers.image.revision (e.g. a commit)',
          })
          .option('source', { type: 'string', describe: 'org.opencontainers.image.source (a URL)' }),
      async (args) => {
        const { publishCommand } = await import('./publish.js');
        process.exitCode = await publishCommand(args.src, args.dest, args);
      },
    )
    .command(
      'rules [id]',
      'list the rules, or explain one',
      (command) =>
        command
          .positional('id', { type: 'string', describe: 'rule ID, e.g. IVC-USER-001' })
          .option('format', { type: 'string', choices: ['text', 'json'], default: 'text' }),
      async (args) => {
        const { rulesCommand } = await import('./catalogue-info.js');
        process.exitCode = await rulesCommand(args.id, args);
      },
    )
    .command(
      'profiles [name]',
      'list the built-in profiles, or print one resolved',
      (command) => command.positional('name', { type: 'string', describe: 'profile name or FILE' }),
      async (args) => {
        const { profilesCommand } = await import('./catalogue-info.js');
        process.exitCode = await profilesCommand(args.name, args);
      },
    )
    .demandCommand(1, 'name a command; see ivoc --help')
    .strict()
    .recommendCommands()
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 80))
    .fail((message, error) => {
      if (error) fail(error);
      process.stderr.write(`ivoc: ${message}\n(see ivoc --help)\n`);
      process.exit(ExitCode.usage);
    });
  try {
    await parser.parseAsync();
  } catch (error) {
    fail(error);
  }
  // Output is written and flushed (writeOutput waits for it). Exit now rather
  // than wait for undici's connection bookkeeping to wind down (~200 ms).
  process.exit(process.exitCode ?? 0);
}

await main(process.argv.slice(2));
