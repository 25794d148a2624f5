import {
  baseNameOf,
  lastCommand,
  programIndex,
  redactWord,
  type SimpleCommand,
  simpleCommands,
} from './command.js';

/**
 * How a platform startup script ends (IVC-START-003): an exec-style script
 * hands over with `exec "$@"` as its last command; an init script returns.
 * Only the last simple command is judged; trailing comments and blank lines
 * do not count, and a `;` or `&&` before the last command is fine
 * (`cd /work && exec "$@"`).
 */

export type Ending = { ok: true; how: string } | { ok: false; reason: string };

// `"${@}"` spelt without a template-looking literal.
const allArgs = new Set(['"$@"', `"$${'{'}@}"`]);
const unquotedArgs = /^(\$@|\$\{@\}|\$\*|\$\{\*\}|"\$\*"|"\$\{\*\}")$/;

/** Up to four words of a command, for a message (credential-looking values hidden). */
export function showCommand(command: SimpleCommand): string {
  const words = command.words.map((word) => redactWord(word.raw));
  const shown = words.slice(0, 4).join(' ');
  return words.length > 4 ? `${shown} ...` : shown;
}

export function execEnding(text: string): Ending {
  const last = lastCommand(text);
  if (last === undefined) return { ok: false, reason: 'has no commands, so it never runs its arguments' };
  const shown = showCommand(last);
  const raws = last.words.map((word) => word.raw);
  if (last.then === '&')
    return { ok: false, reason: `runs its last command in the background (\`${shown} &\`)` };
  if (allArgs.has(raws[0]!)) {
    return {
      ok: false,
      reason: `ends with \`${shown}\` without exec: the shell stays the session's first process and signals do not reach the application`,
    };
  }
  let i = 0;
  while (i < raws.length && /^[A-Za-z_][A-Za-z0-9_]*=/.test(raws[i]!)) i++;
  if (raws[i] !== 'exec') {
    return { ok: false, reason: `ends with \`${shown}\`, not \`exec "$@"\`` };
  }
  i++;
  while (i < raws.length && raws[i]!.startsWith('-')) {
    if (raws[i] === '--') {
      i++;
      break;
    }
    if (raws[i] === '-a') i++;
    i++;
  }
  const rest = raws.slice(i).filter((word) => !/^\d*[<>]/.test(word));
  if (rest.length === 0) {
    return { ok: false, reason: `ends with \`${shown}\`, which hands over to no program` };
  }
  const final = rest.at(-1)!;
  if (allArgs.has(final)) {
    if (rest.length === 1) return { ok: true, how: `ends with \`${shown}\`` };
    return { ok: true, how: `ends by exec-ing its arguments through ${baseNameOf(rest[0]!)} (\`${shown}\`)` };
  }
  if (rest.some((word) => unquotedArgs.test(word))) {
    return {
      ok: false,
      reason: `ends with \`${shown}\`: write "$@" in double quotes, or arguments containing spaces are split`,
    };
  }
  return { ok: false, reason: `ends with \`${shown}\`, which ignores the arguments the platform passes` };
}

const foregroundServices = new Set([
  'jupyter',
  'jupyter-lab',
  'jupyter-notebook',
  'jupyter-server',
  'jupyterhub',
  'jupyterhub-singleuser',
  'code-server',
  'rserver',
  'supervisord',
  'sshd',
  'nginx',
  'httpd',
  'apache2',
  'Xvnc',
  'vncserver',
  'websockify',
]);

/** Why an init script's ending would block the session's start, or undefined when it returns. */
export function blockingEnding(text: string): string | undefined {
  const commands = simpleCommands(text);
  const last = commands.at(-1);
  if (last === undefined || last.then === '&') return undefined;
  const values = last.words.map((word) => word.value);
  const shown = showCommand(last);
  if (values[0] === 'exec')
    return `ends with \`${shown}\`: exec replaces the script, which then never returns`;
  if (values[0] === 'wait') return 'ends with `wait`, which blocks until every background job exits';
  if (values[0] === 'done') {
    const endless = commands.some((command) => {
      const words = command.words.map((word) => word.value);
      return (
        (words[0] === 'while' && ['true', ':'].includes(words[1] ?? '')) ||
        (words[0] === 'until' && words[1] === 'false')
      );
    });
    if (endless) return 'ends in an endless loop (`while true`)';
    return undefined;
  }
  const index = programIndex(values);
  if (index === undefined) return undefined;
  const name = baseNameOf(values[index]!);
  const args = values.slice(index + 1);
  if (name === 'sleep' && args.some((arg) => /^(infinity|inf)$/i.test(arg) || Number.parseFloat(arg) >= 60)) {
    return `ends with \`${shown}\`, which blocks`;
  }
  if (name === 'tail' && args.some((arg) => /^-[A-Za-z]*[fF]/.test(arg) || arg === '--follow')) {
    return `ends with \`${shown}\`, which never returns`;
  }
  if (foregroundServices.has(name)) return `ends by starting ${name} in the foreground (\`${shown}\`)`;
  return undefined;
}
