import { Readable } from 'node:stream';
import { UsageError } from '../errors.js';
import { type ImageSource, maxConfigBytes, maxManifestBytes, readAll } from '../oci/content.js';
import type { Descriptor, Platform } from '../oci/descriptor.js';
import { digestOf } from '../oci/digest.js';
import { type LoadedImage, loadImage } from '../oci/image.js';
import { isManifestMediaType, MediaType } from '../oci/media-types.js';
import { isRunnableEntry } from '../oci/platform.js';
import type { ImageReference, RegistryReference } from '../oci/reference.js';
import { defaultTag, formatRegistryReference } from '../oci/reference.js';
import { openRegistryTarget, type RegistryOptions, type RegistryTarget } from '../oci/registry/index.js';
import { formatJson } from '../report/json.js';
import type { Report } from '../report/types.js';
import { type DiscoveryOptions, discoveryLabels, relabel, semverTags, versionKey } from './labels.js';
import {
  type AttachResult,
  attachReport,
  buildReportArtifact,
  fallbackTag,
  probeReferrers,
  pushReportBlobs,
  type ReferrersProbe,
} from './report-artifact.js';
import {
  type BlobOutcome,
  type BlobResult,
  headParallel,
  mapBounded,
  pushBytes,
  settledBoth,
  transferBlobs,
} from './transfer.js';

/**
 * `ivoc publish`, after validation passed: relabel, transfer, push the
 * manifest, attach the report, move the tags. The order is the atomicity
 * guarantee: nothing a tag can point at exists until every blob it needs is
 * verified at DEST, and tags are moved only after the manifest and its report
 * are in place; a failure before that leaves DEST's tags as they were.
 */

/** One platform manifest as publish will push it. */
export interface ImagePlan {
  manifest: Descriptor;
  manifestBytes: Buffer;
  config: Descriptor;
  configBytes: Buffer;
  layers: Descriptor[];
  labels: Record<string, string>;
  /** Whether the labels went into manifest annotations too (OCI manifests). */
  annotated: boolean;
  platform: Platform;
  /** The source manifest it was made from. */
  sourceDigest: string;
}

export interface PublishPlan extends ImagePlan {
  destination: RegistryReference;
  tags: string[];
  /**
   * Every platform manifest pushed: one for an image SRC; for an index SRC the
   * chosen platforms, and then `manifest`/`manifestBytes` above are the new index.
   */
  images: ImagePlan[];
  isIndex: boolean;
}

export interface PublishResult extends PublishPlan {
  dryRun: boolean;
  blobs: BlobResult[];
  report?: AttachResult;
  /** Reports attached to the platform manifests of an index, by manifest digest. */
  platformReports?: Record<string, AttachResult>;
}

export interface PlanOptions extends DiscoveryOptions {
  tags?: readonly string[];
  semverTags?: boolean;
  platform?: Platform;
  /** Index SRC: publish every runnable platform (default: only `platform`). */
  allPlatforms?: boolean;
}

export function destinationReference(reference: ImageReference): RegistryReference {
  if (reference.transport !== 'docker') {
    throw new UsageError('DEST must be a registry reference (docker://HOST/REPO[:TAG] or HOST/REPO[:TAG])');
  }
  if (reference.digest !== undefined) {
    throw new UsageError('DEST cannot name a digest: the digest is what publish computes');
  }
  const out: RegistryReference = { registry: reference.registry, repository: reference.repository };
  if (reference.tag !== undefined) out.tag = reference.tag;
  return out;
}

const tagPattern = /^[\w][\w.-]{0,127}$/;

/** DEST's tag, then --tag, then the semver tags; 'latest' when nothing names one. */
export function tagsFor(
  destination: RegistryReference,
  labels: Record<string, string>,
  options: PlanOptions,
  explicitDestTag: boolean,
): string[] {
  const tags: string[] = [];
  if (explicitDestTag && destination.tag !== undefined) tags.push(destination.tag);
  for (const tag of options.tags ?? []) {
    if (!tagPattern.test(tag)) throw new UsageError(`'${tag}' is not a valid tag`);
    tags.push(tag);
  }
  if (options.semverTags) {
    const derived = semverTags(labels[versionKey]);
    if (derived.length === 0) {
      throw new UsageError(
        `--semver-tags: ${versionKey} is ${labels[versionKey] === undefined ? 'not set' : `'${labels[versionKey]}', not a semantic version`}`,
      );
    }
    tags.push(...derived);
  }
  if (tags.length === 0) tags.push(destination.tag ?? 'latest');
  return [...new Set(tags)];
}

async function planImage(source: ImageSource, loaded: LoadedImage, options: PlanOptions): Promise<ImagePlan> {
  const context = { image: loaded.name };
  const manifestBytes = await readAll(source, loaded.descriptor, maxManifestBytes, {
    ...context,
    what: 'manifest',
  });
  const configBytes = await readAll(source, loaded.configDescriptor, maxConfigBytes, {
    ...context,
    what: 'config',
  });
  const labels = discoveryLabels(loaded, options);
  const relabelled = relabel(loaded.name, loaded.descriptor, manifestBytes, configBytes, labels);
  return {
    manifest: relabelled.manifestDescriptor,
    manifestBytes: relabelled.manifestBytes,
    config: relabelled.configDescriptor,
    configBytes: relabelled.configBytes,
    layers: loaded.manifest.layers,
    labels,
    annotated: relabelled.annotated,
    platform: loaded.platform,
    sourceDigest: loaded.descriptor.digest,
  };
}

/**
 * Reads the source (the validated platform; for an index, the chosen
 * platforms) and computes what publish writes. Reads SRC only.
 */
export async function planPublish(
  source: ImageSource,
  destination: RegistryReference,
  options: PlanOptions & { explicitDestTag: boolean },
): Promise<PublishPlan> {
  const loaded = await loadImage(source, options.platform ? { platform: options.platform } : {});
  const primary = await planImage(source, loaded, options);
  const tags = tagsFor(destination, primary.labels, options, options.explicitDestTag);
  if (!loaded.index) return { ...primary, destination, tags, images: [primary], isIndex: false };

  const entries = loaded.index.manifests.filter(
    (entry) =>
      isRunnableEntry(entry) &&
      (options.allPlatforms === true || entry.digest === loaded.descriptor.digest) &&
      isManifestMediaType(entry.mediaType),
  );
  const images: ImagePlan[] = [];
  const replaced = new Map<string, ImagePlan>();
  for (const entry of entries) {
    const plan =
      entry.digest === loaded.descriptor.digest
        ? primary
        : await planImage(source, await loadImage(source, { platform: entry.platform! }), options);
    if (plan.sourceDigest !== entry.digest) continue; // two entries for one platform: the first wins
    images.push(plan);
    replaced.set(entry.digest, plan);
  }
  const rootBytes = await readAll(source, loaded.root, maxManifestBytes, {
    image: loaded.name,
    what: 'index',
  });
  const index = JSON.parse(rootBytes.toString('utf8')) as Record<string, unknown> & {
    manifests: Descriptor[];
  };
  index.manifests = index.manifests.flatMap((entry) => {
    const plan = replaced.get(entry.digest);
    return plan
      ? [
          {
            ...entry,
            mediaType: plan.manifest.mediaType,
            digest: plan.manifest.digest,
            size: plan.manifest.size,
          },
        ]
      : [];
  });
  const mediaType = typeof index.mediaType === 'string' ? index.mediaType : loaded.root.mediaType;
  if (mediaType === MediaType.ociIndex) {
    const annotations = (index.annotations ?? {}) as Record<string, string>;
    index.annotations = { ...annotations, ...primary.labels };
  }
  const indexBytes = Buffer.from(JSON.stringify(index));
  return {
    ...primary,
    manifest: { mediaType, digest: digestOf(indexBytes), size: indexBytes.length },
    manifestBytes: indexBytes,
    annotated: mediaType === MediaType.ociIndex,
    sourceDigest: loaded.root.digest,
    destination,
    tags,
    images,
    isIndex: true,
  };
}

export interface ExecuteOptions {
  registry: RegistryOptions;
  /** The validation report of the primary platform (attached to the pushed root). */
  report: Report;
  /** Index SRC: the report of each platform manifest, by source manifest digest. */
  platformReports?: ReadonlyMap<string, Report>;
  parallel?: number;
  signal?: AbortSignal;
  onBlob?: (result: BlobResult) => void;
  /** The source, when it is a registry (cross-repository mounts). */
  mountFrom?: { registry: string; repository: string };
  /** What the early uploads learned and did while validating (EarlyUploads.commit()). */
  known?: ReadonlyMap<string, BlobOutcome>;
  /** The destination, when already open (it is closed at the end either way). */
  target?: RegistryTarget;
}

/** Pushes a plan: per platform layers and config, then its manifest; then the index, reports, tags. */
export async function executePublish(
  source: ImageSource,
  plan: PublishPlan,
  options: ExecuteOptions,
): Promise<PublishResult> {
  const target =
    options.target ??
    openRegistryTarget(
      { registry: plan.destination.registry, repository: plan.destination.repository },
      options.registry,
    );
  const fetchOptions = options.signal ? { signal: options.signal } : {};
  // Blobs the image DEST's tag names now count as present (RegistryTarget.listBlobsOf): the
  // tag DEST names, as for the early uploads (cli/publish.ts), whichever tags are then set.
  target.listBlobsOf(plan.destination.tag ?? defaultTag);
  let probes = new Map<string, ReferrersProbe>();
  try {
    // The reports' artifacts are known before anything is pushed (their subjects are the
    // manifests the plan computed), so their blobs go up alongside the image's: like layers,
    // blobs are invisible until a manifest names them.
    const platformArtifacts = plan.isIndex
      ? plan.images.flatMap((image) => {
          const report = options.platformReports?.get(image.sourceDigest);
          if (report === undefined) return [];
          return [
            {
              image,
              artifact: buildReportArtifact(formatJson([report]), image.manifest, reportAnnotations(image)),
            },
          ];
        })
      : [];
    const artifact = buildReportArtifact(
      formatJson([options.report]),
      plan.manifest,
      reportAnnotations(plan),
    );
    // What DEST says about the subjects' referrers is read meanwhile too (attachReport).
    probes = new Map(
      [...platformArtifacts.map((entry) => entry.image.manifest), plan.manifest].map((subject) => [
        subject.digest,
        probeReferrers(target, subject.digest, fetchOptions),
      ]),
    );
    const [blobs] = await settledBoth(
      pushImages(source, target, plan, options, fetchOptions),
      pushReportBlobs(target, [...platformArtifacts.map((entry) => entry.artifact), artifact], fetchOptions),
    );
    const platformReports: Record<string, AttachResult> = {};
    if (plan.isIndex) {
      await pushManifest(target, plan, fetchOptions);
      for (const { image, artifact: own } of platformArtifacts) {
        platformReports[image.manifest.digest] = await attachReport(target, own, image.manifest, {
          ...fetchOptions,
          blobsPushed: true,
          probe: probes.get(image.manifest.digest)!,
        });
      }
    }
    const report = await attachReport(target, artifact, plan.manifest, {
      ...fetchOptions,
      blobsPushed: true,
      probe: probes.get(plan.manifest.digest)!,
    });
    await mapBounded(plan.tags, headParallel, (tag) => target.tag(plan.manifest, tag, fetchOptions));
    return {
      ...plan,
      dryRun: false,
      blobs,
      report,
      ...(plan.isIndex ? { platformReports } : {}),
    };
  } finally {
    // Nothing left in flight when the connections close (a failed push leaves the probes unread).
    await Promise.allSettled([...probes.values()].flatMap((probe) => [probe.api, probe.existing]));
    await target.close();
  }
}

/** Per platform: layers and config, then the manifest. Returns what happened to each blob. */
async function pushImages(
  source: ImageSource,
  target: RegistryTarget,
  plan: PublishPlan,
  options: ExecuteOptions,
  fetchOptions: { signal?: AbortSignal },
): Promise<BlobResult[]> {
  const blobs: BlobResult[] = [];
  for (const image of plan.images) {
    // Atomicity: a manifest goes up only once every blob it names is confirmed at DEST
    // ('present': named by the image DEST's tag points to, or HEAD 200, before any upload),
    // or by the registry's 201 to the mount or to the upload's closing PUT (its
    // Docker-Content-Digest checked when sent), or by a HEAD after a retried upload
    // (transfer.ts) or after a 201 to an upload that named no digest (client.ts). A failed
    // upload throws, so the manifest is never reached. The layers and the new config go at
    // once: they do not depend on each other.
    const [layerResults, configOutcome] = await settledBoth(
      transferBlobs(source, target, image.layers, {
        ...fetchOptions,
        parallel: options.parallel ?? 3,
        ...(options.mountFrom ? { mountFrom: options.mountFrom } : {}),
        ...(options.onBlob ? { onBlob: options.onBlob } : {}),
        ...(options.known ? { known: options.known } : {}),
      }),
      pushBytes(target, image.config, image.configBytes, fetchOptions),
    );
    blobs.push(...layerResults);
    blobs.push({ descriptor: image.config, outcome: configOutcome });
    options.onBlob?.({ descriptor: image.config, outcome: configOutcome });
    await pushManifest(target, image, fetchOptions);
  }
  return blobs;
}

async function pushManifest(
  target: RegistryTarget,
  image: ImagePlan,
  options: { signal?: AbortSignal },
): Promise<void> {
  await target.push(image.manifest, Readable.from([image.manifestBytes]), options);
}

function reportAnnotations(plan: ImagePlan): Record<string, string> {
  const created = plan.labels['org.opencontainers.image.created'];
  return created === undefined ? {} : { 'org.opencontainers.image.created': created };
}

/** What a dry run reports: which blobs DEST already has (HEAD only, nothing written). */
export async function dryRunPublish(plan: PublishPlan, options: ExecuteOptions): Promise<PublishResult> {
  const target = openRegistryTarget(
    { registry: plan.destination.registry, repository: plan.destination.repository },
    options.registry,
  );
  const fetchOptions = options.signal ? { signal: options.signal } : {};
  try {
    const all = plan.images.flatMap((image) => [...image.layers, image.config]);
    const present = await mapBounded(all, headParallel, (descriptor) =>
      target.exists(descriptor, fetchOptions),
    );
    // 'uploaded' here means: would be uploaded (or mounted).
    const blobs: BlobResult[] = all.map((descriptor, i) => ({
      descriptor,
      outcome: present[i] ? 'present' : 'uploaded',
    }));
    return { ...plan, dryRun: true, blobs };
  } finally {
    await target.close();
  }
}

export function publishedName(plan: PublishPlan): string {
  return formatRegistryReference({
    registry: plan.destination.registry,
    repository: plan.destination.repository,
    digest: plan.manifest.digest,
  });
}

export { fallbackTag };
