import {
  addCounts,
  type Counts,
  countResults,
  countsLine,
  describeFinding,
  type FormatOptions,
  failuresByLevel,
  imageOutcome,
  plural,
  printable,
  ruleHelp,
  ruleTitle,
} from './common.js';
import type { Level, Report } from './types.js';

/**
 * GitHub Actions workflow commands: one annotation per failing rule
 * (`::error`, `::warning`, `::notice`), then a plain summary line. There is
 * no file in the repository to point at, so the image and the paths or keys
 * found go into the message. GitHub shows at most 10 annotations of each kind
 * per step, so findings are listed inside their rule's annotation, not one
 * annotation each.
 */

/** Findings listed in one annotation. */
export const findingsPerAnnotation = 10;

const commands: Record<Level, string> = { error: 'error', warning: 'warning', info: 'notice' };

/** Command data: `%`, CR and LF encoded (GitHub's escapeData). */
export function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Command property values: as data, plus `:` and `,` (GitHub's escapeProperty). */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export function workflowCommand(
  command: string,
  properties: Record<string, string>,
  message: string,
): string {
  const props = Object.entries(properties)
    .map(([name, value]) => `${name}=${escapeProperty(value)}`)
    .join(',');
  return `::${command}${props ? ` ${props}` : ''}::${escapeData(message)}`;
}

export function formatGithub(reports: readonly Report[], options: FormatOptions): string {
  const lines: string[] = [];
  let total: Counts = { error: 0, warning: 0, info: 0, skipped: 0, passed: 0 };
  for (const report of reports) {
    const reference = printable(report.image.reference);
    total = addCounts(total, countResults(report.results));
    if (report.error) {
      lines.push(
        workflowCommand(
          'error',
          { title: 'ivoc: image not checked' },
          `${reference}: could not be checked: ${printable(report.error.message)} (${report.error.code})`,
        ),
      );
    }
    for (const result of failuresByLevel(report.results)) {
      if (options.quiet && result.level === 'info') continue;
      const title = ruleTitle(result.rule, options.rules);
      const message = [`${reference}: ${printable(result.message)}`];
      const help = ruleHelp(result, options.rules);
      if (help) message.push(`fix: ${printable(help)}`);
      const findings = result.findings ?? [];
      for (const finding of findings.slice(0, findingsPerAnnotation)) {
        message.push(`- ${printable(describeFinding(finding, result.level))}`);
      }
      if (findings.length > findingsPerAnnotation) {
        message.push(`... and ${findings.length - findingsPerAnnotation} more`);
      }
      lines.push(
        workflowCommand(
          commands[result.level],
          { title: title ? `${result.rule}: ${title}` : result.rule },
          message.join('\n'),
        ),
      );
    }
  }
  if (!options.quiet) {
    const outcomes = reports.map((report) => imageOutcome(report, options.failOn));
    const failed = outcomes.filter((outcome) => outcome !== 'pass').length;
    const verdict = failed === 0 ? 'PASS' : 'FAIL';
    lines.push(
      `ivoc: ${verdict}: ${plural(reports.length, 'image')}, ${failed} failed (${countsLine(total)}; fail-on ${options.failOn})`,
    );
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
