// Bundles the CLI with esbuild: one file per lazily imported command, so a
// command loads only what it uses (start-up time is measured in bench/).
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';

/**
 * The build's identity: a hash of every input of the bundle we own (src/,
 * spec/, package.json). Caches of derived results (src/oci/layer/cache.ts:
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
  files.push('package.json');
  for (const file of files.sort()) {
    hash.update(`${file}\0`);
    hash.update(await readFile(file));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 32);
}

// Stale chunks of earlier builds would pile up in dist/.
await rm('dist', { recursive: true, force: true });

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
  banner: {
    js: "import { createRequire as __ivocCreateRequire } from 'node:module'; const require = __ivocCreateRequire(import.meta.url);",
  },
});
