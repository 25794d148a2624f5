import type { Rule } from './types.js';
import { runOutcome } from './util/run.js';

export default {
  meta: {
    id: 'IVC-RUN-005',
    level: 'error',
    evidence: ['run'],
    title: 'No hub or proxy process inside',
    description:
      'No hub or proxy process (jupyterhub, configurable-http-proxy, ...) runs inside the container.',
    rationale:
      'The platform is the hub: it spawns, routes and authenticates sessions; a hub inside a session duplicates and fights it.',
    help: 'Start the single-user server directly (e.g. jupyter lab), not jupyterhub or a proxy.',
    specAnchor: 'ivc-run-005',
  },
  check: ({ evidence }) => runOutcome(evidence, 'IVC-RUN-005'),
} satisfies Rule;
