/**
 * Compiles WebAssembly on V8's baseline compiler (Liftoff) only, eagerly.
 *
 * V8's optimising tier costs ~150 ms for undici's HTTP parser, far more than a
 * short command gains from it, and Liftoff code is plenty for parsing headers
 * or hashing a manifest. The flags are set for the compile only: V8 rejects
 * Node's built-in code cache (and ours, src/cli/launch.ts) while any flag
 * differs from its default, so every module loaded after such a change would
 * compile from source. A module compiled inside the window has no tier-up
 * (dynamic tiering was off when it was made), so it stays on Liftoff after the
 * flags are back. "Back" means V8's defaults (V8 has no way to read a flag):
 * a user's own `node --no-wasm-tier-up` and the like do not survive the first
 * compile. The window is synchronous, but the flags are process-wide: a worker
 * thread loading a built-in module during it would compile it from source.
 */

/** A compiled WebAssembly module (@types/node 20 declares no WebAssembly value). */
export type WasmModule = object;

export interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: Record<string, unknown> };
}

/** WebAssembly, or undefined where V8 runs without it (node --jitless). */
export const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

export function compileOnLiftoff(bytes: Uint8Array): WasmModule {
  if (wasm === undefined) throw new Error('WebAssembly is not available');
  // Loaded here, not with the module: node:v8 costs ~2.5 ms of a start that compiles nothing.
  const { setFlagsFromString } = process.getBuiltinModule('node:v8');
  setFlagsFromString('--liftoff-only');
  setFlagsFromString('--no-wasm-lazy-compilation');
  try {
    return new wasm.Module(bytes);
  } finally {
    // --liftoff-only also turned tier-up and dynamic tiering off: all four back to V8's defaults.
    setFlagsFromString('--no-liftoff-only');
    setFlagsFromString('--wasm-tier-up');
    setFlagsFromString('--wasm-dynamic-tiering');
    setFlagsFromString('--wasm-lazy-compilation');
  }
}
