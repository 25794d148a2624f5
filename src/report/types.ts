/**
 * The validation report (interfaces.md, "Report"). The JSON form is this
 * object as is; spec/schemas/report.schema.json describes it and a test keeps
 * the two in step.
 */

export type Level = 'error' | 'warning' | 'info';
export type Status = 'pass' | 'fail' | 'skip';
export type Verdict = 'pass' | 'fail';
export type FailOn = 'error' | 'warning' | 'never';

/** One place a rule found something: a file in the image, a config key, a label. */
export interface Finding {
  message: string;
  /** Absolute path inside the image, when the finding is about a file. */
  path?: string;
  /** Config or label key (e.g. 'Env.AWS_SECRET_ACCESS_KEY', 'Labels.net.ivoa.container.port'). */
  key?: string;
  /** The layer a file came from: index (0 = base) and digest. */
  layer?: { index: number; digest: string };
  /** A finding may sit below the rule's level (a public key in a package is info). */
  level?: Level;
}

export interface RuleResult {
  rule: string;
  /** The level in force (after the profile's overrides). */
  level: Level;
  status: Status;
  /** One line: what was found, or why the rule was skipped. */
  message: string;
  /** Machine-readable facts behind the message; never secret values. */
  evidence?: Record<string, unknown>;
  /** One line: how to fix it. */
  help: string;
  /** Individual findings, when there are several (files, keys). */
  findings?: Finding[];
  /** Link into the standard (spec/) for this rule. */
  helpUri?: string;
}

export interface ReportImage {
  /** The reference in transport syntax, normalised. */
  reference: string;
  /** Digest of what the reference resolved to (manifest or index). */
  digest: string;
  /** Digest of the platform manifest checked, when the reference is an index. */
  manifestDigest?: string;
  configDigest: string;
  platform: { os: string; architecture: string; variant?: string };
}

export interface Report {
  reportVersion: '1';
  tool: { name: 'ivoc'; version: string };
  profile: { name: string; specVersion: string; source?: string };
  image: ReportImage;
  verdict: Verdict;
  summary: { error: number; warning: number; info: number; skipped: number };
  results: RuleResult[];
  /** The image's discovery record, as the catalogue would hold it. */
  discovery: Record<string, unknown>;
  /** When the image could not be checked at all (exit 3): what went wrong. */
  error?: { code: string; message: string };
}

/** Several images in one call: `{"reports": [...]}`. */
export interface ReportSet {
  reports: Report[];
}
