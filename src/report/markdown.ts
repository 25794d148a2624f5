import {
  type Counts,
  countResults,
  describeFinding,
  type FormatOptions,
  failuresByLevel,
  imageOutcome,
  platformString,
  plural,
  printable,
  ruleHelp,
  ruleHelpUri,
  shortDigest,
} from './common.js';
import type { Report } from './types.js';

/**
 * GitHub-flavoured Markdown (also fine for GitLab): for $GITHUB_STEP_SUMMARY
 * or a merge-request comment. Per image a heading, a verdict line, a table of
 * failing rules, then findings and skips folded in <details>.
 */

/** Findings listed per rule inside <details>. */
export const findingsListed = 50;

/**
 * Inline Markdown text from anything: one line; Markdown punctuation
 * backslash-escaped (`|` too, which GFM needs even inside a table cell);
 * `&`, `<`, `>` as entities so nothing becomes HTML.
 */
export function markdownText(text: string): string {
  return printable(text)
    .replace(/[\\`*_[\]|~#!()]/g, (char) => `\\${char}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/** A link target: no spaces or parentheses to end it early. */
function linkTarget(uri: string): string {
  return uri.replace(
    /[\s()<>]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}

const outcomeMark = { pass: '✅', fail: '❌', error: '⚠️' } as const;
const outcomeWord = { pass: 'PASS', fail: 'FAIL', error: 'NOT CHECKED' } as const;

function countsCell(counts: Counts): string {
  return `${plural(counts.error, 'error')} · ${plural(counts.warning, 'warning')} · ${counts.info} info · ${counts.skipped} skipped · ${counts.passed} passed`;
}

function imageSection(report: Report, options: FormatOptions, heading: string): string[] {
  const { image, profile } = report;
  const outcome = imageOutcome(report, options.failOn);
  const counts = countResults(report.results);
  const lines = [`${heading} ${outcomeMark[outcome]} ${markdownText(image.reference)}`, ''];
  lines.push(`**${outcomeWord[outcome]}** (fail-on ${options.failOn}) · ${countsCell(counts)}`);
  const facts = [];
  if (image.digest) facts.push(markdownText(shortDigest(image.digest)));
  const platform = platformString(image.platform);
  if (platform) facts.push(markdownText(platform));
  facts.push(
    `profile ${markdownText(profile.name)}${profile.specVersion ? ` (spec ${markdownText(profile.specVersion)})` : ''}`,
  );
  lines.push('', facts.join(' · '));
  if (report.error) {
    lines.push(
      '',
      `> **Could not be checked:** ${markdownText(report.error.message)} (${markdownText(report.error.code)})`,
    );
  }
  const failures = failuresByLevel(report.results);
  if (failures.length > 0) {
    lines.push('', '| Level | Rule | Message | Fix |', '| --- | --- | --- | --- |');
    for (const result of failures) {
      const link = `[${markdownText(result.rule)}](${linkTarget(ruleHelpUri(result.rule, options, result))})`;
      const fix = markdownText(ruleHelp(result, options.rules));
      lines.push(`| ${result.level} | ${link} | ${markdownText(result.message)} | ${fix} |`);
    }
  }
  const withFindings = failures.filter((result) => (result.findings ?? []).length > 0);
  if (withFindings.length > 0) {
    const count = withFindings.reduce((sum, result) => sum + result.findings!.length, 0);
    lines.push('', `<details><summary>Findings (${count})</summary>`, '');
    for (const result of withFindings) {
      const findings = result.findings!;
      lines.push(`**${markdownText(result.rule)}**`, '');
      for (const finding of findings.slice(0, findingsListed)) {
        lines.push(`- ${markdownText(describeFinding(finding, result.level))}`);
      }
      if (findings.length > findingsListed) lines.push(`- … and ${findings.length - findingsListed} more`);
      lines.push('');
    }
    lines.push('</details>');
  }
  const skips = report.results.filter((result) => result.status === 'skip');
  if (skips.length > 0) {
    lines.push('', `<details><summary>Skipped (${skips.length})</summary>`, '');
    for (const result of skips) lines.push(`- ${markdownText(result.rule)}: ${markdownText(result.message)}`);
    lines.push('', '</details>');
  }
  return lines;
}

export function formatMarkdown(reports: readonly Report[], options: FormatOptions): string {
  const outcomes = reports.map((report) => imageOutcome(report, options.failOn));
  const overall = outcomes.includes('error') ? 'error' : outcomes.includes('fail') ? 'fail' : 'pass';
  const lines = [`## ivoc lint ${outcomeMark[overall]} ${outcomeWord[overall]}`];
  if (reports.length > 1) {
    lines.push('', '| Image | Verdict | Counts |', '| --- | --- | --- |');
    reports.forEach((report, index) => {
      const outcome = outcomes[index]!;
      lines.push(
        `| ${markdownText(report.image.reference)} | ${outcomeMark[outcome]} ${outcomeWord[outcome]} | ${countsCell(countResults(report.results))} |`,
      );
    });
  }
  for (const report of reports) lines.push('', ...imageSection(report, options, '###'));
  lines.push('', `<sub>ivoc ${markdownText(options.toolVersion)} · fail-on ${options.failOn}</sub>`);
  return `${lines.join('\n')}\n`;
}
