import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Script } from 'node:vm';

/**
 * The CLI's entry (dist/cli.js): runs the bundle (dist/ivoc.cjs) with a V8
 * code cache, as Node 22's module compile cache does (Node 20 has none).
 *
 * Compiling the bundle was the largest share of a short command's own time:
 * the source read and decoded, scanned, and every function the command
 * calls compiled. With the cache, V8 deserialises the compiled code instead
 * (measured on a metadata-only `ivoc inspect`: ~229 -> ~210 ms, `node -e 0`
 * being ~113 ms). One cache per command name, made at the end of the first
 * run of that command, so that it holds the functions that command ran. A
 * cache V8 rejects (another Node, other V8 flags, another build) is made
 * again; one that cannot be read or written is no error, the command runs
 * as it would without. IVOC_CODE_CACHE=0 turns it off, as do --no-cache and
 * IVOC_NO_CACHE=1, which turn every cache off.
 *
 * Kept to Node built-ins and no import of ours: it runs before anything else.
 */

const bundlePath = join(dirname(fileURLToPath(import.meta.url)), 'ivoc.cjs');

/** The build's identity, from the bundle's first line (`/* ivoc build ID *\/`), for the cache file's name. */
function buildIdOf(source: string): string {
  const match = /^\/\* ivoc build ([0-9a-z-]+) \*\//.exec(source);
  return match?.[1] ?? 'unknown';
}

/** $IVOC_CACHE_DIR, else $XDG_CACHE_HOME/ivoc, else ~/.cache/ivoc: as the layer cache (src/oci/layer/cache.ts). */
function cacheDir(env: NodeJS.ProcessEnv): string {
  if (env.IVOC_CACHE_DIR) return env.IVOC_CACHE_DIR;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'ivoc');
  return join(homedir(), '.cache', 'ivoc');
}

/** The code cache file for this bundle, Node and command (the first argument, when it is a command name). */
function codeCachePath(source: string, argv: readonly string[], env: NodeJS.ProcessEnv): string {
  const first = argv[0];
  const command = first !== undefined && /^[a-z][a-z-]{0,31}$/.test(first) ? first : 'none';
  const name = `${buildIdOf(source)}-node${process.versions.node}-${process.arch}-${command}.v8`;
  return join(cacheDir(env), 'code', name);
}

function readCache(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** Written whole or not at all (a temporary file renamed), so a concurrent run never reads half a cache. */
function writeCache(path: string, data: Buffer): void {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(temporary, data);
    renameSync(temporary, path);
  } catch {
    try {
      rmSync(temporary, { force: true });
    } catch {
      // Nothing was written (the directory could not be made).
    }
  }
}

function run(): void {
  const env = process.env;
  // The build checks that the bundle is ASCII: latin1 makes a one-byte string without decoding.
  const source = readFileSync(bundlePath, 'latin1');
  const argv = process.argv.slice(2);
  // Off with IVOC_CODE_CACHE=0, and with every other cache (--no-cache, IVOC_NO_CACHE).
  const noCache = /^(1|true|yes)$/i.test(env.IVOC_NO_CACHE ?? '') || argv.includes('--no-cache');
  const enabled = env.IVOC_CODE_CACHE !== '0' && !noCache;
  const path = enabled ? codeCachePath(source, argv, env) : undefined;
  const cachedData = path === undefined ? undefined : readCache(path);
  // The bundle is one function expression (esbuild's banner and footer): the script's value.
  const script = new Script(source, { filename: bundlePath, ...(cachedData ? { cachedData } : {}) });
  if (path !== undefined && (cachedData === undefined || script.cachedDataRejected === true)) {
    process.once('exit', () => {
      // V8 keys the cache by its flags: a scan turns incremental marking off
      // (src/oci/layer/gc-tuning.ts), so it is turned back on, its default,
      // else the cache would be rejected by every run that starts with the defaults.
      setFlagsFromString('--incremental-marking');
      writeCache(path, script.createCachedData());
    });
  }
  const bundle = script.runInThisContext() as (
    exports: object,
    require: NodeJS.Require,
    module: { exports: object },
    filename: string,
    dirname: string,
  ) => void;
  const module = { exports: {} };
  bundle(module.exports, createRequire(bundlePath), module, bundlePath, dirname(bundlePath));
}

run();
