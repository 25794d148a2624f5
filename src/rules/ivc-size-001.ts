import type { Finding } from '../report/types.js';
import type { Rule } from './types.js';

/**
 * Layer count and total compressed size of the platform manifest checked
 * (its layer descriptors' sizes; the config blob is not counted), against the
 * profile's `maxLayers` and `maxCompressedBytes`. Either limit over fails.
 */

/** `1.5 GiB`, `730 MiB`, `12 KiB`, `512 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown =
    unit === 0 || value >= 100 ? Math.round(value).toString() : value.toFixed(1).replace(/\.0$/, '');
  return `${shown} ${units[unit]}`;
}

export default {
  meta: {
    id: 'IVC-SIZE-001',
    level: 'warning',
    evidence: ['manifest'],
    title: 'Layer count and size within limits',
    description:
      "The image has no more layers than the profile's limit (default 40) and its compressed layers total no more than the profile's limit (default 20 GiB).",
    rationale:
      'Every node pulls the image before a session starts; many or huge layers make the first launch slow, fill node disks and can exceed storage-driver limits.',
    help: 'Merge RUN steps and clean caches in the same step (e.g. RUN apt-get install ... && rm -rf /var/lib/apt/lists/*), or use a multi-stage build',
    specAnchor: 'ivc-size-001',
  },
  check({ evidence, profile }) {
    const manifest = evidence.manifest;
    if (!manifest) return { status: 'skip', message: 'skipped: the manifest was not read' };
    const { maxLayers, maxCompressedBytes } = profile.parameters;
    const layers = manifest.manifest.layers;
    const count = layers.length;
    const bytes = layers.reduce((sum, layer) => sum + layer.size, 0);
    const facts = { layers: count, maxLayers, compressedBytes: bytes, maxCompressedBytes };
    const findings: Finding[] = [];
    if (count > maxLayers) {
      findings.push({ message: `${count} layers, more than the profile's limit of ${maxLayers}` });
    }
    if (bytes > maxCompressedBytes) {
      findings.push({
        message: `${formatBytes(bytes)} of compressed layers, more than the profile's limit of ${formatBytes(maxCompressedBytes)}`,
      });
    }
    if (findings.length === 0) {
      return {
        status: 'pass',
        message: `${count} layer${count === 1 ? '' : 's'} (limit ${maxLayers}), ${formatBytes(bytes)} compressed (limit ${formatBytes(maxCompressedBytes)})`,
        evidence: facts,
      };
    }
    return {
      status: 'fail',
      message: `${findings.map((finding) => finding.message).join('; ')} (profile '${profile.name}')`,
      evidence: facts,
      findings,
    };
  },
} satisfies Rule;
