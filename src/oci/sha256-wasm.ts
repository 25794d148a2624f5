/**
 * SHA-256's block function as WebAssembly: a module of a few hundred bytes
 * assembled at build time (scripts/sha256-wasm.mjs, which describes it).
 * Hashing a manifest and a config in JavaScript ran in V8's interpreter,
 * ~1.5 ms per 2.7 KB on the bench machine, and had V8 optimise its loop in
 * the background; this compiles in ~0.2-0.8 ms and hashes them in
 * microseconds. Compiled with V8's defaults, not in wasm-liftoff.ts's window:
 * so small a module costs little to optimise, and the window's node:v8 cost
 * ~2.5 ms of each metadata-only command's start. sha256.ts falls back to its
 * JavaScript block function where WebAssembly is missing (node --jitless).
 */

import { layout, sha256Wasm } from '../generated/sha256-wasm.js';
import { wasm } from './wasm-liftoff.js';

export const { scheduleOffset, stateOffset, inputOffset } = layout;
/** Input bytes one call takes: the rest of the module's one page. */
export const inputCapacity = 65536 - inputOffset;

export interface Sha256Blocks {
  /** The module's memory, as bytes and as words. */
  bytes: Uint8Array;
  words: Uint32Array;
  /** Hashes `count` blocks at byte `offset` into the state at stateOffset. */
  blocks(offset: number, count: number): void;
}

let engine: Sha256Blocks | null | undefined;

/** The compiled block function, made on first use; null where WebAssembly cannot run it. */
export function sha256Blocks(roundConstants: Uint32Array): Sha256Blocks | null {
  if (engine !== undefined) return engine;
  engine = null;
  if (wasm === undefined) return engine;
  try {
    const instance = new wasm.Instance(new wasm.Module(Buffer.from(sha256Wasm, 'base64')), {});
    const memory = instance.exports.memory as { buffer: ArrayBuffer };
    const words = new Uint32Array(memory.buffer);
    words.set(roundConstants, 0);
    engine = {
      bytes: new Uint8Array(memory.buffer),
      words,
      blocks: instance.exports.blocks as (offset: number, count: number) => void,
    };
  } catch {
    // The JavaScript block function serves.
  }
  return engine;
}
