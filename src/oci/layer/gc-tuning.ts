import { runInNewContext } from 'node:vm';

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
 * a scan.
 *
 * Not set at start-up: while any V8 flag differs from its default, V8 rejects
 * Node's code cache for built-in modules, and a metadata-only command would
 * compile every built-in it loads from source (~10 ms). Set here, in the
 * middle of a run, so with care:
 * - `--no-incremental-marking` also turns concurrent marking off, and V8
 *   pauses concurrent markers for a scavenge only while that flag is on: a
 *   marking cycle running at the switch could race the scavenger. A full GC
 *   first (through `--expose-gc`, in a context of its own) ends any cycle.
 * - Bytecode is not flushed either: V8 drops the bytecode of a function unused
 *   for five old-generation GCs, and a scan has dozens, so the code cache
 *   written at its exit (src/cli/launch.ts) lacked the start-up's functions:
 *   the warm scans that then used it compiled them again, ~30 ms each on the
 *   bench machine. Kept, the bytecode is a few MB at most.
 * - At exit the flags go back to their defaults, before the CLI's code
 *   cache is written (src/cli/launch.ts), whose validity V8 ties to them.
 */
export function preferThroughputGc(): void {
  if (tuned) return;
  tuned = true;
  // Loaded here, not with the module: node:v8 costs ~2.5 ms of every command's start.
  const { setFlagsFromString } = process.getBuiltinModule('node:v8');
  setFlagsFromString('--no-flush-bytecode');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  setFlagsFromString('--no-incremental-marking');
  // Prepended: it must run before the launcher's own exit listener, registered first.
  process.prependOnceListener('exit', () => {
    setFlagsFromString('--incremental-marking');
    setFlagsFromString('--concurrent-marking');
    setFlagsFromString('--memory-reducer');
    setFlagsFromString('--no-expose-gc');
    setFlagsFromString('--flush-bytecode');
  });
}
