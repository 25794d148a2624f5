import { writeFile } from 'node:fs/promises';
import { build } from 'esbuild';

/**
 * Bundles a TypeScript entry (given as source, importing our modules by absolute path) into one
 * file at `path`, for tests that must run code in a fresh process of its own. `cjs` runs as the
 * CLI's bundles do (no top-level await).
 */
export async function bundleScript(
  contents: string,
  path: string,
  format: 'esm' | 'cjs' = 'esm',
): Promise<void> {
  const bundled = await build({
    stdin: { contents, resolveDir: process.cwd(), loader: 'ts' },
    bundle: true,
    platform: 'node',
    format,
    write: false,
    logLevel: 'silent',
  });
  await writeFile(path, bundled.outputFiles[0]?.text ?? '');
}
