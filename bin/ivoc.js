#!/usr/bin/env node
// The built CLI (npm install runs the build). Kept tiny: start-up time is part of every lint.
// No V8 flags here: while any differs from its default, V8 rejects Node's code
// cache for built-in modules (see src/oci/layer/gc-tuning.ts, scripts/build.mjs).
import('../dist/cli.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli.js')) {
    process.stderr.write('ivoc: not built yet; run `npm install` (or `npm run build`) in the checkout\n');
    process.exit(3);
  }
  throw error;
});
