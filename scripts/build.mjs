// Bundles the CLI with esbuild: one file per lazily imported command, so a
// command loads only what it uses (start-up time is measured in bench/).
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { generateSchemaValidators } from './schema-validators.mjs';

/**
 * The build's identity: a hash of every input of the bundle we own (src/,
 * spec/, package.json, package-lock.json). Caches of derived results (src/oci/layer/cache.ts:
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
  for (const file of files.sort()) {
    hash.update(`${file}\0`);
    hash.update(await readFile(file));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 32);
}

// Stale chunks of earlier builds would pile up in dist/.
await rm('dist', { recursive: true, force: true });
await generateSchemaValidators();

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

await build({
  entryPoints: { cli: 'src/cli/main.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  define: { __IVOC_BUILD_ID__: JSON.stringify(await buildId()) },
  // dockerode pulls optional native modules (ssh2, cpu-features); load it from node_modules as is.
  external: ['dockerode', 'ssh2', 'cpu-features'],
  plugins: [undiciWithoutHttp2],
  banner: {
    js: "import { createRequire as __ivocCreateRequire } from 'node:module'; const require = __ivocCreateRequire(import.meta.url);",
  },
});
