import { ImageError, IvocError, TransportError } from '../errors.js';
import { report as validateReport } from '../generated/report-validator.js';
import { type FetchOptions, maxConfigBytes, maxManifestBytes, readAll } from '../oci/content.js';
import type { Descriptor, ImageIndex } from '../oci/descriptor.js';
import { digestOf, parseDigest } from '../oci/digest.js';
import { checkDescriptor } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import { formatImageReference } from '../oci/reference.js';
import type { RegistryTarget } from '../oci/registry/index.js';
import type { Report } from '../report/types.js';
import { headParallel, mapBounded, pushBytes } from './transfer.js';

/**
 * The validation report attached to the pushed image as an OCI artifact
 * (image-spec manifest with `artifactType`, the empty config and `subject`),
 * found through the referrers API, or on registries without it through the
 * `sha256-<hex>` fallback tag: an index listing the subject's referrers.
 */

export const reportArtifactType = 'application/vnd.ivoa.container.report.v1+json';

/** The empty JSON descriptor of image-spec (`{}`), the config of artifacts that have none. */
export const emptyBytes = Buffer.from('{}');
export const emptyDescriptor: Descriptor = {
  mediaType: MediaType.ociEmpty,
  digest: digestOf(emptyBytes),
  size: emptyBytes.length,
  data: emptyBytes.toString('base64'),
};

export interface ReportArtifact {
  manifestBytes: Buffer;
  descriptor: Descriptor;
  reportBytes: Buffer;
  reportDescriptor: Descriptor;
}

export function buildReportArtifact(
  reportJson: string,
  subject: Descriptor,
  annotations: Record<string, string> = {},
): ReportArtifact {
  const reportBytes = Buffer.from(reportJson);
  const reportDescriptor: Descriptor = {
    mediaType: reportArtifactType,
    digest: digestOf(reportBytes),
    size: reportBytes.length,
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: reportArtifactType,
    config: emptyDescriptor,
    layers: [reportDescriptor],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const descriptor: Descriptor = {
    mediaType: MediaType.ociManifest,
    digest: digestOf(manifestBytes),
    size: manifestBytes.length,
    artifactType: reportArtifactType,
  };
  if (Object.keys(annotations).length > 0) descriptor.annotations = annotations;
  return { manifestBytes, descriptor, reportBytes, reportDescriptor };
}

/** `sha256-<hex>`: the referrers tag schema's tag for a subject digest. */
export function fallbackTag(subjectDigest: string): string {
  const { algorithm, hex } = parseDigest(subjectDigest);
  return `${algorithm}-${hex}`.slice(0, 128);
}

export interface AttachResult {
  descriptor: Descriptor;
  /** 'referrers': the registry indexed the subject; 'fallback-tag': we maintain `sha256-<hex>`. */
  via: 'referrers' | 'fallback-tag';
  tag?: string;
}

/** Pushes the blobs of these artifacts (the empty config once, each report) that DEST lacks, concurrently. */
export async function pushReportBlobs(
  target: RegistryTarget,
  artifacts: readonly ReportArtifact[],
  options: FetchOptions = {},
): Promise<void> {
  const blobs = new Map<string, { descriptor: Descriptor; bytes: Buffer }>();
  blobs.set(emptyDescriptor.digest, { descriptor: emptyDescriptor, bytes: emptyBytes });
  for (const artifact of artifacts) {
    blobs.set(artifact.reportDescriptor.digest, {
      descriptor: artifact.reportDescriptor,
      bytes: artifact.reportBytes,
    });
  }
  await mapBounded([...blobs.values()], headParallel, ({ descriptor, bytes }) =>
    pushBytes(target, descriptor, bytes, options),
  );
}

/**
 * What DEST says about a subject's referrers, asked before the artifact goes
 * up: whether it serves the referrers API (a 404 means it does not), and the
 * `sha256-<hex>` fallback index as it stands. Both are reads, so publish asks
 * them while the image itself is still being pushed; attachReport uses what
 * it needs and drops the rest (a failed early read of the index is read again).
 */
export interface ReferrersProbe {
  /** True when `GET /v2/<name>/referrers/<digest>` answered 200 (the API exists). */
  api: Promise<boolean>;
  /** The fallback tag's index, or an empty one when the tag does not exist. */
  existing: Promise<ImageIndex>;
}

export function probeReferrers(
  target: RegistryTarget,
  subjectDigest: string,
  options: FetchOptions = {},
): ReferrersProbe {
  const repository = repositoryOf(target);
  const api = target.client
    .referrers(repository, subjectDigest, {
      image: `docker://${target.client.registry}/${repository}`,
      ...(options.signal ? { signal: options.signal } : {}),
    })
    .then(
      (listed) => listed !== undefined,
      () => false,
    );
  const existing = existingFallbackIndex(target, fallbackTag(subjectDigest), options);
  existing.catch(() => {});
  return { api, existing };
}

async function settled(probe: ReferrersProbe): Promise<void> {
  await Promise.allSettled([probe.api, probe.existing]);
}

/**
 * Pushes the artifact's blobs (unless `blobsPushed`: pushReportBlobs did) and
 * manifest, then keeps the fallback tag when the registry needs it: when it
 * neither answered the manifest with `OCI-Subject` nor lists the artifact
 * through the referrers API. `probe` is probeReferrers(subject), started
 * earlier; without it the probe goes out together with the artifact.
 */
export async function attachReport(
  target: RegistryTarget,
  artifact: ReportArtifact,
  subject: Descriptor,
  options: FetchOptions & { blobsPushed?: boolean; probe?: ReferrersProbe } = {},
): Promise<AttachResult> {
  const request = {
    image: `docker://${target.client.registry}/${repositoryOf(target)}`,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const repository = repositoryOf(target);
  const fetchOptions: FetchOptions = options.signal ? { signal: options.signal } : {};
  if (!options.blobsPushed) await pushReportBlobs(target, [artifact], fetchOptions);
  const probe = options.probe ?? probeReferrers(target, subject.digest, fetchOptions);
  let put: Awaited<ReturnType<typeof target.client.putManifest>>;
  try {
    put = await target.client.putManifest(
      repository,
      artifact.descriptor.digest,
      MediaType.ociManifest,
      artifact.manifestBytes,
      request,
    );
  } catch (error) {
    await settled(probe);
    throw error;
  }
  // OCI-Subject: the registry indexed the subject.
  if (put.subjectProcessed) {
    await settled(probe);
    return { descriptor: artifact.descriptor, via: 'referrers' };
  }
  // Some registries serve the referrers API without sending that header (they predate it):
  // where the probe found the API, its listing must now show the artifact.
  if (await probe.api) {
    const listed = await target.client.referrers(repository, subject.digest, request).catch(() => undefined);
    if (listed?.some((d) => d.digest === artifact.descriptor.digest)) {
      await settled(probe);
      return { descriptor: artifact.descriptor, via: 'referrers' };
    }
  }
  const tag = fallbackTag(subject.digest);
  // Read early, perhaps before the repository existed: a registry may have refused that read
  // (401/403 rather than 404 for a repository it does not know yet), so a failure is read again.
  const index = await probe.existing.catch(() => existingFallbackIndex(target, tag, fetchOptions));
  const manifests = index.manifests.filter((d) => d.digest !== artifact.descriptor.digest);
  manifests.push(artifact.descriptor);
  const merged: ImageIndex = { ...index, schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  const bytes = Buffer.from(JSON.stringify(merged));
  // One PUT by tag stores the index and points the tag at it.
  await target.client.putManifest(repository, tag, MediaType.ociIndex, bytes, request);
  return { descriptor: artifact.descriptor, via: 'fallback-tag', tag };
}

async function existingFallbackIndex(
  target: RegistryTarget,
  tag: string,
  options: FetchOptions,
): Promise<ImageIndex> {
  const repository = repositoryOf(target);
  try {
    const got = await target.client.getManifest(repository, tag, {
      image: `docker://${target.client.registry}/${repository}:${tag}`,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const parsed = JSON.parse(got.bytes.toString('utf8')) as Partial<ImageIndex>;
    if (got.descriptor.mediaType !== MediaType.ociIndex || !Array.isArray(parsed.manifests)) {
      throw new TransportError(
        'ERR_REGISTRY',
        `tag ${tag} exists but is not a referrers index; not overwriting it`,
        { image: `docker://${target.client.registry}/${repository}:${tag}` },
      );
    }
    return { schemaVersion: 2, mediaType: MediaType.ociIndex, ...parsed, manifests: parsed.manifests };
  } catch (error) {
    if (error instanceof IvocError && error.code === 'ERR_NOT_FOUND') {
      return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
    }
    throw error;
  }
}

/** Reads the reports attached to `subject`: referrers API first, else the fallback tag. */
export async function findReports(
  target: RegistryTarget,
  subject: string,
  options: FetchOptions = {},
): Promise<Descriptor[]> {
  const repository = repositoryOf(target);
  const request = options.signal ? { signal: options.signal } : {};
  const listed = await target.client.referrers(repository, subject, {
    ...request,
    artifactType: reportArtifactType,
  });
  const image = formatImageReference(target.reference);
  const fromApi = reportDescriptors(listed ?? [], { image, blob: subject }, 'the referrers index');
  if (fromApi.length > 0) return fromApi;
  const tag = fallbackTag(subject);
  try {
    const got = await target.client.getManifest(repository, tag, request);
    // A JSON object (getManifest checks that much); the index is shared with other tools' referrers.
    const parsed = JSON.parse(got.bytes.toString('utf8')) as { manifests?: unknown };
    return reportDescriptors(
      parsed.manifests,
      { image, blob: got.descriptor.digest },
      `the index at tag ${tag}`,
    );
  } catch (error) {
    if (error instanceof IvocError && error.code === 'ERR_NOT_FOUND') return [];
    throw error;
  }
}

/**
 * The entries that describe ivoc reports (by artifactType). Other tools'
 * entries are none of ours and are left alone; one of ours that is not a
 * valid descriptor is an error rather than skipped: skipped, the report
 * read would be an older one, or none, without a word.
 */
function reportDescriptors(
  entries: unknown,
  where: { image: string; blob: string },
  what: string,
): Descriptor[] {
  if (!Array.isArray(entries)) {
    throw new ImageError('ERR_MANIFEST_INVALID', `${what} has no manifests list`, where);
  }
  const ours = entries.filter(
    (entry: unknown) =>
      typeof entry === 'object' &&
      entry !== null &&
      (entry as { artifactType?: unknown }).artifactType === reportArtifactType,
  );
  return ours.map((entry, i) => checkDescriptor(entry, `report entry ${i} of ${what}`, where));
}

function repositoryOf(target: RegistryTarget): string {
  const ref = target.reference;
  return ref.transport === 'docker' ? ref.repository : '';
}

/**
 * The newest validation report attached to `subject` (the one publish wrote
 * last), read back and checked against the published report schema; undefined
 * when none is attached.
 */
export async function readAttachedReport(
  target: RegistryTarget,
  subject: string,
  options: FetchOptions = {},
): Promise<{ report: Report; descriptor: Descriptor } | undefined> {
  const found = await findReports(target, subject, options);
  const descriptor = found.at(-1);
  if (!descriptor) return undefined;
  const where = { image: formatImageReference(target.reference), what: 'attached report' };
  const manifest = parseJsonOf(
    await readAll(target, descriptor, maxManifestBytes, where, options),
    'the attached report artifact',
    { image: where.image, blob: descriptor.digest },
  ) as { layers?: unknown };
  const entry = Array.isArray(manifest.layers)
    ? manifest.layers.find(
        (layer: unknown) =>
          typeof layer === 'object' &&
          layer !== null &&
          (layer as { mediaType?: unknown }).mediaType === reportArtifactType,
      )
    : undefined;
  if (entry === undefined) {
    throw new ImageError('ERR_MANIFEST_INVALID', 'the attached report artifact has no report layer', {
      image: where.image,
      blob: descriptor.digest,
    });
  }
  const layer = checkDescriptor(entry, 'the report layer', { image: where.image, blob: descriptor.digest });
  const report = parseJsonOf(
    await readAll(target, layer, maxConfigBytes, where, options),
    'the attached report',
    {
      image: where.image,
      blob: layer.digest,
    },
  );
  const validate = validateReport;
  if (!validate(report)) {
    throw new ImageError('ERR_MANIFEST_INVALID', 'the attached report does not follow the report schema', {
      image: where.image,
      blob: layer.digest,
    });
  }
  return { report: report as Report, descriptor };
}

/** A JSON object, or ERR_MANIFEST_INVALID naming WHAT. */
function parseJsonOf(bytes: Buffer, what: string, context: { image?: string; blob?: string }): object {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new ImageError('ERR_MANIFEST_INVALID', `${what} is not valid JSON`, context);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ImageError('ERR_MANIFEST_INVALID', `${what} is not a JSON object`, context);
  return value;
}
