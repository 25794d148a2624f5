import type { Rule } from './types.js';
import { runOutcome } from './util/run.js';

export default {
  meta: {
    id: 'IVC-RUN-001',
    level: 'error',
    evidence: ['run'],
    title: 'Starts as an arbitrary non-root user',
    description:
      "Started as an arbitrary non-root UID/GID that is not in the image's /etc/passwd, with HOME on an empty writable mount and the platform's environment, the container stays up (interactive, desktop-app) or its smoke command exits 0 (headless).",
    rationale:
      "Platforms such as CANFAR start every session as the user's own UID with their own /etc/passwd; an image that only works as root, or as the one user baked into it, cannot be launched there.",
    help: 'Make files the app writes group- or world-writable (or write under $HOME), and do not rely on the user existing in /etc/passwd.',
    specAnchor: 'ivc-run-001',
  },
  check: ({ evidence }) => runOutcome(evidence, 'IVC-RUN-001'),
} satisfies Rule;
