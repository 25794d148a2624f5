/**
 * A layer scan is a pipeline with the main thread at its hub: it reads the
 * network, feeds the hash worker and node:zlib's thread pool, and parses
 * what they give back. Each helper sleeps and wakes thousands of times per
 * scan, and the kernel lets a thread that wakes preempt the one running:
 * on 2 cores the hub was preempted ~10,000 times per cold scan of the
 * 1.5 GB bench image and waited 2.0-2.7 s to run again, while the helpers
 * waited for it. So the helpers run at a lower priority (a higher nice
 * value) than the main thread, as RocksDB lowers its compaction pool's:
 * the main thread's wait fell to 0.8-1.2 s, and the scan's wall time by
 * 5-10 % (bench/RESULTS.md, session 9).
 *
 * V8's own threads (those the process started with: GC helpers) are left
 * alone: the main thread waits for their part of a collection, and they
 * free the memory of dead buffers (peak RSS ~4 MB lower in the median).
 *
 * Linux only, where a nice value is per thread. With autogroup (the default
 * on desktop distributions) or a container's cgroup, nice values weigh only
 * against threads of the same group, so other programs are not favoured over
 * our helpers. IVOC_HELPER_NICE sets the offset (0-19, default 10; 0 leaves
 * every thread as it is).
 */

export const defaultHelperNice = 10;

/** The nice offset for helper threads: $IVOC_HELPER_NICE when an integer in 0-19, else the default; 0 off Linux. */
export function helperNice(env: NodeJS.ProcessEnv = process.env): number {
  if (process.platform !== 'linux') return 0;
  const raw = env.IVOC_HELPER_NICE;
  if (raw === undefined || raw.trim() === '') return defaultHelperNice;
  const value = Number(raw);
  return Number.isInteger(value) && value >= 0 && value <= 19 ? value : defaultHelperNice;
}

/** The nice value for a helper of a thread whose nice value is `own`: never above 19. */
export function helperPriority(own: number, offset: number): number {
  return Math.min(19, own + offset);
}

/**
 * The nice value helper threads get: this thread's (the main thread's, when
 * called there) plus the offset; undefined when the offset is 0.
 */
export function helperThreadNice(): number | undefined {
  const offset = helperNice();
  if (offset === 0) return undefined;
  return helperPriority(process.getBuiltinModule('node:os').getPriority(), offset);
}

/**
 * The threads there were when this module was loaded, at start-up: V8's.
 * node:zlib's thread pool starts with the first task given to it, the hash
 * worker with the first large hash. (Where an ES module entry point was read
 * through the pool before this module loaded, the pool is left alone too:
 * the CLI's bundles are CommonJS.)
 */
const startupThreads: ReadonlySet<string> = listThreads();

function listThreads(): ReadonlySet<string> {
  if (process.platform !== 'linux') return new Set();
  try {
    return new Set(process.getBuiltinModule('node:fs').readdirSync('/proc/self/task'));
  } catch {
    return new Set();
  }
}

let lowering: Promise<void> | undefined;

/**
 * Lowers the priority of the threads started since start-up (node:zlib's
 * thread pool), once per process. (The hash worker lowers its own when it
 * starts: see hash-offload.ts.) Failures are ignored: a thread may have
 * ended, and priority is only a hint.
 */
export function lowerHelperThreadPriority(): Promise<void> {
  const nice = helperThreadNice();
  if (nice === undefined) return Promise.resolve();
  lowering ??= (async () => {
    // Loaded here, not at start-up: a metadata-only command never needs them.
    const { readdir } = process.getBuiltinModule('node:fs/promises');
    const { setPriority } = process.getBuiltinModule('node:os');
    // readdir runs on the thread pool: by the time it answers, the pool's threads exist and are listed.
    let tasks: string[];
    try {
      tasks = await readdir('/proc/self/task');
    } catch {
      return;
    }
    for (const task of tasks) {
      const tid = Number(task);
      if (tid === process.pid || !Number.isSafeInteger(tid) || startupThreads.has(task)) continue;
      try {
        setPriority(tid, nice);
      } catch {
        // ended meanwhile, or not ours to change
      }
    }
  })();
  return lowering;
}
