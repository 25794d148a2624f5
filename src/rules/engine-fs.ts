import type { ImageSource } from '../oci/content.js';
import type { Platform } from '../oci/descriptor.js';
import type { LoadedImage } from '../oci/image.js';
import { openCache } from '../oci/layer/cache.js';
import type { CaptureSpec } from '../oci/layer/facts.js';
import type { ScanOptions } from '../oci/layer/scan.js';
import type { RuleResult } from '../report/types.js';
import { FsResultsCache } from './results-cache.js';
import { type ActiveRule, runRule } from './run-rule.js';
import type { Evidence, ResolvedProfile } from './types.js';

/**
 * The filesystem half of lintImage (engine.ts), in a module of its own so a
 * config-only lint never loads the layer reader, the caches or the merged
 * view (start-up time is measured, bench/); the reader and the view load
 * here only when the results cache misses. Results of the rules that read
 * the filesystem come from the results cache when this image was linted
 * before with the same rules; else the layers are scanned (facts cached per
 * layer) and every rule runs over the merged view.
 */

export interface FsRuleOptions {
  profile: ResolvedProfile;
  platform: Platform;
  spec: CaptureSpec;
  scan?: Omit<ScanOptions, 'image' | 'diffIds'>;
  signal?: AbortSignal;
}

export async function fsRuleResults(
  source: ImageSource,
  loaded: LoadedImage,
  rules: readonly ActiveRule[],
  evidence: Evidence,
  options: FsRuleOptions,
): Promise<RuleResult[]> {
  const { spec, profile } = options;
  const cache = openCache(options.scan?.cache ?? {});
  // What the rules concluded from this filesystem before, if anything (results-cache.ts):
  // a hit reads no layer facts and builds no merged view.
  const memo = FsResultsCache.for(
    cache,
    loaded,
    spec,
    rules,
    profile,
    options.platform,
    options.scan?.verifyDiffIds,
  );
  const remembered = await memo?.results(evidence, profile);
  if (remembered) return remembered;
  // The layer reader and the merged view load only on a miss: a warm lint (or a
  // re-publish) reads one record and never needs them.
  const [{ scanImageLayers }, { FileSystemView }] = await Promise.all([
    import('../oci/layer/scan.js'),
    import('../oci/layer/filesystem.js'),
  ]);
  const facts = await scanImageLayers(source, loaded.manifest.layers, spec, {
    ...options.scan,
    cache,
    image: loaded.name,
    diffIds: loaded.config.rootfs.diff_ids,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  evidence.fs = FileSystemView.fromLayers(facts, { image: loaded.name, probes: spec.probes });
  return memo
    ? await memo.compute(evidence, profile)
    : rules.map((active) => runRule(active, evidence, profile));
}
