import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  buildImage,
  buildIndex,
  buildLayer,
  dir,
  file,
  type Image,
  loadIntoEngine,
  pushImage,
  rawLayer,
  writeDockerArchive,
  writeOciArchive,
  writeOciLayout,
} from '../fixtures/index.js';
import { startFaultProxy } from './env/fault-proxy.js';
import { runIvoc } from './support/cli.js';

const env = inject('testEnv');
const run = Math.random().toString(36).slice(2, 8);
let scratch: string;
let image: Image;

beforeAll(async () => {
  scratch = await mkdtemp(join(env.workDir, 'inspect-'));
  const layer = await buildLayer([
    dir('/opt/app'),
    file('/opt/app/run.sh', '#!/bin/sh\necho hi\n', { mode: 0o755 }),
  ]);
  const second = await buildLayer([file('/opt/app/data', 'x'.repeat(5000))], { compression: 'zstd' });
  image = buildImage({
    layers: [layer, second],
    user: '1000:1000',
    ports: [8888],
    cmd: ['/opt/app/run.sh'],
    env: { PATH: '/usr/bin:/bin', API_TOKEN: 'tok-123-very-secret' },
    labels: { 'org.opencontainers.image.title': 'inspect-me' },
  });
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

interface InspectJson {
  reference: string;
  digest: string;
  configDigest: string;
  platform: { os: string; architecture: string };
  platforms: Array<{ os: string; architecture: string }>;
  config: { user: string; env: string[]; exposedPorts: string[]; labels: Record<string, string> };
  layers: Array<{ digest: string; diffId: string; size: number }>;
}

async function inspectJson(reference: string, extra: string[] = [], envVars: Record<string, string> = {}) {
  const result = await runIvoc(['inspect', reference, '--format', 'json', ...extra], envVars);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as InspectJson;
}

function expectSameImage(report: InspectJson, keepsManifest: boolean) {
  expect(report.configDigest).toBe(image.configDescriptor.digest);
  if (keepsManifest) expect(report.digest).toBe(image.descriptor.digest);
  expect(report.platform).toEqual({ os: 'linux', architecture: 'amd64' });
  expect(report.config.user).toBe('1000:1000');
  expect(report.config.exposedPorts).toEqual(['8888/tcp']);
  expect(report.layers.map((layer) => layer.diffId)).toEqual(image.config.rootfs.diff_ids);
  // Secrets are shown by name only.
  expect(report.config.env).toContain('API_TOKEN=<redacted>');
  expect(JSON.stringify(report)).not.toContain('tok-123-very-secret');
}

describe('ivoc inspect reads every transport', () => {
  it('oci: layout directory, by tag', async () => {
    await writeOciLayout(join(scratch, 'layout'), image, { tag: 'v1' });
    expectSameImage(await inspectJson(`oci:${join(scratch, 'layout')}:v1`), true);
  });

  it('oci-archive:', async () => {
    await writeOciArchive(join(scratch, 'image.oci.tar'), image, { tag: 'v1' });
    expectSameImage(await inspectJson(`oci-archive:${join(scratch, 'image.oci.tar')}`), true);
  });

  it('docker-archive: (docker save format)', async () => {
    const docker = buildImage({ ...specOf(image), mediaTypes: 'docker' });
    await writeDockerArchive(join(scratch, 'saved.tar'), docker, { repoTags: [`ivoc-test/inspect:${run}`] });
    const report = await inspectJson(`docker-archive:${join(scratch, 'saved.tar')}:ivoc-test/inspect:${run}`);
    expect(report.configDigest).toBe(docker.configDescriptor.digest);
    expect(report.layers.map((layer) => layer.diffId)).toEqual(docker.config.rootfs.diff_ids);
    // Saved layers are plain tars: the blob digest is the diff_id.
    expect(report.layers.map((layer) => layer.digest)).toEqual(docker.config.rootfs.diff_ids);
  });

  it('docker-daemon: the real engine', async () => {
    const docker = buildImage({ ...specOf(image), mediaTypes: 'docker' });
    const archive = join(scratch, 'daemon.tar');
    await writeDockerArchive(archive, docker, { repoTags: [`ivoc-test/inspect-daemon:${run}`] });
    await loadIntoEngine(archive, env.dockerHost);
    const report = await inspectJson(`docker-daemon:ivoc-test/inspect-daemon:${run}`, [], {
      DOCKER_HOST: env.dockerHost,
    });
    expect(report.configDigest).toBe(docker.configDescriptor.digest);
    expect(report.layers).toHaveLength(2);
    const missing = await runIvoc(['inspect', `docker-daemon:ivoc-test/absent:${run}`], {
      DOCKER_HOST: env.dockerHost,
    });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('no such image in the Docker engine');
  });

  it('docker-daemon: a layer the image repeats (exported once, then as a symlink) has its size and scans', async () => {
    const first = await buildLayer([file('/a', 'a\n')]);
    const empty = await buildLayer([]);
    const docker = buildImage({ layers: [first, empty, empty], mediaTypes: 'docker', user: '1000' });
    const archive = join(scratch, 'repeated.tar');
    const name = `ivoc-test/inspect-repeated:${run}`;
    await writeDockerArchive(archive, docker, { repoTags: [name] });
    await loadIntoEngine(archive, env.dockerHost);
    const report = await inspectJson(`docker-daemon:${name}`, ['--scan', '--no-cache'], {
      DOCKER_HOST: env.dockerHost,
    });
    // The engine exports plain tars: each size is its tar's (the repeated one was read as 0 bytes).
    expect(report.layers.map((layer) => layer.size)).toEqual([first.tarSize, empty.tarSize, empty.tarSize]);
    expect(report.layers.map((layer) => layer.digest)).toEqual(docker.config.rootfs.diff_ids);
  });

  it('oci-archive: an empty (0-byte) layer blob reads as empty, not as an error', async () => {
    const archive = join(scratch, 'empty-blob.oci.tar');
    await writeOciArchive(
      archive,
      buildImage({ layers: [rawLayer(Buffer.alloc(0), { compression: 'none' })] }),
      {
        tag: 'v1',
      },
    );
    const report = await inspectJson(`oci-archive:${archive}`, ['--scan', '--no-cache']);
    expect(report.layers.map((layer) => layer.size)).toEqual([0]);
  });

  it('docker:// anonymous registry, by tag and by digest', async () => {
    const host = env.registries.anonymous.host;
    await pushImage(image, `${host}/ivoc-test/inspect:${run}`);
    expectSameImage(await inspectJson(`docker://${host}/ivoc-test/inspect:${run}`), true);
    expectSameImage(await inspectJson(`${host}/ivoc-test/inspect@${image.descriptor.digest}`), true);
  });

  it('docker:// with Basic auth: credentials from --creds, refused without', async () => {
    const { host, username, password } = env.registries.basic;
    const creds = `${username}:${password}`;
    await pushImage(image, `${host}/ivoc-test/inspect:${run}`, { creds });
    expectSameImage(await inspectJson(`docker://${host}/ivoc-test/inspect:${run}`, ['--creds', creds]), true);
    const denied = await runIvoc(['inspect', `docker://${host}/ivoc-test/inspect:${run}`], {
      DOCKER_CONFIG: scratch,
      REGISTRY_AUTH_FILE: join(scratch, 'none.json'),
    });
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/auth/i);
    expect(denied.stderr).not.toContain(password!);
  });

  it('docker:// with token auth: credentials from DOCKER_CONFIG', async () => {
    const { host, username, password } = env.registries.token;
    const creds = `${username}:${password}`;
    await pushImage(image, `${host}/ivoc-test/inspect:${run}`, { creds });
    const { writeFile } = await import('node:fs/promises');
    const config = join(scratch, 'docker-config');
    await import('node:fs/promises').then(({ mkdir }) => mkdir(config, { recursive: true }));
    await writeFile(
      join(config, 'config.json'),
      JSON.stringify({ auths: { [host]: { auth: Buffer.from(creds).toString('base64') } } }),
    );
    expectSameImage(
      await inspectJson(`docker://${host}/ivoc-test/inspect:${run}`, [], { DOCKER_CONFIG: config }),
      true,
    );
  });

  it('chooses the platform from an index', async () => {
    const arm = buildImage({ ...specOf(image), platform: 'linux/arm64/v8' });
    const index = buildIndex([image, arm]);
    await writeOciLayout(join(scratch, 'multi'), index, { tag: 'multi' });
    const amd = await inspectJson(`oci:${join(scratch, 'multi')}:multi`);
    expect(amd.digest).toBe(index.descriptor.digest);
    expect(amd.platforms).toHaveLength(2);
    expect(amd.configDigest).toBe(image.configDescriptor.digest);
    const armReport = await inspectJson(`oci:${join(scratch, 'multi')}:multi`, ['--platform', 'linux/arm64']);
    expect(armReport.configDigest).toBe(arm.configDescriptor.digest);
    const none = await runIvoc([
      'inspect',
      `oci:${join(scratch, 'multi')}:multi`,
      '--platform',
      'linux/s390x',
    ]);
    expect(none.code).toBe(3);
    expect(none.stderr).toContain(
      'no linux/s390x image in the index (it offers: linux/amd64, linux/arm64/v8)',
    );
  });

  it('prints a readable text summary', async () => {
    const result = await runIvoc(['inspect', 'oci-archive:examples/hello-notebook.oci.tar']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Image: +oci-archive:examples\/hello-notebook\.oci\.tar$/m);
    expect(result.stdout).toMatch(/^User: +1000:1000$/m);
    expect(result.stdout).toMatch(/^Layers \(1, /m);
  });
});

describe('ivoc inspect --scan with a warm cache', () => {
  async function filesUnder(root: string, pattern: RegExp): Promise<string[]> {
    const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
    return entries.filter((e) => e.isFile() && pattern.test(e.name)).map((e) => join(e.parentPath, e.name));
  }

  it('gives the cold answer again from one summary record, fetching no layer; a corrupt record is a miss', async () => {
    const host = env.registries.anonymous.host;
    await pushImage(image, `${host}/ivoc-test/inspect-warm:${run}`);
    const proxy = await startFaultProxy(host);
    const cache = join(scratch, 'warm-cache');
    const layerRequests = () =>
      proxy.requests.filter((r) => image.manifest.layers.some((layer) => r.path.includes(layer.digest)));
    const scan = async (extra: string[] = [], envVars: Record<string, string> = {}) => {
      const result = await runIvoc(
        [
          'inspect',
          `docker://${proxy.host}/ivoc-test/inspect-warm:${run}`,
          '--scan',
          '--format',
          'json',
          ...extra,
        ],
        { IVOC_CACHE_DIR: cache, ...envVars },
      );
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      return result.stdout;
    };
    try {
      const cold = await scan();
      expect(layerRequests().length).toBe(2);
      expect(JSON.parse(cold).filesystem).toMatchObject({
        files: 4,
        layers: [{ entries: 2 }, { entries: 1 }],
      });
      const [record] = await filesUnder(join(cache, 'images'), /^scan-summary-.*\.json$/);
      expect(record).toBeDefined();

      proxy.clearLog();
      expect(await scan()).toBe(cold);
      expect(layerRequests()).toEqual([]);

      // --path needs the merged view: built from the layer facts, still no layer fetched.
      const withPath = JSON.parse(await scan(['--path', '/opt/app/run.sh']));
      expect(withPath.filesystem.paths[0]).toMatchObject({ exists: true, type: 'file', mode: '0755' });
      expect(layerRequests()).toEqual([]);

      // The record alone answers: without any layer facts, still nothing fetched.
      await rm(join(cache, 'facts'), { recursive: true });
      expect(await scan()).toBe(cold);
      expect(layerRequests()).toEqual([]);

      // A corrupt record is a miss (the layers are read again) and is replaced.
      for (const garbage of [
        '{"recordFormat":1,',
        JSON.stringify({ recordFormat: 1, value: { files: 1 } }),
      ]) {
        await writeFile(record!, garbage);
        await rm(join(cache, 'facts'), { recursive: true, force: true });
        proxy.clearLog();
        expect(await scan()).toBe(cold);
        expect(layerRequests().length).toBe(2);
        expect(JSON.parse(await readFile(record!, 'utf8')).value).toEqual(JSON.parse(cold).filesystem);
      }

      // IVOC_NO_CACHE=1 and --no-cache bypass every cache.
      const bypasses: Array<{ extra: string[]; vars: Record<string, string> }> = [
        { extra: [], vars: { IVOC_NO_CACHE: '1' } },
        { extra: ['--no-cache'], vars: {} },
      ];
      for (const bypass of bypasses) {
        proxy.clearLog();
        expect(await scan(bypass.extra, bypass.vars)).toBe(cold);
        expect(layerRequests().length).toBe(2);
      }
    } finally {
      await proxy.close();
    }
  });
});

describe('ivoc inspect with the blob cache', () => {
  it('takes the config and the platform manifest from the cache on another look, always asks for the tag, and drops a damaged file', async () => {
    const host = env.registries.anonymous.host;
    const arm = buildImage({ ...specOf(image), platform: 'linux/arm64/v8' });
    const index = buildIndex([image, arm]);
    const repository = `ivoc-test/inspect-blob-cache-${run}`;
    await pushImage(index, `${host}/${repository}:multi`);
    const proxy = await startFaultProxy(host);
    const cache = join(scratch, 'blob-cache');
    const inspect = (extra: string[] = [], envVars: Record<string, string> = {}) =>
      inspectJson(`docker://${proxy.host}/${repository}:multi`, extra, { IVOC_CACHE_DIR: cache, ...envVars });
    const fetched = () => proxy.requests.map((r) => `${r.method} ${r.path.replace(`/v2/${repository}`, '')}`);
    const asked = {
      tag: 'GET /manifests/multi',
      manifest: `GET /manifests/${image.descriptor.digest}`,
      config: `GET /blobs/${image.configDescriptor.digest}`,
    };
    const configFile = join(cache, 'blobs', 'sha256', image.configDescriptor.digest.slice('sha256:'.length));
    try {
      const cold = await inspect();
      expectSameImage(cold, false);
      expect(cold.digest).toBe(index.descriptor.digest);
      expect(fetched()).toEqual([asked.tag, asked.manifest, asked.config]);
      expect(await readFile(configFile)).toEqual(image.configBytes);

      // Another look: the tag is asked again (it may have moved), what it names by digest is not.
      proxy.clearLog();
      expect(await inspect()).toEqual(cold);
      expect(fetched()).toEqual([asked.tag]);

      // A damaged file is a miss: fetched again, verified, and replaced.
      await writeFile(configFile, image.configBytes.toString('utf8').replace('amd64', 'arm64'));
      proxy.clearLog();
      expect(await inspect()).toEqual(cold);
      expect(fetched()).toEqual([asked.tag, asked.config]);
      expect(await readFile(configFile)).toEqual(image.configBytes);

      // --no-cache and IVOC_NO_CACHE=1 ask the registry for everything.
      for (const [extra, vars] of [
        [['--no-cache'], {}],
        [[], { IVOC_NO_CACHE: '1' }],
      ] as const) {
        proxy.clearLog();
        expect(await inspect([...extra], vars)).toEqual(cold);
        expect(fetched()).toEqual([asked.tag, asked.manifest, asked.config]);
      }
    } finally {
      await proxy.close();
    }
  });
});

describe('ivoc inspect without a home directory', () => {
  // A container run as an arbitrary uid: no $HOME, no password entry. Needs root to switch uid.
  it.runIf(process.getuid?.() === 0)(
    'runs with every cache off instead of failing (metadata only, and a scan)',
    async () => {
      const host = env.registries.anonymous.host;
      await pushImage(image, `${host}/ivoc-test/inspect-homeless:${run}`);
      const bin = fileURLToPath(new URL('../bin/ivoc.cjs', import.meta.url));
      const asNobody = (args: string[], vars: Record<string, string> = {}) =>
        promisify(execFile)(
          'setpriv',
          ['--reuid', '54321', '--regid', '54321', '--clear-groups', process.execPath, bin, ...args],
          { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...vars }, cwd: '/' },
        );
      const reference = `docker://${host}/ivoc-test/inspect-homeless:${run}`;
      for (const vars of [{}, { IVOC_CODE_CACHE: '0' }] as Record<string, string>[]) {
        const { stdout, stderr } = await asNobody(['inspect', reference, '--format', 'json'], vars);
        expect(stderr).toBe('');
        expectSameImage(JSON.parse(stdout) as InspectJson, true);
      }
      const scan = await asNobody(['inspect', reference, '--scan', '--format', 'json']);
      expect(scan.stderr).toBe('');
      expect(JSON.parse(scan.stdout).filesystem).toMatchObject({ files: 4 });
    },
  );
});

function specOf(from: Image) {
  return {
    layers: from.layers,
    user: '1000:1000',
    ports: [8888],
    cmd: ['/opt/app/run.sh'],
    env: { PATH: '/usr/bin:/bin', API_TOKEN: 'tok-123-very-secret' },
    labels: { 'org.opencontainers.image.title': 'inspect-me' },
  };
}
