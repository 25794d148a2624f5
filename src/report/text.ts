import {
  addCounts,
  atThreshold,
  type Counts,
  countResults,
  countsLine,
  describeFinding,
  type FormatOptions,
  failuresByLevel,
  imageOutcome,
  levels,
  platformString,
  plural,
  printable,
  ruleHelp,
  shortDigest,
} from './common.js';
import type { Level, Report, RuleResult } from './types.js';

/**
 * The report for people: per image a header, failures grouped by level with
 * the fix and the first findings, skips in a compact block, passes as a count,
 * then counts and the verdict.
 */

/** Findings shown under a failure unless `verbose`. */
export const findingsShown = 10;

type Paint = (text: string) => string;

interface Palette {
  error: Paint;
  warning: Paint;
  info: Paint;
  pass: Paint;
  bold: Paint;
  dim: Paint;
}

function ansi(open: number, close: number): Paint {
  return (text) => `\u001b[${open}m${text}\u001b[${close}m`;
}

const plain: Paint = (text) => text;

function palette(color: boolean): Palette {
  if (!color) return { error: plain, warning: plain, info: plain, pass: plain, bold: plain, dim: plain };
  return {
    error: ansi(31, 39),
    warning: ansi(33, 39),
    info: ansi(36, 39),
    pass: ansi(32, 39),
    bold: ansi(1, 22),
    dim: ansi(2, 22),
  };
}

const headings: Record<Level, string> = { error: 'errors', warning: 'warnings', info: 'info' };

function header(report: Report, paint: Palette): string {
  const { image, profile } = report;
  const parts = [paint.bold(printable(image.reference))];
  if (image.digest) parts.push(shortDigest(image.digest));
  const platform = platformString(image.platform);
  if (platform) parts.push(platform);
  parts.push(`profile ${printable(profile.name)}${profile.specVersion ? ` ${profile.specVersion}` : ''}`);
  return parts.join('  ');
}

function failure(result: RuleResult, options: FormatOptions, paint: Palette): string[] {
  const marker = paint[result.level](result.level.padEnd(7));
  const lines = [`  ${marker} ${paint.bold(result.rule)}  ${printable(result.message)}`];
  if (options.quiet) return lines;
  const help = ruleHelp(result, options.rules);
  if (help) lines.push(`          fix: ${printable(help)}`);
  const findings = result.findings ?? [];
  const shown = options.verbose ? findings : findings.slice(0, findingsShown);
  for (const finding of shown) lines.push(`          - ${printable(describeFinding(finding, result.level))}`);
  if (shown.length < findings.length)
    lines.push(paint.dim(`          ... and ${findings.length - shown.length} more`));
  return lines;
}

function verdictLine(report: Report, options: FormatOptions, paint: Palette): string {
  const outcome = imageOutcome(report, options.failOn);
  if (outcome === 'error') return `verdict: ${paint.error('ERROR')} (the image could not be checked)`;
  const word = outcome === 'pass' ? paint.pass('PASS') : paint.error('FAIL');
  return `verdict: ${word} (fail-on ${options.failOn})`;
}

function imageText(report: Report, options: FormatOptions, paint: Palette): string[] {
  const lines = [header(report, paint)];
  if (report.error) {
    lines.push(`  ${paint.error('error  ')} could not be checked: ${printable(report.error.message)}`);
    lines.push(`          (${printable(report.error.code)})`);
  }
  const failures = failuresByLevel(report.results);
  for (const level of levels) {
    const group = failures.filter((result) => result.level === level);
    if (group.length === 0) continue;
    // Info never fails an image; say so only where a level could and doesn't.
    const below =
      level === 'info' || atThreshold(level, options.failOn) ? '' : `, below fail-on ${options.failOn}`;
    lines.push('', paint[level](`${headings[level]} (${group.length}${below})`));
    for (const result of group) lines.push(...failure(result, options, paint));
  }
  const counts = countResults(report.results);
  if (!options.quiet) {
    const skips = report.results.filter((result) => result.status === 'skip');
    if (skips.length > 0) {
      lines.push('', paint.dim(`skipped (${skips.length})`));
      const width = Math.max(...skips.map((result) => result.rule.length));
      for (const result of skips) {
        lines.push(paint.dim(`  ${result.rule.padEnd(width)}  ${printable(result.message)}`));
      }
    }
    const passes = report.results.filter((result) => result.status === 'pass');
    if (options.verbose && passes.length > 0) {
      lines.push('', paint.pass(`passed (${passes.length})`));
      for (const result of passes) lines.push(`  ${result.rule}  ${printable(result.message)}`);
    } else if (passes.length > 0 || report.results.length > 0) {
      lines.push('', `passed: ${plural(passes.length, 'rule')}`);
    }
    if (!report.error || report.results.length > 0) lines.push(countsLine(counts));
  }
  lines.push(verdictLine(report, options, paint));
  return lines;
}

/** Several images: one block each, then a line for all of them. */
export function formatText(reports: readonly Report[], options: FormatOptions): string {
  const paint = palette(options.color);
  const blocks = reports.map((report) => imageText(report, options, paint).join('\n'));
  if (reports.length > 1) {
    let total: Counts = { error: 0, warning: 0, info: 0, skipped: 0, passed: 0 };
    for (const report of reports) total = addCounts(total, countResults(report.results));
    const outcomes = reports.map((report) => imageOutcome(report, options.failOn));
    const failed = outcomes.filter((outcome) => outcome === 'fail').length;
    const errors = outcomes.filter((outcome) => outcome === 'error').length;
    const passed = outcomes.length - failed - errors;
    const parts = [`${passed} passed`, `${failed} failed`];
    if (errors > 0) parts.push(`${errors} not checked`);
    blocks.push(`${plural(reports.length, 'image')}: ${parts.join(', ')} (${countsLine(total)})`);
  }
  // No trailing spaces anywhere: a rule of the output, not left to chance.
  return `${blocks.join('\n\n').replace(/[ \t]+$/gm, '')}\n`;
}
