import { ImageError } from '../../errors.js';
import type { Descriptor, ImageManifest } from '../descriptor.js';
import { type Digest, digestOf, isDigest } from '../digest.js';
import { parseJson } from '../manifest.js';
import { MediaType } from '../media-types.js';
import { formatRegistryReference, parseRegistryReference, type RegistryReference } from '../reference.js';

/**
 * The `docker save` format (manifest.json + config + layer tars), shared by
 * docker-archive: files and the engine's export stream. Docker keeps no
 * registry manifest for a saved image, so one is synthesised, as skopeo does:
 * a schema2 manifest whose layers are the uncompressed tars (digest = diff_id).
 */

export interface DockerSaveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

export function parseSaveManifest(bytes: Buffer, where: { image?: string }): DockerSaveEntry[] {
  const body = parseJson(bytes, 'manifest.json', { ...where, blob: 'manifest.json' });
  const bad = () =>
    new ImageError('ERR_MANIFEST_INVALID', 'manifest.json is not a docker save manifest', {
      ...where,
      blob: 'manifest.json',
    });
  if (!Array.isArray(body)) throw bad();
  for (const entry of body) {
    if (typeof entry !== 'object' || entry === null) throw bad();
    const { Config, Layers } = entry as Record<string, unknown>;
    if (
      typeof Config !== 'string' ||
      !Array.isArray(Layers) ||
      Layers.some((layer) => typeof layer !== 'string')
    ) {
      throw bad();
    }
  }
  return body as DockerSaveEntry[];
}

/** The entry a reference names: by tag, by `@index`, or the only one. */
export function selectSaveEntry(
  entries: DockerSaveEntry[],
  wanted: { ref?: RegistryReference; index?: number },
  where: { image?: string },
): DockerSaveEntry {
  if (wanted.index !== undefined) {
    const entry = entries[wanted.index];
    if (!entry) {
      throw new ImageError(
        'ERR_NOT_FOUND',
        `the archive has ${entries.length} image(s); there is no @${wanted.index}`,
        where,
      );
    }
    return entry;
  }
  if (wanted.ref) {
    const want = formatRegistryReference(wanted.ref);
    const entry = entries.find((candidate) =>
      (candidate.RepoTags ?? []).some((tag) => {
        try {
          return formatRegistryReference(parseRegistryReference(tag)) === want;
        } catch {
          return false;
        }
      }),
    );
    if (!entry) {
      const tags = entries.flatMap((candidate) => candidate.RepoTags ?? []);
      throw new ImageError(
        'ERR_NOT_FOUND',
        `no image tagged '${want}' in the archive${tags.length ? ` (it has: ${tags.join(', ')})` : ''}`,
        where,
      );
    }
    return entry;
  }
  if (entries.length === 1) return entries[0]!;
  if (entries.length === 0) throw new ImageError('ERR_NOT_FOUND', 'the archive holds no image', where);
  throw new ImageError(
    'ERR_NOT_FOUND',
    `the archive holds ${entries.length} images; name one as docker-archive:PATH:NAME:TAG or docker-archive:PATH:@N`,
    where,
  );
}

export interface SavedLayer {
  /** Path of the layer tar inside the save tree. */
  path: string;
  size: number;
  /** Blob digest: the diff_id for an uncompressed tar, else computed. */
  digest: Digest;
  mediaType: string;
}

export interface SynthesizedImage {
  manifest: ImageManifest;
  manifestBytes: Buffer;
  manifestDescriptor: Descriptor;
  configDescriptor: Descriptor;
  /** Layer path inside the save tree, by layer digest. */
  layerPaths: Map<string, string>;
}

/** Reads the config's diff_ids: the digests of the uncompressed layer tars, in order. */
export function diffIdsOf(configBytes: Buffer, where: { image?: string; blob?: string }): string[] {
  const config = parseJson(configBytes, 'image config', where) as { rootfs?: { diff_ids?: unknown } };
  const diffIds = config?.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.some((d) => typeof d !== 'string' || !isDigest(d))) {
    throw new ImageError('ERR_MANIFEST_INVALID', 'image config has no valid rootfs.diff_ids', where);
  }
  return diffIds as string[];
}

export function synthesizeManifest(configBytes: Buffer, layers: SavedLayer[]): SynthesizedImage {
  const configDescriptor: Descriptor = {
    mediaType: MediaType.dockerConfig,
    digest: digestOf(configBytes),
    size: configBytes.length,
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: configDescriptor,
    layers: layers.map((layer) => ({ mediaType: layer.mediaType, digest: layer.digest, size: layer.size })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const layerPaths = new Map<string, string>();
  for (const layer of layers) layerPaths.set(layer.digest, layer.path);
  return {
    manifest,
    manifestBytes,
    manifestDescriptor: {
      mediaType: MediaType.dockerManifest,
      digest: digestOf(manifestBytes),
      size: manifestBytes.length,
    },
    configDescriptor,
    layerPaths,
  };
}
