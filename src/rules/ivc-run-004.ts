import type { Rule } from './types.js';
import { runOutcome } from './util/run.js';

export default {
  meta: {
    id: 'IVC-RUN-004',
    level: 'error',
    evidence: ['run'],
    title: 'No authentication challenge',
    description:
      'Interactive images answer without an authentication challenge: not 401/403, and no redirect to a login or token page.',
    rationale:
      'The platform authenticates the user before the session is reached; a second login inside the app breaks single sign-on and locks users out.',
    help: "Turn the app's own authentication off (e.g. --IdentityProvider.token='' for Jupyter, --auth none for code-server).",
    specAnchor: 'ivc-run-004',
  },
  check: ({ evidence }) => runOutcome(evidence, 'IVC-RUN-004'),
} satisfies Rule;
