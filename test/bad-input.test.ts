import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  buildImage,
  buildLayer,
  dir,
  file,
  gzipBomb,
  hardlink,
  type Image,
  manyFiles,
  raw,
  rawLayer,
  symlink,
  withConfig,
  withManifest,
  writeOciArchive,
  writeOciLayout,
} from '../fixtures/index.js';
import { runIvoc } from './support/cli.js';

const env = inject('testEnv');
let scratch: string;
let image: Image;

beforeAll(async () => {
  scratch = await mkdtemp(join(env.workDir, 'bad-'));
  image = buildImage({ layers: [await buildLayer([file('/hello', 'hi\n')])], user: '1000' });
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Every bad input ends the same way: exit 3, one clear line naming the image (and blob), no stack trace. */
async function expectImageError(
  reference: string,
  pattern: RegExp,
  blob?: string,
  extra: string[] = [],
  envVars: Record<string, string> = {},
) {
  const result = await runIvoc(['inspect', reference, ...extra], {
    IVOC_CACHE_DIR: join(scratch, 'cache'),
    ...envVars,
  });
  expect(result.code).toBe(3);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^ivoc: /);
  expect(result.stderr).toContain(reference.replace(/^oci:/, 'oci:'));
  expect(result.stderr).toMatch(pattern);
  if (blob) expect(result.stderr).toContain(blob);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr.trim().split('\n')).toHaveLength(1);
  return result;
}

async function layout(name: string, target: Image, options: Parameters<typeof writeOciLayout>[2] = {}) {
  const dir = join(scratch, name);
  await writeOciLayout(dir, target, options);
  return `oci:${dir}`;
}

describe('bad manifests and configs are clear errors (exit 3)', () => {
  it('malformed JSON manifest', async () => {
    const broken = withManifest(image, () => Buffer.from('{"schemaVersion": 2, "config": '));
    await expectImageError(
      await layout('json', broken),
      /manifest is not valid JSON/,
      broken.descriptor.digest,
    );
  });

  it('malformed JSON config', async () => {
    const broken = withConfig(image, () => Buffer.from('not json at all'));
    await expectImageError(await layout('config-json', broken), /image config is not valid JSON/);
  });

  it('a manifest served under an index media type', async () => {
    const wrong = withManifest(image, (m) => m, { mediaType: 'application/vnd.oci.image.index.v1+json' });
    await expectImageError(
      await layout('media', wrong),
      /served as 'application\/vnd.oci.image.index.v1\+json'/,
    );
  });

  it('an artifact that is not a container image', async () => {
    const artifact = withManifest(image, (m) => ({
      ...m,
      artifactType: 'application/vnd.example.thing',
      config: { ...m.config, mediaType: 'application/vnd.example.config+json' },
    }));
    await expectImageError(await layout('artifact', artifact), /not a container image: config media type/);
  });

  it('a Docker schema 1 manifest', async () => {
    const old = withManifest(image, () => ({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), {
      mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
    });
    await expectImageError(await layout('schema1', old), /schema 1 manifests are not supported/);
  });

  it('a manifest over 4 MiB', async () => {
    const huge = withManifest(image, (m) => ({ ...m, annotations: { filler: 'x'.repeat(4 * 1024 * 1024) } }));
    await expectImageError(await layout('huge', huge), /over the 4194304-byte limit/, huge.descriptor.digest);
  });

  it('a config that disagrees with the manifest about its layers', async () => {
    const broken = withConfig(image, (c) => {
      c.rootfs.diff_ids = [];
    });
    await expectImageError(await layout('diffids', broken), /lists 0 diff_ids but the manifest has 1 layers/);
  });

  it('a missing blob', async () => {
    const reference = await layout('missing', image, { omitBlobs: [image.configDescriptor.digest] });
    await expectImageError(reference, /blob is missing/, image.configDescriptor.digest);
  });

  it('a blob whose bytes do not match its digest', async () => {
    const reference = await layout('mismatch', image, {
      blobContent: {
        [image.configDescriptor.digest]: Buffer.from(image.configBytes.toString().replace('1000', '0000')),
      },
    });
    await expectImageError(reference, /digest mismatch/, image.configDescriptor.digest);
  });

  it('a blob shorter than its descriptor', async () => {
    const reference = await layout('short', image, {
      blobContent: { [image.configDescriptor.digest]: image.configBytes.subarray(0, 10) },
    });
    await expectImageError(reference, /blob is 10 bytes, its descriptor says/, image.configDescriptor.digest);
  });

  it('a malformed index.json', async () => {
    const dir = join(scratch, 'index-json');
    await writeOciLayout(dir, image);
    await writeFile(join(dir, 'index.json'), '{"manifests": [{"digest": "sha256:nothex", "size": 1}]}');
    await expectImageError(`oci:${dir}`, /index.json entry 0 has no mediaType|invalid digest/);
  });

  it('an oci-archive that is not a tar', async () => {
    const path = join(scratch, 'not-a-tar.tar');
    await writeFile(path, Buffer.alloc(2048, 7));
    await expectImageError(`oci-archive:${path}`, /not a valid tar archive/);
  });

  it('a truncated oci-archive', async () => {
    const path = join(scratch, 'full.tar');
    await writeOciArchive(path, image);
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(path);
    const cut = join(scratch, 'cut.tar');
    await writeFile(cut, bytes.subarray(0, 1536));
    await expectImageError(`oci-archive:${cut}`, /truncated|not a valid tar|no oci-layout|missing/);
  });
});

function blobBytes(layer: { blob: unknown }): Buffer {
  const source = layer.blob as { data?: Buffer };
  if (!source.data) throw new Error('test layer is not in memory');
  return source.data;
}

describe('bad layers are clear errors when the filesystem is read (exit 3)', () => {
  async function imageWith(name: string, layer: Awaited<ReturnType<typeof buildLayer>>) {
    return layout(name, buildImage({ layers: [image.layers[0]!, layer], user: '1000' }));
  }

  it('a truncated gzip layer', async () => {
    const good = await buildLayer([file('/data', { size: 200_000 })]);
    const cut = rawLayer(blobBytes(good).subarray(0, Math.floor(good.size / 2)), { diffId: good.diffId });
    const reference = await imageWith('truncated-gzip', cut);
    await expectImageError(reference, /truncated or corrupt gzip data/, cut.digest, ['--scan']);
  });

  it('a layer whose bytes do not match its digest', async () => {
    const layer = await buildLayer([file('/data', 'original bytes')]);
    const target = buildImage({ layers: [layer], user: '1000' });
    const swapped = Buffer.from(blobBytes(layer));
    swapped[swapped.length - 9] = (swapped[swapped.length - 9]! + 1) % 256;
    const reference = await layout('layer-mismatch', target, { blobContent: { [layer.digest]: swapped } });
    await expectImageError(reference, /digest mismatch/, layer.digest, ['--scan']);
  });

  it('a tar entry that climbs out with ../', async () => {
    const reference = await imageWith('dotdot', await buildLayer([raw('../evil', { body: 'x' })]));
    await expectImageError(reference, /\.\.\/evil/, undefined, ['--scan']);
    const result = await runIvoc(['inspect', reference, '--scan'], {
      IVOC_CACHE_DIR: join(scratch, 'cache'),
    });
    expect(result.stderr).toContain('climbs out of the root');
  });

  it('a tar entry with an absolute path', async () => {
    const reference = await imageWith('absolute', await buildLayer([raw('/etc/evil', { body: 'x' })]));
    await expectImageError(reference, /\/etc\/evil/, undefined, ['--scan']);
  });

  it('a symlink loop met while resolving a path', async () => {
    const reference = await imageWith(
      'loop',
      await buildLayer([symlink('/loop/a', '/loop/b'), symlink('/loop/b', '/loop/a')]),
    );
    await expectImageError(reference, /symbolic links|loop/i, undefined, ['--path', '/loop/a']);
  });

  it('a symlink escaping the root while resolving a path', async () => {
    const reference = await imageWith(
      'escape',
      await buildLayer([dir('/x'), symlink('/x/out', '../../../etc')]),
    );
    await expectImageError(reference, /escape|above the root|outside/i, undefined, ['--path', '/x/out']);
  });

  it('a hard link to a missing target', async () => {
    const reference = await imageWith('hardlink', await buildLayer([hardlink('/lonely', '/does/not/exist')]));
    await expectImageError(reference, /hard link/i, undefined, ['--scan']);
  });

  it('a decompression bomb stops at the per-layer cap', async () => {
    const bomb = gzipBomb(512 * 1024 * 1024);
    const reference = await imageWith('bomb', bomb);
    const result = await expectImageError(
      reference,
      /decompresses to more than 33554432 bytes/,
      bomb.digest,
      ['--scan'],
      {
        IVOC_MAX_LAYER_BYTES: String(32 * 1024 * 1024),
      },
    );
    expect(result.code).toBe(3);
  });

  it('reads a 200k-entry layer', async () => {
    const many = await buildLayer([manyFiles({ dir: '/many', count: 200_000, size: 8 })]);
    const reference = await imageWith('many', many);
    const result = await runIvoc(['inspect', reference, '--scan', '--format', 'json', '--no-cache']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      filesystem: { files: number; layers: Array<{ entries: number }> };
    };
    // 200,000 files in 200 directories, plus /many and /hello.
    expect(report.filesystem.layers[1]!.entries).toBe(200_200);
    expect(report.filesystem.files).toBe(200_000 + 200 + 1 + 1);
  });
});
