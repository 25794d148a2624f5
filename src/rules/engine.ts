import type { ImageSource } from '../oci/content.js';
import type { Platform } from '../oci/descriptor.js';
import { type LoadedImage, loadImage } from '../oci/image.js';
import type { CaptureSpec, ContentProbe } from '../oci/layer/facts.js';
import type { ScanOptions } from '../oci/layer/scan.js';
import { defaultPlatform } from '../oci/platform.js';
import type { ImageReference } from '../oci/reference.js';
import type { FailOn, Report, RuleResult } from '../report/types.js';
import { toolVersion } from '../version.js';
import { discoveryRecord, mergedLabels } from './labels.js';
import { type ActiveRule, runRule, verdictOf } from './run-rule.js';
import type { Evidence, EvidenceKind, ResolvedProfile, Rule } from './types.js';

/**
 * The rule engine: works out what evidence the selected rules need, gathers
 * only that (config-only rule sets fetch no layer; fs rules share one
 * streaming pass), runs the pure checks and assembles the report.
 */

/** The profile's rules with their levels in force; rules turned off are left out. */
export function activeRules(
  rules: readonly Rule[],
  profile: ResolvedProfile,
  only?: readonly string[],
): ActiveRule[] {
  const wanted = only && only.length > 0 ? new Set(only) : undefined;
  const active: ActiveRule[] = [];
  for (const rule of rules) {
    if (wanted && !wanted.has(rule.meta.id)) continue;
    const override = profile.rules[rule.meta.id];
    if (override === 'off') continue;
    active.push({ rule, level: override ?? rule.meta.level });
  }
  return active;
}

export function neededEvidence(rules: readonly ActiveRule[]): Set<EvidenceKind> {
  const kinds = new Set<EvidenceKind>();
  for (const { rule } of rules) for (const kind of rule.meta.evidence) kinds.add(kind);
  return kinds;
}

/** Bodies kept for every fs scan: rules' needs, unioned; a stable order keeps the cache key stable. */
export function captureSpecFor(rules: readonly ActiveRule[], maxBodyBytes = 1024 * 1024): CaptureSpec {
  const paths = new Set<string>();
  const globs = new Set<string>();
  const probes = new Set<ContentProbe>();
  for (const { rule } of rules) {
    for (const path of rule.meta.capture?.paths ?? []) paths.add(path);
    for (const glob of rule.meta.capture?.globs ?? []) globs.add(glob);
    for (const probe of rule.meta.capture?.probes ?? []) probes.add(probe);
  }
  return { paths: [...paths].sort(), globs: [...globs].sort(), probes: [...probes].sort(), maxBodyBytes };
}

export interface LintImageOptions {
  profile: ResolvedProfile;
  rules: readonly Rule[];
  /** Rule IDs to run (default: all the profile keeps). */
  only?: string[];
  platform?: Platform;
  failOn?: FailOn;
  /** The reference as the user typed it (IVC-PLAT-002 reads tags). */
  input: string;
  reference: ImageReference;
  scan?: Omit<ScanOptions, 'image' | 'diffIds'>;
  signal?: AbortSignal;
  /** Run evidence, when --run gathered it (issue 5); absent means run rules skip. */
  run?: Record<string, unknown>;
  /**
   * Called once the rules that read no file have run, before any layer is
   * read (only when a selected rule reads the filesystem): their report, and
   * the image. Publish starts uploading layers here when that report passes.
   */
  beforeFilesystem?: (early: Report, loaded: LoadedImage) => void;
}

export { type ActiveRule, runRule, verdictOf };

export async function lintImage(source: ImageSource, options: LintImageOptions): Promise<Report> {
  const rules = activeRules(options.rules, options.profile, options.only);
  const needs = neededEvidence(rules);
  const wanted = options.platform ?? defaultPlatform;
  // With no linux/amd64 in an index, IVC-PLAT-001 fails and the other rules look at what there is.
  const loaded = await loadImage(source, {
    platform: wanted,
    anyPlatform: true,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const evidence: Evidence = {
    reference: { input: options.input, parsed: options.reference },
    manifest: {
      root: loaded.root,
      descriptor: loaded.descriptor,
      manifest: loaded.manifest,
      platform: loaded.platform,
      platforms: loaded.platforms,
      wantedPlatform: wanted,
      wantedPlatformFound: loaded.wantedPlatformFound,
      ...(loaded.index ? { index: loaded.index } : {}),
    },
    config: loaded.config,
    labels: mergedLabels(loaded.config, loaded.manifest),
  };
  if (options.run) evidence.run = options.run;
  if (!needs.has('fs')) {
    return assembleReport(loaded, options, runRules(rules, evidence, options.profile));
  }
  if (options.beforeFilesystem) {
    const early = rules.filter(({ rule }) => !rule.meta.evidence.includes('fs'));
    options.beforeFilesystem(
      assembleReport(loaded, options, runRules(early, evidence, options.profile)),
      loaded,
    );
  }
  // The layer reader is loaded only when a selected rule reads the filesystem.
  const { fsRuleResults } = await import('./engine-fs.js');
  const results = await fsRuleResults(source, loaded, rules, evidence, {
    profile: options.profile,
    platform: wanted,
    spec: captureSpecFor(rules),
    ...(options.scan ? { scan: options.scan } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return assembleReport(loaded, options, results);
}

function runRules(rules: readonly ActiveRule[], evidence: Evidence, profile: ResolvedProfile): RuleResult[] {
  return rules.map((active) => runRule(active, evidence, profile));
}

function assembleReport(loaded: LoadedImage, options: LintImageOptions, results: RuleResult[]): Report {
  const summary = { error: 0, warning: 0, info: 0, skipped: 0 };
  for (const result of results) {
    if (result.status === 'skip') summary.skipped++;
    else if (result.status === 'fail') summary[result.level]++;
  }
  const image: Report['image'] = {
    reference: loaded.name,
    digest: loaded.root.digest,
    configDigest: loaded.configDescriptor.digest,
    platform: loaded.platform,
  };
  if (loaded.descriptor.digest !== loaded.root.digest) image.manifestDigest = loaded.descriptor.digest;
  const profile: Report['profile'] = { name: options.profile.name, specVersion: options.profile.specVersion };
  if (options.profile.source !== 'built-in') profile.source = options.profile.source;
  return {
    reportVersion: '1',
    tool: { name: 'ivoc', version: toolVersion },
    profile,
    image,
    verdict: verdictOf(results, options.failOn),
    summary,
    results,
    discovery: discoveryRecord(loaded),
  };
}
