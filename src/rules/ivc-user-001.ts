import type { Rule } from './types.js';
import { imageUserEntry, parseUser, rootReason } from './util/user.js';

/**
 * The config's User, read alone: set, and its user part neither empty,
 * `root` nor a UID equal to 0 (`0`, `00`). The group part is free
 * (`1000:0` passes). A name that /etc/passwd maps to UID 0 is IVC-USER-002's
 * finding; when the filesystem happens to have been read, the pass message
 * mentions it, but the verdict stays config-only.
 */
export default {
  meta: {
    id: 'IVC-USER-001',
    level: 'error',
    evidence: ['config'],
    title: 'Runs as a non-root user',
    description:
      "The config's User is set and its user part is not root: not empty, not `root`, not a UID equal to 0, in any `user[:group]` form.",
    rationale:
      "Platforms run sessions as the user's own UID so that files on shared storage belong to that user; an image that expects root breaks when it is not, and a platform honouring it would hand root to every user.",
    help: 'Create a user and switch to it: `RUN useradd -u 1000 -m astro` then `USER 1000:1000`',
    specAnchor: 'ivc-user-001',
  },
  check({ evidence }) {
    const parsed = parseUser(evidence.config?.config?.User);
    const facts: Record<string, unknown> = { user: parsed.raw };
    const reason = rootReason(parsed);
    if (reason !== undefined) {
      return {
        status: 'fail',
        message: reason,
        evidence: facts,
        findings: [{ message: reason, key: 'User' }],
      };
    }
    let message = `User '${parsed.raw}' is not root`;
    if (!parsed.userNumeric && evidence.fs) {
      const entry = imageUserEntry(evidence.fs, parsed);
      if (entry?.uid === 0) {
        message += `, but /etc/passwd gives '${parsed.user}' UID 0 (IVC-USER-002 fails)`;
        facts.passwdUid = 0;
      }
    }
    return { status: 'pass', message, evidence: facts };
  },
} satisfies Rule;
