/**
 * The bench images: three deterministic images of ~30 MB, ~300 MB and ~1.5 GB
 * (compressed), built once into bench/work/images/SIZE/ and pushed to the
 * anonymous test registry as 127.0.0.1:5100/bench/SIZE:1.
 *
 *   node fixtures/run.mjs bench/images.ts [small|medium|large|all]   (default: all)
 *
 * Some layers hold many small text-like files (1-8 KB), others a few big files of
 * incompressible data; gzip level 1 through igzip when installed (`gzipProgram:
 * 'auto'`). A build is skipped when bench/work/images/SIZE/recipe.json holds the
 * same recipe hash (recipe + gzip program + RECIPE_VERSION); a push is skipped
 * when the registry already serves the same manifest digest.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildImage,
  dir,
  type EntrySource,
  file,
  hasProgram,
  type Layer,
  manyFiles,
  opaque,
  pushToRegistry,
  whiteout,
  writeLayer,
  writeOciLayout,
} from '../fixtures/index.js';

export type Size = 'small' | 'medium' | 'large';
export const SIZES: readonly Size[] = ['small', 'medium', 'large'];

/** Bump to rebuild every image after a change this file's recipes do not show. */
const RECIPE_VERSION = 1;
const MB = 1 << 20;
export const TAG = '1';

/** One layer of a recipe: many small text files, big random files, or a few edits of lower layers. */
export type LayerRecipe =
  | { kind: 'text'; count: number; min: number; max: number }
  | { kind: 'random'; files: number[] }
  | { kind: 'edits' };

/** Layers from the bottom up. Sizes in the comments are the compressed blob (igzip -1). */
export const RECIPES: Record<Size, LayerRecipe[]> = {
  // ~30 MB, 4 layers
  small: [
    { kind: 'text', count: 8_000, min: 1024, max: 8192 }, // ~11 MB
    { kind: 'random', files: [12 * MB] },
    { kind: 'random', files: [4 * MB, 2 * MB] },
    { kind: 'edits' },
  ],
  // ~300 MB, 8 layers
  medium: [
    { kind: 'text', count: 20_000, min: 1024, max: 8192 }, // ~28 MB
    { kind: 'random', files: [100 * MB] },
    { kind: 'text', count: 10_000, min: 1024, max: 8192 }, // ~14 MB
    { kind: 'random', files: [40 * MB, 20 * MB] },
    { kind: 'random', files: [50 * MB] },
    { kind: 'random', files: [10 * MB, 10 * MB, 10 * MB, 10 * MB] },
    { kind: 'random', files: [20 * MB] },
    { kind: 'edits' },
  ],
  // ~1.5 GB, 15 layers
  large: [
    { kind: 'text', count: 50_000, min: 1024, max: 8192 }, // ~69 MB
    { kind: 'random', files: [200 * MB] },
    { kind: 'random', files: [100 * MB, 100 * MB] },
    { kind: 'text', count: 30_000, min: 1024, max: 8192 }, // ~41 MB
    { kind: 'random', files: [150 * MB] },
    { kind: 'random', files: [120 * MB] },
    { kind: 'random', files: [50 * MB, 50 * MB] },
    { kind: 'text', count: 20_000, min: 1024, max: 8192 }, // ~28 MB
    { kind: 'random', files: [100 * MB] },
    { kind: 'random', files: [20 * MB, 20 * MB, 20 * MB, 20 * MB, 20 * MB] },
    { kind: 'random', files: [100 * MB] },
    { kind: 'random', files: [80 * MB] },
    { kind: 'random', files: [60 * MB] },
    { kind: 'random', files: [100 * MB] },
    { kind: 'edits' },
  ],
};

/** The checkout: the nearest directory up from this (possibly bundled) module whose package.json names ivoc. */
function repoRoot(): string {
  let at = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(at, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'ivoc') return at;
    } catch {
      // not here
    }
    const up = dirname(at);
    if (up === at) return process.cwd();
    at = up;
  }
}

export const REPO_ROOT = repoRoot();
export const WORK_DIR = join(REPO_ROOT, 'bench', 'work');

export interface BenchImage {
  size: Size;
  /** The OCI layout (tag TAG) in bench/work/images/SIZE/layout. */
  layoutDir: string;
  /** e.g. '127.0.0.1:5100/bench/large:1' (no transport). */
  reference: string;
  manifestDigest: string;
  layers: number;
  /** Sum of the compressed layer sizes. */
  compressedBytes: number;
  /** Sum of the uncompressed layer tar sizes. */
  tarBytes: number;
  files: number;
}

interface RecipeFile {
  hash: string;
  manifestDigest: string;
  layers: number;
  compressedBytes: number;
  tarBytes: number;
  files: number;
}

function gzipProgram(): string {
  if (hasProgram('igzip')) {
    const version = execFileSync('igzip', ['--version'], { encoding: 'utf8' }).split('\n')[0]?.trim();
    return `igzip ${version ?? ''}`;
  }
  return hasProgram('pigz') ? 'pigz' : 'zlib';
}

export function recipeHash(size: Size): string {
  return createHash('sha256')
    .update(JSON.stringify({ RECIPE_VERSION, size, layers: RECIPES[size], gzip: gzipProgram() }))
    .digest('hex');
}

function imageDir(size: Size): string {
  return join(WORK_DIR, 'images', size);
}

function entriesOf(size: Size, index: number, recipe: LayerRecipe): { entries: EntrySource; files: number } {
  const base = `/data/${size}/layer${String(index).padStart(2, '0')}`;
  const seed = `bench:${size}:${index}`;
  switch (recipe.kind) {
    case 'text':
      return {
        entries: [
          dir('/data'),
          dir(`/data/${size}`),
          dir(base),
          manyFiles({ dir: `${base}/src`, count: recipe.count, size: [recipe.min, recipe.max], seed }),
        ],
        files: recipe.count,
      };
    case 'random':
      return {
        entries: [
          dir('/data'),
          dir(`/data/${size}`),
          dir(base),
          recipe.files.map((bytes, i) => file(`${base}/blob${i}.bin`, { size: bytes, seed: `${seed}:${i}` })),
        ],
        files: recipe.files.length,
      };
    case 'edits':
      // What a top layer of a real image does to the ones below: new config
      // files, a whiteout, an opaque directory (so the merged view has work).
      return {
        entries: [
          dir('/etc'),
          file('/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nastro:x:1000:1000::/home/astro:/bin/sh\n'),
          file('/etc/group', 'root:x:0:\nastro:x:1000:\n'),
          dir('/home/astro', { uid: 1000, gid: 1000 }),
          file('/home/astro/.profile', 'export PATH=/usr/local/bin:/usr/bin:/bin\n', {
            uid: 1000,
            gid: 1000,
          }),
          dir('/data'),
          dir(`/data/${size}`),
          dir(`/data/${size}/layer00`),
          dir(`/data/${size}/layer00/src`),
          whiteout(`/data/${size}/layer00/src/0000`),
          opaque(`/data/${size}/layer01`),
          file(`/data/${size}/layer01/README`, 'replaced by the top layer\n'),
        ],
        files: 4,
      };
  }
}

async function readRecipe(size: Size): Promise<RecipeFile | undefined> {
  try {
    return JSON.parse(await readFile(join(imageDir(size), 'recipe.json'), 'utf8')) as RecipeFile;
  } catch {
    return undefined;
  }
}

function log(message: string): void {
  process.stderr.write(`bench images: ${message}\n`);
}

/** Builds SIZE into bench/work/images/SIZE unless the same recipe is already there. */
export async function buildBenchImage(size: Size): Promise<Omit<BenchImage, 'reference'>> {
  const root = imageDir(size);
  const layoutDir = join(root, 'layout');
  const hash = recipeHash(size);
  const existing = await readRecipe(size);
  if (existing?.hash === hash) {
    const { hash: _hash, ...rest } = existing;
    return { size, layoutDir, ...rest };
  }
  log(`building ${size} (${RECIPES[size].length} layers) into ${root}`);
  await rm(root, { recursive: true, force: true });
  await mkdir(join(root, 'layers'), { recursive: true });
  const started = Date.now();
  const layers: Layer[] = [];
  let files = 0;
  for (const [index, recipe] of RECIPES[size].entries()) {
    const { entries, files: count } = entriesOf(size, index, recipe);
    const t = Date.now();
    const layer = await writeLayer(
      entries,
      join(root, 'layers', `${String(index).padStart(2, '0')}.tar.gz`),
      {
        compression: 'gzip',
        level: 1,
        gzipProgram: 'auto',
        createdBy: `bench ${size}: layer ${index} (${recipe.kind})`,
      },
    );
    layers.push(layer);
    files += count;
    log(
      `  layer ${index} ${recipe.kind}: ${(layer.size / MB).toFixed(1)} MiB compressed, ${(layer.tarSize / MB).toFixed(1)} MiB tar, ${Date.now() - t} ms`,
    );
  }
  const image = buildImage({
    layers,
    user: '1000:1000',
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', BENCH_SIZE: size },
    cmd: ['/bin/sh'],
    workdir: '/home/astro',
    labels: { 'org.opencontainers.image.title': `ivoc bench ${size}` },
  });
  await writeOciLayout(layoutDir, image, { tag: TAG });
  const record: RecipeFile = {
    hash,
    manifestDigest: image.descriptor.digest,
    layers: layers.length,
    compressedBytes: layers.reduce((sum, layer) => sum + layer.size, 0),
    tarBytes: layers.reduce((sum, layer) => sum + layer.tarSize, 0),
    files,
  };
  // Written last: its presence with this hash means the layout is complete.
  await writeFile(join(root, 'recipe.json'), `${JSON.stringify(record, null, 2)}\n`);
  log(
    `built ${size}: ${(record.compressedBytes / MB).toFixed(0)} MiB compressed in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  const { hash: _hash, ...rest } = record;
  return { size, layoutDir, ...rest };
}

/** The manifest digest REGISTRY serves for bench/SIZE:TAG, if any. */
async function servedDigest(registry: string, size: Size): Promise<string | undefined> {
  const accept = [
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
  ].join(', ');
  try {
    const response = await fetch(`http://${registry}/v2/bench/${size}/manifests/${TAG}`, {
      method: 'HEAD',
      headers: { accept },
    });
    return response.ok ? (response.headers.get('docker-content-digest') ?? undefined) : undefined;
  } catch {
    return undefined;
  }
}

/** Builds SIZE if needed and makes REGISTRY serve it (plain HTTP) as bench/SIZE:TAG. */
export async function ensureBenchImage(size: Size, registry: string): Promise<BenchImage> {
  const built = await buildBenchImage(size);
  const reference = `${registry}/bench/${size}:${TAG}`;
  if ((await servedDigest(registry, size)) !== built.manifestDigest) {
    const started = Date.now();
    log(`pushing ${size} to ${reference}`);
    await pushToRegistry(built.layoutDir, reference, { layoutTag: TAG });
    log(`pushed ${size} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return { ...built, reference };
}

function isMain(): boolean {
  const script = process.argv[1] ?? '';
  return script.endsWith(join('bench', 'images.ts'));
}

if (isMain()) {
  const arg = process.argv[2] ?? 'all';
  const sizes = arg === 'all' ? [...SIZES] : [arg as Size];
  if (!sizes.every((size) => SIZES.includes(size))) {
    process.stderr.write('usage: node fixtures/run.mjs bench/images.ts [small|medium|large|all]\n');
    process.exit(2);
  }
  // Through env.mjs, which bundles the test environment so that it finds its own files.
  const { startBenchEnv } = await import('./env.mjs');
  const env = await startBenchEnv();
  try {
    for (const size of sizes) {
      const image = await ensureBenchImage(size, env.testEnv.registries.anonymous.host);
      process.stdout.write(
        `${image.reference} ${image.manifestDigest} ${image.layers} layers ${(image.compressedBytes / MB).toFixed(0)} MiB compressed ${image.files} files\n`,
      );
    }
  } finally {
    await env.stop();
  }
}
