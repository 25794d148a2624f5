// The bench's access to the repository's TypeScript (the test environment, the
// fault proxy, bench/images.ts) from plain Node 20: each entry is bundled with
// esbuild into bench/work/.build/ (dependencies stay external) and imported.
//
// Unlike fixtures/run.mjs, every repository module keeps its own
// `import.meta.url` in the bundle: test/env/global-setup.ts finds
// token-server.ts next to itself when it has to start the token issuer.

import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** The checkout: the nearest directory up from this module whose package.json names ivoc. */
function findRoot() {
  let at = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(at, 'package.json'), 'utf8'));
      if (pkg.name === 'ivoc') return at;
    } catch {
      // not here
    }
    const up = dirname(at);
    if (up === at) return process.cwd();
    at = up;
  }
}

export const ROOT = findRoot();
export const WORK_DIR = join(ROOT, 'bench', 'work');
const BUILD_DIR = join(WORK_DIR, '.build');

/** esbuild plugin: `import.meta.url` of a repository module is that module's own file URL. */
const ownImportMetaUrl = {
  name: 'own-import-meta-url',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
      if (args.path.split(/[\\/]/).includes('node_modules')) return undefined;
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const url = JSON.stringify(pathToFileURL(args.path).href);
      const loader = /\.[cm]?ts$/.test(args.path) ? 'ts' : 'js';
      return { contents: source.replaceAll('import.meta.url', url), loader };
    });
  },
};

let counter = 0;

/** Bundles the repository file ENTRY (relative to the checkout) and imports it. */
export async function importTs(entry) {
  await mkdir(BUILD_DIR, { recursive: true });
  const name = relative(ROOT, resolve(ROOT, entry)).replace(/[^A-Za-z0-9]+/g, '-');
  const outfile = join(BUILD_DIR, `${name}-${process.pid}-${counter++}.mjs`);
  await build({
    entryPoints: [resolve(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
    plugins: [ownImportMetaUrl],
  });
  try {
    return await import(pathToFileURL(outfile).href);
  } finally {
    await rm(outfile, { force: true });
  }
}

/**
 * The test environment (test/env/global-setup.ts): reuses the services that
 * answer, starts the missing ones, and holds a lease; `stop()` releases it and
 * stops what the environment started unless another run still holds a lease
 * (or IVOC_TEST_KEEP_ENV=1).
 */
export async function startBenchEnv() {
  const { startTestEnv } = await importTs('test/env/global-setup.ts');
  return startTestEnv();
}
