// Types of the module scripts/schema-validators.mjs generates at build time (profile-validators.js, git-ignored).
import type { ValidateFunction } from 'ajv';

export const profile: ValidateFunction;
export const completeProfile: ValidateFunction;
