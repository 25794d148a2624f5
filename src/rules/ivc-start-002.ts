import type { FileSystemView, FsNode } from '../oci/layer/filesystem.js';
import { absolutePath } from '../oci/layer/fs-path.js';
import type { Finding } from '../report/types.js';
import type { Rule } from './types.js';
import {
  baseNameOf,
  executablesNamed,
  imagePath,
  lookUp,
  notFoundMessage,
  type ProgramLookup,
  programIndex,
  recipeOf,
  redactWord,
  shellInvocation,
  simpleCommands,
  workingDir,
} from './util/command.js';
import { fileFinding, octalMode } from './util/layer-of.js';

/**
 * The recipe's program, resolved as the runtime's execve would: the first
 * word of Entrypoint (of Cmd without one) on the image's own PATH from Env
 * (a name with '/' taken from WorkingDir), symbolic links followed. It must
 * be an executable regular file; a script's '#!' interpreter must exist and
 * be executable (nested interpreters followed, as the kernel allows), and
 * for `#!/usr/bin/env NAME`, NAME must be on the PATH. A file with neither a
 * '#!' line nor an ELF header fails: runtimes call execve directly, which
 * refuses it ("exec format error"); no shell fallback as execvp's.
 *
 * For `sh -c STRING`, the shell is the program; the first command of STRING
 * is looked up too when it is a plain word (not a builtin, no expansion) and
 * the shell is not a login or interactive one (those read profile files that
 * may change PATH). Later commands are not: the string may change PATH.
 *
 * Not an error: a program that is not executable by others (`o+x` missing)
 * is mentioned in the message, since the session's UID is arbitrary.
 */

const maxInterpreterDepth = 4;

const shellBuiltins = new Set(
  (
    '! . : [ [[ { } alias bg break builtin case cd command continue declare do done echo elif else esac eval exec exit ' +
    'export false fg fi for function getopts hash if in jobs kill let local printf pwd read readonly return select set ' +
    'shift source test then time times trap true type typeset ulimit umask unalias unset until wait while'
  ).split(' '),
);

interface Problem {
  message: string;
  path?: string;
  node?: FsNode;
}

function missingHint(fs: FileSystemView, lookup: ProgramLookup): string {
  if (lookup.command.includes('/') || lookup.result.found) return '';
  const elsewhere = executablesNamed(fs, lookup.command);
  return elsewhere.length === 0
    ? ''
    : ` (the image has ${elsewhere.join(', ')}: add its directory to PATH in ENV)`;
}

/** Check that `path` (an interpreter) is a usable program, following nested interpreters. */
function checkInterpreterChain(
  fs: FileSystemView,
  scriptPath: string,
  pathEnv: string,
  cwd: string,
  depth: number,
  problems: Problem[],
  chain: string[],
): void {
  const info = fs.scriptInfo(scriptPath);
  if (info.status !== 'script') return;
  const interpreter = info.interpreter;
  const interpreterPath = absolutePath(interpreter.path, cwd);
  const lookup = fs.whichExplain(interpreterPath, pathEnv, { cwd });
  if (!lookup.found) {
    problems.push({
      message: `${scriptPath} starts with '#!${interpreter.line.trim()}', but ${notFoundMessage({ command: interpreterPath, result: lookup }, pathEnv)}`,
      path: interpreterPath,
    });
    return;
  }
  chain.push(lookup.path);
  const isEnv = baseNameOf(interpreter.path) === 'env';
  if (isEnv) {
    if (interpreter.envCommand === undefined) {
      problems.push({
        message: `${scriptPath} starts with '#!${interpreter.line.trim()}', which gives env no command to run`,
        path: scriptPath,
      });
      return;
    }
    const command = interpreter.envCommand;
    const found = fs.whichExplain(command, pathEnv, { cwd });
    if (!found.found) {
      const split = /\s/.test(command)
        ? ` (without -S, env looks for one program named '${command}')`
        : missingHint(fs, { command, result: found });
      problems.push({
        message: `${scriptPath} starts with '#!${interpreter.line.trim()}', but ${notFoundMessage({ command, result: found }, pathEnv)}${split}`,
        path: scriptPath,
      });
      return;
    }
    chain.push(found.path);
    if (depth < maxInterpreterDepth)
      checkInterpreterChain(fs, found.path, pathEnv, cwd, depth + 1, problems, chain);
    return;
  }
  if (depth >= maxInterpreterDepth) {
    problems.push({ message: `${scriptPath}: too many nested '#!' interpreters`, path: scriptPath });
    return;
  }
  checkInterpreterChain(fs, lookup.path, pathEnv, cwd, depth + 1, problems, chain);
}

export default {
  meta: {
    id: 'IVC-START-002',
    level: 'error',
    evidence: ['fs'],
    title: "The recipe's program exists and is executable",
    description:
      "The first word of Entrypoint (or of Cmd without an Entrypoint), resolved on the image's own PATH from Env, is an executable file in the image; a script's '#!' interpreter exists too (for `#!/usr/bin/env NAME`, NAME is on the PATH).",
    rationale:
      'A missing or non-executable program is the most common reason an image that works on a laptop fails on a platform: the file came from a mounted directory, a COPY lost its mode, or PATH was set only in .bashrc.',
    help: 'Install the program and make it reachable: `COPY --chmod=0755 start.sh /usr/local/bin/start-session` or `ENV PATH=/opt/conda/bin:$PATH`',
    specAnchor: 'ivc-start-002',
    capture: { probes: ['shebang', 'elf'] },
  },
  check({ evidence, profile }) {
    const fs = evidence.fs!;
    const config = evidence.config?.config;
    const recipe = recipeOf(config);
    const pathEnv = imagePath(config);
    const cwd = workingDir(config);
    const key = recipe.programKey;
    if (recipe.argv.length === 0) {
      const script = profile.parameters.startupScript;
      const message =
        script === undefined
          ? 'nothing to check: no Entrypoint or Cmd (IVC-START-001 reports the missing recipe)'
          : `nothing to check: no Entrypoint or Cmd; the platform starts the image through ${script} (IVC-START-001, IVC-START-003)`;
      return { status: 'pass', message };
    }
    const program = recipe.argv[0]!;
    if (program === '') {
      const message = `the first word of ${key} is the empty string`;
      return { status: 'fail', message, findings: [{ message, key }] };
    }
    const shown = redactWord(program);
    const lookup = lookUp(fs, program, config);
    const facts: Record<string, unknown> = { program: shown, path: pathEnv, workingDir: cwd };
    if (!lookup.result.found) {
      const message = `${key} program ${notFoundMessage(lookup, pathEnv)}${missingHint(fs, lookup)}`;
      const candidate = lookup.result.tried.find(
        (item) => item.reason !== 'absent' && item.reason !== 'not-dir',
      );
      const finding: Finding = candidate
        ? { ...fileFinding(fs, candidate.path, fs.lstat(candidate.path), message), key }
        : { message, key };
      return { status: 'fail', message, evidence: facts, findings: [finding] };
    }
    const found = lookup.result;
    facts.resolved = found.path;
    if (found.realpath !== found.path) facts.realpath = found.realpath;
    const problems: Problem[] = [];
    const notes: string[] = [];
    const chain: string[] = [found.path];
    const info = fs.scriptInfo(found.path);
    if (info.status === 'no-shebang') {
      problems.push({
        message: `${found.path} has neither a '#!' line nor an ELF header: the kernel refuses to run it (exec format error)`,
        path: found.path,
        node: found.node,
      });
    } else if (info.status === 'script') {
      checkInterpreterChain(fs, found.path, pathEnv, cwd, 1, problems, chain);
    } else if (info.status === 'unknown') {
      notes.push(`the content of ${found.path} was not examined`);
    }
    if ((found.node.mode & 0o001) === 0) {
      notes.push(
        `${found.path} is not executable by others (mode ${octalMode(found.node.mode)}, owner ${found.node.uid}:${found.node.gid}); a session with an arbitrary UID may not run it`,
      );
    }
    const shell = shellInvocation(recipe.argv);
    if (shell && !shell.login && problems.length === 0) {
      const first = simpleCommands(shell.script)[0];
      const words = first?.words.map((word) => word.value) ?? [];
      const index = programIndex(words);
      const word = index === undefined ? undefined : first!.words[index]!;
      if (word && !shellBuiltins.has(word.value) && /^[A-Za-z0-9_./+-]+$/.test(word.raw)) {
        const inner = lookUp(fs, word.value, config);
        if (inner.result.found) {
          facts.shellCommand = inner.result.path;
        } else {
          problems.push({
            message: `the first command of the ${baseNameOf(shell.shell)} -c string: ${notFoundMessage(inner, pathEnv)}${missingHint(fs, inner)}`,
          });
        }
      }
    }
    if (chain.length > 1) facts.chain = chain;
    if (problems.length > 0) {
      const findings = problems.map((problem) =>
        problem.path === undefined
          ? { message: problem.message, key }
          : {
              ...fileFinding(fs, problem.path, problem.node ?? fs.lstat(problem.path), problem.message),
              key,
            },
      );
      return {
        status: 'fail',
        message: problems.map((problem) => problem.message).join('; '),
        evidence: facts,
        findings,
      };
    }
    const kind =
      chain.length > 1
        ? `an executable script run by ${chain.slice(1).join(' -> ')}`
        : info.status === 'binary'
          ? 'an executable binary'
          : 'executable';
    const note = notes.length > 0 ? `; note: ${notes.join('; ')}` : '';
    const name = program === found.path ? found.path : `${shown} (${found.path})`;
    return { status: 'pass', message: `${key} program ${name} is ${kind}${note}`, evidence: facts };
  },
} satisfies Rule;
