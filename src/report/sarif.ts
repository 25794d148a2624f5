import { digestOf } from '../oci/digest.js';
import type { RuleMeta } from '../rules/types.js';
import {
  compare,
  defaultInformationUri,
  type FormatOptions,
  findingLocation,
  imageName,
  platformString,
  ruleHelpUri,
  uriPath,
} from './common.js';
import type { Finding, Level, Report, RuleResult } from './types.js';

/**
 * SARIF 2.1.0 as GitHub code scanning takes it: one run, every image's
 * failures in it.
 *
 * An image has no source file, yet GitHub wants a physical location with an
 * artifact URI on every result. The URI is a stable pseudo path relative to
 * the `IMAGE` base: the image's name without tag or digest (tags change every
 * build; alerts must not), then the file's path inside the image for a
 * finding about a file, e.g. `ghcr.io/team/app/root/.ssh/id_rsa`; the image
 * name alone for config keys and labels (the key goes into a logical location
 * and the message). `partialFingerprints` hash rule, image name and
 * path/key, so the same problem in the next build is the same alert.
 */

export const sarifSchemaUri = 'https://json.schemastore.org/sarif-2.1.0.json';
export const imageUriBaseId = 'IMAGE';
export const fingerprintKey = 'ivocFinding/v1';

/** Findings turned into results of their own, per rule and image; the rest are summed up in one more. */
export const findingResultsPerRule = 100;

const semverPattern = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

type SarifLevel = 'error' | 'warning' | 'note';

const sarifLevels: Record<Level, SarifLevel> = { error: 'error', warning: 'warning', info: 'note' };

/**
 * GitHub's `security-severity` (0.0–10.0: ≥9 critical, ≥7 high, ≥4 medium,
 * else low), only for rules about security: baked-in secrets, running as
 * root or with setuid binaries, authentication inside the image.
 */
const securitySeverity: Record<string, string> = {
  'IVC-SEC-001': '8.0',
  'IVC-USER-001': '7.0',
  'IVC-USER-002': '5.0',
  'IVC-USER-003': '5.5',
  'IVC-USER-004': '3.0',
  'IVC-AUTH-001': '5.0',
  'IVC-AUTH-002': '4.0',
};
const securityFamilies: Record<string, string> = { SEC: '7.0', USER: '4.0', AUTH: '4.0' };

function ruleFamily(ruleId: string): string | undefined {
  return /^IVC-([A-Z]+)-/.exec(ruleId)?.[1];
}

export function securitySeverityOf(ruleId: string): string | undefined {
  const family = ruleFamily(ruleId);
  return securitySeverity[ruleId] ?? (family ? securityFamilies[family] : undefined);
}

/** `Runs as a non-root user` → `RunsAsANonRootUser`. */
export function pascalCase(text: string): string {
  return text
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word !== '')
    .map((word) => word[0]!.toUpperCase() + word.slice(1))
    .join('');
}

interface Message {
  text: string;
  markdown?: string;
}

interface ReportingDescriptor {
  id: string;
  name: string;
  shortDescription: Message;
  fullDescription: Message;
  help: Message;
  helpUri: string;
  defaultConfiguration: { level: SarifLevel };
  properties: { tags: string[]; 'security-severity'?: string; precision?: string };
}

interface SarifLocation {
  physicalLocation: {
    artifactLocation: { uri: string; uriBaseId: string };
    region: { startLine: number };
  };
  logicalLocations?: { name: string; fullyQualifiedName: string }[];
}

interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: SarifLevel;
  message: Message;
  locations: SarifLocation[];
  partialFingerprints: Record<string, string>;
  properties: Record<string, unknown>;
}

function describe(ruleId: string, meta: RuleMeta | undefined, sample: RuleResult, options: FormatOptions) {
  const title = meta?.title ?? ruleId;
  const helpUri = ruleHelpUri(ruleId, options);
  const fix = meta?.help ?? sample.help;
  const description = meta?.description ?? title;
  const textParts = [description];
  const markdownParts = [`**${ruleId}: ${title}**`, description];
  if (meta?.rationale) {
    textParts.push(`Why: ${meta.rationale}`);
    markdownParts.push(`**Why:** ${meta.rationale}`);
  }
  if (fix) {
    textParts.push(`Fix: ${fix}`);
    markdownParts.push(`**Fix:** ${fix}`);
  }
  textParts.push(`The standard: ${helpUri}`);
  markdownParts.push(`[${ruleId} in the standard](${helpUri})`);
  const family = ruleFamily(ruleId);
  const severity = securitySeverityOf(ruleId);
  const tags = ['ivoc', 'container'];
  if (family) tags.push(family.toLowerCase());
  if (severity) tags.push('security');
  const descriptor: ReportingDescriptor = {
    id: ruleId,
    name: pascalCase(meta?.title ?? ruleId),
    shortDescription: { text: title },
    fullDescription: { text: description },
    help: { text: textParts.join('\n\n'), markdown: markdownParts.join('\n\n') },
    helpUri,
    defaultConfiguration: { level: sarifLevels[meta?.level ?? sample.level] },
    properties: { tags, precision: 'very-high' },
  };
  if (severity) descriptor.properties['security-severity'] = severity;
  return descriptor;
}

function fingerprint(...parts: string[]): string {
  return digestOf(parts.join('\u0000')).slice('sha256:'.length);
}

function location(name: string, finding?: Finding): SarifLocation {
  const inImage = finding?.path !== undefined ? uriPath(finding.path) : '';
  const base = uriPath(name) || 'image';
  const result: SarifLocation = {
    physicalLocation: {
      artifactLocation: { uri: inImage ? `${base}/${inImage}` : base, uriBaseId: imageUriBaseId },
      region: { startLine: 1 },
    },
  };
  if (finding?.path === undefined && finding?.key !== undefined) {
    result.logicalLocations = [{ name: finding.key, fullyQualifiedName: finding.key }];
  }
  return result;
}

function imageResults(report: Report, ruleIndex: Map<string, number>): SarifResult[] {
  const { image } = report;
  const name = imageName(image.reference);
  const imageProperties = {
    image: image.reference,
    imageDigest: image.digest,
    platform: platformString(image.platform),
    profile: report.profile.name,
  };
  const results: SarifResult[] = [];
  const failures = report.results
    .filter((result) => result.status === 'fail')
    .sort((a, b) => compare(a.rule, b.rule));
  for (const result of failures) {
    const base = {
      ruleId: result.rule,
      ruleIndex: ruleIndex.get(result.rule)!,
    };
    const located = (result.findings ?? []).filter((finding) => findingLocation(finding) !== undefined);
    const unlocated = (result.findings ?? []).filter((finding) => findingLocation(finding) === undefined);
    for (const finding of located.slice(0, findingResultsPerRule)) {
      const where = findingLocation(finding)!;
      const properties: Record<string, unknown> = { ...imageProperties };
      if (finding.key !== undefined) properties.key = finding.key;
      if (finding.path !== undefined) properties.path = finding.path;
      if (finding.layer) properties.layer = finding.layer;
      results.push({
        ...base,
        level: sarifLevels[finding.level ?? result.level],
        message: { text: `${where}: ${finding.message} (image ${image.reference})` },
        locations: [location(name, finding)],
        partialFingerprints: { [fingerprintKey]: fingerprint(result.rule, name, where) },
        properties,
      });
    }
    const more = located.length - Math.min(located.length, findingResultsPerRule);
    if (located.length === 0 || unlocated.length > 0 || more > 0) {
      const extra = unlocated.map((finding) => finding.message);
      if (more > 0) extra.push(`${more} more findings not listed`);
      const text = `${[result.message, ...extra].join('; ')} (image ${image.reference})`;
      results.push({
        ...base,
        level: sarifLevels[result.level],
        message: { text },
        locations: [location(name)],
        partialFingerprints: { [fingerprintKey]: fingerprint(result.rule, name, '') },
        properties: { ...imageProperties },
      });
    }
  }
  return results;
}

/** One SARIF log, one run, the failures of every image. */
export function formatSarif(reports: readonly Report[], options: FormatOptions): string {
  const samples = new Map<string, RuleResult>();
  for (const report of reports) {
    for (const result of report.results) if (!samples.has(result.rule)) samples.set(result.rule, result);
  }
  const ruleIds = [...samples.keys()].sort(compare);
  const ruleIndex = new Map(ruleIds.map((id, index) => [id, index]));
  const rules = ruleIds.map((id) => describe(id, options.rules.get(id), samples.get(id)!, options));
  const failed = reports.filter((report) => report.error);
  const invocation: Record<string, unknown> = { executionSuccessful: failed.length === 0 };
  if (failed.length > 0) {
    invocation.toolExecutionNotifications = failed.map((report) => ({
      level: 'error',
      message: { text: `${report.image.reference}: could not be checked: ${report.error!.message}` },
      properties: { code: report.error!.code, image: report.image.reference },
    }));
  }
  const log = {
    $schema: sarifSchemaUri,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'ivoc',
            version: options.toolVersion,
            ...(semverPattern.test(options.toolVersion) ? { semanticVersion: options.toolVersion } : {}),
            informationUri: options.informationUri ?? defaultInformationUri,
            rules,
          },
        },
        originalUriBaseIds: {
          [imageUriBaseId]: {
            description: {
              text: "Container images: an image's name (registry and repository, no tag), then a path inside the image. Not files of this repository.",
            },
          },
        },
        invocations: [invocation],
        results: reports.flatMap((report) => imageResults(report, ruleIndex)),
        properties: {
          failOn: options.failOn,
          images: reports.map((report) => ({
            reference: report.image.reference,
            digest: report.image.digest,
            platform: platformString(report.image.platform),
            profile: report.profile.name,
          })),
        },
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}
