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

/** Share of CPU time (0-100) the whole machine spent idle over the next MS milliseconds (/proc/stat). */
export async function idlePercent(ms) {
  const sample = () => {
    const fields = readFileSync('/proc/stat', 'latin1')
      .split('\n')[0]
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    return { idle: fields[3] + fields[4], total: fields.reduce((a, b) => a + b, 0) };
  };
  const a = sample();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = sample();
  return b.total === a.total ? 100 : (100 * (b.idle - a.idle)) / (b.total - a.total);
}

/**
 * With --wait-quiet=IDLE: before each repetition, waits (up to 2 min) until the
 * machine was at least IDLE % idle over 2 s, so other agents' bursts fall
 * between repetitions rather than inside them. `gate.seen` holds the idle
 * shares seen (rounded); LOG reports each wait.
 */
export function quietGate(threshold, log) {
  const seen = [];
  const gate = async () => {
    if (threshold === undefined) return;
    const deadline = Date.now() + 120_000;
    let idle = await idlePercent(2000);
    while (idle < threshold && Date.now() < deadline) {
      log(`  waiting for a quiet machine: ${idle.toFixed(0)} % idle < ${threshold} %`);
      idle = await idlePercent(2000);
    }
    seen.push(Math.round(idle));
  };
  gate.seen = seen;
  return gate;
}
