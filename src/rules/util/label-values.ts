import { redactValue } from '../../secrets.js';
import type { Evidence } from '../types.js';

/**
 * Reading discovery labels for rule messages: which side a value came from
 * (config label or manifest annotation) and how to quote it safely.
 */

/** The label's value as the image carries it (labels win over annotations), or undefined. */
export function labelValue(evidence: Evidence, key: string): string | undefined {
  return evidence.labels?.[key];
}

/** The label's value with surrounding blanks removed; blank counts as absent. */
export function presentLabel(evidence: Evidence, key: string): string | undefined {
  const value = evidence.labels?.[key]?.trim();
  return value ? value : undefined;
}

/**
 * The finding key for a label: `Labels.KEY` when the config carries it (or
 * nobody does: a LABEL is where the fix goes), `Annotations.KEY` when only
 * the manifest annotation does.
 */
export function labelFindingKey(evidence: Evidence, key: string): string {
  const labels = evidence.config?.config?.Labels ?? {};
  if (Object.hasOwn(labels, key)) return `Labels.${key}`;
  const annotations = evidence.manifest?.manifest.annotations ?? {};
  return Object.hasOwn(annotations, key) ? `Annotations.${key}` : `Labels.${key}`;
}

const maxQuoted = 80;

/** A value for a message: quoted, credential-looking values hidden, long ones shortened. */
export function quoted(key: string, value: string): string {
  const safe = redactValue(key, value);
  const short = safe.length > maxQuoted ? `${safe.slice(0, maxQuoted - 3)}...` : safe;
  return `'${short}'`;
}

/** `a, b and c` */
export function listed(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
