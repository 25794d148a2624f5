import type { Finding } from '../report/types.js';
import { ociPrefix } from './labels.js';
import type { Rule } from './types.js';
import { labelFindingKey, labelValue, listed } from './util/label-values.js';

const required = ['title', 'description', 'version', 'source', 'licenses', 'authors'].map(
  (name) => `${ociPrefix}${name}`,
);

function short(key: string): string {
  return key.slice(ociPrefix.length);
}

export default {
  meta: {
    id: 'IVC-META-001',
    level: 'error',
    evidence: ['config', 'manifest'],
    title: 'OCI descriptive labels are present',
    description:
      'The image carries non-empty org.opencontainers.image.title, .description, .version, .source, .licenses and .authors, as config labels or manifest annotations.',
    rationale:
      'Platform catalogues show these fields to users choosing a session image, and operators need the source, licence and authors to decide whether an image may be offered at all.',
    help: 'Add the missing keys, e.g. LABEL org.opencontainers.image.title="My notebook" org.opencontainers.image.version="1.0.0"',
    specAnchor: 'ivc-meta-001',
  },
  check({ evidence }) {
    const missing: string[] = [];
    const empty: string[] = [];
    const findings: Finding[] = [];
    for (const key of required) {
      const value = labelValue(evidence, key);
      if (value === undefined) {
        missing.push(key);
        findings.push({ message: `${key} is missing`, key: labelFindingKey(evidence, key) });
      } else if (value.trim() === '') {
        empty.push(key);
        findings.push({ message: `${key} is empty`, key: labelFindingKey(evidence, key) });
      }
    }
    if (findings.length === 0) {
      return { status: 'pass', message: `all ${required.length} OCI descriptive keys are present` };
    }
    const parts: string[] = [];
    if (missing.length > 0) parts.push(`missing ${listed(missing.map(short))}`);
    if (empty.length > 0) parts.push(`empty ${listed(empty.map(short))}`);
    return {
      status: 'fail',
      message: `${parts.join('; ')} (${ociPrefix}*)`,
      evidence: { missing, empty },
      findings,
    };
  },
} satisfies Rule;
