import {
  atThreshold,
  countResults,
  describeFinding,
  type FormatOptions,
  platformString,
  ruleHelp,
  ruleHelpUri,
  ruleTitle,
} from './common.js';
import type { Report, RuleResult } from './types.js';

/**
 * JUnit XML as GitLab (artifacts:reports:junit) and Jenkins (junit step)
 * read it: a testsuite per image, a testcase per rule. A failure at or above
 * `--fail-on` is a <failure>; one below it passes with a note in
 * <system-out>, so warnings don't fail the job under `--fail-on error`; a
 * skip is <skipped>; an image that could not be checked is an <error>.
 */

/** Findings written into a failure's body. */
export const findingsInBody = 100;

/** Characters XML 1.0 forbids (C0 controls but tab, LF, CR; lone surrogates; U+FFFE/U+FFFF): removed. */
const invalidXml = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

export function stripInvalidXml(text: string): string {
  return text.replace(invalidXml, '');
}

/** Text content: `&`, `<`, `>` (so `]]>` can't appear either). */
export function xmlText(text: string): string {
  return stripInvalidXml(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An attribute value in double quotes; tab, LF and CR as references so they survive normalisation. */
export function xmlAttribute(text: string): string {
  return xmlText(text)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
}

function attributes(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([name, value]) => ` ${name}="${xmlAttribute(String(value))}"`)
    .join('');
}

/** Jenkins splits a class name at its last dot into package and class: keep the image in one piece. */
export function className(reference: string): string {
  return `ivoc.${reference.replace(/\./g, '_')}`;
}

function body(result: RuleResult, options: FormatOptions): string {
  const lines = [result.message];
  const help = ruleHelp(result, options.rules);
  if (help) lines.push(`fix: ${help}`);
  lines.push(`see: ${ruleHelpUri(result.rule, options, result)}`);
  const findings = result.findings ?? [];
  if (findings.length > 0) {
    lines.push('findings:');
    for (const finding of findings.slice(0, findingsInBody)) {
      lines.push(`  - ${describeFinding(finding, result.level)}`);
    }
    if (findings.length > findingsInBody) lines.push(`  ... and ${findings.length - findingsInBody} more`);
  }
  return lines.join('\n');
}

function testcase(report: Report, result: RuleResult, options: FormatOptions): string {
  const title = ruleTitle(result.rule, options.rules);
  const open = `    <testcase${attributes({
    classname: className(report.image.reference),
    name: title ? `${result.rule} ${title}` : result.rule,
  })}`;
  if (result.status === 'pass') return `${open}/>`;
  if (result.status === 'skip')
    return `${open}>\n      <skipped${attributes({ message: result.message })}/>\n    </testcase>`;
  if (atThreshold(result.level, options.failOn)) {
    const failure = `<failure${attributes({ message: result.message, type: result.level })}>${xmlText(body(result, options))}</failure>`;
    return `${open}>\n      ${failure}\n    </testcase>`;
  }
  const note = `${result.level} (below --fail-on ${options.failOn}): ${body(result, options)}`;
  return `${open}>\n      <system-out>${xmlText(note)}</system-out>\n    </testcase>`;
}

interface SuiteCounts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
}

function testsuite(report: Report, options: FormatOptions): { xml: string; counts: SuiteCounts } {
  const { image } = report;
  const counts: SuiteCounts = {
    tests: report.results.length,
    failures: report.results.filter((r) => r.status === 'fail' && atThreshold(r.level, options.failOn))
      .length,
    errors: 0,
    skipped: countResults(report.results).skipped,
  };
  const cases = report.results.map((result) => testcase(report, result, options));
  if (report.error) {
    counts.tests++;
    counts.errors++;
    const error = `<error${attributes({ message: report.error.message, type: report.error.code })}>${xmlText(
      `${image.reference} could not be checked: ${report.error.message} (${report.error.code})`,
    )}</error>`;
    cases.unshift(
      `    <testcase${attributes({ classname: className(image.reference), name: 'image' })}>\n      ${error}\n    </testcase>`,
    );
  }
  const properties = [
    ['digest', image.digest],
    ['platform', platformString(image.platform)],
    ['profile', report.profile.name],
    ['spec-version', report.profile.specVersion],
    ['fail-on', options.failOn],
  ]
    .filter(([, value]) => value)
    .map(([name, value]) => `      <property${attributes({ name: name!, value: value! })}/>`);
  const xml = [
    `  <testsuite${attributes({ name: image.reference, tests: counts.tests, failures: counts.failures, errors: counts.errors, skipped: counts.skipped })}>`,
    '    <properties>',
    ...properties,
    '    </properties>',
    ...cases,
    '  </testsuite>',
  ].join('\n');
  return { xml, counts };
}

export function formatJunit(reports: readonly Report[], options: FormatOptions): string {
  const suites = reports.map((report) => testsuite(report, options));
  const total = suites.reduce(
    (sum, { counts }) => ({
      tests: sum.tests + counts.tests,
      failures: sum.failures + counts.failures,
      errors: sum.errors + counts.errors,
      skipped: sum.skipped + counts.skipped,
    }),
    { tests: 0, failures: 0, errors: 0, skipped: 0 },
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attributes({ name: 'ivoc lint', ...total })}>`,
    ...suites.map(({ xml }) => xml),
    '</testsuites>',
    '',
  ].join('\n');
}
