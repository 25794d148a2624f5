import type { ErrorObject } from 'ajv';

/**
 * The JSON Schemas of spec/ are compiled by ajv at build time
 * (scripts/schema-validators.mjs) into one module per schema under
 * src/generated/: the code validates with the very files the standard
 * publishes, so the two cannot drift, and start-up loads no schema compiler.
 * Import the validator you need from there; this module words their errors.
 */

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
