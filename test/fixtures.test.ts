/**
 * The fixture builder (fixtures/) checked against real tools: skopeo reads our
 * layouts and archives and reports the digests we computed, GNU tar and zstd
 * read our layers, the engine loads our docker-archives and runs the busybox
 * image, and the test registry serves what we pushed, digests unchanged.
 */

import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EXAMPLE_TAG, writeExamples } from '../fixtures/examples.js';
import {
  blobsOf,
  buildImage,
  buildIndex,
  buildLayer,
  busyboxLayer,
  charDevice,
  DEFAULT_PATH,
  dir,
  dockerClient,
  fifo,
  file,
  gzipBomb,
  hardlink,
  hasProgram,
  type Layer,
  loadIntoEngine,
  manyFiles,
  opaque,
  pushImage,
  pushToRegistry,
  raw,
  rawBytes,
  rawLayer,
  skopeo,
  symlink,
  tarBuffer,
  whiteout,
  withConfig,
  withManifest,
  writeDockerArchive,
  writeLayer,
  writeOciArchive,
  writeOciLayout,
  writeTo,
} from '../fixtures/index.js';
import type { ImageConfig, ImageIndex, ImageManifest } from '../src/oci/descriptor.js';
import { digestOf } from '../src/oci/digest.js';
import { MediaType } from '../src/oci/media-types.js';

const run = promisify(execFile);
const repoRoot = join(import.meta.dirname, '..');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'ivoc-fixtures-test-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** `tar -tvf -` of some bytes (GNU tar; -P keeps leading '/' and '../' as written). */
async function tarList(tar: Buffer): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', ['-tvPf', '-', '--numeric-owner', '--full-time']);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (err += t));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(err))));
    child.stdin.end(tar);
  });
}

/** The member names of a `tar -tv` listing. */
function namesOf(listing: string[]): string[] {
  return listing.map((line) => /^\S+ \S+ +\S+ \S+ \S+ (.*?)(?: -> .*| link to .*)?$/.exec(line)?.[1] ?? line);
}

/** Pipes a file through a command, returning its stdout. */
async function filter(command: string, args: string[], input: Buffer | string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args);
    const chunks: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (err += t));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(err))));
    if (typeof input === 'string') createReadStream(input).pipe(child.stdin);
    else child.stdin.end(input);
  });
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** Entries as tar-stream (the library the readers use) decodes them. */
async function tarStreamEntries(tar: Buffer) {
  const entries: Array<{ name: string; type: string; mode: number; linkname: string | null; body: Buffer }> =
    [];
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        entries.push({
          name: header.name,
          type: header.type ?? 'file',
          mode: header.mode ?? 0,
          linkname: header.linkname ?? null,
          body: Buffer.concat(chunks),
        });
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  await done;
  return entries;
}

function tarOf(layer: Layer): Buffer {
  if (layer.tar === undefined || !('data' in layer.tar)) throw new Error('layer tar not in memory');
  return layer.tar.data;
}

const longDir = `opt/${'d'.repeat(120)}`;
const longName = `${longDir}/${'f'.repeat(130)}`;

describe('layers', () => {
  it('writes every entry kind; GNU tar and tar-stream read them as written', async () => {
    const layer = await buildLayer([
      dir('/etc'),
      file('/etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n'),
      file('/usr/bin/su', 'su', { mode: 0o4755 }),
      file('/usr/bin/wall', 'wall', { mode: 0o2755, gid: 5 }),
      file('/home/astro/notes.txt', 'hi', { uid: 1000, gid: 1000, mode: 0o600 }),
      symlink('/bin/sh', 'busybox'),
      symlink('/etc/escape', '../../../../etc/shadow'),
      hardlink('/usr/bin/su-again', '/usr/bin/su'),
      whiteout('/etc/motd'),
      opaque('/var/cache'),
      charDevice('/dev/null', 1, 3),
      fifo('/run/pipe'),
      file(`/${longName}`, 'long'),
      symlink('/long-link', `/${longName}`),
      raw('../evil', { body: 'x' }),
      raw('/abs/path', { body: 'y' }),
      raw('a/../../b', { type: 'symlink', linkname: '/' }),
      file('/big.bin', { size: 3 << 20 }),
    ]);
    const listing = await tarList(tarOf(layer));
    const line = (name: string) => listing.find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} `));
    expect(line('etc/')).toMatch(/^drwxr-xr-x 0\/0 /);
    expect(line('usr/bin/su')).toMatch(/^-rwsr-xr-x 0\/0 /);
    expect(line('usr/bin/wall')).toMatch(/^-rwxr-sr-x 0\/5 /);
    expect(line('home/astro/notes.txt')).toMatch(/^-rw------- 1000\/1000 /);
    expect(line('bin/sh')).toMatch(/^lrwxrwxrwx .* bin\/sh -> busybox$/);
    expect(line('etc/escape')).toMatch(/-> \.\.\/\.\.\/\.\.\/\.\.\/etc\/shadow$/);
    expect(line('usr/bin/su-again')).toMatch(/^h.* usr\/bin\/su-again link to usr\/bin\/su$/);
    expect(line('etc/.wh.motd')).toMatch(/^-rw-r--r-- 0\/0 +0 /);
    expect(line('var/cache/.wh..wh..opq')).toMatch(/^-rw-r--r-- 0\/0 +0 /);
    expect(line('dev/null')).toMatch(/^crw-rw-rw- 0\/0 +1,3 /);
    expect(line('run/pipe')).toMatch(/^p/);
    expect(line(longName)).toMatch(/^-rw-r--r-- 0\/0 +4 2024-01-01 00:00:00 /);
    expect(line('long-link')).toContain(`-> /${longName}`);
    expect(line('../evil')).toMatch(/^-rw-r--r-- 0\/0 +1 /);
    expect(line('/abs/path')).toMatch(/^-rw-r--r-- 0\/0 +1 /);
    expect(line('a/../../b')).toMatch(/^l.* -> \/$/);
    expect(line('big.bin')).toMatch(/^-rw-r--r-- 0\/0 +3145728 /);

    const entries = await tarStreamEntries(tarOf(layer));
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect(byName.get(longName)?.body.toString()).toBe('long');
    expect(byName.get('long-link')?.linkname).toBe(`/${longName}`);
    expect(byName.get('../evil')?.body.toString()).toBe('x');
    expect(byName.get('/abs/path')?.type).toBe('file');
    expect(byName.get('usr/bin/su')?.mode).toBe(0o4755);
    expect(byName.get('usr/bin/su-again')).toMatchObject({ type: 'link', linkname: 'usr/bin/su' });
    expect(byName.get('big.bin')?.body.length).toBe(3 << 20);
  });

  it('computes blob digest and diff ID as sha256 of the blob and of the tar (gzip, zstd, none)', async () => {
    const entries = [
      dir('/data'),
      file('/data/a.txt', { size: 200_000, kind: 'text' }),
      file('/data/b', 'b'),
    ];
    for (const compression of ['gzip', 'zstd', 'none'] as const) {
      const layer = await buildLayer(entries, { compression });
      const blob = 'data' in layer.blob ? layer.blob.data : Buffer.alloc(0);
      expect(layer.digest).toBe(digestOf(blob));
      expect(layer.size).toBe(blob.length);
      const tar =
        compression === 'gzip'
          ? await filter('gzip', ['-dc'], blob)
          : compression === 'zstd'
            ? await filter('zstd', ['-dc'], blob)
            : blob;
      expect(layer.diffId).toBe(digestOf(tar));
      expect(layer.tarSize).toBe(tar.length);
      expect(tar.equals(tarOf(layer))).toBe(true);
      expect(layer.mediaType).toBe(
        { gzip: MediaType.ociLayerGzip, zstd: MediaType.ociLayerZstd, none: MediaType.ociLayer }[compression],
      );
      if (compression !== 'none') expect(layer.size).toBeLessThan(layer.tarSize / 2);
    }
  });

  it('is deterministic; generated data depends on the seed (by default the path)', async () => {
    const make = () => buildLayer([file('/a', { size: 4096 }), file('/b', { size: 4096 })]);
    const [one, two] = await Promise.all([make(), make()]);
    expect(one.digest).toBe(two.digest);
    const tar = tarOf(one);
    const a = tar.subarray(512, 512 + 4096);
    const b = tar.subarray(512 * 2 + 4096, 512 * 2 + 8192);
    expect(a.equals(b)).toBe(false);
    const seeded = await buildLayer([
      file('/x', { size: 4096, seed: 7 }),
      file('/y', { size: 4096, seed: 7 }),
    ]);
    const st = tarOf(seeded);
    expect(st.subarray(512, 512 + 4096).equals(st.subarray(512 * 2 + 4096, 512 * 2 + 8192))).toBe(true);
  });

  it('streams a large incompressible layer to disk with digests that sha256sum and gzip -d agree with', async () => {
    const path = join(work, 'big.tar.gz');
    const layer = await writeLayer(
      [
        dir('/data'),
        file('/data/random.bin', { size: 48 << 20 }),
        manyFiles({ dir: '/data/small', count: 3000 }),
      ],
      path,
      { compression: 'gzip', level: 1 },
    );
    expect(layer.blob).toEqual({ path });
    expect(layer.tar).toBeUndefined();
    expect((await stat(path)).size).toBe(layer.size);
    expect(await sha256File(path)).toBe(layer.digest);
    const { stdout } = await run('sh', ['-c', `gzip -dc '${path}' | sha256sum`]);
    expect(`sha256:${stdout.split(' ')[0]}`).toBe(layer.diffId);
    // random data does not compress
    expect(layer.size).toBeGreaterThan(48 << 20);
    // A layout links the layer file instead of copying it; a corrupt copy never writes through the link.
    const image = buildImage({ layers: [layer] });
    const layout = join(work, 'big-layout');
    await writeOciLayout(layout, image, { tag: 'big' });
    const stored = join(layout, 'blobs', 'sha256', layer.digest.slice(7));
    expect((await stat(stored)).ino).toBe((await stat(path)).ino);
    await writeOciLayout(layout, image, {
      tag: 'big',
      blobContent: { [layer.digest]: Buffer.from('corrupt') },
    });
    expect(await readFile(stored, 'utf8')).toBe('corrupt');
    expect((await stat(path)).size).toBe(layer.size);
  });

  it('compresses with zstd through the zstd program, which decompresses it', async () => {
    const path = join(work, 'layer.tar.zst');
    const layer = await writeLayer([file('/z', { size: 1 << 20, kind: 'zeros' })], path, {
      compression: 'zstd',
    });
    expect(layer.mediaType).toBe(MediaType.ociLayerZstd);
    const tar = await filter('zstd', ['-d', '-c'], path);
    expect(digestOf(tar)).toBe(layer.diffId);
    expect(await tarList(tar)).toEqual([expect.stringMatching(/^-rw-r--r-- 0\/0 +1048576 .* z$/)]);
    expect(layer.size).toBeLessThan(1000);
  });

  it('fails with a clear message when zstd is not installed', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(buildLayer([file('/a', 'a')], { compression: 'zstd' })).rejects.toThrow(
        /'zstd' is not installed \(install the Debian package `zstd`\)/,
      );
    } finally {
      process.env.PATH = path;
    }
  });

  for (const program of ['igzip', 'pigz'] as const) {
    // Optional speed-ups for bench-sized layers; zlib is the default.
    it.skipIf(!hasProgram(program))(`gzips with ${program} when asked, deterministically`, async () => {
      const make = () => buildLayer([file('/r', { size: 1 << 20 })], { gzipProgram: program, level: 1 });
      const layer = await make();
      const blob = 'data' in layer.blob ? layer.blob.data : Buffer.alloc(0);
      expect(digestOf(await filter('gzip', ['-dc'], blob))).toBe(layer.diffId);
      expect((await make()).digest).toBe(layer.digest);
    });
  }

  it('builds a gzip bomb quickly: a tiny blob that inflates to SIZE bytes of zeros', async () => {
    const size = 96 * 2 ** 20;
    const bomb = gzipBomb(size, { path: '/data/zeros' });
    expect(bomb.size).toBeLessThan(size / 900);
    const tar = await filter('gzip', ['-dc'], 'data' in bomb.blob ? bomb.blob.data : Buffer.alloc(0));
    expect(tar.length).toBe(bomb.tarSize);
    expect(digestOf(tar)).toBe(bomb.diffId);
    expect(await tarList(tar)).toEqual([
      expect.stringMatching(/^-rw-r--r-- 0\/0 +100663296 .* data\/zeros$/),
    ]);
  });

  it('builds broken tars on request: no end marker, garbage, truncated bodies', async () => {
    const truncated = await tarBuffer([raw('short', { body: 'abc', size: 4096 })], { endMarker: false });
    expect(truncated.length).toBe(1024); // header + one padded block, where 4096 bytes were promised
    const garbage = await tarBuffer([file('/ok', 'ok'), rawBytes('not a tar header')]);
    await expect(tarList(garbage)).rejects.toThrow();
    const layer = await buildLayer([file('/a', 'a')]);
    const blob = 'data' in layer.blob ? layer.blob.data : Buffer.alloc(0);
    const cut = rawLayer(blob.subarray(0, blob.length - 10), { diffId: layer.diffId });
    expect(cut.diffId).toBe(layer.diffId);
    expect(cut.digest).toBe(digestOf(blob.subarray(0, blob.length - 10)));
    await expect(
      filter('gzip', ['-dc'], 'data' in cut.blob ? cut.blob.data : Buffer.alloc(0)),
    ).rejects.toThrow();
  });
});

describe('images, layouts and archives', () => {
  let base: Layer;
  let app: Layer;
  let zstdLayer: Layer;
  beforeAll(async () => {
    base = await busyboxLayer();
    app = await buildLayer(
      [
        dir('/app'),
        file('/app/run.sh', '#!/bin/sh\necho hello from $(id -u)\n', { mode: 0o755 }),
        whiteout('/var/www'),
      ],
      { createdBy: 'COPY run.sh /app/' },
    );
    zstdLayer = await buildLayer([file('/app/data.bin', { size: 10_000 })], { compression: 'zstd' });
  });

  it('fills the config (diff_ids, history, helpers) and describes the blobs', () => {
    const image = buildImage({
      layers: [base, app],
      user: '1000:1000',
      env: { PATH: DEFAULT_PATH, HOME: '/home/astro' },
      ports: [8888, '53/udp'],
      entrypoint: ['/app/run.sh'],
      cmd: ['--flag'],
      volumes: ['/data'],
      workdir: '/home/astro',
      labels: { 'net.ivoa.container.type': 'notebook' },
      annotations: { 'org.opencontainers.image.title': 'x' },
    });
    expect(image.config.rootfs.diff_ids).toEqual([base.diffId, app.diffId]);
    expect(image.config.history?.map((h) => h.created_by)).toEqual([
      'ivoc fixtures: busybox base',
      'COPY run.sh /app/',
    ]);
    expect(image.config.config).toEqual({
      User: '1000:1000',
      Env: [`PATH=${DEFAULT_PATH}`, 'HOME=/home/astro'],
      ExposedPorts: { '8888/tcp': {}, '53/udp': {} },
      Entrypoint: ['/app/run.sh'],
      Cmd: ['--flag'],
      Volumes: { '/data': {} },
      WorkingDir: '/home/astro',
      Labels: { 'net.ivoa.container.type': 'notebook' },
    });
    expect(image.configDescriptor.digest).toBe(digestOf(image.configBytes));
    expect(JSON.parse(image.manifestBytes.toString())).toEqual(image.manifest);
    expect(image.manifest.layers.map((l) => l.digest)).toEqual([base.digest, app.digest]);
    expect(image.manifest.annotations).toEqual({ 'org.opencontainers.image.title': 'x' });
    expect(image.descriptor).toMatchObject({
      mediaType: MediaType.ociManifest,
      digest: digestOf(image.manifestBytes),
      platform: { os: 'linux', architecture: 'amd64' },
    });
    const docker = buildImage({ layers: [base, app], mediaTypes: 'docker' });
    expect(docker.manifest.mediaType).toBe(MediaType.dockerManifest);
    expect(docker.manifest.config.mediaType).toBe(MediaType.dockerConfig);
    expect(docker.manifest.layers.every((l) => l.mediaType === MediaType.dockerLayerGzip)).toBe(true);
  });

  it('writes an OCI layout that skopeo reads with the same digests', async () => {
    const image = buildImage({ layers: [base, app, zstdLayer], user: '1000', cmd: ['sh'] });
    const layout = join(work, 'layout');
    const listed = await writeOciLayout(layout, image, { tag: 'v1' });
    expect(listed.annotations).toEqual({ 'org.opencontainers.image.ref.name': 'v1' });
    expect(JSON.parse(await readFile(join(layout, 'oci-layout'), 'utf8'))).toEqual({
      imageLayoutVersion: '1.0.0',
    });
    const rawManifest = await skopeo(['inspect', '--raw', `oci:${layout}:v1`]);
    expect(rawManifest).toBe(image.manifestBytes.toString());
    const config = JSON.parse(await skopeo(['inspect', '--config', `oci:${layout}:v1`])) as ImageConfig;
    expect(config).toEqual(image.config);
    const summary = JSON.parse(await skopeo(['inspect', `oci:${layout}:v1`])) as {
      Digest: string;
      Layers: string[];
    };
    expect(summary.Digest).toBe(image.descriptor.digest);
    expect(summary.Layers).toEqual([base.digest, app.digest, zstdLayer.digest]);
    for (const blob of blobsOf(image)) {
      expect(await sha256File(join(layout, 'blobs', 'sha256', blob.digest.slice(7)))).toBe(blob.digest);
    }
    // A second image joins the layout; re-tagging replaces the old descriptor.
    const other = buildImage({ layers: [base] });
    await writeOciLayout(layout, other, { tag: 'v2' });
    await writeOciLayout(layout, other, { tag: 'v1' });
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as ImageIndex;
    expect(
      index.manifests.map((d) => [d.annotations?.['org.opencontainers.image.ref.name'], d.digest]),
    ).toEqual([
      ['v2', other.descriptor.digest],
      ['v1', other.descriptor.digest],
    ]);
  });

  it('writes an OCI archive that skopeo reads', async () => {
    const image = buildImage({ layers: [base, app], labels: { a: 'b' } });
    const archive = join(work, 'image.oci.tar');
    await writeOciArchive(archive, image, { tag: 'latest' });
    expect(await skopeo(['inspect', '--raw', `oci-archive:${archive}:latest`])).toBe(
      image.manifestBytes.toString(),
    );
    expect(JSON.parse(await skopeo(['inspect', '--config', `oci-archive:${archive}`]))).toEqual(image.config);
    const names = namesOf(await tarList(await readFile(archive)));
    expect(names.slice(0, 4)).toEqual(['oci-layout', 'index.json', 'blobs/', 'blobs/sha256/']);
  });

  it('writes a multi-platform index; skopeo lists both platforms and picks each', async () => {
    const amd64 = buildImage({ layers: [base], platform: 'linux/amd64' });
    const arm64 = buildImage({ layers: [app], platform: 'linux/arm64/v8' });
    const index = buildIndex([amd64, arm64]);
    const layout = join(work, 'multi');
    await writeOciLayout(layout, index, { tag: 'multi' });
    const served = JSON.parse(await skopeo(['inspect', '--raw', `oci:${layout}:multi`])) as ImageIndex;
    expect(served.mediaType).toBe(MediaType.ociIndex);
    expect(served.manifests.map((m) => [m.platform, m.digest])).toEqual([
      [{ os: 'linux', architecture: 'amd64' }, amd64.descriptor.digest],
      [{ os: 'linux', architecture: 'arm64', variant: 'v8' }, arm64.descriptor.digest],
    ]);
    const armConfig = JSON.parse(
      await skopeo([
        '--override-arch',
        'arm64',
        '--override-variant',
        'v8',
        'inspect',
        '--config',
        `oci:${layout}:multi`,
      ]),
    ) as ImageConfig;
    expect(armConfig).toMatchObject({ architecture: 'arm64', variant: 'v8', os: 'linux' });
    const list = buildIndex([amd64, arm64], { mediaTypes: 'docker' });
    expect(list.index.mediaType).toBe(MediaType.dockerManifestList);
  });

  it('writes a docker save (Docker 20.10) archive that skopeo reads', async () => {
    const image = buildImage({ layers: [base, app, app], mediaTypes: 'docker', cmd: ['/app/run.sh'] });
    const archive = join(work, 'image.docker.tar');
    const manifest = await writeDockerArchive(archive, image, { repoTags: ['ivoc-fixtures/app:1.0'] });
    expect(manifest).toHaveLength(1);
    expect(manifest[0]!.Config).toBe(`${image.configDescriptor.digest.slice(7)}.json`);
    expect(manifest[0]!.Layers).toHaveLength(3);
    const config = JSON.parse(
      await skopeo(['inspect', '--config', `docker-archive:${archive}:ivoc-fixtures/app:1.0`]),
    ) as ImageConfig;
    expect(config).toEqual(image.config);
    const summary = JSON.parse(await skopeo(['inspect', `docker-archive:${archive}`])) as {
      Layers: string[];
    };
    // docker-archive layers are the uncompressed tars: their digests are the diff IDs.
    expect(summary.Layers).toEqual(image.config.rootfs.diff_ids);
    const lines = await tarList(await readFile(archive));
    const listing = namesOf(lines);
    expect(listing).toEqual([...listing].sort());
    expect(listing).toContain('manifest.json');
    expect(listing).toContain('repositories');
    // The repeated layer is stored once; its second directory links to the first copy.
    expect(lines.filter((l) => /^-.* [0-9a-f]{64}\/layer\.tar$/.test(l))).toHaveLength(2);
    expect(
      lines.filter((l) => /^l.* [0-9a-f]{64}\/layer\.tar -> \.\.\/[0-9a-f]{64}\/layer\.tar$/.test(l)),
    ).toHaveLength(1);
    const repositories = JSON.parse(
      (await filter('tar', ['-xOf', '-', 'repositories'], await readFile(archive))).toString(),
    ) as Record<string, Record<string, string>>;
    expect(repositories['ivoc-fixtures/app']?.['1.0']).toBe(manifest[0]!.Layers[2]!.split('/')[0]);
  });

  it('decompresses disk layers into a docker archive without buffering them', async () => {
    const path = join(work, 'disk-layer.tar.zst');
    const layer = await writeLayer([file('/blob', { size: 2 << 20 })], path, { compression: 'zstd' });
    const archive = join(work, 'disk.docker.tar');
    await writeDockerArchive(archive, buildImage({ layers: [layer] }));
    const summary = JSON.parse(await skopeo(['inspect', `docker-archive:${archive}`])) as {
      Layers: string[];
    };
    expect(summary.Layers).toEqual([layer.diffId]);
  });

  it('writes to transport references (oci:, oci-archive:, docker-archive:) that skopeo resolves', async () => {
    const image = buildImage({ layers: [app], mediaTypes: 'docker', labels: { via: 'writeTo' } });
    const oci = buildImage({ layers: [app], labels: { via: 'writeTo' } });
    for (const [reference, target] of [
      [`oci:${join(work, 'to-layout')}:t1`, oci],
      [`oci-archive:${join(work, 'to.oci.tar')}:t1`, oci],
      [`docker-archive:${join(work, 'to.docker.tar')}:ivoc-fixtures/to:t1`, image],
    ] as const) {
      expect(await writeTo(reference, target)).toBe(reference);
      const config = JSON.parse(await skopeo(['inspect', '--config', reference])) as ImageConfig;
      expect(config.config?.Labels).toEqual({ via: 'writeTo' });
    }
  });

  it('has escape hatches for bad input: raw manifest and config bytes, missing and wrong blobs', async () => {
    const image = buildImage({ layers: [app] });
    const malformed = withManifest(image, () => '{"schemaVersion": 2, "config": ');
    expect(malformed.manifestBytes.toString()).toBe('{"schemaVersion": 2, "config": ');
    expect(malformed.descriptor.digest).toBe(digestOf(malformed.manifestBytes));
    const wrongType = withManifest(image, (m) => {
      m.layers[0]!.mediaType = 'application/x-not-a-layer';
    });
    expect(JSON.parse(wrongType.manifestBytes.toString()).layers[0].mediaType).toBe(
      'application/x-not-a-layer',
    );
    const rooted = withConfig(image, (c) => {
      c.config = { ...c.config, User: 'root' };
    });
    expect(JSON.parse(rooted.configBytes.toString()).config.User).toBe('root');
    expect((JSON.parse(rooted.manifestBytes.toString()) as ImageManifest).config.digest).toBe(
      digestOf(rooted.configBytes),
    );

    const layout = join(work, 'broken');
    await writeOciLayout(layout, image, {
      tag: 'broken',
      omitBlobs: [image.configDescriptor.digest],
      blobContent: { [app.digest]: Buffer.from('not the layer') },
    });
    const files = await readdir(join(layout, 'blobs', 'sha256'));
    expect(files).not.toContain(image.configDescriptor.digest.slice(7));
    expect(await readFile(join(layout, 'blobs', 'sha256', app.digest.slice(7)), 'utf8')).toBe(
      'not the layer',
    );
    await expect(skopeo(['inspect', '--config', `oci:${layout}:broken`])).rejects.toThrow();
  });
});

describe('examples/', () => {
  it('holds exactly what fixtures/make-examples.ts generates', async () => {
    const out = join(work, 'examples');
    await writeExamples(out);
    const list = async (root: string): Promise<string[]> =>
      (await readdir(root, { recursive: true, withFileTypes: true }))
        .filter((d) => d.isFile())
        .map((d) => relative(root, join(d.parentPath, d.name)))
        .filter((name) => name.startsWith('hello-notebook'))
        .sort();
    const generated = await list(out);
    expect(await list(join(repoRoot, 'examples'))).toEqual(generated);
    for (const name of generated) {
      const committed = await readFile(join(repoRoot, 'examples', name));
      expect(
        digestOf(committed),
        `examples/${name} differs: regenerate with node fixtures/run.mjs fixtures/make-examples.ts`,
      ).toBe(digestOf(await readFile(join(out, name))));
    }
    expect((await stat(join(repoRoot, 'examples', 'hello-notebook.oci.tar'))).size).toBeLessThan(16 * 1024);
  });

  it('is a notebook image skopeo reads, with the discovery labels', async () => {
    const archive = join(repoRoot, 'examples', 'hello-notebook.oci.tar');
    const config = JSON.parse(
      await skopeo(['inspect', '--config', `oci-archive:${archive}:${EXAMPLE_TAG}`]),
    ) as ImageConfig;
    expect(config.config).toMatchObject({
      User: '1000:1000',
      ExposedPorts: { '8888/tcp': {} },
      Entrypoint: ['start-notebook.sh'],
      Labels: expect.objectContaining({
        'net.ivoa.container.spec-version': '1.0.0',
        'net.ivoa.container.type': 'notebook',
        'net.ivoa.container.port': '8888',
        'net.ivoa.container.base-path': 'env:JUPYTERHUB_SERVICE_PREFIX',
        'org.opencontainers.image.licenses': 'BSD-3-Clause',
      }),
    });
    const layout = join(repoRoot, 'examples', 'hello-notebook');
    const summary = JSON.parse(await skopeo(['inspect', `oci:${layout}:${EXAMPLE_TAG}`])) as {
      Layers: string[];
    };
    const layer = join(layout, 'blobs', 'sha256', summary.Layers[0]!.slice(7));
    const listing = await tarList(await filter('gzip', ['-dc'], layer));
    expect(listing.join('\n')).toMatch(/^-rwxr-xr-x 0\/0 .* usr\/local\/bin\/start-notebook.sh$/m);
    expect(listing.join('\n')).toMatch(/^drwxr-xr-x 1000\/1000 .* home\/astro\/$/m);
  });
});

describe('into the engine and the registry', () => {
  const env = inject('testEnv');

  it('loads a docker-archive into the engine, which runs the busybox image as astro', async () => {
    const base = await busyboxLayer();
    const app = await buildLayer([
      file('/app/hello.sh', '#!/bin/sh\necho "hello $(id -un) $(id -u)"\n', { mode: 0o755 }),
    ]);
    const image = buildImage({
      // The repeated layer is a symlink in the archive, as the engine writes it.
      layers: [base, app, app],
      mediaTypes: 'docker',
      user: 'astro',
      env: { PATH: DEFAULT_PATH },
      cmd: ['/app/hello.sh'],
    });
    const archive = join(work, 'engine.docker.tar');
    const tag = `ivoc-fixtures/hello:${process.pid}`;
    await writeDockerArchive(archive, image, { repoTags: [tag] });
    const docker = dockerClient(env.dockerHost);
    const id = await loadIntoEngine(archive, env.dockerHost);
    try {
      expect(id).toBe(image.configDescriptor.digest);
      const info = await docker.getImage(tag).inspect();
      expect(info.Id).toBe(id);
      expect(info.RootFS.Layers).toEqual(image.config.rootfs.diff_ids);
      const container = await docker.createContainer({ Image: id, HostConfig: { NetworkMode: 'none' } });
      try {
        await container.start();
        const result = (await container.wait()) as { StatusCode: number };
        const logs = (await container.logs({ stdout: true, stderr: true })).toString();
        expect(result.StatusCode).toBe(0);
        expect(logs).toContain('hello astro 1000');
      } finally {
        await container.remove({ force: true });
      }
    } finally {
      await docker.getImage(id).remove({ force: true });
    }
  });

  it('pushes a layout to the anonymous registry with its digest unchanged', async () => {
    const image = buildImage({
      layers: [await busyboxLayer(), await buildLayer([file('/x', 'x')], { compression: 'zstd' })],
    });
    const layout = join(work, 'push-layout');
    await writeOciLayout(layout, image, { tag: 'v1' });
    const dest = `${env.registries.anonymous.host}/ivoc-fixtures/push:${process.pid}`;
    const { digest } = await pushToRegistry(layout, dest, { layoutTag: 'v1' });
    expect(digest).toBe(image.descriptor.digest);
    const served = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${dest}`]);
    expect(digestOf(served)).toBe(image.descriptor.digest);
    const config = JSON.parse(
      await skopeo(['inspect', '--config', '--tls-verify=false', `docker://${dest}`]),
    );
    expect(config).toEqual(image.config);
  });

  it('pushes a multi-platform index with all its platforms', async () => {
    const amd64 = buildImage({ layers: [await buildLayer([file('/arch', 'amd64')])] });
    const arm64 = buildImage({
      layers: [await buildLayer([file('/arch', 'arm64')])],
      platform: 'linux/arm64',
    });
    const index = buildIndex([amd64, arm64]);
    const dest = `${env.registries.anonymous.host}/ivoc-fixtures/multi:${process.pid}`;
    const { digest } = await pushImage(index, dest);
    expect(digest).toBe(index.descriptor.digest);
    const armConfig = JSON.parse(
      await skopeo([
        '--override-arch',
        'arm64',
        'inspect',
        '--config',
        '--tls-verify=false',
        `docker://${dest}`,
      ]),
    ) as ImageConfig;
    expect(armConfig.architecture).toBe('arm64');
  });

  it('pushes with credentials to the Basic-auth registry', async () => {
    const basic = env.registries.basic;
    const image = buildImage({ layers: [await buildLayer([file('/basic', 'auth')])], mediaTypes: 'docker' });
    const dest = `${basic.host}/ivoc-fixtures/basic:${process.pid}`;
    const creds = `${basic.username}:${basic.password}`;
    const { digest } = await pushImage(image, dest, { creds });
    expect(digest).toBe(image.descriptor.digest);
    await expect(pushImage(image, dest)).rejects.toThrow(/skopeo/);
  });
});
