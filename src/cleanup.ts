/**
 * Cleanup registry: what the process leaves outside itself registers a
 * cleanup here before it exists, and removes it when it is gone: a run's
 * container, with its anonymous volumes (src/run/runner.ts; `--rm` alone
 * would not cover a kill between create and start, or a container that
 * ignores its stop signal), and publish's staged upload sessions
 * (src/publish/staging.ts). On SIGINT/SIGTERM the process runs every pending
 * cleanup (bounded) before it exits.
 */

import { IvocError } from './errors.js';

type Cleanup = () => Promise<void>;

/** Pending cleanups, each with what it removes (said on a signal). */
const pending = new Map<number, { cleanup: Cleanup; what: string }>();
let next = 1;
let installed = false;
let exitingNow = false;

/** How long a signal waits for pending cleanups before the process exits anyway. */
const signalBoundMs = 15_000;

async function runAll(): Promise<void> {
  const all = [...pending.values()];
  pending.clear();
  await Promise.allSettled(all.map(({ cleanup }) => cleanup()));
}

function onSignal(signal: NodeJS.Signals): void {
  if (exitingNow) return;
  exitingNow = true;
  const code = signal === 'SIGINT' ? 130 : 143;
  if (pending.size === 0) process.exit(code);
  // On a terminal, clear a progress line first (lint's progress board draws one).
  const clear = process.stderr.isTTY ? '\r\x1b[K' : '';
  const what = [...new Set([...pending.values()].map((entry) => entry.what))].join(' and ');
  process.stderr.write(`${clear}ivoc: ${signal}: removing ${what}\n`);
  const bound = setTimeout(() => process.exit(code), signalBoundMs);
  bound.unref();
  runAll().finally(() => process.exit(code));
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

export interface Registration {
  /** Runs the cleanup now (once) and forgets it. */
  run(): Promise<void>;
}

/**
 * Registers CLEANUP (removing WHAT) to run on `run()`, or on SIGINT/SIGTERM if
 * that comes first. Once a signal is being handled it throws ERR_INTERRUPTED
 * instead: the cleanups then running are the ones taken when the signal came,
 * so what registers later must not be made at all (a job whose image was still
 * loading when the signal came would otherwise start its container after the
 * others were removed, and leave it behind).
 */
export function registerCleanup(cleanup: Cleanup, what: string): Registration {
  if (exitingNow) throw new IvocError('ERR_INTERRUPTED', `interrupted: ${what} not made`);
  install();
  const key = next++;
  let done: Promise<void> | undefined;
  const once: Cleanup = () => {
    done ??= cleanup();
    return done;
  };
  pending.set(key, { cleanup: once, what });
  return {
    run: async () => {
      try {
        await once();
      } finally {
        pending.delete(key);
      }
    },
  };
}

/** Number of cleanups not yet run (tests). */
export function pendingCleanups(): number {
  return pending.size;
}
