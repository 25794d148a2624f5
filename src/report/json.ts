import type { Report, ReportSet } from './types.js';

/**
 * interfaces.md: one image → the report itself; several → `{"reports": [...]}`.
 * The report objects are printed as they are (they are the contract).
 */
export function formatJson(reports: readonly Report[]): string {
  const document: Report | ReportSet = reports.length === 1 ? reports[0]! : { reports: [...reports] };
  return `${JSON.stringify(document, null, 2)}\n`;
}
