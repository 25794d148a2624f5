import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import labelsSchema from '../spec/schemas/labels.schema.json' with { type: 'json' };
import profileSchema from '../spec/schemas/profile.schema.json' with { type: 'json' };
import reportSchema from '../spec/schemas/report.schema.json' with { type: 'json' };

/**
 * The JSON Schemas of spec/, compiled once on first use: the code validates
 * with the very files the standard publishes, so the two cannot drift.
 */

export const schemaIds = {
  labels: 'urn:ivoc:schemas:labels:1',
  profile: 'urn:ivoc:schemas:profile:1',
  completeProfile: 'urn:ivoc:schemas:profile:1#/$defs/complete',
  report: 'urn:ivoc:schemas:report:1',
} as const;

let ajv: Ajv2020 | undefined;

export function validator(id: string): ValidateFunction {
  // validateSchema: false skips the meta-schema check at start-up; test/spec.test.ts does it.
  ajv ??= new Ajv2020({ allErrors: true, validateSchema: false, verbose: true })
    .addSchema(labelsSchema)
    .addSchema(profileSchema)
    .addSchema(reportSchema);
  const validate = ajv.getSchema(id);
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
