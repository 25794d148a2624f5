import type { Rule } from './types.js';
import { runOutcome } from './util/run.js';

export default {
  meta: {
    id: 'IVC-RUN-003',
    level: 'error',
    evidence: ['run'],
    title: 'Serves under the access path it is handed',
    description:
      'An HTTP GET of the access path handed to the app (env:NAME or arg) answers 2xx/3xx within that path: not 404, and no redirect outside the path.',
    rationale:
      'Platforms put many sessions behind one host name, each under its own path prefix; an app that ignores the prefix breaks links and assets.',
    help: 'Read the base path from the variable or argument named by net.ivoa.container.base-path and pass it to the app (e.g. --ServerApp.base_url).',
    specAnchor: 'ivc-run-003',
  },
  check: ({ evidence }) => runOutcome(evidence, 'IVC-RUN-003'),
} satisfies Rule;
