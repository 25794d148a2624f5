import type { Rule } from './types.js';
import { runOutcome } from './util/run.js';

export default {
  meta: {
    id: 'IVC-RUN-002',
    level: 'error',
    evidence: ['run'],
    title: 'Listens on the well-known port',
    description:
      "Interactive images accept TCP connections on the profile's well-known port within the profile's start-up timeout.",
    rationale:
      'The platform routes exactly one port to the session; an app listening elsewhere is unreachable.',
    help: 'Start the server on the well-known port (e.g. --port 8888) and bind 0.0.0.0, not 127.0.0.1.',
    specAnchor: 'ivc-run-002',
  },
  check: ({ evidence }) => runOutcome(evidence, 'IVC-RUN-002'),
} satisfies Rule;
