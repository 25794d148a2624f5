// Types of the module scripts/schema-validators.mjs generates at build time (labels-validator.js, git-ignored).
import type { ValidateFunction } from 'ajv';

export const labels: ValidateFunction;
