/**
 * The command a command line names, found as args.ts finds it (the first word
 * after any global options), for the launcher (launch.ts) to choose a bundle
 * and a code cache before the CLI is loaded. The launcher must not load
 * commands.ts, so the global options that take a value are listed here;
 * test/cli-args.test.ts checks the list against commands.ts and the answers
 * against args.ts.
 */

/** Global options that take a value (long names, and short letters). */
export const globalValueOptions: readonly string[] = ['creds', 'insecure-registry', 'platform', 'output'];
export const globalValueShorts: readonly string[] = ['o'];

const commandWord = /^[a-z][a-z-]{0,31}$/;

/** The command word, or 'none' (no command, or not a word a command could be). */
export function commandOf(argv: readonly string[]): string {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      const next = argv[i + 1];
      return next !== undefined && commandWord.test(next) ? next : 'none';
    }
    if (arg.startsWith('--')) {
      // --name value, unless written --name=value.
      if (!arg.includes('=') && globalValueOptions.includes(arg.slice(2))) i++;
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // -abc: a value-taking letter takes the rest of the cluster, or the next word when last.
      const letters = arg.slice(1);
      const at = [...letters].findIndex((letter) => globalValueShorts.includes(letter));
      if (at === letters.length - 1) i++;
      continue;
    }
    return commandWord.test(arg) ? arg : 'none';
  }
  return 'none';
}
