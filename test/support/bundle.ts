import { writeFile } from 'node:fs/promises';
import { build } from 'esbuild';

/**
 * Bundles a TypeScript entry (given as source, importing our modules by absolute path) into one
 * ESM file at `path`, for tests that must run code in a fresh process of its own.
 */
export async function bundleScript(contents: string, path: string): Promise<void> {
  const bundled = await build({
    stdin: { contents, resolveDir: process.cwd(), loader: 'ts' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    logLevel: 'silent',
  });
  await writeFile(path, bundled.outputFiles[0]?.text ?? '');
}
