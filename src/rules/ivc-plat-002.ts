import { parseRegistryReference, type RegistryReference } from '../oci/reference.js';
import type { Evidence, Rule, RuleOutcome } from './types.js';
import { tagKind, whyMutable } from './util/tags.js';

/**
 * How the image is referred to (spec/standard.md, IVC-PLAT-002). A digest
 * pins it. A tag passes when it starts with a full version or a full date
 * (util/tags.ts); `latest`, no tag, names such as `main`, and partial
 * versions (`3`, `3.11`) fail.
 *
 * "No tag" is read from what the user typed: the parser fills in `latest`
 * for docker names, so the typed name is parsed again without that default.
 * docker-daemon and docker-archive names are judged the same way. A local
 * layout or archive with no reference name at all (the one image of an
 * oci-archive, `docker-archive:x.tar:@0`) or a daemon image ID has no tag:
 * the rule does not apply and passes, saying so (spec 1.3: a rule that does
 * not apply reports pass). The report's digest identifies such an image.
 */

function judgeTag(tag: string | undefined, subject: string): RuleOutcome {
  if (tag === undefined) {
    return {
      status: 'fail',
      message: `${subject} has no tag, so it means 'latest', which moves with every push`,
      evidence: { tag: null },
    };
  }
  const kind = tagKind(tag);
  switch (kind) {
    case 'version':
    case 'date':
      return { status: 'pass', message: `${subject} uses ${kind} tag '${tag}'`, evidence: { tag, kind } };
    case 'latest':
      return {
        status: 'fail',
        message: `${subject} uses tag 'latest', which moves with every push`,
        evidence: { tag, kind },
      };
    default:
      return {
        status: 'fail',
        message: `${subject} uses tag '${tag}', which does not look immutable (${whyMutable(tag)})`,
        evidence: { tag, kind },
      };
  }
}

/** The typed docker-style name, parsed again without the `latest` default. */
function typedName(name: string, parsed: RegistryReference): RegistryReference {
  try {
    return parseRegistryReference(name, { defaultTag: false });
  } catch {
    return parsed;
  }
}

function judgeName(name: string, parsed: RegistryReference, subject: string): RuleOutcome {
  const typed = typedName(name, parsed);
  if (typed.digest !== undefined) {
    return {
      status: 'pass',
      message: `${subject} is pinned by digest ${typed.digest.slice(0, 19)}...`,
      evidence: { digest: typed.digest },
    };
  }
  return judgeTag(typed.tag, subject);
}

/** The part of the input after the transport prefix. */
function afterPrefix(input: string, prefix: string): string {
  const trimmed = input.trim();
  return trimmed.startsWith(prefix) ? trimmed.slice(prefix.length) : trimmed;
}

function notApplicable(what: string): RuleOutcome {
  return {
    status: 'pass',
    message: `${what}: no tag to judge, the rule does not apply`,
    evidence: { tag: null },
  };
}

function judge(evidence: Evidence): RuleOutcome {
  const { input, parsed } = evidence.reference;
  switch (parsed.transport) {
    case 'docker':
      return judgeName(afterPrefix(input, 'docker://'), parsed, 'the reference');
    case 'docker-daemon':
      if (parsed.id !== undefined) {
        return { status: 'pass', message: 'the reference is a daemon image ID', evidence: { id: parsed.id } };
      }
      return judgeName(afterPrefix(input, 'docker-daemon:'), parsed.ref!, 'the daemon image name');
    case 'docker-archive': {
      if (parsed.ref) {
        const name = afterPrefix(input, `docker-archive:${parsed.path}:`);
        return judgeName(name, parsed.ref, 'the archive image name');
      }
      const which = parsed.index === undefined ? 'its only image' : `image @${parsed.index}`;
      return notApplicable(`a local docker archive, ${which}`);
    }
    case 'oci':
    case 'oci-archive': {
      const kind = parsed.transport === 'oci' ? 'OCI layout' : 'OCI archive';
      if (parsed.tag === undefined) return notApplicable(`a local ${kind} with no reference name`);
      const digest = /^@?(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/.exec(parsed.tag)?.[1];
      if (digest !== undefined) {
        return { status: 'pass', message: `the ${kind} image is picked by digest`, evidence: { digest } };
      }
      return judgeTag(parsed.tag, `the ${kind} reference name`);
    }
  }
}

export default {
  meta: {
    id: 'IVC-PLAT-002',
    level: 'warning',
    evidence: ['reference'],
    title: 'Referred to by digest or an immutable tag',
    description:
      'The image is referred to by digest or by an immutable-looking tag, one that starts with a full version (2.3.0, v2.3.0-cuda12) or date (2025-03-14, 20250314), not by latest, no tag or a moving tag such as 3.11.',
    rationale:
      'Sessions must be reproducible: a moving tag such as latest starts different software from one day to the next, and nodes with an old copy cached run something else again.',
    help: 'Tag each build with its version or date and use that, e.g. docker tag app:latest REPO:1.2.0, or pin REPO@sha256:...',
    specAnchor: 'ivc-plat-002',
  },
  check({ evidence }) {
    return judge(evidence);
  },
} satisfies Rule;
