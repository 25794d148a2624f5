import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../../src/oci/descriptor.js';
import type { CapturedBody, ContentProbe, LayerEntry, LayerFacts } from '../../src/oci/layer/facts.js';
import { factsVersion } from '../../src/oci/layer/facts.js';
import { FileSystemView } from '../../src/oci/layer/filesystem.js';
import { scanLayer } from '../../src/oci/layer/scan-layer.js';
import { parseImageReference } from '../../src/oci/reference.js';
import type { RuleResult } from '../../src/report/types.js';
import { captureSpecFor } from '../../src/rules/engine.js';
import { mergedLabels } from '../../src/rules/labels.js';
import { runRule } from '../../src/rules/run-rule.js';
import type { Evidence, ResolvedProfile, Rule, RuleContext } from '../../src/rules/types.js';
import { descriptorOf, gzip, packTar, type TestEntry, verifiedStream } from '../layer-helpers.js';

/**
 * Evidence for rule unit tests, built by hand: a config, optional manifest
 * annotations and layers of entries. The same objects the engine builds.
 */

const zero = `sha256:${'0'.repeat(64)}` as const;

export function ivoaProfileForTests(overrides: Partial<ResolvedProfile> = {}): ResolvedProfile {
  return {
    name: 'ivoa',
    description: 'test copy of the ivoa profile',
    source: 'built-in',
    extends: [],
    specVersion: '1.0.0',
    supportedSpecVersions: '^1.0.0',
    types: {
      notebook: { behavesAs: 'notebook', port: 8888, requiredExecutables: ['jupyter'] },
      web: { behavesAs: 'web', port: 8888 },
      'desktop-app': { behavesAs: 'desktop-app' },
      headless: { behavesAs: 'headless' },
    },
    rules: {},
    parameters: {
      platformMounts: ['/arc', '/scratch', '/home'],
      setuidAllowList: ['su', 'passwd', 'sudo', 'mount', 'umount', 'newgrp', 'chsh', 'chfn', 'gpasswd'],
      maxLayers: 40,
      maxCompressedBytes: 20 * 1024 ** 3,
      run: { startupTimeoutSeconds: 60, env: {}, memory: '2g', cpus: 1, readOnlyRootfs: false },
    },
    ...overrides,
  };
}

export interface EntrySpec {
  path: string;
  type?: LayerEntry['type'];
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  /** Body (captured) as text or bytes. */
  body?: string | Buffer;
  probes?: LayerEntry['probes'];
}

export interface LayerSpec {
  entries: EntrySpec[];
  whiteouts?: string[];
  opaqueDirs?: string[];
}

export function layerFacts(spec: LayerSpec, index = 0): LayerFacts {
  const bodies: Record<string, CapturedBody> = {};
  const entries: LayerEntry[] = spec.entries.map((entry) => {
    const type = entry.type ?? (entry.linkname !== undefined ? 'symlink' : 'file');
    const body = entry.body === undefined ? undefined : Buffer.from(entry.body);
    if (body) bodies[entry.path] = { base64: body.toString('base64'), truncated: false };
    const made: LayerEntry = {
      path: entry.path,
      type,
      mode: entry.mode ?? (type === 'dir' ? 0o755 : 0o644),
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      size: body?.length ?? 0,
    };
    if (entry.linkname !== undefined) made.linkname = entry.linkname;
    if (entry.probes) made.probes = entry.probes;
    return made;
  });
  const digest = `sha256:${index.toString(16).padStart(64, '0')}`;
  return {
    factsVersion,
    digest,
    diffId: digest,
    uncompressedSize: 0,
    entries,
    whiteouts: spec.whiteouts ?? [],
    opaqueDirs: spec.opaqueDirs ?? [],
    bodies,
  };
}

export interface EvidenceSpec {
  config?: ImageConfig['config'];
  annotations?: Record<string, string>;
  layers?: LayerSpec[];
  /** Sizes of the manifest's layer blobs (IVC-SIZE-001); defaults to one 1 kB layer per fs layer. */
  layerSizes?: number[];
  platforms?: Platform[];
  wantedPlatformFound?: boolean;
  input?: string;
  probes?: ContentProbe[];
  run?: Record<string, unknown>;
}

export function evidenceFor(spec: EvidenceSpec = {}): Evidence {
  const sizes = spec.layerSizes ?? (spec.layers ?? [{ entries: [] }]).map(() => 1000);
  const layers: Descriptor[] = sizes.map((size) => ({
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: zero,
    size,
  }));
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: layers.map(() => zero) },
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: zero, size: 2 },
    layers,
  };
  if (spec.annotations) manifest.annotations = spec.annotations;
  const descriptor: Descriptor = { mediaType: manifest.mediaType!, digest: zero, size: 2 };
  const platform: Platform = { os: 'linux', architecture: 'amd64' };
  const input = spec.input ?? 'docker://127.0.0.1:5100/team/app:1.0.0';
  const evidence: Evidence = {
    reference: { input, parsed: parseImageReference(input) },
    manifest: {
      root: descriptor,
      descriptor,
      manifest,
      platform,
      platforms: spec.platforms ?? [platform],
      wantedPlatform: platform,
      wantedPlatformFound: spec.wantedPlatformFound ?? true,
    },
    config,
    labels: mergedLabels(config, manifest),
  };
  if (spec.layers) {
    const facts = spec.layers.map((layer, i) => layerFacts(layer, i + 1));
    evidence.fs = FileSystemView.fromLayers(facts, {
      image: input,
      probes: spec.probes ?? ['shebang', 'elf', 'private-key'],
    });
  }
  if (spec.run) evidence.run = spec.run;
  return evidence;
}

/** Runs one rule the way the engine does (skips, levels, errors as failures). */
/**
 * Evidence whose filesystem comes from the real layer scan of one gzip layer
 * holding ENTRIES, captured as the RULES' metadata asks: what the rules
 * declare is what they get to read.
 */
export async function scannedEvidence(
  rules: readonly Rule[],
  config: ImageConfig['config'],
  entries: readonly TestEntry[],
): Promise<Evidence> {
  const spec = captureSpecFor(rules.map((rule) => ({ rule, level: rule.meta.level })));
  const blob = gzip(await packTar(entries));
  const descriptor = descriptorOf(blob);
  const facts = await scanLayer(verifiedStream(blob, descriptor), descriptor, spec, {
    image: 'test-image',
    inflater: 'zlib',
  });
  const evidence = evidenceFor({ config });
  evidence.fs = FileSystemView.fromLayers([facts], { probes: spec.probes });
  return evidence;
}

export function check(rule: Rule, evidence: Evidence, profile = ivoaProfileForTests()): RuleResult {
  const level = profile.rules[rule.meta.id];
  return runRule(
    { rule, level: level === undefined || level === 'off' ? rule.meta.level : level },
    evidence,
    profile,
  );
}

export type { RuleContext };
