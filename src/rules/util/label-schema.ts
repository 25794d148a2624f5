import type { ErrorObject } from 'ajv/dist/2020.js';
import schema from '../../../spec/schemas/labels.schema.json' with { type: 'json' };
import { labels as validateLabels } from '../../generated/labels-validator.js';
import { ivoaPrefix } from '../labels.js';

/**
 * The `net.ivoa.container.*` label set against spec/schemas/labels.schema.json,
 * the same file the standard publishes. Compiled once, on first use: commands
 * that never validate labels do not pay for the compile.
 */

export interface LabelSchemaProblem {
  /** The full label key the problem is about (an unknown key, or the key whose value is wrong). */
  key: string;
  /** `unknown` for a key the schema does not define, `value` for a value it refuses, `other` otherwise. */
  kind: 'unknown' | 'value' | 'other';
  /** What the schema says the value should be (first sentence of the property's description). */
  expected?: string;
  /** For a comma-separated value: the items that the pattern refuses even on their own (`Visible`, `cores=two`). */
  badItems?: string[];
  /** Ajv's own wording, for anything that is neither an unknown key nor a refused value. */
  detail?: string;
}

const properties = schema.properties as Record<string, { description?: string; pattern?: string }>;

/** The keys the schema defines, e.g. `net.ivoa.container.port`. */
export const schemaKeys: readonly string[] = Object.keys(properties);

/** The `net.ivoa.container.*` subset of merged labels, the object the schema describes. */
export function ivoaLabels(labels: Record<string, string> | undefined): Record<string, string> {
  const subset: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels ?? {}))
    if (key.startsWith(ivoaPrefix)) subset[key] = value;
  return subset;
}

/** Problems with the set, at most one per key, in key order. */
export function validateIvoaLabels(labels: Record<string, string>): LabelSchemaProblem[] {
  const validate = validateLabels;
  if (validate(labels)) return [];
  const byKey = new Map<string, LabelSchemaProblem>();
  for (const error of validate.errors ?? []) {
    const problem = problemOf(error, labels);
    if (!byKey.has(problem.key)) byKey.set(problem.key, problem);
  }
  return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function problemOf(error: ErrorObject, labels: Record<string, string>): LabelSchemaProblem {
  const params = error.params as Record<string, unknown>;
  if (error.keyword === 'additionalProperties' && typeof params.additionalProperty === 'string') {
    return { key: params.additionalProperty, kind: 'unknown' };
  }
  for (const name of ['missingProperty', 'propertyName']) {
    const value = params[name];
    if (typeof value === 'string')
      return { key: value, kind: 'other', detail: error.message ?? error.keyword };
  }
  const key = decodePointerToken(error.instancePath.split('/')[1] ?? '');
  const description = properties[key]?.description;
  if (description !== undefined && (error.keyword === 'pattern' || error.keyword === 'type')) {
    const problem: LabelSchemaProblem = { key, kind: 'value', expected: firstSentence(description) };
    const items = refusedItems(properties[key]?.pattern, labels[key]);
    if (items.length > 0) problem.badItems = items;
    return problem;
  }
  return { key, kind: 'other', detail: error.message ?? error.keyword };
}

/** Items of a list value that the key's pattern refuses on their own (ajv reads patterns with the u flag). */
function refusedItems(pattern: string | undefined, value: string | undefined): string[] {
  if (pattern === undefined || value === undefined || !value.includes(',')) return [];
  const regex = new RegExp(pattern, 'u');
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '' && !regex.test(item));
}

function decodePointerToken(token: string): string {
  return token.replaceAll('~1', '/').replaceAll('~0', '~');
}

/** Up to the first full stop that ends a sentence (`e.g. 1.0.0` does not). */
function firstSentence(text: string): string {
  const match = /^(.*?[^.])\.(?:\s+[A-Z]|$)/s.exec(text);
  const sentence = match?.[1] ?? text;
  return sentence.charAt(0).toLowerCase() + sentence.slice(1);
}

/** The schema key an unknown key was probably meant to be: same letters in another case, or one or two edits away. */
export function nearestSchemaKey(key: string): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of schemaKeys) {
    const distance =
      candidate.toLowerCase() === key.toLowerCase()
        ? 0
        : editDistance(candidate.toLowerCase(), key.toLowerCase());
    if (distance <= 2 && (!best || distance < best.distance)) best = { key: candidate, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
