#!/usr/bin/env node
// The built CLI (npm install runs the build). Kept tiny: start-up time is part of every lint.
import { setFlagsFromString } from 'node:v8';

// undici parses HTTP with llhttp compiled to WebAssembly; V8's optimising tier
// for it costs ~150 ms of a short command's life (measured in bench/), while
// the baseline compiler is plenty for parsing headers. Set before undici loads.
setFlagsFromString('--liftoff-only');

import('../dist/cli.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli.js')) {
    process.stderr.write('ivoc: not built yet; run `npm install` (or `npm run build`) in the checkout\n');
    process.exit(3);
  }
  throw error;
});
