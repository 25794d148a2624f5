import { ivoaPrefix } from './labels.js';
import type { Rule } from './types.js';
import { describeType, interactiveSession } from './util/interactive.js';
import { labelFindingKey, labelValue, quoted } from './util/label-values.js';

/**
 * How an interactive app learns its access path (spec/standard.md,
 * IVC-PATH-001): `env:NAME` (NAME an environment variable name) or `arg`,
 * written exactly so. Where the profile imposes a form for the type (CANFAR
 * contributed: `arg`; kubeflow notebook: `env:NB_PREFIX`) the label must name
 * that form; an absent label fails there too, and the message names the form
 * to declare. Non-interactive types pass (the rule does not apply; a label
 * there is only syntax-checked, by IVC-META-005). Unknown type: skip, as the
 * port rules.
 */

const basePathLabel = `${ivoaPrefix}base-path`;
const validForm = /^(?:env:[A-Za-z_][A-Za-z0-9_]*|arg)$/;

export function isBasePathForm(value: string): boolean {
  return validForm.test(value);
}

export default {
  meta: {
    id: 'IVC-PATH-001',
    level: 'error',
    evidence: ['config', 'manifest'],
    title: 'Interactive images declare how they learn their base path',
    description:
      'Interactive session types declare net.ivoa.container.base-path as env:NAME (the platform sets NAME to the URL path prefix) or arg (the prefix is the first argument to the startup recipe), matching the form the profile imposes for the type, if any.',
    rationale:
      'Platforms serve each session under its own URL path behind one proxy; an app that does not know its prefix answers 404 or redirects out of its path.',
    help: 'Declare how the path reaches the app, e.g. LABEL net.ivoa.container.base-path="env:BASE_URL" and read $BASE_URL at startup',
    specAnchor: 'ivc-path-001',
  },
  check({ evidence, profile }) {
    const session = interactiveSession(evidence, profile);
    if (session.kind === 'unknown') return { status: 'skip', message: `skipped: ${session.reason}` };
    if (session.kind === 'not-interactive') {
      return { status: 'pass', message: `${session.message}: no base path needed, the rule does not apply` };
    }
    const { name, type } = session;
    const typeText = describeType(name, type);
    const imposed = type.basePath;
    const raw = labelValue(evidence, basePathLabel);
    const key = labelFindingKey(evidence, basePathLabel);
    const value = raw?.trim();
    // Only a well-formed value goes into the evidence: anything else might be anything.
    const facts = {
      type: name,
      basePath: value !== undefined && isBasePathForm(value) ? value : null,
      imposed: imposed ?? null,
    };
    const fail = (message: string) => ({
      status: 'fail' as const,
      message,
      evidence: facts,
      findings: [{ message, key }],
    });
    if (raw === undefined || !value) {
      const want =
        imposed === undefined
          ? `${typeText} must declare 'env:NAME' or 'arg'`
          : `profile '${profile.name}' passes the path to ${typeText} as '${imposed}': declare that`;
      return fail(`${basePathLabel} is ${raw === undefined ? 'not set' : 'empty'}; ${want}`);
    }
    if (!isBasePathForm(value)) {
      const lower = value.toLowerCase();
      const cased = lower === 'arg' ? 'arg' : lower.startsWith('env:') ? `env:${value.slice(4)}` : undefined;
      const hint =
        cased !== undefined && isBasePathForm(cased)
          ? ` (the form is lower-case: '${cased}')`
          : lower.startsWith('env:')
            ? ' (NAME must be an environment variable name: letters, digits and _, not starting with a digit)'
            : '';
      return fail(`${basePathLabel} ${quoted(basePathLabel, value)} is not 'env:NAME' or 'arg'${hint}`);
    }
    if (imposed !== undefined && value !== imposed) {
      return fail(
        `${basePathLabel} is '${value}', but profile '${profile.name}' passes the path to ${typeText} as '${imposed}'`,
      );
    }
    return {
      status: 'pass',
      message: `${typeText} declares base-path '${value}'${imposed !== undefined ? `, as profile '${profile.name}' imposes` : ''}`,
      evidence: facts,
    };
  },
} satisfies Rule;
