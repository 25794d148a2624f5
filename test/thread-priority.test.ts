import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { getPriority } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { helperNice, helperPriority } from '../src/oci/thread-priority.js';
import { bundleScript } from './support/bundle.js';

const linux = process.platform === 'linux';

describe('helper thread priority', () => {
  it('IVOC_HELPER_NICE: 0-19, else the default of 10', () => {
    const expected = linux ? 10 : 0;
    expect(helperNice({})).toBe(expected);
    expect(helperNice({ IVOC_HELPER_NICE: '' })).toBe(expected);
    expect(helperNice({ IVOC_HELPER_NICE: 'high' })).toBe(expected);
    expect(helperNice({ IVOC_HELPER_NICE: '-5' })).toBe(expected);
    expect(helperNice({ IVOC_HELPER_NICE: '20' })).toBe(expected);
    expect(helperNice({ IVOC_HELPER_NICE: '2.5' })).toBe(expected);
    expect(helperNice({ IVOC_HELPER_NICE: '0' })).toBe(0);
    expect(helperNice({ IVOC_HELPER_NICE: '19' })).toBe(linux ? 19 : 0);
    expect(helperPriority(0, 10)).toBe(10);
    expect(helperPriority(15, 10)).toBe(19);
  });
});

// Run in a child: the priority is lowered once per process, and it is the process's threads we read.
describe.runIf(linux)('helper threads of a real process', () => {
  let scratch: string;
  let script: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(inject('testEnv').workDir, 'thread-priority-'));
    const priority = fileURLToPath(new URL('../src/oci/thread-priority.ts', import.meta.url));
    const hash = fileURLToPath(new URL('../src/oci/hash-offload.ts', import.meta.url));
    // Notes the threads there are at start-up (V8's), starts the hash worker and node:zlib's thread pool,
    // lowers the helpers, then reads each thread's nice value. CommonJS, as the CLI runs: an ES module
    // entry point is read through the thread pool, which then counts as there at start-up.
    script = join(scratch, 'nice.cjs');
    await bundleScript(
      `import { readdirSync, readFileSync } from 'node:fs';
          import { gzipSync } from 'node:zlib';
          import { promisify } from 'node:util';
          import { gunzip } from 'node:zlib';
          import { lowerHelperThreadPriority } from ${JSON.stringify(priority)};
          import { OffloadedSha256 } from ${JSON.stringify(hash)};
          const atStart = new Set(readdirSync('/proc/self/task'));
          void (async () => {
          const hash = new OffloadedSha256();
          hash.update(Buffer.alloc(1 << 20, 7));
          await lowerHelperThreadPriority();
          await promisify(gunzip)(gzipSync(Buffer.alloc(1 << 20)));
          await hash.digest();
          const nice = { main: 0, startup: [], later: [] };
          for (const task of readdirSync('/proc/self/task')) {
            const stat = readFileSync('/proc/self/task/' + task + '/stat', 'utf8');
            const value = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
            if (Number(task) === process.pid) nice.main = value;
            else (atStart.has(task) ? nice.startup : nice.later).push(value);
          }
          console.log(JSON.stringify(nice));
          })();`,
      script,
      'cjs',
    );
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  interface NiceValues {
    main: number;
    /** V8's threads, there at start-up. */
    startup: number[];
    /** node:zlib's pool and the hash worker. */
    later: number[];
  }

  async function niceValues(env: NodeJS.ProcessEnv, niceness = 0): Promise<NiceValues> {
    const command =
      niceness === 0
        ? [process.execPath, script]
        : ['nice', '-n', String(niceness), process.execPath, script];
    const { stdout } = await promisify(execFile)(command[0] as string, command.slice(1), {
      // Node's default pool (4 threads), whatever the runner's environment says.
      env: { ...process.env, UV_THREADPOOL_SIZE: '4', ...env },
      timeout: 60_000,
    });
    return JSON.parse(stdout) as NiceValues;
  }

  // The runner's own niceness (0 unless the test run itself was started under nice).
  const base = getPriority();
  const at = (nice: number) => Math.min(19, nice);

  it("the thread pool and the hash worker run 10 nice steps below the main thread; V8's start-up threads are left", async () => {
    const { main, startup, later } = await niceValues({ IVOC_HELPER_NICE: undefined });
    expect(main).toBe(base);
    // 4 pool threads and the hash worker at least.
    expect(later.length).toBeGreaterThanOrEqual(5);
    expect(later.every((nice) => nice === at(base + 10))).toBe(true);
    expect(startup.length).toBeGreaterThanOrEqual(1);
    expect(startup.every((nice) => nice === base)).toBe(true);
  });

  it('relative to the process: under nice 5 the helpers run 10 steps lower, capped at 19', async () => {
    const offset = await niceValues({ IVOC_HELPER_NICE: undefined }, 5);
    expect(offset.main).toBe(at(base + 5));
    expect(offset.startup.every((nice) => nice === at(base + 5))).toBe(true);
    expect(offset.later.every((nice) => nice === at(base + 15))).toBe(true);
    const capped = await niceValues({ IVOC_HELPER_NICE: '19' }, 5);
    expect(capped.later.every((nice) => nice === 19)).toBe(true);
  });

  it('IVOC_HELPER_NICE=0 leaves every thread as it is', async () => {
    const { main, startup, later } = await niceValues({ IVOC_HELPER_NICE: '0' });
    expect(main).toBe(base);
    expect([...startup, ...later].every((nice) => nice === base)).toBe(true);
  });
});
