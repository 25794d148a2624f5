import { redactValue } from '../secrets.js';
import type { Rule } from './types.js';
import { labelFindingKey, labelValue, quoted } from './util/label-values.js';
import { typeLabel } from './util/session.js';

/**
 * The session type. The value is compared exactly (after trimming blanks, as
 * every rule reads it): `Notebook` is not `notebook`, and the message says so.
 */
export default {
  meta: {
    id: 'IVC-META-003',
    level: 'error',
    evidence: ['config', 'manifest'],
    title: 'Session type is declared',
    description:
      "net.ivoa.container.type is present and names a session type of the profile's vocabulary (notebook, web, desktop-app, headless, or a type the profile adds).",
    rationale:
      'The type tells the platform how to launch and show the session (web proxy, remote desktop or batch); without a type it cannot offer the image at all.',
    help: 'Declare the session type, e.g. LABEL net.ivoa.container.type="notebook"',
    specAnchor: 'ivc-meta-003',
  },
  check({ evidence, profile }) {
    const known = Object.keys(profile.types);
    const vocabulary = `profile '${profile.name}' knows ${known.join(', ')}`;
    const raw = labelValue(evidence, typeLabel);
    const key = labelFindingKey(evidence, typeLabel);
    const value = raw?.trim();
    if (raw === undefined || !value) {
      const message = `${typeLabel} is ${raw === undefined ? 'not set' : 'empty'}; ${vocabulary}`;
      return { status: 'fail', message, findings: [{ message, key }], evidence: { types: known } };
    }
    if (Object.hasOwn(profile.types, value)) {
      const type = profile.types[value]!;
      const as = type.behavesAs === value ? '' : ` (behaves as ${type.behavesAs})`;
      return {
        status: 'pass',
        message: `type '${value}'${as} is a type of profile '${profile.name}'`,
        evidence: { type: value, behavesAs: type.behavesAs },
      };
    }
    const near = known.find((name) => name.toLowerCase() === value.toLowerCase());
    const hint = near === undefined ? '' : ` (did you mean '${near}'?)`;
    const message = `${typeLabel} ${quoted(typeLabel, value)} is not a session type${hint}; ${vocabulary}`;
    const shown = redactValue(typeLabel, value);
    return { status: 'fail', message, findings: [{ message, key }], evidence: { type: shown, types: known } };
  },
} satisfies Rule;
