import { describe, expect, it } from 'vitest';
import { orderedPool } from '../src/cli/pool.js';

/** `lint -j N`'s pool: bounded, and indistinguishable from a loop in what it returns, writes and throws. */

/** Resolves after MS, or rejects when SIGNAL aborts. */
function wait(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

describe('orderedPool', () => {
  it('runs at most LIMIT at once, starts in order, returns results in order', async () => {
    let active = 0;
    let most = 0;
    const started: number[] = [];
    const delays = [40, 5, 25, 5, 30, 1];
    const results = await orderedPool(
      delays,
      3,
      async (ms, { index }) => {
        started.push(index);
        active++;
        most = Math.max(most, active);
        await wait(ms);
        active--;
        return `r${index}`;
      },
      () => {},
    );
    expect(results).toEqual(['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
    expect(started).toEqual([0, 1, 2, 3, 4, 5]);
    expect(most).toBe(3);
    const one = await orderedPool(
      [1, 2, 3],
      1,
      async (n) => n * 2,
      () => {},
    );
    expect(one).toEqual([2, 4, 6]);
    expect(
      await orderedPool(
        [],
        4,
        async () => 1,
        () => {},
      ),
    ).toEqual([]);
  });

  it('writes what the items log in item order, the first item at once', async () => {
    const written: string[] = [];
    const first = { wrote: false };
    await orderedPool(
      [30, 1, 10],
      3,
      async (ms, { index, log }) => {
        log(`${index}a `);
        if (index === 0) first.wrote = written.includes('0a ');
        await wait(ms);
        log(`${index}b `);
      },
      (text) => written.push(text),
    );
    expect(first.wrote).toBe(true);
    expect(written.join('')).toBe('0a 0b 1a 1b 2a 2b ');
  });

  it('a throw stops the pool as a loop would: earlier items finish, later ones are aborted, the first error wins', async () => {
    const written: string[] = [];
    const ends: string[] = [];
    const error = await orderedPool(
      ['slow-ok', 'boom', 'aborted', 'boom-too', 'never'],
      4,
      async (name, { index, signal, log }) => {
        log(`${name} `);
        try {
          if (name === 'slow-ok') await wait(40);
          else if (name === 'boom') {
            await wait(5);
            throw new Error('boom');
          } else if (name === 'boom-too') {
            await wait(10);
            throw new Error('boom-too');
          } else await wait(1000, signal);
          ends.push(`${index} done`);
        } catch (e) {
          ends.push(`${index} ${signal.aborted ? 'aborted' : 'threw'}`);
          throw e;
        }
      },
      (text) => written.push(text),
    ).catch((e: unknown) => e);
    expect((error as Error).message).toBe('boom');
    expect(ends.sort()).toEqual(['0 done', '1 threw', '2 aborted', '3 aborted']);
    // Text of the failing item and those before it; none after.
    expect(written.join('')).toBe('slow-ok boom ');
  });

  it('an earlier item that throws later still decides the error', async () => {
    const error = await orderedPool(
      [30, 5],
      2,
      async (ms, { index }) => {
        await wait(ms);
        throw new Error(`item ${index}`);
      },
      () => {},
    ).catch((e: unknown) => e);
    expect((error as Error).message).toBe('item 0');
  });
});

describe('--jobs', () => {
  it('defaults to one per CPU, at most 4; IVOC_JOBS or the option set it; anything but a whole number >= 1 is a usage error', async () => {
    const { defaultJobs, jobsFrom } = await import('../src/cli/lint.js');
    const { availableParallelism } = await import('node:os');
    expect(defaultJobs()).toBe(Math.min(4, availableParallelism()));
    expect(jobsFrom(undefined, {})).toBe(defaultJobs());
    expect(jobsFrom(undefined, { IVOC_JOBS: '3' })).toBe(3);
    expect(jobsFrom('1', { IVOC_JOBS: '3' })).toBe(1);
    expect(jobsFrom(8, {})).toBe(8);
    for (const bad of ['0', '-1', '1.5', 'many']) {
      expect(() => jobsFrom(bad, {})).toThrow(/--jobs takes/);
      expect(() => jobsFrom(undefined, { IVOC_JOBS: bad })).toThrow(/IVOC_JOBS/);
    }
  });
});
