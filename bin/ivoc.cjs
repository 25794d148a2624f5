#!/usr/bin/env node
// The built CLI (npm install runs the build). Kept tiny: start-up time is part of every lint.
// CommonJS, as is dist/cli.cjs: an ES module entry would load Node's ES module
// loader first (~8 ms of every command on the bench machine).
// No V8 flags here: while any differs from its default, V8 rejects Node's code
// cache for built-in modules (see src/oci/layer/gc-tuning.ts, scripts/build.mjs).
'use strict';
const { join } = require('node:path');

const launcher = join(__dirname, '..', 'dist', 'cli.cjs');
try {
  require.resolve(launcher);
} catch {
  process.stderr.write('ivoc: not built yet; run `npm install` (or `npm run build`) in the checkout\n');
  process.exit(3);
}
require(launcher);
