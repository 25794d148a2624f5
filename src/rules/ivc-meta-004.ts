import { ivoaPrefix } from './labels.js';
import type { Rule } from './types.js';
import { labelFindingKey, labelValue, quoted } from './util/label-values.js';
import * as semver from './util/semver.js';

/**
 * The spec version an image claims. Strict semver: unlike the image's own
 * version (IVC-META-002), no leading `v`, since only machines read this key.
 * Range matching is npm's: a pre-release such as `1.1.0-rc.1` satisfies a
 * range only when the range names a pre-release of the same version. A
 * profile whose range does not parse cannot judge anything: the rule skips.
 */

const specVersionLabel = `${ivoaPrefix}spec-version`;

export default {
  meta: {
    id: 'IVC-META-004',
    level: 'error',
    evidence: ['config', 'manifest'],
    title: 'Spec version is declared and supported',
    description:
      "net.ivoa.container.spec-version is present, a valid semantic version, and within the profile's supported range (e.g. ^1.0.0).",
    rationale:
      'The spec version tells a platform which edition of this profile the image was built for, so it can refuse or adapt to images written against a version it does not implement.',
    help: 'Claim the version of the profile the image follows, e.g. LABEL net.ivoa.container.spec-version="1.0.0"',
    specAnchor: 'ivc-meta-004',
  },
  check({ evidence, profile }) {
    const range = profile.supportedSpecVersions;
    if (semver.validRange(range) === null) {
      return {
        status: 'skip',
        message: `skipped: profile '${profile.name}' has no valid supported spec-version range ('${range}')`,
      };
    }
    const raw = labelValue(evidence, specVersionLabel);
    const key = labelFindingKey(evidence, specVersionLabel);
    const value = raw?.trim();
    const facts = { range, profile: profile.name };
    if (raw === undefined || !value) {
      const message = `${specVersionLabel} is ${raw === undefined ? 'not set' : 'empty'}; profile '${profile.name}' supports ${range}`;
      return { status: 'fail', message, findings: [{ message, key }], evidence: facts };
    }
    if (semver.valid(value) === null || value.startsWith('v')) {
      const message = `${specVersionLabel} ${quoted(specVersionLabel, value)} is not a semantic version (e.g. '1.0.0')`;
      return { status: 'fail', message, findings: [{ message, key }], evidence: facts };
    }
    if (!semver.satisfies(value, range)) {
      const message = `${specVersionLabel} '${value}' is outside the range ${range} that profile '${profile.name}' supports`;
      return {
        status: 'fail',
        message,
        findings: [{ message, key }],
        evidence: { ...facts, specVersion: value },
      };
    }
    return {
      status: 'pass',
      message: `spec-version ${value} is within the range ${range} that profile '${profile.name}' supports`,
      evidence: { ...facts, specVersion: value },
    };
  },
} satisfies Rule;
