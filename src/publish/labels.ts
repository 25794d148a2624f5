import { ImageError } from '../errors.js';
import type { Descriptor } from '../oci/descriptor.js';
import { digestOf } from '../oci/digest.js';
import type { LoadedImage } from '../oci/image.js';
import { isManifestMediaType, MediaType } from '../oci/media-types.js';
import { ivoaPrefix, mergedLabels, ociPrefix } from '../rules/labels.js';
import * as semver from '../rules/util/semver.js';

/**
 * The discovery labels publish writes, and the rewrite of the config and the
 * manifest that carries them. Only `config.Labels` of the config and
 * `annotations` (plus the config descriptor) of the manifest change: every
 * other field is carried over as parsed, in its original order.
 */

export const createdKey = `${ociPrefix}created`;
export const revisionKey = `${ociPrefix}revision`;
export const sourceKey = `${ociPrefix}source`;
export const versionKey = `${ociPrefix}version`;

export interface DiscoveryOptions {
  /** `--revision`: `org.opencontainers.image.revision`. */
  revision?: string;
  /** `--source`: `org.opencontainers.image.source`. */
  source?: string;
  /** The time `created` gets when the image has none (default: the config's `created`, else now). */
  now?: () => Date;
}

/**
 * The discovery record as labels: every `net.ivoa.container.*` and
 * `org.opencontainers.image.*` key of the image (config labels over manifest
 * annotations), `created` when absent, and `revision`/`source` from the flags.
 * `base.name`/`base.digest` are carried when the image has them (nothing else
 * here knows the base image).
 */
export function discoveryLabels(loaded: LoadedImage, options: DiscoveryOptions = {}): Record<string, string> {
  const labels = mergedLabels(loaded.config, loaded.manifest);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (key.startsWith(ivoaPrefix) || key.startsWith(ociPrefix)) out[key] = value;
  }
  if (out[createdKey] === undefined || out[createdKey] === '') {
    out[createdKey] = createdOf(loaded, options);
  }
  if (options.revision !== undefined) out[revisionKey] = options.revision;
  if (options.source !== undefined) out[sourceKey] = options.source;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function createdOf(loaded: LoadedImage, options: DiscoveryOptions): string {
  const epoch = process.env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && /^\d+$/.test(epoch)) {
    return new Date(Number(epoch) * 1000).toISOString().replace(/\.000Z$/, 'Z');
  }
  const created = loaded.config.created;
  if (typeof created === 'string' && !Number.isNaN(Date.parse(created))) return created;
  return (options.now?.() ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export interface Relabelled {
  configBytes: Buffer;
  configDescriptor: Descriptor;
  manifestBytes: Buffer;
  manifestDescriptor: Descriptor;
  /** Whether the manifest carries the labels as annotations too (OCI manifests only). */
  annotated: boolean;
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseObject(bytes: Buffer, what: string, where: { image: string; blob: string }): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ImageError('ERR_MANIFEST_INVALID', `${what} is not valid JSON`, { ...where, cause: error });
  }
  if (!isObject(value)) throw new ImageError('ERR_MANIFEST_INVALID', `${what} is not a JSON object`, where);
  return value;
}

/**
 * New config = old config with `config.Labels` += labels; new manifest = old
 * manifest pointing at it, with the labels as annotations when it is an OCI
 * manifest (Docker schema2 has no annotations: its labels live in the config
 * only, and its media types are kept).
 */
export function relabel(
  image: string,
  manifestDescriptor: Descriptor,
  manifestBytes: Buffer,
  configBytes: Buffer,
  labels: Record<string, string>,
): Relabelled {
  const config = parseObject(configBytes, 'image config', { image, blob: digestOfConfig(manifestBytes) });
  const body = isObject(config.config) ? config.config : {};
  const existing = isObject(body.Labels) ? (body.Labels as Record<string, string>) : {};
  body.Labels = { ...existing, ...labels };
  config.config = body;
  const newConfigBytes = Buffer.from(JSON.stringify(config));

  const manifest = parseObject(manifestBytes, 'manifest', { image, blob: manifestDescriptor.digest });
  const oldConfig = manifest.config;
  if (!isObject(oldConfig)) {
    throw new ImageError('ERR_MANIFEST_INVALID', 'manifest has no config descriptor', {
      image,
      blob: manifestDescriptor.digest,
    });
  }
  const configDescriptor: Descriptor = {
    mediaType: String(oldConfig.mediaType),
    digest: digestOf(newConfigBytes),
    size: newConfigBytes.length,
  };
  manifest.config = { ...oldConfig, digest: configDescriptor.digest, size: configDescriptor.size };
  const mediaType = manifestMediaType(manifest, manifestDescriptor);
  const annotated = mediaType === MediaType.ociManifest;
  if (annotated) {
    const annotations = isObject(manifest.annotations)
      ? (manifest.annotations as Record<string, string>)
      : {};
    manifest.annotations = { ...annotations, ...labels };
  }
  const newManifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    configBytes: newConfigBytes,
    configDescriptor,
    manifestBytes: newManifestBytes,
    manifestDescriptor: { mediaType, digest: digestOf(newManifestBytes), size: newManifestBytes.length },
    annotated,
  };
}

function digestOfConfig(manifestBytes: Buffer): string {
  try {
    const parsed = JSON.parse(manifestBytes.toString('utf8')) as { config?: { digest?: string } };
    return parsed.config?.digest ?? '';
  } catch {
    return '';
  }
}

function manifestMediaType(manifest: JsonObject, descriptor: Descriptor): string {
  const declared = typeof manifest.mediaType === 'string' ? manifest.mediaType : undefined;
  const mediaType = declared ?? descriptor.mediaType;
  if (!isManifestMediaType(mediaType)) {
    throw new ImageError('ERR_MEDIA_TYPE', `cannot publish a manifest of media type '${mediaType}'`, {
      blob: descriptor.digest,
    });
  }
  return mediaType;
}

/**
 * `--semver-tags`: `1.2.3` gives `1.2.3`, `1.2`, `1`; a prerelease (`1.2.3-rc.1`)
 * gives only itself; a leading `v` is kept off. Not a semantic version: none.
 */
export function semverTags(version: string | undefined): string[] {
  if (version === undefined) return [];
  const parsed = semver.parse(version.trim().replace(/^v(?=\d)/, ''));
  if (parsed === null) return [];
  const full = parsed.version.replace(/\+/g, '_');
  if (parsed.prerelease.length > 0) return [full];
  return [full, `${parsed.major}.${parsed.minor}`, `${parsed.major}`];
}
