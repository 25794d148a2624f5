import type { FormatOptions, OutputFormat } from './common.js';
import { formatGithub } from './github.js';
import { formatJson } from './json.js';
import { formatJunit } from './junit.js';
import { formatMarkdown } from './markdown.js';
import { formatSarif } from './sarif.js';
import { formatText } from './text.js';
import type { Report } from './types.js';

/**
 * `ivoc lint --format`: reports in, text out. Every formatter is a pure
 * function of the reports and the options and prints only what the reports
 * hold (which never includes a secret value).
 */

export type { FormatOptions, OutputFormat } from './common.js';
export { exitCodeFor, outputFormats, verdictFor } from './common.js';

export function formatReports(
  reports: readonly Report[],
  format: OutputFormat,
  options: FormatOptions,
): string {
  switch (format) {
    case 'text':
      return formatText(reports, options);
    case 'json':
      return formatJson(reports);
    case 'sarif':
      return formatSarif(reports, options);
    case 'junit':
      return formatJunit(reports, options);
    case 'github':
      return formatGithub(reports, options);
    case 'markdown':
      return formatMarkdown(reports, options);
  }
}
