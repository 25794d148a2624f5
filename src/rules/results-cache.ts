import { isDeepStrictEqual } from 'node:util';
import type { Platform } from '../oci/descriptor.js';
import { digestOf } from '../oci/digest.js';
import type { LoadedImage } from '../oci/image.js';
import { chainKey, type DiskCache, specHash } from '../oci/layer/cache.js';
import type { CaptureSpec } from '../oci/layer/facts.js';
import type { RuleResult } from '../report/types.js';
import { buildId } from '../version.js';
import { type ActiveRule, runRule } from './run-rule.js';
import type { Evidence, ResolvedProfile } from './types.js';

/**
 * What the rules concluded from an image's filesystem, cached (in the spirit
 * of ESLint's --cache: results keyed by the content and the configuration),
 * so that linting an image again (a re-publish, CI linting what it just
 * built) reads one small file instead of every layer's facts, and builds no
 * merged view.
 *
 * Where: an image record (src/oci/layer/cache.ts) under the chain of (layer
 * digest, diff_id) pairs, named by a hash of everything else a rule's result
 * can depend on:
 *  - the build of ivoc (version.ts `buildId`: the rules' code, the built-in
 *    profiles, the standard) and this record's format;
 *  - the capture spec (which bodies and probes the view holds);
 *  - the rest of the evidence: the root, manifest and config digests (which
 *    fix the manifest, index, config and the labels merged from them), the
 *    platform chosen, the platforms offered, the platform asked for;
 *  - the resolved profile (its parameters, types, levels), whole;
 *  - the active rules and their levels, in order.
 *
 * Which results are kept: the engine cannot know from a rule's metadata
 * which evidence it reads (IVC-START-001 and IVC-USER-001 declare config
 * only and read the filesystem when it is there), so on a miss each rule
 * runs on a view of the evidence that notes what it reads. A rule that read
 * the filesystem has its result kept; a rule that did not is run again on a
 * hit (it is cheap: config, manifest, reference, --run evidence), without
 * the filesystem, which it did not look at (should it look now, the hit is
 * a miss: its path through the check changed with evidence outside the key,
 * and it is computed afresh). A rule that read the filesystem
 * and anything outside the key (the reference as typed, --run evidence)
 * makes the record unstorable: nothing is kept and the next lint computes
 * everything again. So is a result that does not survive JSON unchanged.
 * Rules are pure (src/rules/types.ts), so a result is a function of its
 * inputs, and a hit gives the result a fresh computation would, byte for
 * byte. (The view's `image` property, the name used in its error messages,
 * is not part of the key: runRule keeps only an error's message and code,
 * and no rule may read it.)
 *
 * Nothing is ever invalidated: another input is another record. --no-cache
 * and IVOC_NO_CACHE=1 bypass it (the DiskCache is then disabled).
 */

/** Bump when the record's shape or the keying changes. */
export const resultsFormat = 1;

/** Evidence keys a cached result may depend on: the record's key fixes them all. */
const keyedEvidence: ReadonlySet<PropertyKey> = new Set(['manifest', 'config', 'labels', 'fs']);

interface RecordedRule {
  rule: string;
  level: string;
  /** Present when the rule read the filesystem: its result. Absent: run it again. */
  result?: RuleResult;
}

interface ResultsRecord {
  rules: RecordedRule[];
}

export class FsResultsCache {
  private constructor(
    private readonly cache: DiskCache,
    private readonly chain: string,
    private readonly name: string,
    private readonly rules: readonly ActiveRule[],
  ) {}

  /** The record for this lint; undefined when the cache is disabled or the image has no chain key. */
  static for(
    cache: DiskCache,
    loaded: LoadedImage,
    spec: CaptureSpec,
    rules: readonly ActiveRule[],
    profile: ResolvedProfile,
    wantedPlatform: Platform,
    diffIdsVerified?: boolean,
  ): FsResultsCache | undefined {
    if (!cache.enabled) return undefined;
    const chain = chainKey(loaded.manifest.layers, loaded.config.rootfs.diff_ids, diffIdsVerified);
    if (chain === undefined) return undefined;
    const key = JSON.stringify({
      resultsFormat,
      buildId,
      spec: specHash(spec),
      root: loaded.root.digest,
      manifest: loaded.descriptor.digest,
      config: loaded.configDescriptor.digest,
      platform: loaded.platform,
      platforms: loaded.platforms,
      wantedPlatform,
      wantedPlatformFound: loaded.wantedPlatformFound,
      profile,
      rules: rules.map(({ rule, level }) => [rule.meta.id, level]),
    });
    const name = `rules-${digestOf(key).slice('sha256:'.length, 'sha256:'.length + 40)}`;
    return new FsResultsCache(cache, chain, name, rules);
  }

  /**
   * On a hit, every rule's result (kept ones from the record, the others run
   * now on `evidence`, which has no filesystem); undefined on a miss. A rule
   * run now that reaches for the filesystem after all (it did not when the
   * record was made, but it also reads evidence outside the key, such as the
   * reference as typed, and that changed) turns the hit into a miss.
   */
  async results(evidence: Evidence, profile: ResolvedProfile): Promise<RuleResult[] | undefined> {
    const record = await this.cache.getRecord(this.chain, this.name, (value) => this.isRecord(value));
    if (!record) return undefined;
    const results: RuleResult[] = [];
    for (const [i, active] of this.rules.entries()) {
      const kept = record.rules[i]?.result;
      if (kept) {
        results.push(kept);
        continue;
      }
      const read = new Set<PropertyKey>();
      const result = runRule(active, watched(evidence, read), profile);
      if (read.has('fs')) return undefined;
      results.push(result);
    }
    return results;
  }

  /**
   * Runs every rule on `evidence` (which has the filesystem), noting what each
   * reads, stores what can be kept, and returns the results.
   */
  async compute(evidence: Evidence, profile: ResolvedProfile): Promise<RuleResult[]> {
    let storable = true;
    const recorded: RecordedRule[] = [];
    const results = this.rules.map((active) => {
      const read = new Set<PropertyKey>();
      const result = runRule(active, watched(evidence, read), profile);
      const entry: RecordedRule = { rule: active.rule.meta.id, level: active.level };
      if (read.has('fs')) {
        const outside = [...read].some((key) => typeof key === 'string' && !keyedEvidence.has(key));
        if (outside || !survivesJson(result)) storable = false;
        entry.result = result;
      }
      recorded.push(entry);
      return result;
    });
    if (storable) await this.cache.putRecord(this.chain, this.name, { rules: recorded });
    return results;
  }

  private isRecord(value: unknown): value is ResultsRecord {
    if (typeof value !== 'object' || value === null) return false;
    const rules = (value as Partial<ResultsRecord>).rules;
    return (
      Array.isArray(rules) &&
      rules.length === this.rules.length &&
      rules.every((entry: Partial<RecordedRule> | null, i) => {
        const active = this.rules[i]!;
        return (
          typeof entry === 'object' &&
          entry !== null &&
          entry.rule === active.rule.meta.id &&
          entry.level === active.level &&
          (entry.result === undefined ||
            (typeof entry.result === 'object' &&
              entry.result !== null &&
              entry.result.rule === active.rule.meta.id &&
              typeof entry.result.status === 'string' &&
              typeof entry.result.message === 'string'))
        );
      })
    );
  }
}

/** The evidence as a rule sees it, noting each top-level key it reads (or enumerates). */
function watched(evidence: Evidence, read: Set<PropertyKey>): Evidence {
  return new Proxy(evidence, {
    get(target, key, receiver) {
      read.add(key);
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      read.add(key);
      return Reflect.has(target, key);
    },
    getOwnPropertyDescriptor(target, key) {
      read.add(key);
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
    ownKeys(target) {
      // Enumerating the evidence may reach any of it, present or not.
      for (const key of ['reference', 'manifest', 'config', 'labels', 'fs', 'run']) read.add(key);
      return Reflect.ownKeys(target);
    },
  });
}

/** Whether a result comes back from the record exactly as it went in. */
function survivesJson(result: RuleResult): boolean {
  try {
    return isDeepStrictEqual(JSON.parse(JSON.stringify(result)), result);
  } catch {
    return false;
  }
}
