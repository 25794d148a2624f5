import type { AccountFile } from '../oci/layer/filesystem.js';
import type { Finding } from '../report/types.js';
import type { Rule } from './types.js';
import { fileFinding } from './util/layer-of.js';
import { parseUser } from './util/user.js';

/**
 * Named users and groups against the image's own /etc/passwd and /etc/group.
 * A numeric part needs no entry (the engine uses the number as is), so
 * `1000:1000` passes without reading anything, and `1000:science` still
 * needs a `science` group. An unset or root User is IVC-USER-001's finding:
 * here `root` fails only because passwd gives it UID 0, like any other name.
 */

function unreadableMessage(file: string, status: string): string {
  switch (status) {
    case 'absent':
      return `the image has no ${file}`;
    case 'not-file':
      return `${file} is not a regular file`;
    default:
      return `${file} was not read by the layer scan`;
  }
}

function lookupFailure<T extends { name: string }>(
  file: AccountFile<T>,
  path: string,
  what: string,
  name: string,
): string {
  if (!file.readable) return `${what} '${name}' cannot be looked up: ${unreadableMessage(path, file.status)}`;
  const truncated = file.status === 'truncated' ? ` (only the first part of ${path} was read)` : '';
  return `${what} '${name}' is not in ${path}${truncated}`;
}

export default {
  meta: {
    id: 'IVC-USER-002',
    level: 'error',
    evidence: ['fs'],
    title: 'A named user and group exist',
    description:
      "When User names a user, that name is in the image's /etc/passwd with a UID other than 0; when it names a group, that name is in /etc/group. Numeric ids need no entry.",
    rationale:
      "The container engine resolves names against the image's own files when it starts the container: a missing name fails the start, and a name mapped to UID 0 is root under another name.",
    help: 'Create the user and group in the image (`RUN groupadd -g 1000 astro && useradd -u 1000 -g astro -m astro`), or use numeric ids: `USER 1000:1000`',
    specAnchor: 'ivc-user-002',
    capture: { paths: ['/etc/passwd', '/etc/group'] },
  },
  check({ evidence }) {
    const fs = evidence.fs!;
    const parsed = parseUser(evidence.config?.config?.User);
    const facts: Record<string, unknown> = { user: parsed.raw };
    if (parsed.raw.trim() === '' || parsed.user === '') {
      return {
        status: 'pass',
        message: 'User names no user to look up (IVC-USER-001 reports the missing user)',
        evidence: facts,
      };
    }
    const findings: Finding[] = [];
    const passes: string[] = [];
    if (parsed.userNumeric) {
      passes.push(`UID ${parsed.user} needs no passwd entry`);
    } else {
      const passwd = fs.passwd();
      const entry = passwd.readable ? passwd.byName(parsed.user) : undefined;
      const node = fs.stat('/etc/passwd');
      if (entry === undefined) {
        const message = lookupFailure(passwd, '/etc/passwd', 'user', parsed.user);
        findings.push({
          ...(node ? fileFinding(fs, '/etc/passwd', node, message) : { message }),
          key: 'User',
        });
      } else {
        facts.uid = entry.uid;
        if (entry.uid === 0) {
          const message = `user '${parsed.user}' has UID 0 in /etc/passwd (line ${entry.line}): it is root under another name`;
          findings.push({ ...fileFinding(fs, '/etc/passwd', node, message), key: 'User' });
        } else {
          passes.push(`user '${parsed.user}' is UID ${entry.uid}`);
        }
      }
    }
    if (parsed.group !== undefined && parsed.group !== '') {
      if (parsed.groupNumeric) {
        passes.push(`GID ${parsed.group} needs no group entry`);
      } else {
        const group = fs.group();
        const entry = group.readable ? group.byName(parsed.group) : undefined;
        const node = fs.stat('/etc/group');
        if (entry === undefined) {
          const message = lookupFailure(group, '/etc/group', 'group', parsed.group);
          findings.push({
            ...(node ? fileFinding(fs, '/etc/group', node, message) : { message }),
            key: 'User',
          });
        } else {
          facts.gid = entry.gid;
          passes.push(`group '${parsed.group}' is GID ${entry.gid}`);
        }
      }
    }
    if (findings.length > 0) {
      return {
        status: 'fail',
        message: `User '${parsed.raw}': ${findings.map((finding) => finding.message).join('; ')}`,
        evidence: facts,
        findings,
      };
    }
    return { status: 'pass', message: `User '${parsed.raw}': ${passes.join('; ')}`, evidence: facts };
  },
} satisfies Rule;
