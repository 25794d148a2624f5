import type { Worker } from 'node:worker_threads';
import { IvocError } from '../errors.js';
import { helperThreadNice } from './thread-priority.js';

/**
 * SHA-256 of large streams on a worker thread.
 *
 * A cold scan hashes every blob it reads (and, with IVOC_VERIFY_DIFF_IDS=1,
 * every uncompressed tar too): on the main thread that took a large share of
 * its time while the second core waited for work. Here the main thread only
 * copies each chunk into a shared ring (~13 GB/s) and a worker hashes it
 * (~1.3 GB/s, SHA-NI), in parallel.
 *
 * One worker for the process, fed through one SharedArrayBuffer ring rather
 * than postMessage: no allocation, no message per chunk. Records are
 * 16-byte aligned: a header [kind, hash id, length, 0] and the data. The
 * writer waits (Atomics.wait) when the ring is full, so memory is bounded
 * by the ring whatever the rates; the worker sleeps in Atomics.wait when it
 * is empty. Digests come back by message. The worker never keeps the
 * process alive except while a digest is awaited.
 */

/**
 * 4 MiB: the worker shares the second core with node:zlib's pool, and the
 * writer blocked on a full 2 MiB ring for 0.6-0.75 s of a cold 1.5 GB scan
 * (wall 3.39-3.53 s on a quiet machine; 4 MiB 3.28-3.45 s; 8 MiB 3.26-3.36 s,
 * but a peak RSS of up to 199 MB in the bench, against its 200 MB target).
 */
const ringBytes = 4 * 1024 * 1024;
/** Largest data part of one record: a bigger chunk is written as several. */
const maxRecordData = 1024 * 1024;
const headerBytes = 16;
/** Data written before the worker is woken (it sleeps when the ring is empty). */
const wakeBytes = 512 * 1024;

// Control words (Int32): where the writer and the reader are, as free-running byte counts mod 2^32.
const WRITE = 0;
const READ = 1;
/** Set by the worker when it failed: the writer stops waiting for room. */
const DEAD = 2;

// Record kinds.
const OPEN = 1;
const DATA = 2;
const FINAL = 3;
const DROP = 4;
const WRAP = 5;

/** How long the writer waits for room before it gives up (the worker is gone or stuck). */
const stallMs = 60_000;

/** The hash worker died or stopped making progress: what it was hashing cannot be verified. */
export class HashOffloadError extends IvocError {
  override name = 'HashOffloadError';
  constructor(message: string) {
    super('ERR_HASH_WORKER', message);
  }
}

/**
 * The worker's whole program. It runs as an eval'd script (no file to find
 * in the bundle or in tests), so it must not use anything from this module's
 * scope: it is turned into a string.
 */
function hashWorkerMain(): void {
  // Not require(): bundlers rewrite it, and the string must run as it is.
  const { workerData, parentPort } = process.getBuiltinModule('node:worker_threads');
  const { createHash } = process.getBuiltinModule('node:crypto');
  if (workerData.nice !== undefined) {
    // Below the main thread, which feeds us (thread-priority.ts). No pid: this thread only (Linux).
    try {
      process.getBuiltinModule('node:os').setPriority(workerData.nice);
    } catch {
      // only a hint
    }
  }
  const ctrl = new Int32Array(workerData.ctrl);
  const data: SharedArrayBuffer = workerData.data;
  const words = new Int32Array(data);
  const size: number = data.byteLength;
  const mask = size - 1;
  const hashes = new Map<number, ReturnType<typeof createHash>>();
  let read = 0;
  try {
    for (;;) {
      const write = Atomics.load(ctrl, 0);
      if (write === (read | 0)) {
        Atomics.wait(ctrl, 0, write);
        continue;
      }
      while ((read | 0) !== Atomics.load(ctrl, 0)) {
        const offset = read & mask;
        const kind = words[offset >> 2] ?? 0;
        const id = words[(offset >> 2) + 1] ?? 0;
        const length = words[(offset >> 2) + 2] ?? 0;
        let advance = 16 + ((length + 15) & ~15);
        if (kind === 1) {
          hashes.set(id, createHash('sha256'));
        } else if (kind === 2) {
          hashes.get(id)?.update(new Uint8Array(data, offset + 16, length));
        } else if (kind === 3) {
          const hash = hashes.get(id);
          hashes.delete(id);
          parentPort?.postMessage([id, hash?.digest('hex')]);
        } else if (kind === 4) {
          hashes.delete(id);
        } else if (kind === 5) {
          advance = size - offset;
        } else {
          throw new Error(`hash ring: unknown record kind ${kind} at ${offset}`);
        }
        read = (read + advance) >>> 0;
        Atomics.store(ctrl, 1, read | 0);
        Atomics.notify(ctrl, 1);
      }
    }
  } catch (error) {
    Atomics.store(ctrl, 2, 1);
    Atomics.notify(ctrl, 1);
    throw error;
  }
}

interface Waiter {
  resolve(hex: string): void;
  reject(error: Error): void;
}

/** The process's hash worker and the writing end of its ring. */
class HashRing {
  private readonly worker: Worker;
  private readonly ctrl: Int32Array;
  /** The ring's data as a Buffer: see record() for why a Buffer. */
  private readonly bytes: Buffer;
  private readonly words: Int32Array;
  private write = 0;
  /** Record bytes written since the worker was last woken. */
  private unnotified = 0;
  private nextId = 1;
  private readonly waiters = new Map<number, Waiter>();
  failure: HashOffloadError | undefined;

  constructor() {
    const { Worker } = process.getBuiltinModule('node:worker_threads');
    const ctrl = new SharedArrayBuffer(16);
    const data = new SharedArrayBuffer(ringBytes);
    this.ctrl = new Int32Array(ctrl);
    this.bytes = Buffer.from(data);
    this.words = new Int32Array(data);
    this.worker = new Worker(`(${hashWorkerMain.toString()})()`, {
      eval: true,
      workerData: { ctrl, data, nice: helperThreadNice() },
      // Hashing needs little heap: the data stays in the ring.
      resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    this.worker.on('message', (message: [number, string]) => {
      const waiter = this.waiters.get(message[0]);
      this.waiters.delete(message[0]);
      if (this.waiters.size === 0) this.worker.unref();
      waiter?.resolve(message[1]);
    });
    this.worker.on('error', (error: Error) => this.fail(`hash worker failed: ${error.message}`));
    this.worker.on('exit', (code) => this.fail(`hash worker exited with code ${code}`));
    // After the listeners: adding a 'message' listener refs the worker again.
    // Only an awaited digest holds the process open (see digest()).
    this.worker.unref();
  }

  /** Gives up on this ring: every digest awaited is rejected, the worker stopped; the next hash gets a new ring. */
  private fail(message: string): HashOffloadError {
    if (this.failure === undefined) {
      this.failure = new HashOffloadError(message);
      this.worker.unref();
      this.worker.terminate().catch(() => undefined);
    }
    for (const waiter of this.waiters.values()) waiter.reject(this.failure);
    this.waiters.clear();
    return this.failure;
  }

  open(): number {
    const id = this.nextId++;
    this.record(OPEN, id, undefined);
    return id;
  }

  update(id: number, chunk: Uint8Array): void {
    for (let start = 0; start < chunk.length; start += maxRecordData) {
      const end = Math.min(chunk.length, start + maxRecordData);
      this.record(DATA, id, start === 0 && end === chunk.length ? chunk : chunk.subarray(start, end));
    }
  }

  digest(id: number): Promise<string> {
    try {
      this.record(FINAL, id, undefined);
    } catch (error) {
      return Promise.reject(error);
    }
    // The reply is a message: it cannot arrive before this returns.
    const result = new Promise<string>((resolve, reject) => {
      this.waiters.set(id, { resolve, reject });
    });
    this.worker.ref();
    return result;
  }

  /** Never throws: a hash let go of on an error path must not replace that error. */
  drop(id: number): void {
    if (this.failure) return;
    try {
      this.record(DROP, id, undefined);
    } catch {
      // The ring failed: nothing of this hash is left to free.
    }
  }

  /** Writes one record, waiting for room first. */
  private record(kind: number, id: number, chunk: Uint8Array | undefined): void {
    if (this.failure) throw this.failure;
    const length = chunk === undefined ? 0 : chunk.length;
    const total = headerBytes + ((length + 15) & ~15);
    let offset = this.write & (ringBytes - 1);
    const toEnd = ringBytes - offset;
    this.waitForRoom(total <= toEnd ? total : toEnd + total);
    if (total > toEnd) {
      this.words[offset >> 2] = WRAP;
      this.write = (this.write + toEnd) >>> 0;
      offset = 0;
    }
    const word = offset >> 2;
    this.words[word] = kind;
    this.words[word + 1] = id;
    this.words[word + 2] = length;
    if (chunk !== undefined && length > 0) {
      // Buffer#fill with a value as long as the range is a copy, and a memcpy: V8's TypedArray#set
      // copies into shared memory word by word (relaxed atomics), ~1.7x slower (1.5 GB: 140 vs 85 ms).
      const start = offset + headerBytes;
      this.bytes.fill(chunk, start, start + length);
    }
    this.write = (this.write + total) >>> 0;
    // The store publishes the record (Atomics are sequentially consistent): the reader sees header and data.
    Atomics.store(this.ctrl, WRITE, this.write | 0);
    // Waking the worker is a futex call: once per wakeBytes of data, and for every digest asked.
    this.unnotified += total;
    if (kind === FINAL || this.unnotified >= wakeBytes) this.wake();
  }

  private wake(): void {
    this.unnotified = 0;
    Atomics.notify(this.ctrl, WRITE);
  }

  private waitForRoom(needed: number): void {
    let started: number | undefined;
    for (;;) {
      const read = Atomics.load(this.ctrl, READ);
      if (ringBytes - ((this.write - read) >>> 0) >= needed) return;
      if (Atomics.load(this.ctrl, DEAD) !== 0) throw this.fail('hash worker failed');
      if (started === undefined) {
        started = performance.now();
        // The worker may sleep on records it was not woken for.
        this.wake();
      }
      if (performance.now() - started > stallMs) {
        throw this.fail(`hash worker made no progress for ${stallMs / 1000} s`);
      }
      Atomics.wait(this.ctrl, READ, read, 100);
    }
  }
}

let ring: HashRing | undefined;

function sharedRing(): HashRing {
  if (ring === undefined || ring.failure !== undefined) ring = new HashRing();
  return ring;
}

/** Whether large hashes go to the worker: on unless IVOC_HASH_WORKER=0. */
export function hashOffloadEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.IVOC_HASH_WORKER !== '0';
}

/**
 * An incremental SHA-256 computed on the hash worker; update() copies,
 * digest() resolves with hex. Nothing reaches the worker before the first
 * update or digest, so a hash made for a stream that never flows costs nothing.
 */
export class OffloadedSha256 {
  private ring: HashRing | undefined;
  private id = 0;
  private done = false;

  private opened(): HashRing {
    if (this.ring === undefined) {
      const ring = sharedRing();
      this.id = ring.open();
      this.ring = ring;
    }
    return this.ring;
  }

  update(chunk: Uint8Array): void {
    if (this.done) throw new Error('OffloadedSha256: update after digest');
    if (chunk.length > 0) this.opened().update(this.id, chunk);
  }

  digest(): Promise<string> {
    if (this.done) return Promise.reject(new Error('OffloadedSha256: digest called twice'));
    this.done = true;
    try {
      return this.opened().digest(this.id);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Forget a hash that will never be finished (the stream failed). Never throws. */
  abandon(): void {
    if (this.done) return;
    this.done = true;
    this.ring?.drop(this.id);
  }
}
