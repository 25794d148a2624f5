import { type Registration, registerCleanup } from '../cleanup.js';
import { UsageError } from '../errors.js';
import { formatPlatform, type Platform } from '../oci/descriptor.js';
import type { LoadedImage } from '../oci/image.js';
import { openImageSource, sourceOptionsFrom } from '../oci/open.js';
import { parsePlatform } from '../oci/platform.js';
import {
  defaultTag,
  formatRegistryReference,
  type ImageReference,
  parseImageReference,
} from '../oci/reference.js';
import { openRegistryTarget, type RegistryOptions } from '../oci/registry/index.js';
import {
  destinationReference,
  dryRunPublish,
  executePublish,
  type PublishResult,
  planPublish,
  publishedName,
} from '../publish/publish.js';
import { EarlyUploads, stagedMinBytes } from '../publish/staging.js';
import { exitCodeFor, formatReports } from '../report/format.js';
import type { FailOn, Report } from '../report/types.js';
import { lintImage } from '../rules/engine.js';
import { allRules, ruleMetadata } from '../rules/index.js';
import { loadProfile } from '../rules/profiles.js';
import { toolVersion } from '../version.js';
import { specBaseUrl } from './lint.js';
import { humanBytes, progressLine, pushProgressLine, writeOutput } from './output.js';

export interface PublishArgs {
  tag?: string[];
  semverTags?: boolean;
  allPlatforms?: boolean;
  dryRun?: boolean;
  digestFile?: string;
  format?: string;
  profile?: string;
  platform?: string;
  failOn?: string;
  creds?: string;
  insecureRegistry?: string[];
  revision?: string;
  source?: string;
  quiet?: boolean;
  color?: boolean;
  /** false (--no-cache): validate without any cache (IVOC_NO_CACHE=1 does the same). */
  cache?: boolean;
}

/**
 * `ivoc publish SRC DEST`: lint SRC with the profile; a failing verdict is
 * refused (exit 1) with nothing written at DEST (refused on the config alone:
 * before DEST is contacted). Otherwise push with the discovery labels and the
 * report attached, and print the pushed digest. A local SRC's layers are
 * staged at DEST while its files are validated (publish/staging.ts).
 */
export async function publishCommand(src: string, dest: string, args: PublishArgs): Promise<number> {
  const sourceRef = parseImageReference(src);
  const destination = destinationReference(parseImageReference(dest));
  const explicitDestTag = hasExplicitTag(dest);
  const platform = parsePlatform(args.platform ?? 'linux/amd64');
  const failOn = (args.failOn ?? 'error') as FailOn;
  const format = args.format ?? 'text';
  if (format !== 'text' && format !== 'json') throw new UsageError(`--format ${format}: use text or json`);
  const profile = await loadProfile(args.profile ?? 'ivoa', new Set(ruleMetadata.keys()));
  const sourceOptions = sourceOptionsFrom(args);
  // The registry client takes the same two options.
  const registry: RegistryOptions = { ...sourceOptions };
  const quiet = args.quiet === true;
  const say = (line: string) => {
    if (!quiet) process.stderr.write(`${line}\n`);
  };

  const source = await openImageSource(sourceRef, sourceOptions);
  let early: EarlyUploads | undefined;
  let cancelOnSignal: Registration | undefined;
  try {
    const progress = progressLine(quiet);
    const validate = async (
      wanted: Platform,
      beforeFilesystem?: (early: Report, loaded: LoadedImage) => void,
    ): Promise<Report> => {
      try {
        return await lintImage(source, {
          profile,
          rules: allRules,
          ...(beforeFilesystem ? { beforeFilesystem } : {}),
          platform: wanted,
          failOn,
          input: src,
          reference: sourceRef,
          scan: {
            ...(args.cache === false ? { cache: false as const } : {}),
            ...(progress.update ? { onProgress: progress.update } : {}),
          },
        });
      } finally {
        progress.done();
      }
    };
    const refuse = async (report: Report): Promise<number> => {
      const text = formatReports([report], 'text', {
        rules: ruleMetadata,
        color: false,
        toolVersion,
        specBaseUrl,
        failOn,
        quiet: true,
      });
      process.stderr.write(text);
      process.stderr.write(
        `ivoc: not published: ${src} (${formatPlatform(report.image.platform)}) does not comply with profile ${profile.name}\n`,
      );
      if (format === 'json') {
        await writeOutput(
          `${JSON.stringify({ published: false, verdict: report.verdict, report }, null, 2)}\n`,
        );
      }
      return 1;
    };
    // Layers go up while the filesystem is validated, but only for an image whose config
    // already passes (one refused on it never reaches DEST), and for one platform only: with
    // --all-platforms the others' verdicts come later, and a refusal there must not have
    // reached DEST either.
    const stageWhenConfigPasses =
      !args.dryRun && !args.allPlatforms && stagesEarly(sourceRef)
        ? (configReport: Report, loaded: LoadedImage) => {
            if (exitCodeFor([configReport], failOn) !== 0) return;
            if (!loaded.manifest.layers.some((layer) => layer.size > stagedMinBytes)) return;
            const target = openRegistryTarget(
              { registry: destination.registry, repository: destination.repository },
              registry,
            );
            // A re-publish: what DEST's tag names now is there, without a HEAD each.
            target.listBlobsOf(destination.tag ?? defaultTag);
            const staging = new EarlyUploads(source, target, loaded.manifest.layers);
            early = staging;
            // Ctrl-C or a kill before the verdict deletes the sessions too.
            cancelOnSignal = registerCleanup(() => staging.cancel(), 'the uploads staged at the destination');
            staging.start();
          }
        : undefined;
    const report = await validate(platform, stageWhenConfigPasses);
    if (exitCodeFor([report], failOn) !== 0) return await refuse(report);

    const plan = await planPublish(source, destination, {
      platform,
      explicitDestTag,
      ...(args.allPlatforms ? { allPlatforms: true } : {}),
      ...(args.tag ? { tags: args.tag } : {}),
      ...(args.semverTags ? { semverTags: true } : {}),
      ...(args.revision !== undefined ? { revision: args.revision } : {}),
      ...(args.source !== undefined ? { source: args.source } : {}),
    });
    // An index: every other platform published is validated too, before DEST is contacted.
    const platformReports = new Map<string, Report>();
    for (const image of plan.images) {
      const own = image.sourceDigest === (report.image.manifestDigest ?? report.image.digest);
      const imageReport = own ? report : await validate(image.platform);
      if (exitCodeFor([imageReport], failOn) !== 0) return await refuse(imageReport);
      platformReports.set(image.sourceDigest, imageReport);
    }
    const known = await early?.commit();
    const target = early?.target;
    early = undefined;
    await cancelOnSignal?.run(); // nothing left to cancel: commit() emptied it
    const execute = {
      registry,
      report,
      platformReports,
      ...(known ? { known } : {}),
      ...(target ? { target } : {}),
      ...(sourceRef.transport === 'docker'
        ? { mountFrom: { registry: sourceRef.registry, repository: sourceRef.repository } }
        : {}),
    };
    // Every blob executePublish reports: each platform's layers and config.
    const blobs = [
      ...new Map(
        plan.images.flatMap((image) => [...image.layers, image.config]).map((blob) => [blob.digest, blob]),
      ).values(),
    ];
    const pushing = pushProgressLine(quiet || args.dryRun === true, {
      blobs: blobs.length,
      bytes: blobs.reduce((sum, blob) => sum + blob.size, 0),
    });
    let result: PublishResult;
    try {
      result = args.dryRun
        ? await dryRunPublish(plan, execute)
        : await executePublish(
            source,
            plan,
            pushing.onBlob ? { ...execute, onBlob: pushing.onBlob } : execute,
          );
    } finally {
      pushing.done();
    }

    if (args.digestFile !== undefined && !result.dryRun) {
      await writeOutput(`${result.manifest.digest}\n`, args.digestFile);
    }
    if (format === 'json') {
      await writeOutput(`${JSON.stringify(jsonResult(result, report), null, 2)}\n`);
    } else if (result.dryRun) {
      await writeOutput(dryRunText(result));
    } else {
      say(summaryText(result));
      await writeOutput(`${result.manifest.digest}\n`);
    }
    return 0;
  } finally {
    // Refused, or failed before the verdict: no session staged for DEST stays open.
    await cancelOnSignal?.run().catch(() => undefined);
    await early?.target.close().catch(() => undefined);
    await source.close();
  }
}

/**
 * Sources whose layers are local files, cheap to read a second time: their
 * layers are staged at DEST while validation reads them (EarlyUploads). A
 * registry or an engine source would be read twice over the network or
 * exported twice, so it publishes after the verdict, as before.
 */
function stagesEarly(reference: ImageReference): boolean {
  return (
    reference.transport === 'oci' ||
    reference.transport === 'oci-archive' ||
    reference.transport === 'docker-archive'
  );
}

/** Whether DEST names a tag itself (the parser fills in 'latest' otherwise). */
function hasExplicitTag(dest: string): boolean {
  const name = dest.replace(/^docker:\/\//, '').split('@')[0]!;
  return name.lastIndexOf(':') > name.lastIndexOf('/');
}

function jsonResult(result: PublishResult, report: Report): Record<string, unknown> {
  const repo = `${result.destination.registry}/${result.destination.repository}`;
  const out: Record<string, unknown> = {
    published: !result.dryRun,
    dryRun: result.dryRun,
    reference: `docker://${publishedName(result)}`,
    digest: result.manifest.digest,
    mediaType: result.manifest.mediaType,
    size: result.manifest.size,
    configDigest: result.config.digest,
    sourceDigest: result.sourceDigest,
    platform: result.platform,
    ...(result.isIndex
      ? {
          manifests: result.images.map((image) => ({
            digest: image.manifest.digest,
            platform: image.platform,
            sourceDigest: image.sourceDigest,
            ...(result.platformReports?.[image.manifest.digest]
              ? { report: result.platformReports[image.manifest.digest]!.descriptor.digest }
              : {}),
          })),
        }
      : {}),
    tags: result.tags.map((tag) => ({ tag, reference: `docker://${repo}:${tag}` })),
    labels: result.labels,
    annotated: result.annotated,
    blobs: result.blobs.map((b) => ({
      digest: b.descriptor.digest,
      mediaType: b.descriptor.mediaType,
      size: b.descriptor.size,
      outcome: result.dryRun && b.outcome === 'uploaded' ? 'missing' : b.outcome,
    })),
    verdict: report.verdict,
    summary: report.summary,
  };
  if (result.report) {
    out.report = {
      digest: result.report.descriptor.digest,
      artifactType: result.report.descriptor.artifactType,
      reference: `docker://${repo}@${result.report.descriptor.digest}`,
      via: result.report.via,
      ...(result.report.tag ? { tag: result.report.tag } : {}),
    };
  }
  return out;
}

function blobTotals(result: PublishResult): { count: Record<string, number>; bytes: number } {
  const count: Record<string, number> = { present: 0, mounted: 0, uploaded: 0 };
  let bytes = 0;
  for (const blob of result.blobs) {
    count[blob.outcome] = (count[blob.outcome] ?? 0) + 1;
    if (blob.outcome === 'uploaded') bytes += blob.descriptor.size;
  }
  return { count, bytes };
}

function summaryText(result: PublishResult): string {
  const repo = formatRegistryReference({
    registry: result.destination.registry,
    repository: result.destination.repository,
  });
  const { count, bytes } = blobTotals(result);
  const lines = [
    `published ${publishedName(result)}`,
    ...(result.isIndex
      ? [`  platforms: ${result.images.map((i) => formatPlatform(i.platform)).join(', ')}`]
      : []),
    `  tags: ${result.tags.join(', ')}`,
    `  blobs: ${count.uploaded} uploaded (${humanBytes(bytes)}), ${count.mounted} mounted, ${count.present} already there`,
  ];
  if (result.report) {
    lines.push(
      `  report: ${repo}@${result.report.descriptor.digest} (${result.report.via === 'referrers' ? 'referrers API' : `fallback tag ${result.report.tag}`})`,
    );
  }
  return lines.join('\n');
}

function dryRunText(result: PublishResult): string {
  const { count, bytes } = blobTotals(result);
  const lines = [
    `dry run: nothing was written`,
    `would push ${publishedName(result)}`,
    `  manifest: ${result.manifest.mediaType} ${result.manifest.size} bytes`,
    `  config:   ${result.config.digest}`,
    `  tags: ${result.tags.join(', ')}`,
    `  blobs: ${count.uploaded} to upload (${humanBytes(bytes)}), ${count.present} already there`,
    '  labels:',
    ...Object.entries(result.labels).map(([key, value]) => `    ${key}=${value}`),
  ];
  return `${lines.join('\n')}\n`;
}
