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
import type { RunObservations } from '../run/observations.js';
import { toolVersion } from '../version.js';
import { type ProgressBoard, progressBoard, useColor, writeOutput } from './output.js';
import { orderedPool } from './pool.js';

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
  /** Images checked at once (default: IVOC_JOBS, else defaultJobs()). */
  jobs?: number | string;
}

/** Images checked at once by default: one per CPU, at most 4 (like `crane copy --jobs`, `make -j`). */
export function defaultJobs(): number {
  return Math.max(1, Math.min(4, process.getBuiltinModule('node:os').availableParallelism()));
}

/** `--jobs N` (or IVOC_JOBS): a whole number, at least 1. */
export function jobsFrom(value: number | string | undefined, env: NodeJS.ProcessEnv = process.env): number {
  const raw = value ?? env.IVOC_JOBS;
  if (raw === undefined || raw === '') return defaultJobs();
  const jobs = Number(raw);
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new UsageError(
      `--jobs takes the number of images to check at once, 1 or more, not '${raw}'${value === undefined ? ' (IVOC_JOBS)' : ''}`,
    );
  }
  return jobs;
}

/** `ivoc lint IMAGE...`: every image against the profile, one report each, exit code per interfaces.md. */
export async function lintCommand(images: string[], args: LintArgs): Promise<number> {
  // Everything the user typed is checked before any image is read: usage errors exit 2 at once.
  const references = images.map((input) => ({ input, reference: parseImageReference(input) }));
  const platform = parsePlatform(args.platform ?? 'linux/amd64');
  const failOn = (args.failOn ?? 'error') as FailOn;
  const format = (args.format ?? 'text') as OutputFormat;
  const jobs = jobsFrom(args.jobs);
  const only = args.rule?.flatMap((id) => id.split(',')).map((id) => id.trim().toUpperCase());
  for (const id of only ?? []) {
    if (!ruleMetadata.has(id)) throw new UsageError(`unknown rule '${id}' (see ivoc rules)`);
  }
  // --run: the engine is reached while the profile loads; it must answer before
  // any image is read (exit 3 otherwise), when a selected rule needs a run at all.
  const engine =
    args.run === true
      ? import('../run/engine.js')
          .then(({ connectEngine }) => connectEngine())
          .then(
            (docker) => ({ docker }),
            (error: unknown) => ({ error }),
          )
      : undefined;
  const profile = await loadProfile(args.profile ?? 'ivoa', new Set(ruleMetadata.keys()));
  const wantsRun =
    args.run === true &&
    activeRules(allRules, profile, only).some(({ rule }) => rule.meta.evidence.includes('run'));
  const docker = wantsRun ? await engineOrThrow(engine!) : undefined;
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

  // Up to `jobs` images at once; reports, messages and errors come out in the
  // order the images were given, as one at a time would give them (pool.ts).
  const board = progressBoard(args.quiet === true);
  const reports = await orderedPool(
    references,
    jobs,
    ({ input, reference }, { signal, log }) =>
      args.attached
        ? attachedReport(reference, sourceOptions, profile, log)
        : lintOne(input, reference, sourceOptions, {
            profile,
            platform,
            failOn,
            only,
            cache: args.cache,
            board,
            docker,
            signal,
            log,
          }),
    (text) => board.write(text),
  );
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
    board: ProgressBoard;
    docker: Dockerode | undefined;
    /** Aborted when the command stops early (an earlier image failed outright). */
    signal: AbortSignal;
    /** Messages for stderr, kept in image order. */
    log: (text: string) => void;
  },
): Promise<Report> {
  try {
    const source = await openImageSource(reference, sourceOptions);
    const progress = options.board.track();
    // A docker-daemon: run starts from the engine's inspect; the image's export,
    // which the lint needs, is read meanwhile (and dropped if the run fails).
    const preload = new AbortController();
    if (options.docker && reference.transport === 'docker-daemon') {
      loadImage(source, {
        platform: options.platform,
        anyPlatform: true,
        signal: AbortSignal.any([preload.signal, options.signal]),
      }).catch(() => undefined);
    }
    try {
      const run = options.docker
        ? await runEvidence(options.docker, source, options.profile, options.platform, options.signal)
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
        signal: options.signal,
        scan: {
          ...(options.cache === false ? { cache: false as const } : {}),
          ...(progress.update ? { onProgress: progress.update } : {}),
        },
      });
    } finally {
      preload.abort();
      progress.done();
      await source.close();
    }
  } catch (error) {
    if (!(error instanceof IvocError) || error.exitCode === ExitCode.usage) throw error;
    // An image that cannot be read still gets a report (exit 3), and the others are still checked.
    options.log(`ivoc: ${error.describe()}\n`);
    return unreadableReport(reference, options.profile, error);
  }
}

async function engineOrThrow(
  engine: Promise<{ docker: Dockerode } | { error: unknown }>,
): Promise<Dockerode> {
  const reached = await engine;
  if ('error' in reached) throw reached.error;
  return reached.docker;
}

/** The report `ivoc publish` attached to a registry image (referrers API or fallback tag). */
async function attachedReport(
  reference: ImageReference,
  sourceOptions: SourceOptions,
  profile: Awaited<ReturnType<typeof loadProfile>>,
  log: (text: string) => void,
): Promise<Report> {
  if (reference.transport !== 'docker') throw new UsageError('--attached needs a registry image');
  const [{ openRegistryTarget }, { readAttachedReport }] = await Promise.all([
    import('../oci/registry/index.js'),
    import('../publish/report-artifact.js'),
  ]);
  const target = openRegistryTarget(reference, sourceOptions);
  try {
    // A tag is resolved with HEAD, as crane digest does (the client falls back to GET when
    // the registry states no digest; a 404 goes to GET too, for its error).
    const tag = reference.tag ?? 'latest';
    const subject =
      reference.digest ??
      (await target.client.headManifest(reference.repository, tag))?.digest ??
      (await target.client.getManifest(reference.repository, tag)).descriptor.digest;
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
    log(`ivoc: ${error.describe()}\n`);
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
  stop: AbortSignal,
): Promise<RunObservations> {
  // The run machinery is loaded only for --run (start-up of every other lint).
  const [{ daemonRunImage }, { runImage, runImageOf }] = await Promise.all([
    import('../run/engine.js'),
    import('../run/runner.js'),
  ]);
  const reference = source.reference;
  const image =
    reference.transport === 'docker-daemon'
      ? await daemonRunImage(docker, reference)
      : runImageOf(docker, source, await loadImage(source, { platform, anyPlatform: true, signal: stop }));
  try {
    // A bounded total time per image: load, start, probes and clean-up.
    const signal = AbortSignal.any([
      AbortSignal.timeout((profile.parameters.run.startupTimeoutSeconds + runBoundSeconds) * 1000),
      stop,
    ]);
    return await runImage({ docker, image, profile, signal });
  } catch (error) {
    if (error instanceof IvocError) throw error;
    throw new TransportError('ERR_ENGINE', `--run: ${(error as Error).message}`, {
      image: image.name,
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
