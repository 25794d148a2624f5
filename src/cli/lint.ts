import type Dockerode from 'dockerode';
import { ExitCode, ImageError, IvocError, TransportError, UsageError } from '../errors.js';
import { loadImage } from '../oci/image.js';
import { openImageSource, type SourceOptions, sourceOptionsFrom } from '../oci/open.js';
import { parsePlatform } from '../oci/platform.js';
import { formatImageReference, type ImageReference, parseImageReference } from '../oci/reference.js';
import { exitCodeFor, formatReports, type OutputFormat } from '../report/format.js';
import type { FailOn, Report } from '../report/types.js';
import { activeRules, lintImage } from '../rules/engine.js';
import { allRules, ruleMetadata } from '../rules/index.js';
import { loadProfile } from '../rules/profiles.js';
import { connectEngine } from '../run/engine.js';
import type { RunObservations } from '../run/observations.js';
import { runImage } from '../run/runner.js';
import { toolVersion } from '../version.js';
import { progressLine, useColor, writeOutput } from './output.js';

export const specBaseUrl =
  process.env.IVOC_SPEC_URL ?? 'https://github.com/ivoa-containers/ivoc/blob/main/spec/standard.md';

export interface LintArgs {
  profile?: string;
  format?: string;
  output?: string;
  platform?: string;
  failOn?: string;
  run?: boolean;
  quiet?: boolean;
  color?: boolean;
  creds?: string;
  insecureRegistry?: string[];
  rule?: string[];
  cache?: boolean;
  verbose?: boolean;
  /** Show the report `ivoc publish` attached to the image instead of checking it again. */
  attached?: boolean;
}

/** `ivoc lint IMAGE...`: every image against the profile, one report each, exit code per interfaces.md. */
export async function lintCommand(images: string[], args: LintArgs): Promise<number> {
  // Everything the user typed is checked before any image is read: usage errors exit 2 at once.
  const references = images.map((input) => ({ input, reference: parseImageReference(input) }));
  const platform = parsePlatform(args.platform ?? 'linux/amd64');
  const failOn = (args.failOn ?? 'error') as FailOn;
  const format = (args.format ?? 'text') as OutputFormat;
  const only = args.rule?.flatMap((id) => id.split(',')).map((id) => id.trim().toUpperCase());
  for (const id of only ?? []) {
    if (!ruleMetadata.has(id)) throw new UsageError(`unknown rule '${id}' (see ivoc rules)`);
  }
  const profile = await loadProfile(args.profile ?? 'ivoa', new Set(ruleMetadata.keys()));
  // --run: the engine must answer before any image is read (exit 3 otherwise).
  const wantsRun =
    args.run === true &&
    activeRules(allRules, profile, only).some(({ rule }) => rule.meta.evidence.includes('run'));
  const docker = wantsRun ? await connectEngine() : undefined;
  const sourceOptions = sourceOptionsFrom(args);

  if (args.attached) {
    for (const { input, reference } of references) {
      if (reference.transport !== 'docker') {
        throw new UsageError(
          `--attached reads the report attached in a registry; '${input}' is not a registry image`,
        );
      }
    }
  }

  const reports: Report[] = [];
  for (const { input, reference } of references) {
    if (args.attached) {
      reports.push(await attachedReport(reference, sourceOptions, profile));
      continue;
    }
    reports.push(
      await lintOne(input, reference, sourceOptions, {
        profile,
        platform,
        failOn,
        only,
        cache: args.cache,
        quiet: args.quiet === true,
        docker,
      }),
    );
  }
  const text = formatReports(reports, format, {
    rules: ruleMetadata,
    color: format === 'text' && args.output === undefined && useColor(args.color),
    toolVersion,
    specBaseUrl,
    failOn,
    quiet: args.quiet === true,
    verbose: args.verbose === true,
  });
  await writeOutput(text, args.output);
  return exitCodeFor(reports, failOn);
}

async function lintOne(
  input: string,
  reference: ImageReference,
  sourceOptions: SourceOptions,
  options: {
    profile: Awaited<ReturnType<typeof loadProfile>>;
    platform: ReturnType<typeof parsePlatform>;
    failOn: FailOn;
    only: string[] | undefined;
    cache: boolean | undefined;
    quiet: boolean;
    docker: Dockerode | undefined;
  },
): Promise<Report> {
  try {
    const source = await openImageSource(reference, sourceOptions);
    const progress = progressLine(options.quiet);
    try {
      const run = options.docker
        ? await runEvidence(options.docker, source, options.profile, options.platform)
        : undefined;
      return await lintImage(source, {
        profile: options.profile,
        rules: allRules,
        platform: options.platform,
        failOn: options.failOn,
        input,
        reference,
        ...(options.only ? { only: options.only } : {}),
        ...(run ? { run: run as unknown as Record<string, unknown> } : {}),
        scan: {
          ...(options.cache === false ? { cache: false as const } : {}),
          ...(progress.update ? { onProgress: progress.update } : {}),
        },
      });
    } finally {
      progress.done();
      await source.close();
    }
  } catch (error) {
    if (!(error instanceof IvocError) || error.exitCode === ExitCode.usage) throw error;
    // An image that cannot be read still gets a report (exit 3), and the others are still checked.
    process.stderr.write(`ivoc: ${error.describe()}\n`);
    return unreadableReport(reference, options.profile, error);
  }
}

/** The report `ivoc publish` attached to a registry image (referrers API or fallback tag). */
async function attachedReport(
  reference: ImageReference,
  sourceOptions: SourceOptions,
  profile: Awaited<ReturnType<typeof loadProfile>>,
): Promise<Report> {
  if (reference.transport !== 'docker') throw new UsageError('--attached needs a registry image');
  const [{ openRegistryTarget }, { readAttachedReport }] = await Promise.all([
    import('../oci/registry/index.js'),
    import('../publish/report-artifact.js'),
  ]);
  const target = openRegistryTarget(reference, sourceOptions);
  try {
    const subject =
      reference.digest ??
      (await target.client.getManifest(reference.repository, reference.tag ?? 'latest')).descriptor.digest;
    const found = await readAttachedReport(target, subject);
    if (!found) {
      throw new ImageError(
        'ERR_NOT_FOUND',
        'no ivoc report is attached to this image (publish it with ivoc publish)',
        {
          image: formatImageReference(reference),
          blob: subject,
        },
      );
    }
    return found.report;
  } catch (error) {
    if (!(error instanceof IvocError) || error.exitCode === ExitCode.usage) throw error;
    process.stderr.write(`ivoc: ${error.describe()}\n`);
    return unreadableReport(reference, profile, error);
  } finally {
    await target.close();
  }
}

/** Time allowed to a run beyond the profile's start-up time-out (image load, process list, clean-up). */
const runBoundSeconds = 300;

/** Starts the image in the engine as the profile's platform would (src/run/), for the run rules. */
async function runEvidence(
  docker: Dockerode,
  source: Awaited<ReturnType<typeof openImageSource>>,
  profile: Awaited<ReturnType<typeof loadProfile>>,
  platform: ReturnType<typeof parsePlatform>,
): Promise<RunObservations> {
  const loaded = await loadImage(source, { platform, anyPlatform: true });
  try {
    // A bounded total time per image: load, start, probes and clean-up.
    const signal = AbortSignal.timeout(
      (profile.parameters.run.startupTimeoutSeconds + runBoundSeconds) * 1000,
    );
    return await runImage({ docker, source, loaded, profile, signal });
  } catch (error) {
    if (error instanceof IvocError) throw error;
    throw new TransportError('ERR_ENGINE', `--run: ${(error as Error).message}`, {
      image: loaded.name,
      cause: error,
    });
  }
}

function unreadableReport(
  reference: ImageReference,
  profile: Awaited<ReturnType<typeof loadProfile>>,
  error: IvocError,
): Report {
  const report: Report = {
    reportVersion: '1',
    tool: { name: 'ivoc', version: toolVersion },
    profile: { name: profile.name, specVersion: profile.specVersion },
    image: {
      reference: formatImageReference(reference),
      digest: '',
      configDigest: '',
      platform: { os: '', architecture: '' },
    },
    verdict: 'fail',
    summary: { error: 0, warning: 0, info: 0, skipped: 0 },
    results: [],
    discovery: {},
    error: { code: error.code, message: error.describe() },
  };
  if (profile.source !== 'built-in') report.profile.source = profile.source;
  return report;
}
