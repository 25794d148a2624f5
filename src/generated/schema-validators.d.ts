// Types of the module scripts/schema-validators.mjs generates at build time
// (schema-validators.js, git-ignored): one ajv validator per schema.
import type { ValidateFunction } from 'ajv';

export const labels: ValidateFunction;
export const profile: ValidateFunction;
export const completeProfile: ValidateFunction;
export const report: ValidateFunction;
