import type { ErrorObject, ValidateFunction } from 'ajv';
import * as compiled from './generated/schema-validators.js';

/**
 * The JSON Schemas of spec/, compiled by ajv at build time
 * (scripts/schema-validators.mjs): the code validates with the very files the
 * standard publishes, so the two cannot drift, and start-up loads no schema
 * compiler.
 */

export const schemaIds = {
  labels: 'urn:ivoc:schemas:labels:1',
  profile: 'urn:ivoc:schemas:profile:1',
  completeProfile: 'urn:ivoc:schemas:profile:1#/$defs/complete',
  report: 'urn:ivoc:schemas:report:1',
} as const;

const validators: Record<string, ValidateFunction> = {
  [schemaIds.labels]: compiled.labels,
  [schemaIds.profile]: compiled.profile,
  [schemaIds.completeProfile]: compiled.completeProfile,
  [schemaIds.report]: compiled.report,
};

export function validator(id: string): ValidateFunction {
  const validate = validators[id];
  if (!validate) throw new Error(`no schema ${id}`);
  return validate;
}

/** 'rules/IVC-FOO-001: must be equal to one of the allowed values' — one line per error. */
export function describeSchemaErrors(errors: readonly ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((error) => {
    const path = error.instancePath.replace(/^\//, '').replaceAll('~1', '/').replaceAll('~0', '~');
    const extra = (error.params as { additionalProperty?: string }).additionalProperty;
    const where = extra ? [path, extra].filter(Boolean).join('/') : path || '(top level)';
    const message = extra ? 'is not a known key' : (error.message ?? 'is invalid');
    return `${where}: ${message}`;
  });
}
