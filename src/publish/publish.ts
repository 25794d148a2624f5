import { Readable } from 'node:stream';
import { UsageError } from '../errors.js';
import { type ImageSource, maxConfigBytes, maxManifestBytes, readAll } from '../oci/content.js';
import type { Descriptor, Platform } from '../oci/descriptor.js';
import { loadImage } from '../oci/image.js';
import type { ImageReference, RegistryReference } from '../oci/reference.js';
import { formatRegistryReference } from '../oci/reference.js';
import { openRegistryTarget, type RegistryOptions, type RegistryTarget } from '../oci/registry/index.js';
import { formatJson } from '../report/json.js';
import type { Report } from '../report/types.js';
import { type DiscoveryOptions, discoveryLabels, relabel, semverTags, versionKey } from './labels.js';
import { type AttachResult, attachReport, buildReportArtifact, fallbackTag } from './report-artifact.js';
import { type BlobResult, pushBytes, transferBlobs, verifyPresent } from './transfer.js';

/**
 * `ivoc publish`, after validation passed: relabel, transfer, push the
 * manifest, attach the report, move the tags. The order is the atomicity
 * guarantee: nothing a tag can point at exists until every blob it needs is
 * verified at DEST, and tags are moved only after the manifest and its report
 * are in place; a failure before that leaves DEST's tags as they were.
 */

export interface PublishPlan {
  destination: RegistryReference;
  /** The manifest that will be (or was) pushed. */
  manifest: Descriptor;
  manifestBytes: Buffer;
  config: Descriptor;
  configBytes: Buffer;
  layers: Descriptor[];
  labels: Record<string, string>;
  /** Whether the labels went into manifest annotations too (OCI manifests). */
  annotated: boolean;
  tags: string[];
  /** The platform manifest published (an index source publishes the validated platform). */
  platform: Platform;
  sourceDigest: string;
}

export interface PublishResult extends PublishPlan {
  dryRun: boolean;
  blobs: BlobResult[];
  report?: AttachResult;
}

export interface PlanOptions extends DiscoveryOptions {
  tags?: readonly string[];
  semverTags?: boolean;
  platform?: Platform;
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

/** Reads the source image (the validated platform) and computes what publish writes. */
export async function planPublish(
  source: ImageSource,
  destination: RegistryReference,
  options: PlanOptions & { explicitDestTag: boolean },
): Promise<PublishPlan> {
  const loaded = await loadImage(source, options.platform ? { platform: options.platform } : {});
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
    destination,
    manifest: relabelled.manifestDescriptor,
    manifestBytes: relabelled.manifestBytes,
    config: relabelled.configDescriptor,
    configBytes: relabelled.configBytes,
    layers: loaded.manifest.layers,
    labels,
    annotated: relabelled.annotated,
    tags: tagsFor(destination, labels, options, options.explicitDestTag),
    platform: loaded.platform,
    sourceDigest: loaded.descriptor.digest,
  };
}

export interface ExecuteOptions {
  registry: RegistryOptions;
  /** The validation report to attach (JSON). */
  report: Report;
  parallel?: number;
  signal?: AbortSignal;
  onBlob?: (result: BlobResult) => void;
  /** The source, when it is a registry (cross-repository mounts). */
  mountFrom?: { registry: string; repository: string };
}

/** Pushes a plan: layers, config, (verify), manifest, report, tags. */
export async function executePublish(
  source: ImageSource,
  plan: PublishPlan,
  options: ExecuteOptions,
): Promise<PublishResult> {
  const target = openRegistryTarget(
    { registry: plan.destination.registry, repository: plan.destination.repository },
    options.registry,
  );
  const fetchOptions = options.signal ? { signal: options.signal } : {};
  try {
    const blobs = await transferBlobs(source, target, plan.layers, {
      ...fetchOptions,
      parallel: options.parallel ?? 3,
      ...(options.mountFrom ? { mountFrom: options.mountFrom } : {}),
      ...(options.onBlob ? { onBlob: options.onBlob } : {}),
    });
    const configOutcome = await pushBytes(target, plan.config, plan.configBytes, fetchOptions);
    blobs.push({ descriptor: plan.config, outcome: configOutcome });
    options.onBlob?.({ descriptor: plan.config, outcome: configOutcome });
    // Atomicity: the manifest goes up only once every blob it names answers HEAD at DEST.
    await verifyPresent(target, [...plan.layers, plan.config], fetchOptions);
    await pushManifest(target, plan, fetchOptions);
    const artifact = buildReportArtifact(
      formatJson([options.report]),
      plan.manifest,
      reportAnnotations(plan),
    );
    const report = await attachReport(target, artifact, plan.manifest, fetchOptions);
    for (const tag of plan.tags) await target.tag(plan.manifest, tag, fetchOptions);
    return { ...plan, dryRun: false, blobs, report };
  } finally {
    await target.close();
  }
}

async function pushManifest(
  target: RegistryTarget,
  plan: PublishPlan,
  options: { signal?: AbortSignal },
): Promise<void> {
  await target.push(plan.manifest, Readable.from([plan.manifestBytes]), options);
}

function reportAnnotations(plan: PublishPlan): Record<string, string> {
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
    const blobs: BlobResult[] = [];
    for (const descriptor of [...plan.layers, plan.config]) {
      const present = await target.exists(descriptor, fetchOptions);
      // 'uploaded' here means: would be uploaded (or mounted).
      blobs.push({ descriptor, outcome: present ? 'present' : 'uploaded' });
    }
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
