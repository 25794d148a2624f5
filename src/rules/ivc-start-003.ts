import type { FileSystemView } from '../oci/layer/filesystem.js';
import type { Finding } from '../report/types.js';
import type { Rule } from './types.js';
import { fileFinding, octalMode } from './util/layer-of.js';
import { blockingEnding, execEnding } from './util/startup-script.js';

/**
 * The profile's startup script (canfar: /skaha/startup.sh, exec style) and
 * init script (/skaha/init.sh), when the image ships them: executable, a
 * '#!' line, and the right ending: `exec "$@"` for an exec-style startup
 * script (a wrapper such as `exec tini -- "$@"` is accepted); an init
 * script must return (it must not exec, wait, sleep forever, loop forever
 * or run a known service in the foreground).
 *
 * Capture: a rule's capture is fixed by its metadata and cannot depend on
 * the profile, so the rule keeps the bodies of `/skaha/*.sh` (the scripts of
 * the built-in canfar profile). A user profile naming a script elsewhere
 * gets the mode and '#!' checks (from the scan's probes), but its ending
 * cannot be read: when nothing else fails, the rule is skipped with that
 * reason. An image that ships neither script passes (IVC-START-001 decides
 * whether the image has a recipe at all).
 */

interface ScriptCheck {
  findings: Finding[];
  passes: string[];
  unread: string[];
}

function checkScript(
  fs: FileSystemView,
  path: string,
  role: 'startup' | 'init',
  execStyle: boolean,
  out: ScriptCheck,
): boolean {
  const link = fs.lstat(path);
  if (link === undefined) return false;
  const node = fs.stat(path);
  const fail = (message: string) => out.findings.push(fileFinding(fs, path, node ?? link, message));
  if (node === undefined) {
    fail(`${path} is a symbolic link to ${link.symlinkTarget}, which does not exist`);
    return true;
  }
  if (node.type !== 'file') {
    fail(`${path} is a ${node.type === 'dir' ? 'directory' : node.type}, not a script`);
    return true;
  }
  const before = out.findings.length;
  let how = '';
  if (!node.executable) fail(`${path} is not executable (mode ${octalMode(node.mode)})`);
  const info = fs.scriptInfo(path);
  if (info.status === 'no-shebang') fail(`${path} does not start with a '#!' line`);
  else if (info.status === 'binary') fail(`${path} is a binary, not a script starting with '#!'`);
  const read = fs.read(path);
  const text = read.status === 'ok' ? read.data.toString('utf8') : undefined;
  if (role === 'startup' && execStyle) {
    if (text === undefined) out.unread.push(`${path} (its ending: exec "$@")`);
    else {
      const ending = execEnding(text);
      if (ending.ok) how = ` and ${ending.how}`;
      else fail(`${path} ${ending.reason}`);
    }
  } else if (role === 'init') {
    if (text === undefined) out.unread.push(`${path} (whether it returns)`);
    else {
      const blocking = blockingEnding(text);
      if (blocking !== undefined) fail(`the init script ${path} ${blocking}; it must return promptly`);
    }
  }
  if (info.status === 'unknown' && text === undefined) out.unread.push(`${path} (its '#!' line)`);
  if (out.findings.length === before) out.passes.push(`${path} is an executable script${how}`);
  return true;
}

export default {
  meta: {
    id: 'IVC-START-003',
    level: 'error',
    evidence: ['fs'],
    title: "The platform's startup script is right",
    description:
      "Where the profile has a startup script (canfar: /skaha/startup.sh) and the image ships it, the script is executable, starts with '#!', and for exec-style profiles ends with `exec \"$@\"`; the profile's init script (/skaha/init.sh) is executable, starts with '#!' and returns.",
    rationale:
      "The platform runs its own command through the image's startup script: without exec the shell stays the session's first process and signals never reach the application; a script that ignores its arguments runs the wrong program, and an init script that blocks stops the session from starting.",
    help: 'End /skaha/startup.sh with `exec "$@"` and install it with `COPY --chmod=0755 startup.sh /skaha/startup.sh`',
    specAnchor: 'ivc-start-003',
    capture: { globs: ['/skaha/*.sh'], probes: ['shebang', 'elf'] },
  },
  check({ evidence, profile }) {
    const fs = evidence.fs!;
    const { startupScript, initScript, startupStyle } = profile.parameters;
    if (startupScript === undefined && initScript === undefined) {
      return { status: 'pass', message: `profile '${profile.name}' has no startup script` };
    }
    const out: ScriptCheck = { findings: [], passes: [], unread: [] };
    const shipped: string[] = [];
    if (
      startupScript !== undefined &&
      checkScript(fs, startupScript, 'startup', startupStyle === 'exec', out)
    ) {
      shipped.push(startupScript);
    }
    if (initScript !== undefined && checkScript(fs, initScript, 'init', false, out)) shipped.push(initScript);
    const facts: Record<string, unknown> = { shipped };
    if (out.unread.length > 0) facts.notRead = out.unread;
    if (out.findings.length > 0) {
      const unread = out.unread.length > 0 ? ` (not read: ${out.unread.join(', ')})` : '';
      return {
        status: 'fail',
        message: `${out.findings.map((finding) => finding.message).join('; ')}${unread}`,
        evidence: facts,
        findings: out.findings,
      };
    }
    if (shipped.length === 0) {
      const names = [startupScript, initScript].filter((name) => name !== undefined);
      const message =
        names.length === 1
          ? `the image does not ship ${names[0]}`
          : `the image ships neither ${names.join(' nor ')}`;
      return { status: 'pass', message, evidence: facts };
    }
    if (out.unread.length > 0) {
      return {
        status: 'skip',
        message: `skipped: the layer scan keeps only /skaha/*.sh, so ${out.unread.join(', ')} could not be checked`,
        evidence: facts,
      };
    }
    return { status: 'pass', message: out.passes.join('; '), evidence: facts };
  },
} satisfies Rule;
