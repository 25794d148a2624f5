/**
 * The cleanup registry (src/cleanup.ts) on a signal, in a process of its own:
 * what was registered is removed, and nothing new may register while that
 * runs (a job still loading its image when the signal came must not create
 * its container afterwards and leave it behind).
 */

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it } from 'vitest';
import { bundleScript } from './support/bundle.js';

describe('cleanups on a signal', () => {
  it('runs what was registered, refuses a registration that comes after the signal, and exits 130', async () => {
    const module = fileURLToPath(new URL('../src/cleanup.ts', import.meta.url));
    const scratch = await mkdtemp(join(inject('testEnv').workDir, 'cleanup-'));
    try {
      const script = join(scratch, 'signal.mjs');
      await bundleScript(
        `import { registerCleanup } from ${JSON.stringify(module)};
          registerCleanup(async () => {
            await new Promise((resolve) => setTimeout(resolve, 300));
            console.log('removed A');
          }, 'thing A');
          // Work that was under way when the signal came, registering afterwards. Timed from the
          // signal (this listener runs after the cleanup's own), not from here: libuv runs due
          // timers before it reads a signal, so a timer set here could fire first on a slow machine.
          process.on('SIGINT', () =>
            setTimeout(() => {
              try {
                registerCleanup(async () => console.log('removed B'), 'thing B');
                console.log('registered B');
              } catch (error) {
                console.log(error.code);
              }
            }, 50),
          );
          process.kill(process.pid, 'SIGINT');
          setInterval(() => undefined, 1000);`,
        script,
      );
      const outcome = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
        (resolve) => {
          const child = execFile(process.execPath, [script], { timeout: 30_000 }, (_error, stdout, stderr) =>
            resolve({ code: child.exitCode, stdout, stderr }),
          );
        },
      );
      expect(outcome.code).toBe(130);
      expect(outcome.stdout.trim().split('\n')).toEqual(['ERR_INTERRUPTED', 'removed A']);
      expect(outcome.stderr).toBe('ivoc: SIGINT: removing thing A\n');
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
