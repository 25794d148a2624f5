import { ExitCode, IvocError } from '../errors.js';
import { toolVersion } from '../version.js';
import { formatHelp, parseCommandLine } from './args.js';
import { cli } from './commands.js';
import { writeStdout } from './output.js';

/**
 * Entry point. The command line is parsed from the table in commands.ts; each
 * command's work is imported lazily so `ivoc inspect` never loads the engine
 * client or the rule engine. Nothing heavy is imported here: start-up time is
 * part of every command (bench/).
 */

function fail(error: unknown): never {
  // The reader of stdout went away (`ivoc ... | head`): quietly, as SIGPIPE would (output.ts).
  if (error instanceof IvocError && error.code === 'ERR_STDOUT_CLOSED') process.exit(error.exitCode);
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
  // main() ends with process.exit(), which emits no 'beforeExit': the event loop can only
  // run empty first if the command's promise never settled (a stream that neither ended
  // nor failed). That is a failure, never the silent exit 0 Node would make of it.
  process.once('beforeExit', () => {
    process.stderr.write(
      'ivoc: internal error: the command stopped before it finished (nothing left to wait for)\n',
    );
    process.exit(ExitCode.failure);
  });
  try {
    const invocation = parseCommandLine(cli, argv);
    if (invocation.kind === 'help') {
      // A terminal's width; not process.stdout.columns elsewhere, which would make the stream writeStdout() does without.
      const columns = process.getBuiltinModule('node:tty').isatty(1) ? process.stdout.columns : undefined;
      await writeStdout(formatHelp(cli, invocation.command, Math.min(110, columns ?? 80)));
    } else if (invocation.kind === 'version') {
      await writeStdout(`${toolVersion}\n`);
    } else {
      process.exitCode = await invocation.command.run(invocation.positionals, invocation.options);
    }
  } catch (error) {
    fail(error);
  }
  // Output is written and flushed (writeOutput waits for it). Exit now rather
  // than wait for undici's connection bookkeeping to wind down (~200 ms).
  process.exit(process.exitCode ?? 0);
}

// Not awaited: the bundle is CommonJS (scripts/build.mjs); main() reports its own errors.
void main(process.argv.slice(2));
