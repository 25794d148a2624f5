import type { Rule } from './types.js';
import { parseUser } from './util/user.js';

/**
 * User is numeric: `UID` or `UID:GID`. A named group fails as a named user
 * does. An unset User is not numeric either (it means root; IVC-USER-001
 * reports that as an error), so this rule fails too.
 */
export default {
  meta: {
    id: 'IVC-USER-004',
    level: 'warning',
    evidence: ['config'],
    title: 'User is numeric',
    description: "The config's User is numeric: `UID` or `UID:GID` (e.g. `1000` or `1000:1000`).",
    rationale:
      "Kubernetes' runAsNonRoot can only verify a numeric user from the image; with a name it cannot tell whether the user is root and refuses to start the pod.",
    help: 'Use the numeric ids of the user, e.g. `USER 1000:1000` instead of `USER astro:astro`',
    specAnchor: 'ivc-user-004',
  },
  check({ evidence }) {
    const parsed = parseUser(evidence.config?.config?.User);
    const facts = { user: parsed.raw };
    const fail = (message: string) => ({
      status: 'fail' as const,
      message,
      evidence: facts,
      findings: [{ message, key: 'User' }],
    });
    if (parsed.raw.trim() === '') return fail('User is not set: no numeric user for runAsNonRoot to verify');
    if (!parsed.userNumeric)
      return fail(`User '${parsed.raw}' names the user '${parsed.user}' instead of a UID`);
    if (parsed.group !== undefined && !parsed.groupNumeric) {
      return fail(`User '${parsed.raw}' names the group '${parsed.group}' instead of a GID`);
    }
    return { status: 'pass', message: `User '${parsed.raw}' is numeric`, evidence: facts };
  },
} satisfies Rule;
