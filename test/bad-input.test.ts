import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  buildImage,
  buildLayer,
  file,
  type Image,
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
async function expectImageError(reference: string, pattern: RegExp, blob?: string) {
  const result = await runIvoc(['inspect', reference]);
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
