import type { ImageConfig, ImageManifest } from '../oci/descriptor.js';
import type { LoadedImage } from '../oci/image.js';

export const ivoaPrefix = 'net.ivoa.container.';
export const ociPrefix = 'org.opencontainers.image.';

/** Config labels over manifest annotations: either counts, labels win on conflict (catalogue.md). */
export function mergedLabels(config: ImageConfig, manifest: ImageManifest): Record<string, string> {
  return { ...(manifest.annotations ?? {}), ...(config.config?.Labels ?? {}) };
}

/** The discovery record: what the catalogue would hold for this image. */
export function discoveryRecord(loaded: LoadedImage): Record<string, unknown> {
  const labels = mergedLabels(loaded.config, loaded.manifest);
  const ivoa: Record<string, string> = {};
  const oci: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (key.startsWith(ivoaPrefix)) ivoa[key] = value;
    else if (key.startsWith(ociPrefix)) oci[key] = value;
  }
  return {
    reference: loaded.name,
    digest: loaded.root.digest,
    platforms: loaded.platforms,
    labels: { ...sorted(oci), ...sorted(ivoa) },
  };
}

function sorted(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
