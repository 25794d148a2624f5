#!/usr/bin/env node
// The built CLI (npm install runs the build). Kept tiny: start-up time is part of every lint.
import { setFlagsFromString } from 'node:v8';

// undici parses HTTP with llhttp compiled to WebAssembly; V8's optimising tier
// for it costs ~150 ms of a short command's life (measured in bench/), while
// the baseline compiler is plenty for parsing headers. Set before undici loads.
setFlagsFromString('--liftoff-only');
// Old-generation GCs only when the heap reaches its limit, never incremental
// (concurrent) marking. A layer scan allocates ~32 MB of buffers every few
// hundred ms; each such batch ends in a young GC, after which V8 starts
// marking the old generation as soon as it holds more than 8 MB and sits
// below a limit that the allocation rate keeps at ~1.1x its size. A lint
// (rules, schemas, report code: ~9.5 MB) was then marked and compacted
// ~110 times per scan of the 1.5 GB bench image, the bare scan (~7.5 MB)
// ~20 times: ~1.3 s of marking threads on the second core, which the
// inflater needs, plus the pauses. Latency is no concern for a CLI.
setFlagsFromString('--no-incremental-marking');

import('../dist/cli.js').catch((error) => {
  if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli.js')) {
    process.stderr.write('ivoc: not built yet; run `npm install` (or `npm run build`) in the checkout\n');
    process.exit(3);
  }
  throw error;
});
