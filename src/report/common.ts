import { parseImageReference } from '../oci/reference.js';
import { verdictOf } from '../rules/run-rule.js';
import type { RuleMeta } from '../rules/types.js';
import type { FailOn, Finding, Level, Report, RuleResult, Verdict } from './types.js';

/**
 * What every output format shares: options, thresholds, counting, the link
 * into the standard, and making untrusted text (paths and keys come from the
 * image) safe to print.
 */

export const outputFormats = ['text', 'json', 'sarif', 'junit', 'github', 'markdown'] as const;
export type OutputFormat = (typeof outputFormats)[number];

export interface FormatOptions {
  /** Rule metadata by ID (titles, descriptions, spec anchors) for SARIF, JUnit and Markdown. */
  rules: ReadonlyMap<string, RuleMeta>;
  /** ANSI colour in the text format; the CLI decides (TTY, --no-color, NO_COLOR). */
  color: boolean;
  /** ivoc's version, for SARIF's tool.driver. */
  toolVersion: string;
  /** The standard's URL; a rule's link is `specBaseUrl#specAnchor`. */
  specBaseUrl: string;
  failOn: FailOn;
  /** Text: failures and the verdict only. GitHub: no notices and no summary line. */
  quiet?: boolean;
  /** Text: list passed rules and every finding (not only the first few). */
  verbose?: boolean;
  /** SARIF tool.driver.informationUri (default: the project's home page). */
  informationUri?: string;
}

export const defaultInformationUri = 'https://github.com/ivoa-containers/ivoc';

export const levels: readonly Level[] = ['error', 'warning', 'info'];

/** Whether a failure at `level` fails the image under `--fail-on`. Info never does. */
export function atThreshold(level: Level, failOn: FailOn): boolean {
  if (failOn === 'never') return false;
  if (level === 'error') return true;
  return level === 'warning' && failOn === 'warning';
}

/**
 * interfaces.md: `fail` when any result fails at level error (or warning with
 * `--fail-on warning`). `--fail-on never` changes the exit code only: the
 * verdict still says whether the image complies (one rule, in run-rule.ts).
 */
export const verdictFor: (results: readonly RuleResult[], failOn: FailOn) => Verdict = verdictOf;

/** 'error' for an image that could not be checked at all, else its verdict. */
export function imageOutcome(report: Report, failOn: FailOn): Verdict | 'error' {
  return report.error ? 'error' : verdictFor(report.results, failOn);
}

/**
 * The process exit code (interfaces.md): 3 when an image could not be checked,
 * else 1 when any image fails at the threshold, else 0.
 */
export function exitCodeFor(reports: readonly Report[], failOn: FailOn): 0 | 1 | 3 {
  if (reports.some((report) => report.error)) return 3;
  if (failOn === 'never') return 0;
  return reports.some((report) => verdictFor(report.results, failOn) === 'fail') ? 1 : 0;
}

export interface Counts {
  error: number;
  warning: number;
  info: number;
  skipped: number;
  passed: number;
}

/** Failures by level, skips and passes, counted from the results (not trusted from report.summary). */
export function countResults(results: readonly RuleResult[]): Counts {
  const counts: Counts = { error: 0, warning: 0, info: 0, skipped: 0, passed: 0 };
  for (const result of results) {
    if (result.status === 'fail') counts[result.level]++;
    else if (result.status === 'skip') counts.skipped++;
    else counts.passed++;
  }
  return counts;
}

export function addCounts(a: Counts, b: Counts): Counts {
  return {
    error: a.error + b.error,
    warning: a.warning + b.warning,
    info: a.info + b.info,
    skipped: a.skipped + b.skipped,
    passed: a.passed + b.passed,
  };
}

export function plural(count: number, singular: string, pluralForm = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : pluralForm}`;
}

/** "2 errors, 1 warning, 0 info, 5 skipped" */
export function countsLine(counts: Counts): string {
  return `${plural(counts.error, 'error')}, ${plural(counts.warning, 'warning')}, ${counts.info} info, ${counts.skipped} skipped`;
}

/** Failing results, errors first, then warnings, then info; by rule ID within a level. */
export function failuresByLevel(results: readonly RuleResult[]): RuleResult[] {
  return results
    .filter((result) => result.status === 'fail')
    .sort((a, b) => levels.indexOf(a.level) - levels.indexOf(b.level) || compare(a.rule, b.rule));
}

export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `sha256:0123456789ab` */
export function shortDigest(digest: string): string {
  const colon = digest.indexOf(':');
  return colon < 0 ? digest.slice(0, 12) : digest.slice(0, colon + 13);
}

export function platformString(platform: Report['image']['platform']): string {
  return [platform.os, platform.architecture, platform.variant].filter((part) => part).join('/');
}

/** The link into the standard: the result's own, else `specBaseUrl#anchor`. */
export function ruleHelpUri(
  ruleId: string,
  options: Pick<FormatOptions, 'rules' | 'specBaseUrl'>,
  result?: RuleResult,
): string {
  if (result?.helpUri) return result.helpUri;
  const anchor = options.rules.get(ruleId)?.specAnchor ?? ruleId.toLowerCase();
  return `${options.specBaseUrl}#${anchor}`;
}

/** One line: how to fix it (the result's own help, else the rule's). */
export function ruleHelp(result: RuleResult, rules: ReadonlyMap<string, RuleMeta>): string {
  return result.help || rules.get(result.rule)?.help || '';
}

export function ruleTitle(ruleId: string, rules: ReadonlyMap<string, RuleMeta>): string | undefined {
  return rules.get(ruleId)?.title;
}

/** Where a finding is: its path, else its key. */
export function findingLocation(finding: Finding): string | undefined {
  return finding.path ?? finding.key;
}

/** `/root/.ssh/id_rsa: private key (layer 3)`: a finding on one line. */
export function describeFinding(finding: Finding, ruleLevel?: Level): string {
  const where = findingLocation(finding);
  const level = finding.level && finding.level !== ruleLevel ? `[${finding.level}] ` : '';
  const layer = finding.layer ? ` (layer ${finding.layer.index})` : '';
  const text = where === undefined ? finding.message : `${where}: ${finding.message}`;
  return `${level}${text}${layer}`;
}

const unsafeChars = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Makes text from an image printable on one line: control characters (an
 * image's file name may hold ESC sequences or newlines) and bidirectional
 * overrides are shown as escapes instead of acting on the terminal or log.
 */
export function printable(text: string): string {
  return text.replace(unsafeChars, (char) => {
    const code = char.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

/**
 * A stable name for where an image comes from, without tag or digest (those
 * change every build): `registry/repository` for registry and daemon
 * references, `transport/path` for layouts and archives.
 */
export function imageName(reference: string): string {
  try {
    const parsed = parseImageReference(reference);
    switch (parsed.transport) {
      case 'docker':
        return `${parsed.registry}/${parsed.repository}`;
      case 'docker-daemon':
        return parsed.ref ? `${parsed.ref.registry}/${parsed.ref.repository}` : `docker-daemon/${parsed.id}`;
      case 'docker-archive':
        return parsed.ref
          ? `${parsed.ref.registry}/${parsed.ref.repository}`
          : `docker-archive/${parsed.path}`;
      case 'oci':
      case 'oci-archive':
        return `${parsed.transport}/${parsed.path}`;
    }
  } catch {
    // Not parsable (the report still names it): use it as it is.
  }
  return reference;
}

/** A relative URI path from path-like text: no empty, `.` or `..` segments, each segment percent-encoded. */
export function uriPath(text: string): string {
  return text
    .split('/')
    .filter((segment) => segment !== '' && segment !== '.' && segment !== '..')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}
