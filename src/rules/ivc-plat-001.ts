import type { Platform } from '../oci/descriptor.js';
import { defaultPlatform, platformMatches } from '../oci/platform.js';
import type { Rule } from './types.js';

/**
 * linux/amd64 must be there, whatever platform this lint was asked to check
 * (`--platform` changes which image the other rules read, not this rule).
 * Any amd64 variant counts; the message names it. Index entries that are not
 * images (attestations, `unknown/unknown`) are not offers.
 */

function format(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

export default {
  meta: {
    id: 'IVC-PLAT-001',
    level: 'error',
    evidence: ['manifest'],
    title: 'A linux/amd64 image is available',
    description:
      'The reference resolves to a linux/amd64 image: a single manifest for it, or an index with a linux/amd64 entry.',
    rationale:
      'Science-platform clusters run linux/amd64 nodes; an image without that platform cannot start there at all.',
    help: 'Build for linux/amd64, e.g. docker buildx build --platform linux/amd64,linux/arm64 --push -t REPO:TAG .',
    specAnchor: 'ivc-plat-001',
  },
  check({ evidence }) {
    const manifest = evidence.manifest;
    if (!manifest) return { status: 'skip', message: 'skipped: the manifest was not read' };
    const offered = manifest.platforms.length > 0 ? manifest.platforms : [manifest.platform];
    const kind = manifest.index ? 'the index' : 'the image';
    const names = [...new Set(offered.map(format))];
    const facts = { platforms: names, index: manifest.index !== undefined };
    // The image read is linux/amd64 (an index entry without a platform field, say): that counts.
    const found = [...offered, manifest.platform].find((platform) =>
      platformMatches(platform, defaultPlatform),
    );
    if (found) {
      const variant = found.variant ? ` (variant ${found.variant})` : '';
      const others = names.length > 1 ? `; ${kind} offers ${names.join(', ')}` : '';
      return { status: 'pass', message: `linux/amd64${variant} is available${others}`, evidence: facts };
    }
    return {
      status: 'fail',
      message: `no linux/amd64 image: ${kind} offers only ${names.join(', ') || 'no runnable platform'}`,
      evidence: facts,
    };
  },
} satisfies Rule;
