// Bundles the CLI with esbuild: one file per lazily imported command, so a
// command loads only what it uses (start-up time is measured in bench/).
import { rm } from 'node:fs/promises';
import { build } from 'esbuild';
import { generateSchemaValidators } from './schema-validators.mjs';

// Stale chunks of earlier builds would pile up in dist/.
await rm('dist', { recursive: true, force: true });
await generateSchemaValidators();

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
  // dockerode pulls optional native modules (ssh2, cpu-features); load it from node_modules as is.
  external: ['dockerode', 'ssh2', 'cpu-features'],
  banner: {
    js: "import { createRequire as __ivocCreateRequire } from 'node:module'; const require = __ivocCreateRequire(import.meta.url);",
  },
});
