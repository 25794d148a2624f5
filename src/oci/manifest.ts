import { ImageError } from '../errors.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest } from './descriptor.js';
import { isDigest } from './digest.js';
import { isIndexMediaType, isManifestMediaType, isSchema1MediaType, MediaType } from './media-types.js';

/**
 * Parsing and validation of manifests, indexes and configs: whatever comes off
 * the wire is checked here, once, so the rest of the code can trust the types.
 */

export type ParsedManifest =
  | { kind: 'index'; index: ImageIndex }
  | { kind: 'manifest'; manifest: ImageManifest };

interface Where {
  image?: string;
  blob?: string;
}

function invalid(why: string, where: Where): ImageError {
  return new ImageError('ERR_MANIFEST_INVALID', why, where);
}

export function parseJson(bytes: Buffer, what: string, where: Where): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw invalid(`${what} is not valid JSON (${(error as Error).message})`, where);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkAnnotations(value: unknown, what: string, where: Where): void {
  if (value === undefined) return;
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw invalid(`${what} annotations must be a map of strings`, where);
  }
}

export function checkDescriptor(value: unknown, what: string, where: Where): Descriptor {
  if (!isObject(value)) throw invalid(`${what} is not a descriptor object`, where);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType.length === 0)
    throw invalid(`${what} has no mediaType`, where);
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw invalid(`${what} has an invalid digest '${String(digest).slice(0, 80)}'`, where);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${what} has an invalid size '${String(size)}'`, where);
  }
  checkAnnotations(value.annotations, what, where);
  if (value.platform !== undefined) {
    const platform = value.platform;
    if (!isObject(platform) || typeof platform.os !== 'string' || typeof platform.architecture !== 'string') {
      throw invalid(`${what} has an invalid platform`, where);
    }
  }
  return value as unknown as Descriptor;
}

/**
 * Parses manifest or index bytes fetched for `descriptor`. The media type the
 * registry or layout declared must agree with the body's own.
 */
export function parseManifest(bytes: Buffer, descriptor: Descriptor, where: Where): ParsedManifest {
  const context = { image: where.image, blob: where.blob ?? descriptor.digest };
  if (isSchema1MediaType(descriptor.mediaType)) throw schema1(context);
  const body = parseJson(bytes, 'manifest', context);
  if (!isObject(body)) throw invalid('manifest is not a JSON object', context);
  if (body.schemaVersion === 1) throw schema1(context);
  if (body.schemaVersion !== 2)
    throw invalid(`unsupported schemaVersion ${String(body.schemaVersion)}`, context);
  const declared = typeof body.mediaType === 'string' ? body.mediaType : undefined;
  if (declared !== undefined && declared !== descriptor.mediaType && isKnown(descriptor.mediaType)) {
    throw new ImageError(
      'ERR_MEDIA_TYPE',
      `manifest says mediaType '${declared}' but was served as '${descriptor.mediaType}'`,
      context,
    );
  }
  const mediaType = declared ?? descriptor.mediaType;
  const looksLikeIndex = Array.isArray(body.manifests);
  if (isIndexMediaType(mediaType) || (!isKnown(mediaType) && looksLikeIndex)) {
    if (!Array.isArray(body.manifests)) throw invalid('index has no manifests list', context);
    body.manifests.forEach((entry, i) => {
      checkDescriptor(entry, `index entry ${i}`, context);
    });
    checkAnnotations(body.annotations, 'index', context);
    return { kind: 'index', index: body as unknown as ImageIndex };
  }
  if (isManifestMediaType(mediaType) || (!isKnown(mediaType) && isObject(body.config))) {
    const config = checkDescriptor(body.config, 'manifest config', context);
    if (!Array.isArray(body.layers)) throw invalid('manifest has no layers list', context);
    body.layers.forEach((layer, i) => {
      checkDescriptor(layer, `layer ${i}`, context);
    });
    if (body.subject !== undefined) checkDescriptor(body.subject, 'manifest subject', context);
    checkAnnotations(body.annotations, 'manifest', context);
    if (config.mediaType !== MediaType.ociConfig && config.mediaType !== MediaType.dockerConfig) {
      throw new ImageError(
        'ERR_MEDIA_TYPE',
        `not a container image: config media type is '${config.mediaType}'${
          typeof body.artifactType === 'string' ? ` (artifact type '${body.artifactType}')` : ''
        }`,
        context,
      );
    }
    return { kind: 'manifest', manifest: body as unknown as ImageManifest };
  }
  throw new ImageError('ERR_MEDIA_TYPE', `unsupported manifest media type '${mediaType}'`, context);
}

function isKnown(mediaType: string): boolean {
  return isIndexMediaType(mediaType) || isManifestMediaType(mediaType);
}

function schema1(where: Where): ImageError {
  return new ImageError(
    'ERR_UNSUPPORTED',
    'Docker schema 1 manifests are not supported; re-push the image with a current docker, buildah or skopeo',
    where,
  );
}

export function parseConfig(
  bytes: Buffer,
  descriptor: Descriptor,
  manifest: ImageManifest,
  where: Where,
): ImageConfig {
  const context = { image: where.image, blob: descriptor.digest };
  const body = parseJson(bytes, 'image config', context);
  if (!isObject(body)) throw invalid('image config is not a JSON object', context);
  if (typeof body.os !== 'string' || typeof body.architecture !== 'string') {
    throw invalid('image config has no os/architecture', context);
  }
  const rootfs = body.rootfs;
  if (
    !isObject(rootfs) ||
    !Array.isArray(rootfs.diff_ids) ||
    rootfs.diff_ids.some((d) => typeof d !== 'string')
  ) {
    throw invalid('image config has no rootfs.diff_ids', context);
  }
  if (rootfs.diff_ids.length !== manifest.layers.length) {
    throw invalid(
      `image config lists ${rootfs.diff_ids.length} diff_ids but the manifest has ${manifest.layers.length} layers`,
      context,
    );
  }
  if (body.config !== undefined && body.config !== null && !isObject(body.config)) {
    throw invalid('image config "config" is not an object', context);
  }
  const inner = (body.config ?? {}) as Record<string, unknown>;
  for (const key of ['Env', 'Entrypoint', 'Cmd'] as const) {
    const value = inner[key];
    if (
      value !== undefined &&
      value !== null &&
      (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    ) {
      throw invalid(`image config ${key} must be a list of strings`, context);
    }
  }
  if (inner.User !== undefined && typeof inner.User !== 'string')
    throw invalid('image config User must be a string', context);
  if (inner.Labels !== undefined && inner.Labels !== null)
    checkAnnotations(inner.Labels, 'config Labels', context);
  return body as unknown as ImageConfig;
}
