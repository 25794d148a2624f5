// Bundles the CLI with esbuild: one CommonJS file whose commands load lazily, so a
// command loads only what it uses (start-up time is measured in bench/).
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { generatedDir, generateSchemaValidators } from './schema-validators.mjs';
import { generateSha256Wasm } from './sha256-wasm.mjs';

/**
 * The build's identity: a hash of every input of the bundle we own (src/,
 * spec/, package.json, package-lock.json, this script). Caches of derived results (src/oci/layer/cache.ts:
 * rule results, scan summaries) are keyed by it, so a changed rule never
 * meets a result an older build computed; layer facts are not (factsVersion).
 */
async function buildId() {
  const hash = createHash('sha256');
  const files = [];
  for (const dir of ['src', 'spec']) {
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) files.push(join(entry.parentPath, entry.name));
    }
  }
  // The lockfile too: a dependency a rule relies on may change with it alone.
  files.push('package.json', 'package-lock.json');
  // And this script: its plugins patch what goes into the bundle.
  files.push('scripts/build.mjs');
  for (const file of files.sort()) {
    hash.update(`${file}\0`);
    hash.update(await readFile(file));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 32);
}

// Files of earlier builds would pile up in dist/.
await rm('dist', { recursive: true, force: true });
await generateSchemaValidators();
await generateSha256Wasm(generatedDir);

/**
 * undici's HTTP/2 client requires node:http2 when it loads, and node:http2
 * brings node:tls: together ~15 ms of every command's start-up. Our registry
 * client speaks HTTP/1.1 only (undici's default: allowH2 off, so ALPN never
 * picks h2 and the HTTP/2 code never runs). undici itself falls back to
 * `{ constants: {} }` when node:http2 cannot be loaded (client-h2.js); the
 * bundle gives its client-h2 exactly that. TLS connections still load
 * node:tls on first use (undici's connect.js). test/bundle.test.ts checks
 * what a metadata-only inspect loads.
 */
const undiciWithoutHttp2 = {
  name: 'undici-without-http2',
  setup(build) {
    build.onResolve({ filter: /^node:http2$/ }, (args) =>
      /undici[\\/]lib[\\/]dispatcher[\\/]client-h2\.js$/.test(args.importer)
        ? { path: 'undici-http2-absent', namespace: 'ivoc' }
        : undefined,
    );
    build.onLoad({ filter: /^undici-http2-absent$/, namespace: 'ivoc' }, () => ({
      contents: 'module.exports = { constants: {} };',
      loader: 'js',
    }));
  },
};

/**
 * undici requires node:http for two things: http.maxHeaderSize, the default
 * of a client's maxHeaderSize (ours sets it: src/oci/registry/http.ts), and
 * IncomingMessage, compared with a stream being destroyed. Loading node:http
 * (its agent, client, server and parser binding) costs ~3 ms of every
 * command; both uses now require it when they run. The build fails if
 * undici's source no longer has what is patched.
 */
const undiciHttpOnUse = {
  name: 'undici-http-on-use',
  setup(build) {
    const patches = {
      'core/util.js': [
        ["const { IncomingMessage } = require('node:http')\n", ''],
        ['.constructor === IncomingMessage', ".constructor === require('node:http').IncomingMessage"],
      ],
      'dispatcher/client.js': [
        ["const http = require('node:http')\n", ''],
        [
          `const getDefaultNodeMaxHeaderSize = http &&
  http.maxHeaderSize &&
  Number.isInteger(http.maxHeaderSize) &&
  http.maxHeaderSize > 0
  ? () => http.maxHeaderSize
  : () => { throw new InvalidArgumentError('http module not available or http.maxHeaderSize invalid') }`,
          `const getDefaultNodeMaxHeaderSize = () => {
  const { maxHeaderSize } = require('node:http')
  if (Number.isInteger(maxHeaderSize) && maxHeaderSize > 0) return maxHeaderSize
  throw new InvalidArgumentError('http module not available or http.maxHeaderSize invalid')
}`,
        ],
      ],
    };
    build.onLoad(
      { filter: /undici[\\/]lib[\\/](core[\\/]util|dispatcher[\\/]client)\.js$/ },
      async (args) => {
        const file = args.path.split(/[\\/]/).slice(-2).join('/');
        let source = await readFile(args.path, 'utf8');
        for (const [from, to] of patches[file] ?? []) {
          if (source.split(from).length !== 2)
            throw new Error(`undici ${file}: expected one '${from.split('\n')[0]}'`);
          source = source.replace(from, to);
        }
        if (/^const .*require\('node:http'\)/m.test(source))
          throw new Error(`undici ${file}: node:http is still required when it loads`);
        return { contents: source, loader: 'js' };
      },
    );
  },
};

/**
 * undici checks invariants with `assert(value)` from node:assert, whose
 * loading (with its error class and call tracker) costs ~1.5 ms of every
 * command. Its require gets a function that loads node:assert only when an
 * invariant fails, and fails the same way (an AssertionError). The build
 * fails if undici calls anything else of node:assert.
 */
const undiciAssertOnFailure = {
  name: 'undici-assert-on-failure',
  setup(build) {
    build.onResolve({ filter: /^node:assert$/ }, (args) =>
      /[\\/]node_modules[\\/]undici[\\/]/.test(args.importer)
        ? { path: 'undici-assert', namespace: 'ivoc' }
        : undefined,
    );
    build.onLoad({ filter: /undici[\\/]lib[\\/].*\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const requires = source.match(/^.*require\('node:assert'\).*$/gm) ?? [];
      const other = /\bassert\.[a-zA-Z]+/.exec(source);
      if (
        requires.some((line) => line.trim() !== "const assert = require('node:assert')") ||
        (requires.length > 0 && other)
      )
        throw new Error(
          `undici ${args.path}: uses node:assert beyond assert(): ${other?.[0] ?? requires.join('; ')}`,
        );
      return undefined;
    });
    // The error node:assert's ok() would throw, but for its message: ok() quotes the source
    // line that called it, which would be this function's.
    build.onLoad({ filter: /^undici-assert$/, namespace: 'ivoc' }, () => ({
      contents: `module.exports = function assert(value, message) {
  if (value) return;
  if (message instanceof Error) throw message;
  const { AssertionError } = require('node:assert');
  throw new AssertionError({ actual: value, expected: true, operator: '==', message, stackStartFn: assert });
};`,
      loader: 'js',
    }));
  },
};

/**
 * undici compiles llhttp (its HTTP parser, WebAssembly) on the first
 * connection; its two `new WebAssembly.Module(` calls go to
 * src/oci/registry/llhttp.ts instead, which compiles on V8's baseline
 * compiler only, and undici's parser factory is registered there so that the
 * registry client can run it ahead of the first connection. The build fails
 * if undici's source no longer has what is patched.
 */
const llhttpOnLiftoff = {
  name: 'llhttp-on-liftoff',
  setup(build) {
    build.onLoad({ filter: /undici[\\/]lib[\\/]dispatcher[\\/]client-h1\.js$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const calls = source.split('new WebAssembly.Module(').length - 1;
      if (calls !== 2)
        throw new Error(`undici client-h1.js: expected 2 WebAssembly.Module calls, found ${calls}`);
      const make = 'if (!llhttpInstance) {\n    llhttpInstance = lazyllhttp()\n  }';
      if (!source.includes(make))
        throw new Error('undici client-h1.js: its parser is no longer made on connecting');
      const patched = source.replaceAll(
        'new WebAssembly.Module(',
        "require('ivoc-llhttp-compile').compileOnLiftoff(",
      );
      return {
        // And its parser factory, for the registry client to call ahead of the first connection.
        contents: `${patched}\nrequire('ivoc-llhttp-compile').registerParserFactory(() => {\n  ${make}\n})\n`,
        loader: 'js',
      };
    });
    build.onResolve({ filter: /^ivoc-llhttp-compile$/ }, () => ({
      path: resolve('src/oci/registry/llhttp.ts'),
    }));
  },
};

/**
 * undici carries llhttp twice (with and without SIMD) as base64 in JavaScript:
 * ~145 KB of every bundle, read, copied into a string and decoded by every
 * command. The bundle gets a small module in their place that reads the
 * binary from dist/ (written below) when undici first connects.
 */
const llhttpWasm = { 'llhttp_simd-wasm.js': 'llhttp_simd.wasm', 'llhttp-wasm.js': 'llhttp.wasm' };
const llhttpFromFile = {
  name: 'llhttp-from-file',
  setup(build) {
    build.onLoad({ filter: /undici[\\/]lib[\\/]llhttp[\\/]llhttp(_simd)?-wasm\.js$/ }, (args) => {
      const file = llhttpWasm[args.path.split(/[\\/]/).at(-1)];
      if (file === undefined) throw new Error(`unexpected llhttp module ${args.path}`);
      return {
        contents: `let bytes;
function read() {
  const path = require('node:path').join(__dirname, ${JSON.stringify(file)});
  try {
    return require('node:fs').readFileSync(path);
  } catch (error) {
    throw new Error(\`ivoc is not built in full (\${error.code ?? 'unreadable'}: \${path}); run \\\`npm install\\\` (or \\\`npm run build\\\`)\`);
  }
}
Object.defineProperty(module, 'exports', { get: () => (bytes ??= read()) });`,
        loader: 'js',
      };
    });
  },
};

/**
 * `ivoc inspect` has a bundle of its own, dist/ivoc-inspect.cjs, without the
 * rule engine, the report formats and publish (~630 KB against ~1.2 MB): on
 * this machine every page of it read and copied into a string costs a page
 * fault. Its other commands' modules are replaced by one that says so; the
 * launcher never sends another command there.
 */
const commandModules = ['./inspect.js', './lint.js', './publish.js', './catalogue-info.js'];
function onlyCommand(kept) {
  return {
    name: 'only-command',
    setup(build) {
      build.onResolve({ filter: /^\.\/[a-z-]+\.js$/ }, (args) =>
        /src[\\/]cli[\\/]commands\.ts$/.test(args.importer) &&
        commandModules.includes(args.path) &&
        args.path !== kept
          ? { path: args.path, namespace: 'ivoc-elsewhere' }
          : undefined,
      );
      build.onLoad({ filter: /.*/, namespace: 'ivoc-elsewhere' }, (args) => ({
        contents: `throw new Error(${JSON.stringify(`${args.path} is not in the bundle for ${kept}`)});`,
        loader: 'js',
      }));
    },
  };
}

const id = await buildId();
/** Replaced after the build by a hash of the bundle itself (what the code cache is of): same length, so the source map holds. */
const bundlePlaceholder = '0'.repeat(32);

/**
 * The CLI is CommonJS bundles, dist/ivoc.cjs (every command) and
 * dist/ivoc-inspect.cjs, run by dist/cli.cjs (src/cli/launch.ts) through
 * vm.Script with a V8 code cache: ES modules have no code cache in Node 20,
 * and compiling was the largest share of a short command's own time. A bundle
 * is a single function expression (banner and footer) taking CommonJS's five
 * arguments; its first line names it by a hash of its content, which keys the
 * cache. Commands are still imported lazily: esbuild turns each import() into
 * a require of code in the same file, which V8 compiles only when it first runs.
 */
/** What the bundles and the launcher share: CommonJS for Node 20, in dist/. */
const commonJsForNode = {
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  logLevel: 'warning',
};

async function bundleCli(name, extraPlugins) {
  return build({
    ...commonJsForNode,
    entryPoints: { [name]: 'src/cli/main.ts' },
    metafile: true,
    sourcemap: true,
    minifySyntax: true,
    // A third smaller (inspect's: 488 -> 343 KB): less to read, copy and keep. Stack
    // traces map back with --enable-source-maps; error classes name themselves.
    minifyIdentifiers: true,
    // Licence comments go to dist/*.LEGAL.txt: the bundle must be ASCII (checked below).
    legalComments: 'external',
    charset: 'ascii',
    // import.meta (src/dockerode.ts only) made when first read: a URL costs every start ~0.2 ms.
    define: { __IVOC_BUILD_ID__: JSON.stringify(id), 'import.meta': '__ivocImportMeta' },
    // dockerode pulls optional native modules (ssh2, cpu-features); load it from node_modules as is.
    external: ['dockerode', 'ssh2', 'cpu-features'],
    plugins: [
      // First: its onLoad only checks, and the first onLoad to return contents wins.
      undiciAssertOnFailure,
      undiciWithoutHttp2,
      undiciHttpOnUse,
      llhttpOnLiftoff,
      llhttpFromFile,
      ...extraPlugins,
    ],
    banner: {
      js: `/* ivoc bundle ${bundlePlaceholder} */(function (exports, require, module, __filename, __dirname) {"use strict";const __ivocImportMeta = { get url() { return require('node:url').pathToFileURL(__filename).href; } };`,
    },
    footer: { js: '})' },
  });
}

/** Commands with a bundle of their own (dist/ivoc-<command>.cjs), and the module each keeps. */
const ownBundles = { inspect: './inspect.js' };
const bundles = { ivoc: await bundleCli('ivoc', []) };
for (const [command, module] of Object.entries(ownBundles))
  bundles[`ivoc-${command}`] = await bundleCli(`ivoc-${command}`, [onlyCommand(module)]);

// Checks of the bundles; a build that fails one leaves nothing in dist/.
const failBuild = async (message) => {
  await rm('dist', { recursive: true, force: true });
  throw new Error(message);
};
const bundleIds = [];
for (const [name, bundled] of Object.entries(bundles)) {
  // vm.Script runs the bundle without an ES module loader: an import() left in it (of an external module) would fail at run time.
  for (const [file, output] of Object.entries(bundled.metafile.outputs)) {
    for (const entry of output.imports) {
      if (entry.kind === 'dynamic-import')
        await failBuild(`${file}: import('${entry.path}') is left in the bundle; require it`);
    }
  }
  const path = `dist/${name}.cjs`;
  // The launcher reads the bundle as latin1 (no decoding): any other byte would be misread.
  const bundle = await readFile(path);
  const nonAscii = bundle.findIndex((byte) => byte > 0x7f);
  if (nonAscii !== -1) await failBuild(`${path}: byte ${nonAscii} is not ASCII`);
  // The bundle's identity for its code cache (src/cli/launch.ts): a hash of what follows the first line's comment.
  const text = bundle.toString('latin1');
  const banner = `/* ivoc bundle ${bundlePlaceholder} */`;
  if (!text.startsWith(banner)) await failBuild(`${path}: the banner is not first`);
  const bundleHash = createHash('sha256').update(text.slice(banner.length)).digest('hex').slice(0, 32);
  await writeFile(path, `/* ivoc bundle ${bundleHash} */${text.slice(banner.length)}`, 'latin1');
  bundleIds.push(bundleHash);
}

// llhttp's WebAssembly, as the bundles read it (llhttpFromFile above).
const require = createRequire(import.meta.url);
for (const [module, file] of Object.entries(llhttpWasm)) {
  const bytes = require(`undici/lib/llhttp/${module}`);
  if (!Buffer.isBuffer(bytes) || bytes.readUInt32BE(0) !== 0x0061736d)
    await failBuild(`undici/lib/llhttp/${module}: not WebAssembly`);
  await writeFile(`dist/${file}`, bytes);
}

// The launcher is CommonJS too (bin/ivoc.cjs requires it): an ES module
// would load Node's ES module loader before anything else (~8 ms). It is
// told this build's bundles: its code caches are kept, others' pruned.
await build({
  ...commonJsForNode,
  entryPoints: { cli: 'src/cli/launch.ts' },
  define: {
    __IVOC_LAUNCHER_DIR__: '__dirname',
    __IVOC_BUNDLE_IDS__: JSON.stringify(bundleIds),
    __IVOC_COMMAND_BUNDLES__: JSON.stringify(
      Object.fromEntries(Object.keys(ownBundles).map((command) => [command, `ivoc-${command}.cjs`])),
    ),
  },
});
