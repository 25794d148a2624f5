import type { Finding } from '../report/types.js';
import { ivoaPrefix } from './labels.js';
import type { Rule } from './types.js';
import {
  ivoaLabels,
  type LabelSchemaProblem,
  nearestSchemaKey,
  schemaKeys,
  validateIvoaLabels,
} from './util/label-schema.js';
import { labelFindingKey, listed, quoted } from './util/label-values.js';

/**
 * The whole `net.ivoa.container.*` set against the published label schema,
 * one finding per offending key. Required keys are not the schema's business
 * (IVC-META-003, IVC-META-004, IVC-PATH-001 own them): an image with no
 * discovery label at all passes this rule.
 */

function describe(problem: LabelSchemaProblem, value: string | undefined): string {
  if (problem.kind === 'unknown') {
    const near = nearestSchemaKey(problem.key);
    const hint =
      near === undefined
        ? `the namespace defines ${listed(schemaKeys.map((key) => key.slice(ivoaPrefix.length)))}`
        : `did you mean ${near}?`;
    return `unknown label ${problem.key} (${hint})`;
  }
  const shown = value === undefined ? '' : ` ${quoted(problem.key, value)}`;
  if (problem.kind === 'value') {
    const items = problem.badItems?.map((item) => quoted(problem.key, item));
    const which =
      items === undefined ? '' : ` (${listed(items)} ${items.length === 1 ? 'is' : 'are'} not allowed)`;
    return `${problem.key}${shown} is invalid${which}: expected ${problem.expected}`;
  }
  return `${problem.key}${shown}: ${problem.detail}`;
}

export default {
  meta: {
    id: 'IVC-META-005',
    level: 'error',
    evidence: ['config', 'manifest'],
    title: 'Discovery labels match the label schema',
    description:
      'The net.ivoa.container.* labels, taken together, validate against the published JSON Schema (spec/schemas/labels.schema.json): no unknown keys, and every value in its syntax.',
    rationale:
      'Platforms, registries and catalogues parse these labels without a person looking; a misspelt key is silently ignored and a malformed port or resource hint breaks the launch or the search.',
    help: 'Correct the key or value the finding names, e.g. LABEL net.ivoa.container.messengers="Optical,Infrared" net.ivoa.container.resources="cores=2,memory=8Gi"',
    specAnchor: 'ivc-meta-005',
  },
  check({ evidence }) {
    const labels = ivoaLabels(evidence.labels);
    const keys = Object.keys(labels).sort();
    const problems = validateIvoaLabels(labels);
    if (problems.length === 0) {
      return {
        status: 'pass',
        message:
          keys.length === 0
            ? `no ${ivoaPrefix}* labels to validate`
            : `${keys.length} ${ivoaPrefix}* label${keys.length === 1 ? '' : 's'} valid against the label schema`,
        evidence: { keys },
      };
    }
    const findings: Finding[] = problems.map((problem) => ({
      message: describe(problem, labels[problem.key]),
      key: labelFindingKey(evidence, problem.key),
    }));
    const short = (key: string) => key.slice(ivoaPrefix.length);
    const unknown = problems
      .filter((problem) => problem.kind === 'unknown')
      .map((problem) => short(problem.key));
    const invalid = problems
      .filter((problem) => problem.kind !== 'unknown')
      .map((problem) => {
        const value = labels[problem.key];
        return value === undefined
          ? short(problem.key)
          : `${short(problem.key)} ${quoted(problem.key, value)}`;
      });
    const parts: string[] = [];
    if (unknown.length > 0) parts.push(`unknown ${listed(unknown)}`);
    if (invalid.length > 0) parts.push(`invalid ${listed(invalid)}`);
    return {
      status: 'fail',
      message: `${ivoaPrefix}* labels fail the label schema: ${parts.join('; ')}`,
      evidence: { keys, invalid: problems.map((problem) => problem.key) },
      findings,
    };
  },
} satisfies Rule;
