import type { Finding } from '../report/types.js';
import { ivoaPrefix, ociPrefix } from './labels.js';
import type { Rule } from './types.js';
import { labelFindingKey, labelValue, listed } from './util/label-values.js';

const wanted = [`${ivoaPrefix}keywords`, `${ivoaPrefix}messengers`, `${ociPrefix}documentation`];

export default {
  meta: {
    id: 'IVC-META-006',
    level: 'warning',
    evidence: ['config', 'manifest'],
    title: 'Discovery labels are present',
    description:
      'The image helps discovery: net.ivoa.container.keywords, net.ivoa.container.messengers and org.opencontainers.image.documentation are present and non-empty.',
    rationale:
      'Science platforms and registries let users search images by keyword and by the messengers (wavebands) they serve, and link to documentation; an image without them is hard to find.',
    help: 'Add them, e.g. LABEL net.ivoa.container.keywords="spectra,fitting" net.ivoa.container.messengers="Optical,Infrared" org.opencontainers.image.documentation="https://example.org/docs"',
    specAnchor: 'ivc-meta-006',
  },
  check({ evidence }) {
    const absent: string[] = [];
    const findings: Finding[] = [];
    for (const key of wanted) {
      const value = labelValue(evidence, key);
      if (value !== undefined && value.trim() !== '') continue;
      absent.push(key);
      findings.push({
        message: `${key} is ${value === undefined ? 'missing' : 'empty'}`,
        key: labelFindingKey(evidence, key),
      });
    }
    if (absent.length === 0) return { status: 'pass', message: `${listed(wanted)} are present` };
    return {
      status: 'fail',
      message: `discovery labels missing or empty: ${listed(absent)}`,
      evidence: { missing: absent },
      findings,
    };
  },
} satisfies Rule;
