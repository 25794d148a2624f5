import type { FsNode } from '../oci/layer/filesystem.js';
import type { Finding } from '../report/types.js';
import type { Rule } from './types.js';
import { fileFinding, octalMode } from './util/layer-of.js';

/**
 * setuid-root and setgid-root executables in the merged view: regular files
 * with an execute bit that are setuid and owned by UID 0, or setgid and
 * owned by GID 0 (a setuid file owned by another user gives that user's
 * rights, not root's; a setgid file without an execute bit marks mandatory
 * locking, not privilege). Hard links count under every name they have.
 * The profile's allow-list holds base names (matching anywhere) and
 * absolute paths (matching only there). A file a later layer removed
 * (whiteout, opaque directory) is not in the merged view and does not count.
 */

function isPrivileged(node: FsNode): boolean {
  return node.executable && ((node.setuid && node.uid === 0) || (node.setgid && node.gid === 0));
}

function describe(node: FsNode): string {
  const bits = [
    node.setuid && node.uid === 0 ? 'setuid-root' : '',
    node.setgid && node.gid === 0 ? 'setgid-root' : '',
  ]
    .filter(Boolean)
    .join(' and ');
  return `${node.path} is ${bits} (mode ${octalMode(node.mode)}, owner ${node.uid}:${node.gid})`;
}

export default {
  meta: {
    id: 'IVC-USER-003',
    level: 'warning',
    evidence: ['fs'],
    title: 'No unexpected setuid/setgid-root executables',
    description:
      "The image has no executables that are setuid and owned by UID 0, or setgid and owned by GID 0, other than those on the profile's allow-list (base names such as su, passwd, sudo, mount; or absolute paths).",
    rationale:
      'A setuid-root program is a way from the session user to root: platforms that block it make it dead weight, and where they do not it is a risk the operator did not choose.',
    help: 'Drop the bits in the Dockerfile: `RUN chmod u-s,g-s /path/to/file` (or remove the file)',
    specAnchor: 'ivc-user-003',
  },
  check({ evidence, profile }) {
    const fs = evidence.fs!;
    const allow = profile.parameters.setuidAllowList ?? [];
    const allowedPaths = new Set(allow.filter((item) => item.startsWith('/')));
    const allowedNames = new Set(allow.filter((item) => !item.startsWith('/')));
    const offending: FsNode[] = [];
    const allowed: string[] = [];
    for (const node of fs.walk()) {
      if (!isPrivileged(node)) continue;
      const name = node.path.slice(node.path.lastIndexOf('/') + 1);
      if (allowedPaths.has(node.path) || allowedNames.has(name)) allowed.push(node.path);
      else offending.push(node);
    }
    offending.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    allowed.sort();
    const facts = { allowed, offending: offending.map((node) => node.path) };
    if (offending.length === 0) {
      const message =
        allowed.length === 0
          ? 'no setuid/setgid-root executables'
          : `${allowed.length} setuid/setgid-root executable${allowed.length === 1 ? '' : 's'}, all on the allow-list of profile '${profile.name}'`;
      return { status: 'pass', message, evidence: facts };
    }
    const findings: Finding[] = offending.map((node) => fileFinding(fs, node.path, node, describe(node)));
    const shown = offending.slice(0, 5).map((node) => node.path);
    const more = offending.length > shown.length ? ` and ${offending.length - shown.length} more` : '';
    return {
      status: 'fail',
      message: `${offending.length} setuid/setgid-root executable${offending.length === 1 ? '' : 's'} not on the allow-list of profile '${profile.name}': ${shown.join(', ')}${more}`,
      evidence: facts,
      findings,
    };
  },
} satisfies Rule;
