/**
 * undici's HTTP parser, llhttp (WebAssembly), compiled on V8's baseline
 * compiler and ahead of the first connection.
 *
 * undici compiles llhttp when it first connects. V8's optimising tier for it
 * costs ~150 ms of a short command's life, while Liftoff (the baseline
 * compiler) is plenty for parsing headers: so llhttp is compiled with
 * `--liftoff-only`, eagerly, and the flags are put back at once. Why not for
 * the whole process: V8 rejects Node's built-in code cache while any flag
 * differs from its default, and every built-in module loaded after such a
 * change compiles from source (~10 ms more for an inspect). The module
 * compiled inside the window has no tier-up (dynamic tiering was off when it
 * was made), so it stays on Liftoff after the flags are back.
 *
 * The bundle (scripts/build.mjs) sends undici's two `new WebAssembly.Module`
 * calls to compileOnLiftoff and registers undici's own parser factory here:
 * the registry client calls prepareHttpParser while its first connection (or
 * the TLS probe of an insecure registry) is on the wire, so that the ~10 ms
 * compile overlaps the round trip instead of following it.
 */

import { setFlagsFromString } from 'node:v8';

/** A compiled WebAssembly module (@types/node 20 declares no WebAssembly value). */
type WasmModule = object;
const { WebAssembly } = globalThis as unknown as {
  WebAssembly: { Module: new (bytes: Uint8Array) => WasmModule };
};

/** Compiles on Liftoff only (see above). */
export function compileOnLiftoff(bytes: Uint8Array): WasmModule {
  setFlagsFromString('--liftoff-only');
  setFlagsFromString('--no-wasm-lazy-compilation');
  let module: WasmModule;
  try {
    module = new WebAssembly.Module(bytes);
  } finally {
    // --liftoff-only also turned tier-up and dynamic tiering off: all four back to V8's defaults.
    setFlagsFromString('--no-liftoff-only');
    setFlagsFromString('--wasm-tier-up');
    setFlagsFromString('--wasm-dynamic-tiering');
    setFlagsFromString('--wasm-lazy-compilation');
  }
  return module;
}

/** Set by the bundle's undici (client-h1.js, patched by scripts/build.mjs): makes its parser instance now. */
let makeUndiciParser: (() => void) | undefined;

export function registerParserFactory(make: () => void): void {
  makeUndiciParser = make;
}

let prepared = false;

/**
 * Has undici make its parser now, as it would on its first connection, in a
 * microtask: call it once a connection is under way. Without the bundle
 * (tests run the sources) there is no factory and undici compiles on connecting.
 */
export function prepareHttpParser(): void {
  const make = makeUndiciParser;
  if (prepared || make === undefined) return;
  prepared = true;
  queueMicrotask(() => {
    try {
      make();
    } catch {
      // undici meets the same error on connecting and reports it there.
    }
  });
}
