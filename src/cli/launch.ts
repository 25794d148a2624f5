import {
  closeSync,
  existsSync,
  constants as fsConstants,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import type Module from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { Script, constants as vmConstants } from 'node:vm';
import { cacheDisabledByEnv, defaultCacheDir } from '../oci/cache-env.js';
import { commandOf } from './launch-args.js';

/**
 * The CLI's entry (dist/cli.cjs): runs the bundle (dist/ivoc.cjs) with a V8
 * code cache, as Node 22's module compile cache does (Node 20 has none).
 *
 * Compiling the bundle was the largest share of a short command's own time:
 * the source read and decoded, scanned, and every function the command
 * calls compiled. With the cache, V8 deserialises the compiled code instead
 * (measured on a metadata-only `ivoc inspect`: ~229 -> ~210 ms, `node -e 0`
 * being ~113 ms). One cache per command name, made at the end of the first
 * short run of that command that ends normally (exit 0 or 1, not --help), so
 * that it holds the functions that command ran. Short: at most 3 s of CPU
 * (IVOC_CODE_CACHE_MAX_CPU_MS). A long run (a cold scan of a large image:
 * layers read, inflated, parsed) runs much code its short runs never do, and
 * a cache holding it cost each warm scan of the bench image 3-4 ms to
 * deserialise (313 against 208 KB); a long run gains nothing measurable from
 * a cache anyway. (A cold scan of a small image is short, and its cache
 * holds that code: the price of a rule that needs no signal from the
 * command.) A cache V8 rejects (another Node, other V8 flags) is made again;
 * one that cannot be read or written is no error, the command runs as it
 * would without. IVOC_CODE_CACHE=0 turns it
 * off, as do --no-cache and IVOC_NO_CACHE=1, which turn every cache off.
 *
 * The cache is compiled code: it is used only from a directory and a file
 * that the user running ivoc owns and nobody else can write (a cache
 * directory restored from somewhere else is another user's code). With
 * --enable-source-maps the bundle goes through Node's CommonJS loader instead,
 * without the cache: Node 20 maps stack traces only for what that loader
 * compiled.
 *
 * Kept to Node built-ins and two small modules of ours (the cache
 * directory, the command word): it runs before anything else.
 */

type Bundle = (
  exports: object,
  require: NodeJS.Require,
  module: { exports: object },
  filename: string,
  dirname: string,
) => void;

/** Set by scripts/build.mjs: the content hashes of this build's bundles (their caches are kept) and the commands with a bundle of their own. */
declare const __IVOC_BUNDLE_IDS__: readonly string[];
declare const __IVOC_COMMAND_BUNDLES__: Readonly<Record<string, string>>;
/** Set by scripts/build.mjs: this file's directory (dist/, where the bundles are). */
declare const __IVOC_LAUNCHER_DIR__: string;

const distDir = __IVOC_LAUNCHER_DIR__;

/** The bundle's identity, from its first line (`/* ivoc bundle HASH *\/`, a hash of the rest): names the cache file. */
function bundleIdOf(source: string): string | undefined {
  return /^\/\* ivoc bundle ([0-9a-f]{32}) \*\//.exec(source)?.[1];
}

/** Options end at `--`; what follows is operands. */
function optionsOf(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  return end === -1 ? argv : argv.slice(0, end);
}

/**
 * The code cache's name for a run: the command's, but an inspect that reads
 * layers (--scan, --path) runs far more code than a metadata-only one, and
 * each deserialises only what it runs.
 */
function cacheName(command: string, options: readonly string[]): string {
  const readsLayers = options.some(
    (option) => option === '--scan' || option === '--path' || option.startsWith('--path='),
  );
  return command === 'inspect' && readsLayers ? 'inspect-scan' : command;
}

/**
 * Default most CPU (all threads) a run may have used for its code to be
 * cached. A short run uses 0.05-0.35 s here (a first one, compiling
 * everything, the most), so that a machine several times slower still makes
 * its cache; a cold scan of the 1.5 GB bench image uses 4.6-8 s.
 */
const defaultMaxCachedRunCpuMs = 3000;

/** $IVOC_CODE_CACHE_MAX_CPU_MS when a number of milliseconds (decimal digits), else the default. */
function maxCachedRunCpuMs(env: NodeJS.ProcessEnv): number {
  const raw = env.IVOC_CODE_CACHE_MAX_CPU_MS?.trim();
  return raw !== undefined && /^\d{1,9}$/.test(raw) ? Number(raw) : defaultMaxCachedRunCpuMs;
}

/** Ours alone: a directory or file another user (or everyone) could have written is not trusted. */
function trusted(stats: { uid: number; mode: number }): boolean {
  const uid = process.getuid?.();
  return (uid === undefined || stats.uid === uid) && (stats.mode & 0o022) === 0;
}

function readCache(path: string): Buffer | undefined {
  let fd: number;
  try {
    // Not following a symlink, and not waiting on a FIFO (which `r` would, for a writer).
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    // The file checked is the one read: no window between the check and the read.
    const stats = fstatSync(fd);
    if (!stats.isFile() || !trusted(stats) || !trusted(statSync(dirname(path)))) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * The code cache to load, unless the last start that loaded it died doing so.
 * V8 checksums a code cache only in debug builds: a file damaged on disk (not
 * a truncated one: those are refused) crashes its deserializer, and would
 * crash every start of the command. A marker is written before the load and
 * removed after it (loaded()); a marker found here means that load never
 * ended, and the cache is deleted (compiled afresh, written again at exit).
 * ~0.1 ms a start. A concurrent start that loads the same cache at that
 * moment costs a rebuild at worst.
 */
function loadableCache(path: string): Buffer | undefined {
  const data = readCache(path);
  if (data === undefined) return undefined;
  const marker = `${path}.loading`;
  try {
    if (existsSync(marker)) {
      rmSync(path, { force: true });
      rmSync(marker, { force: true });
      return undefined;
    }
    writeFileSync(marker, '', { mode: 0o600 });
  } catch {
    // Unwritable: load it unguarded, as before.
  }
  return data;
}

function loaded(path: string): void {
  try {
    // unlinkSync, not rmSync: rmSync loads Node's rimraf module, on every start.
    unlinkSync(`${path}.loading`);
  } catch {
    // Left behind: the next start rebuilds the cache.
  }
}

/**
 * Written whole or not at all: a temporary file of its own (random name,
 * created exclusively) renamed into place, so that concurrent runs, even in
 * containers sharing the directory with the same pid, never leave half a
 * cache. The caches of other bundles (older builds) are removed then.
 */
function writeCache(path: string, data: Buffer): void {
  const dir = dirname(path);
  // Not node:crypto (its loading costs every command); the exclusive create catches a clash.
  const unique = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  const temporary = `${path}.${unique}.tmp`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(temporary, data, { flag: 'wx', mode: 0o600 });
    renameSync(temporary, path);
  } catch {
    try {
      rmSync(temporary, { force: true });
    } catch {
      // Nothing was written (the directory could not be made).
    }
    return;
  }
  try {
    const current = new Set(__IVOC_BUNDLE_IDS__);
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.v8') && !current.has(name.slice(0, name.indexOf('-'))))
        rmSync(join(dir, name), { force: true });
    }
  } catch {
    // Pruning is a nicety.
  }
}

/** With --enable-source-maps: Node's CommonJS loader, which maps stack traces through dist/ivoc.cjs.map. */
function loadForSourceMaps(bundlePath: string, source: string): Bundle {
  const { Module: CommonJsModule } = process.getBuiltinModule('node:module') as typeof import('node:module');
  const holder = new CommonJsModule(bundlePath) as Module & {
    _compile(code: string, filename: string): void;
  };
  holder.filename = bundlePath;
  // The bundle's code starts on its second line: the prefix shifts only the banner's columns.
  holder._compile(`module.exports=${source}`, bundlePath);
  return holder.exports as Bundle;
}

/**
 * libuv's thread pool, as many threads as cores (2 to 4) unless the user set it
 * (UV_THREADPOOL_SIZE; libuv reads it when the pool starts, on its first
 * task, which no command gives before this runs). Its work here is node:zlib
 * inflating layers, CPU-bound: on the 2-core bench machine Node's default
 * of 4 threads preempted one another and the main thread, and a cold scan
 * of the 1.5 GB bench image took 3.14 s with 4, 3.11 s with 3, 3.05 s with 2
 * (6 runs each, alternating). Never fewer than 2: a blocked file operation
 * or DNS lookup should not hold up the rest.
 */
function sizeThreadPool(env: NodeJS.ProcessEnv): void {
  if (env.UV_THREADPOOL_SIZE !== undefined) return;
  // Never above Node's own 4: availableParallelism() ignores a container's CPU quota (64 on
  // a 64-core host under --cpus=2), and libuv starts every thread of the pool at once.
  env.UV_THREADPOOL_SIZE = String(Math.min(4, Math.max(2, availableParallelism())));
}

function run(): void {
  const env = process.env;
  sizeThreadPool(env);
  const argv = process.argv.slice(2);
  const options = optionsOf(argv);
  const command = commandOf(argv);
  // A command with a bundle of its own (scripts/build.mjs) reads less; the others share dist/ivoc.cjs.
  const bundlePath = join(
    distDir,
    Object.hasOwn(__IVOC_COMMAND_BUNDLES__, command)
      ? (__IVOC_COMMAND_BUNDLES__[command] as string)
      : 'ivoc.cjs',
  );
  // The build checks that the bundle is ASCII: latin1 makes a one-byte string without decoding.
  let source: string;
  try {
    source = readFileSync(bundlePath, 'latin1');
  } catch (error) {
    // A checkout built only in part (or a build that failed its checks): say so, as bin/ivoc.cjs does.
    process.stderr.write(
      `ivoc: not built (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}: ${bundlePath}); run \`npm install\` (or \`npm run build\`) in the checkout\n`,
    );
    process.exit(3);
  }
  let bundle: Bundle;
  if (process.sourceMapsEnabled) {
    bundle = loadForSourceMaps(bundlePath, source);
  } else {
    const bundleId = bundleIdOf(source);
    const enabled =
      bundleId !== undefined &&
      env.IVOC_CODE_CACHE !== '0' &&
      !cacheDisabledByEnv(env) &&
      !options.includes('--no-cache') &&
      // Help prints and exits: its cache would hold next to nothing of the command.
      !options.includes('--help') &&
      !options.includes('-h');
    const cacheDir = enabled ? defaultCacheDir(env) : undefined;
    const path =
      cacheDir === undefined
        ? undefined
        : join(
            cacheDir,
            'code',
            `${bundleId}-node${process.versions.node}-${process.arch}-${cacheName(command, options)}.v8`,
          );
    const cachedData = path === undefined ? undefined : loadableCache(path);
    // The bundle is one function expression (esbuild's banner and footer): the script's value.
    // import() has no place in it (the build checks); the default loader is there if one slips in.
    const script = new Script(source, {
      filename: bundlePath,
      importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
      ...(cachedData ? { cachedData } : {}),
    });
    if (cachedData !== undefined && path !== undefined) loaded(path);
    if (path !== undefined && (cachedData === undefined || script.cachedDataRejected)) {
      const maxCpuMs = maxCachedRunCpuMs(env);
      process.once('exit', (code) => {
        // Only a run that did its work: a failed or interrupted one may have run little of the command.
        if (code !== 0 && code !== 1) return;
        // Only a short one: see the top of this file.
        const { user, system } = process.cpuUsage();
        if ((user + system) / 1000 > maxCpuMs) return;
        // V8 ties the cache to its flags: those a scan changed (src/oci/layer/gc-tuning.ts)
        // are back at their defaults by now (its exit listener runs before this one).
        writeCache(path, script.createCachedData());
      });
    }
    bundle = script.runInThisContext() as Bundle;
  }
  const module = { exports: {} };
  // This file's own require: the bundles sit beside it, so it resolves as theirs would
  // (node:module's createRequire would load that module and the ES loader's parts, ~0.6 ms).
  bundle(module.exports, require, module, bundlePath, dirname(bundlePath));
}

run();
