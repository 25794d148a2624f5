/**
 * undici's HTTP parser, llhttp (WebAssembly), compiled on V8's baseline
 * compiler (../wasm-liftoff.ts) and ahead of the first connection.
 *
 * The bundle (scripts/build.mjs) sends undici's two `new WebAssembly.Module`
 * calls to compileOnLiftoff and registers undici's own parser factory here:
 * the registry client calls prepareHttpParser while its first connection
 * through undici is on the wire, so that the ~10 ms compile overlaps the
 * round trip instead of following it.
 */

export { compileOnLiftoff } from '../wasm-liftoff.js';

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
