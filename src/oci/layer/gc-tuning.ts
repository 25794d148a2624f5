import { setFlagsFromString } from 'node:v8';

let tuned = false;

/**
 * Old-generation GCs only when the heap reaches its limit, never incremental
 * (concurrent) marking; called when layers are about to be read. A layer scan
 * allocates ~32 MB of buffers every few hundred ms; each such batch ends in a
 * young GC, after which V8 starts marking the old generation as soon as it
 * holds more than 8 MB and sits below a limit that the allocation rate keeps
 * at ~1.1x its size. A lint (rules, schemas, report code: ~9.5 MB) was then
 * marked and compacted ~110 times per scan of the 1.5 GB bench image, the
 * bare scan (~7.5 MB) ~20 times: ~1.3 s of marking threads on the second
 * core, which the inflater needs, plus the pauses. Latency is no concern for
 * a scan. Not set at start-up: while any V8 flag differs from its default,
 * V8 rejects Node's code cache for built-in modules, and a metadata-only
 * command would compile every built-in it loads from source (~10 ms).
 */
export function preferThroughputGc(): void {
  if (tuned) return;
  tuned = true;
  setFlagsFromString('--no-incremental-marking');
}
