/**
 * The fs rule results cache (src/rules/results-cache.ts) with synthetic
 * rules: which results are kept, which are run again, and when a record is
 * not stored or not used. End to end with the real rules: test/lint.test.ts.
 */

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageError } from '../src/errors.js';
import { digestOf } from '../src/oci/digest.js';
import type { LoadedImage } from '../src/oci/image.js';
import { DiskCache } from '../src/oci/layer/cache.js';
import type { CaptureSpec } from '../src/oci/layer/facts.js';
import type { RuleResult } from '../src/report/types.js';
import { FsResultsCache } from '../src/rules/results-cache.js';
import type { ActiveRule } from '../src/rules/run-rule.js';
import type { Evidence, Rule, RuleOutcome } from '../src/rules/types.js';
import { evidenceFor, ivoaProfileForTests } from './support/rule-evidence.js';

const spec: CaptureSpec = { paths: ['/etc/passwd'], globs: [], probes: [], maxBodyBytes: 1024 };
const platform = { os: 'linux', architecture: 'amd64' };

let dir: string;
let cache: DiskCache;
let calls: Record<string, number>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ivoc-results-cache-'));
  cache = new DiskCache({ dir });
  calls = {};
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function rule(
  id: string,
  evidence: Rule['meta']['evidence'],
  check: (e: Evidence) => RuleOutcome,
): ActiveRule {
  return {
    rule: {
      meta: {
        id,
        level: 'error',
        evidence,
        title: id,
        description: id,
        rationale: id,
        help: `fix ${id}`,
        specAnchor: id.toLowerCase(),
      },
      check: ({ evidence: given }) => {
        calls[id] = (calls[id] ?? 0) + 1;
        return check(given);
      },
    },
    level: 'error',
  };
}

/** Reads the filesystem: kept. */
const fsRule = rule('T-FS', ['fs'], (e) => ({
  status: e.fs?.lstat('/etc/passwd') ? 'pass' : 'fail',
  message: `passwd ${e.fs?.lstat('/etc/passwd') ? 'present' : 'absent'}`,
  evidence: { files: e.fs?.count },
}));
/** Config only: run again on a hit. */
const configRule = rule('T-CONFIG', ['config'], (e) => ({
  status: e.config?.config?.User ? 'pass' : 'fail',
  message: `user ${e.config?.config?.User}`,
}));
/** Reads the filesystem only for some references (like IVC-START-001 reads it only in one case). */
const sometimesRule = rule('T-SOMETIMES', ['config'], (e) =>
  e.reference.input.includes('deep') && e.fs
    ? { status: 'pass', message: `looked: ${e.fs.count} paths` }
    : { status: 'pass', message: 'did not look' },
);
/** Reads the filesystem and the reference as typed: its result cannot be kept. */
const referenceRule = rule('T-REFERENCE', ['fs'], (e) => ({
  status: 'pass',
  message: `${e.reference.input}: ${e.fs?.count} paths`,
}));
/** A result JSON would change (an undefined property). */
const lossyRule = rule('T-LOSSY', ['fs'], (e) => ({
  status: 'pass',
  message: 'lossy',
  evidence: { count: e.fs?.count, gone: undefined },
}));
/** Throws an IvocError from a filesystem question: the failure is the result. */
const throwingRule = rule('T-THROWS', ['fs'], (e) => {
  if (e.fs) throw new ImageError('ERR_SYMLINK_LOOP', 'a loop at /x');
  return { status: 'pass', message: 'no fs' };
});

function loadedImage(configDigest = digestOf('config')): LoadedImage {
  const layers = [
    { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf('layer'), size: 10 },
  ];
  const descriptor = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: digestOf('m'),
    size: 1,
  };
  return {
    name: 'oci:/x:1',
    root: descriptor,
    descriptor,
    manifest: {
      schemaVersion: 2,
      mediaType: descriptor.mediaType,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: 1 },
      layers,
    },
    configDescriptor: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: configDigest,
      size: 1,
    },
    config: {
      architecture: 'amd64',
      os: 'linux',
      config: { User: '1000' },
      rootfs: { type: 'layers', diff_ids: [digestOf('tar')] },
    },
    platform,
    platforms: [platform],
    wantedPlatformFound: true,
  };
}

function evidence(input: string, withFs: boolean): Evidence {
  const made = evidenceFor({
    config: { User: '1000' },
    layers: [{ entries: [{ path: '/etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n' }] }],
  });
  const out: Evidence = { ...made, reference: { ...made.reference, input } };
  if (!withFs) delete out.fs;
  return out;
}

async function recordFiles(): Promise<string[]> {
  const entries = await readdir(join(dir, 'images'), { recursive: true, withFileTypes: true }).catch(
    () => [],
  );
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

const profile = ivoaProfileForTests();
const memo = (rules: ActiveRule[], over: { loaded?: LoadedImage; profile?: typeof profile } = {}) =>
  FsResultsCache.for(cache, over.loaded ?? loadedImage(), spec, rules, over.profile ?? profile, platform)!;

describe('FsResultsCache', () => {
  it('keeps the results of rules that read the filesystem and runs the others again', async () => {
    const rules = [fsRule, configRule, sometimesRule, throwingRule];
    const cold = await memo(rules).compute(evidence('oci:/x:1', true), profile);
    expect(cold.map((r) => r.status)).toEqual(['pass', 'pass', 'pass', 'fail']);
    expect(cold[3]).toMatchObject({ message: 'a loop at /x', evidence: { error: 'ERR_SYMLINK_LOOP' } });
    expect(await recordFiles()).toHaveLength(1);
    calls = {};
    const warm = (await memo(rules).results(evidence('oci:/x:1', false), profile)) as RuleResult[];
    expect(warm).toEqual(cold);
    expect(JSON.stringify(warm)).toBe(JSON.stringify(cold));
    // Only the rules that did not look at the filesystem ran.
    expect(calls).toEqual({ 'T-CONFIG': 1, 'T-SOMETIMES': 1 });
  });

  it('a rule run again that reaches for the filesystem now turns the hit into a miss', async () => {
    const rules = [fsRule, sometimesRule];
    await memo(rules).compute(evidence('oci:/shallow:1', true), profile);
    expect(await memo(rules).results(evidence('oci:/shallow:2', false), profile)).toBeDefined();
    expect(await memo(rules).results(evidence('oci:/deep:1', false), profile)).toBeUndefined();
  });

  it('stores nothing when a kept result would depend on evidence outside the key, or would not survive JSON', async () => {
    for (const unkeepable of [referenceRule, lossyRule]) {
      const results = await memo([fsRule, unkeepable]).compute(evidence('oci:/x:1', true), profile);
      expect(results).toHaveLength(2);
      expect(await recordFiles()).toEqual([]);
      expect(await memo([fsRule, unkeepable]).results(evidence('oci:/x:1', false), profile)).toBeUndefined();
    }
  });

  it('another profile, level, rule set, config or spec is another record', async () => {
    const variants: FsResultsCache[] = [
      memo([fsRule, configRule]),
      memo([fsRule, configRule], {
        profile: ivoaProfileForTests({
          parameters: { ...profile.parameters, setuidAllowList: ['su'] },
        }),
      }),
      memo([fsRule, { ...configRule, level: 'warning' }]),
      memo([fsRule]),
      memo([fsRule, configRule], { loaded: loadedImage(digestOf('another config')) }),
      FsResultsCache.for(
        cache,
        loadedImage(),
        { ...spec, maxBodyBytes: 1 },
        [fsRule, configRule],
        profile,
        platform,
      )!,
      FsResultsCache.for(cache, loadedImage(), spec, [fsRule, configRule], profile, {
        os: 'linux',
        architecture: 'arm64',
      })!,
    ];
    for (const variant of variants) {
      await variant.compute(evidence('oci:/x:1', true), profile);
    }
    expect(await recordFiles()).toHaveLength(variants.length);
    // Each is found again by its own key.
    for (const variant of variants) {
      expect(await variant.results(evidence('oci:/x:1', false), profile)).toBeDefined();
    }
  });

  it('is off with a disabled cache; a record that lists other rules is a miss and is removed', async () => {
    expect(
      FsResultsCache.for(
        new DiskCache({ dir, disabled: true }),
        loadedImage(),
        spec,
        [fsRule],
        profile,
        platform,
      ),
    ).toBeUndefined();
    await memo([configRule, fsRule]).compute(evidence('oci:/x:1', true), profile);
    const [otherName] = await recordFiles();
    await memo([fsRule, configRule]).compute(evidence('oci:/x:1', true), profile);
    const names = await recordFiles();
    const ownName = names.find((name) => name !== otherName)!;
    expect(ownName).toMatch(/^rules-[0-9a-f]{40}\.json$/);
    // The other record's content under this record's name: the envelope is right, the rule list is not.
    const chainDir = join(dir, 'images', (await readdir(join(dir, 'images')))[0]!);
    const other = await readFile(join(chainDir, otherName!), 'utf8');
    const renamed = other.replace(otherName!.replace(/\.json$/, ''), ownName.replace(/\.json$/, ''));
    await writeFile(join(chainDir, ownName), renamed);
    expect(await memo([fsRule, configRule]).results(evidence('oci:/x:1', false), profile)).toBeUndefined();
    expect(await recordFiles()).toEqual([otherName]);
  });
});
