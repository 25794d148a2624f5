/**
 * `ivoc publish` end to end: the built CLI against the real registries of the
 * test environment, cross-checked with skopeo and the Docker engine, with the
 * fault proxy in front of the registry to count and break requests.
 */

import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  buildIndex,
  buildLayer,
  busyboxLayer,
  file,
  type Image,
  type ImageSpec,
  type Index,
  type Layer,
  loadIntoEngine,
  skopeo,
  writeDockerArchive,
  writeOciArchive,
  writeOciLayout,
} from '../fixtures/index.js';
import type { ImageConfig, ImageIndex, ImageManifest } from '../src/oci/descriptor.js';
import { RegistryClient } from '../src/oci/registry/client.js';
import { type FaultProxy, type ProxiedRequest, startFaultProxy } from './env/fault-proxy.js';
import { resetTokenLifetime, setTokenLifetime } from './env/token-server.js';
import { runIvoc } from './support/cli.js';
import { compliantLabels, compliantWebImage } from './support/web-image.js';

const env = inject('testEnv');
const run = Math.random().toString(36).slice(2, 8);
const exec = promisify(execFile);
const anonymous = env.registries.anonymous.host;
let scratch: string;
let base: Layer;
let app: Layer;

const goodLabels = compliantLabels('publish-me', '1.4.2');

/** A compliant web image on the busybox base: httpd on 8888 as uid 1000. */
function webImage(overrides: Partial<ImageSpec> = {}): Image {
  return compliantWebImage([base, app], goodLabels, overrides);
}

let layouts = 0;
async function layoutOf(image: Image | Index, tag = 'v1'): Promise<string> {
  const dir = join(scratch, `layout-${layouts++}`);
  await writeOciLayout(dir, image, { tag });
  return `oci:${dir}:${tag}`;
}

function publish(args: string[], extraEnv: Record<string, string> = {}) {
  return runIvoc(['publish', ...args], {
    IVOC_CACHE_DIR: join(scratch, 'cache'),
    SOURCE_DATE_EPOCH: undefined,
    ...extraEnv,
  });
}

let large: Layer | undefined;
/** A layer over 16 MiB (20 MiB of random data): publish stages such layers while it validates. */
async function largeLayer(): Promise<Layer> {
  large ??= await buildLayer([file('/opt/app/model.bin', { size: 20 << 20, kind: 'random' })]);
  return large;
}

function repo(name: string): string {
  return `ivoc-publish-${run}/${name}`;
}

interface PublishJson {
  published: boolean;
  dryRun: boolean;
  digest: string;
  configDigest: string;
  tags: Array<{ tag: string; reference: string }>;
  labels: Record<string, string>;
  blobs: Array<{ digest: string; outcome: string; size: number }>;
  report?: { digest: string; via: string; tag?: string };
}

async function manifestAt(host: string, repository: string, reference: string, creds?: string) {
  const client = new RegistryClient(host, creds ? { creds } : {});
  try {
    return await client.getManifest(repository, reference);
  } finally {
    await client.close();
  }
}

async function digestAt(
  host: string,
  repository: string,
  tag: string,
  creds?: string,
): Promise<string | undefined> {
  try {
    return (await manifestAt(host, repository, tag, creds)).descriptor.digest;
  } catch {
    return undefined;
  }
}

function writes(proxy: FaultProxy) {
  return proxy.requests.filter((r) => r.method === 'PUT' || r.method === 'POST' || r.method === 'PATCH');
}

function uploadedBytes(proxy: FaultProxy): number {
  return writes(proxy).reduce((sum, r) => sum + r.bytesReceived, 0);
}

/**
 * Upload sessions were opened (layers staged) and every one was deleted
 * (404: the registry had already dropped it, as a PATCH cut short does);
 * no tag at DEST and none of BLOBS.
 */
async function expectStagedAndDeleted(proxy: FaultProxy, repository: string, blobs: readonly string[]) {
  const opened = proxy.requests.filter((r) => r.method === 'POST' && r.status === 202);
  const deleted = proxy.requests.filter(
    (r) => r.method === 'DELETE' && (r.status === 204 || r.status === 404),
  );
  expect(opened.length).toBeGreaterThan(0);
  expect(deleted.length).toBe(opened.length);
  expect(await digestAt(anonymous, repository, 'v1')).toBeUndefined();
  const client = new RegistryClient(anonymous);
  try {
    for (const digest of blobs) expect(await client.headBlob(repository, digest)).toBeUndefined();
  } finally {
    await client.close();
  }
}

beforeAll(async () => {
  scratch = await mkdtemp(join(env.workDir, 'publish-'));
  base = await busyboxLayer();
  app = await buildLayer([
    file('/opt/app/index.html', '<h1>hello</h1>\n'),
    file('/opt/app/data.bin', { size: 256 << 10 }),
  ]);
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('ivoc publish', () => {
  it('publishes an OCI layout with the discovery labels; skopeo sees them, layers and other config fields unchanged', async () => {
    const image = webImage();
    const src = await layoutOf(image);
    const dest = `${anonymous}/${repo('basic')}:1.4.2`;
    const result = await publish([
      src,
      dest,
      '--format',
      'json',
      '--revision',
      'abc123',
      '--source',
      'https://git.example.org/p',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as PublishJson;
    expect(out.published).toBe(true);
    expect(out.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(out.digest).not.toBe(image.descriptor.digest);
    expect(out.tags.map((t) => t.tag)).toEqual(['1.4.2']);

    const inspected = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${dest}`])) as {
      Digest: string;
      Labels: Record<string, string>;
      Layers: string[];
    };
    expect(inspected.Digest).toBe(out.digest);
    expect(inspected.Labels['net.ivoa.container.type']).toBe('web');
    expect(inspected.Labels['org.opencontainers.image.revision']).toBe('abc123');
    expect(inspected.Labels['org.opencontainers.image.source']).toBe('https://git.example.org/p');
    expect(inspected.Labels['org.opencontainers.image.created']).toBe('2024-01-01T00:00:00Z');
    expect(inspected.Layers).toEqual(image.manifest.layers.map((l) => l.digest));

    const raw = JSON.parse(
      await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${dest}`]),
    ) as ImageManifest;
    expect(raw.layers).toEqual(image.manifest.layers);
    expect(raw.annotations?.['net.ivoa.container.type']).toBe('web');
    expect(raw.annotations?.['org.opencontainers.image.revision']).toBe('abc123');
    expect(raw.config.digest).toBe(out.configDigest);

    const config = JSON.parse(
      await skopeo(['inspect', '--config', '--raw', '--tls-verify=false', `docker://${dest}`]),
    ) as ImageConfig;
    const { Labels: newLabels, ...newBody } = config.config ?? {};
    const { Labels: oldLabels, ...oldBody } = image.config.config ?? {};
    expect(newBody).toEqual(oldBody);
    expect({ ...config, config: undefined }).toEqual({ ...image.config, config: undefined });
    expect(newLabels).toEqual({ ...oldLabels, ...out.labels });
  });

  it('prints the digest on stdout, writes --digest-file, applies --tag and --semver-tags; docker pulls and runs it', async () => {
    const src = await layoutOf(webImage());
    const repository = repo('tags');
    const digestFile = join(scratch, 'digest.txt');
    const result = await publish([
      src,
      `docker://${anonymous}/${repository}`,
      '--tag',
      'stable',
      '--semver-tags',
      '--digest-file',
      digestFile,
    ]);
    expect(result.code).toBe(0);
    const digest = result.stdout.trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await readFile(digestFile, 'utf8')).trim()).toBe(digest);
    expect(result.stderr).toContain('published');
    for (const tag of ['stable', '1.4.2', '1.4', '1']) {
      expect(await digestAt(anonymous, repository, tag)).toBe(digest);
    }
    // No DEST tag and --tag given: 'latest' is not invented.
    expect(await digestAt(anonymous, repository, 'latest')).toBeUndefined();

    const ref = `${anonymous}/${repository}:stable`;
    const docker = (args: string[]) => exec('docker', ['-H', env.dockerHost, ...args], { timeout: 120_000 });
    await docker(['pull', ref]);
    try {
      const ran = await docker([
        'run',
        '--rm',
        '--network',
        'none',
        '--entrypoint',
        '/bin/busybox',
        ref,
        'true',
      ]);
      expect(ran.stderr).toBe('');
      const inspected = JSON.parse((await docker(['image', 'inspect', ref])).stdout) as Array<{
        RepoDigests: string[];
        Config: { Labels: Record<string, string> };
      }>;
      expect(inspected[0]!.RepoDigests).toContain(`${anonymous}/${repository}@${digest}`);
      expect(inspected[0]!.Config.Labels['net.ivoa.container.type']).toBe('web');
    } finally {
      await docker(['image', 'rm', '-f', ref]).catch(() => undefined);
    }
  }, 180_000);

  it('refuses a non-compliant image with exit 1 and writes nothing at DEST', async () => {
    const proxy = await startFaultProxy(anonymous);
    try {
      const src = await layoutOf(webImage({ user: 'root' }));
      const repository = repo('refused');
      const result = await publish([src, `${proxy.host}/${repository}:v1`]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('IVC-USER-001');
      expect(result.stderr).toContain('not published');
      expect(result.stdout).toBe('');
      expect(proxy.requests).toEqual([]);
      expect(await digestAt(anonymous, repository, 'v1')).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it('a refusal found in the files cancels the layer uploads staged meanwhile: no blob, manifest or tag at DEST', async () => {
    const proxy = await startFaultProxy(anonymous);
    try {
      // The config passes (so layers are staged while the files are read); a private key in the files fails.
      const big = await largeLayer();
      const secret = await buildLayer([
        file(
          '/home/astro/.ssh/id_rsa',
          '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n',
        ),
      ]);
      const image = compliantWebImage([base, app, big, secret], goodLabels);
      const src = await layoutOf(image);
      const repository = repo('refused-files');
      // A cache of its own: with the big layer's facts cached by an earlier test, the verdict could
      // come before staging had opened a session; read, the layer takes far longer than a POST.
      const result = await publish([src, `${proxy.host}/${repository}:v1`], {
        IVOC_CACHE_DIR: join(scratch, 'cache-refused-files'),
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('IVC-SEC-001');
      expect(result.stderr).toContain('not published');
      expect(proxy.requests.filter((r) => r.method === 'PUT')).toEqual([]);
      await expectStagedAndDeleted(
        proxy,
        repository,
        image.manifest.layers.map((layer) => layer.digest),
      );
    } finally {
      await proxy.close();
    }
  });

  /**
   * Lints an image with LAYER into a fresh cache, then flips the byte at OFFSET of the layer's
   * blob in the layout (same size: the cached verdict still passes, the bytes no longer match)
   * and publishes it through a fault proxy. Checks that it is reported and nothing committed:
   * exit 3 naming the layer, no tag, no blob, no manifest PUT. Returns the proxy's log.
   */
  async function publishChangedOnDisk(name: string, layer: Layer, offset: number): Promise<ProxiedRequest[]> {
    const proxy = await startFaultProxy(anonymous);
    try {
      const src = await layoutOf(compliantWebImage([base, app, layer], goodLabels));
      const cache = { IVOC_CACHE_DIR: join(scratch, `cache-${name}`) };
      expect((await runIvoc(['lint', src, '-q'], cache)).code).toBe(0);
      const path = join(src.slice('oci:'.length, -':v1'.length), 'blobs', 'sha256', layer.digest.slice(7));
      const bytes = await readFile(path);
      bytes[offset] = (bytes[offset] ?? 0) ^ 0xff;
      await writeFile(path, bytes);
      const repository = repo(name);
      const result = await publish([src, `${proxy.host}/${repository}:v1`], cache);
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/digest mismatch/);
      expect(result.stderr).toContain(layer.digest);
      expect(await digestAt(anonymous, repository, 'v1')).toBeUndefined();
      const client = new RegistryClient(anonymous);
      try {
        expect(await client.headBlob(repository, layer.digest)).toBeUndefined();
      } finally {
        await client.close();
      }
      expect(proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/manifests/'))).toEqual([]);
      return [...proxy.requests];
    } finally {
      await proxy.close();
    }
  }

  it('a layer that changed on disk after its validation was cached fails the upload: exit 3, nothing committed', async () => {
    const layer = await buildLayer([file('/opt/app/blob.bin', { size: 2 << 20, kind: 'random' })]);
    await publishChangedOnDisk('corrupt-after-lint', layer, 1000);
  });

  it('a staged layer (read with a size check only) that changed on disk is refused at commit and reported: exit 3, nothing committed', async () => {
    // Over 16 MiB, so it is staged during the validation, which the cache answers here.
    const layer = await buildLayer([file('/opt/app/weights.bin', { size: 18 << 20, kind: 'random' })]);
    const requests = await publishChangedOnDisk('corrupt-staged', layer, 5 << 20);
    // The staged session was filled and its closing PUT refused by the registry (it hashes
    // what it received); the upload after the verdict read the layer verified and stopped.
    const about = (r: { method: string; path: string }) => r.path.includes(encodeURIComponent(layer.digest));
    expect(requests.filter((r) => r.method === 'PATCH').length).toBeGreaterThan(0);
    const closing = requests.filter((r) => r.method === 'PUT' && about(r));
    expect(closing.length).toBeGreaterThan(0);
    expect(closing.every((r) => r.status !== undefined && r.status >= 400)).toBe(true);
  });

  it('stages a large layer of a passing image while validating, and commits it after the verdict', async () => {
    const proxy = await startFaultProxy(anonymous);
    try {
      // Over 16 MiB: staged (PATCH chunks); the small layers go up after the verdict in one PUT each.
      const big = await largeLayer();
      const src = await layoutOf(compliantWebImage([base, app, big], goodLabels));
      const repository = repo('staged');
      const result = await publish([src, `${proxy.host}/${repository}:v1`, '--format', 'json']);
      expect(result.code).toBe(0);
      expect(result.stderr).not.toMatch(/Warning/);
      const out = JSON.parse(result.stdout) as PublishJson;
      for (const digest of [base.digest, app.digest, big.digest]) {
        expect(out.blobs.find((b) => b.digest === digest)?.outcome).toBe('uploaded');
        // Each layer went up once: one closing PUT naming its digest, no second upload.
        const closing = proxy.requests.filter(
          (r) =>
            r.method === 'PUT' &&
            r.path.includes('/blobs/uploads/') &&
            r.path.includes(encodeURIComponent(digest)),
        );
        expect(closing).toHaveLength(1);
      }
      const patched = proxy.requests.filter((r) => r.method === 'PATCH');
      expect(patched.reduce((sum, r) => sum + r.bytesReceived, 0)).toBe(big.size);
      expect(proxy.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
      expect(await digestAt(anonymous, repository, 'v1')).toBe(out.digest);
    } finally {
      await proxy.close();
    }
  });

  it('SIGINT while a layer is staged deletes its upload session and exits 130', async () => {
    const proxy = await startFaultProxy(anonymous);
    try {
      // PATCH answers are held back: the staging is still under way when the signal comes.
      proxy.addFault({
        method: 'PATCH',
        path: /\/blobs\/uploads\//,
        fault: { kind: 'slow', headerDelayMs: 30_000 },
      });
      const big = await largeLayer();
      const src = await layoutOf(compliantWebImage([base, app, big], goodLabels));
      const repository = repo('staged-sigint');
      const bin = fileURLToPath(new URL('../bin/ivoc.cjs', import.meta.url));
      const child = spawn(process.execPath, [bin, 'publish', src, `${proxy.host}/${repository}:v1`], {
        env: { ...process.env, IVOC_CACHE_DIR: join(scratch, 'cache'), NO_COLOR: '1' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      const patching = () => proxy.requests.some((r) => r.method === 'PATCH');
      for (let i = 0; i < 300 && !patching(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(patching()).toBe(true);
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(stderr).toContain('the uploads staged at the destination');
      await expectStagedAndDeleted(proxy, repository, [big.digest]);
    } finally {
      await proxy.close();
    }
  });

  it('--dry-run validates and shows digests, tags and labels, writing nothing', async () => {
    const proxy = await startFaultProxy(anonymous);
    try {
      const src = await layoutOf(webImage());
      const repository = repo('dry');
      const text = await publish([src, `${proxy.host}/${repository}:v1`, '--dry-run', '--semver-tags']);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain('dry run');
      expect(text.stdout).toContain('net.ivoa.container.type=web');
      expect(text.stdout).toContain('v1, 1.4.2, 1.4, 1');
      const json = await publish([src, `${proxy.host}/${repository}:v1`, '--dry-run', '--format', 'json']);
      const out = JSON.parse(json.stdout) as PublishJson;
      expect(out.dryRun).toBe(true);
      expect(out.published).toBe(false);
      expect(out.blobs.every((b) => b.outcome === 'missing')).toBe(true);
      expect(writes(proxy)).toEqual([]);
      expect(await digestAt(anonymous, repository, 'v1')).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it('attaches the report as an artifact with subject = the pushed manifest, found via the sha256-<hex> fallback tag', async () => {
    const src = await layoutOf(webImage());
    const repository = repo('report');
    const result = await publish([src, `${anonymous}/${repository}:v1`, '--format', 'json']);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as PublishJson;
    const fallback = `sha256-${out.digest.slice('sha256:'.length)}`;
    // distribution 2.8 has no referrers API: the fallback tag is kept.
    expect(out.report?.via).toBe('fallback-tag');
    expect(out.report?.tag).toBe(fallback);
    const index = JSON.parse(
      (await manifestAt(anonymous, repository, fallback)).bytes.toString(),
    ) as ImageIndex;
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    const entry = index.manifests.find(
      (d) => d.artifactType === 'application/vnd.ivoa.container.report.v1+json',
    );
    expect(entry?.digest).toBe(out.report?.digest);
    const artifact = JSON.parse(
      (await manifestAt(anonymous, repository, entry!.digest)).bytes.toString(),
    ) as ImageManifest & { artifactType: string };
    expect(artifact.artifactType).toBe('application/vnd.ivoa.container.report.v1+json');
    expect(artifact.config.mediaType).toBe('application/vnd.oci.empty.v1+json');
    expect(artifact.config.size).toBe(2);
    expect(artifact.subject?.digest).toBe(out.digest);
    const client = new RegistryClient(anonymous);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await client.fetchBlob(repository, artifact.layers[0]!))
        chunks.push(chunk as Buffer);
      const report = JSON.parse(Buffer.concat(chunks).toString()) as { verdict: string; results: unknown[] };
      expect(report.verdict).toBe('pass');
      expect(report.results.length).toBeGreaterThan(10);
    } finally {
      await client.close();
    }

    // A second publish of another image to the same subject would merge; re-publishing the same image keeps one entry.
    const again = await publish([src, `${anonymous}/${repository}:v1`, '--format', 'json']);
    expect(again.code).toBe(0);
    const index2 = JSON.parse(
      (await manifestAt(anonymous, repository, fallback)).bytes.toString(),
    ) as ImageIndex;
    expect(index2.manifests).toHaveLength(1);

    // ivoc lint --attached shows the report publish attached, in any format, without re-checking.
    const shown = await runIvoc([
      'lint',
      '--attached',
      `docker://${anonymous}/${repository}:v1`,
      '--format',
      'json',
    ]);
    expect(shown.stderr).toBe('');
    expect(shown.code).toBe(0);
    const attached = JSON.parse(shown.stdout) as { verdict: string; image: { digest: string } };
    expect(attached.verdict).toBe('pass');
    const text = await runIvoc(['lint', '--attached', `docker://${anonymous}/${repository}:v1`]);
    expect(text.stdout).toMatch(/PASS/);
    // The tag is resolved with a HEAD, not a manifest GET; an unknown tag is exit 3.
    const proxy = await startFaultProxy(anonymous);
    try {
      const viaProxy = await runIvoc(['lint', '--attached', `docker://${proxy.host}/${repository}:v1`, '-q']);
      expect(viaProxy.code).toBe(0);
      const tagRequests = proxy.requests.filter((r) => r.path.endsWith('/manifests/v1'));
      expect(tagRequests.map((r) => r.method)).toEqual(['HEAD']);
      const missing = await runIvoc([
        'lint',
        '--attached',
        `docker://${proxy.host}/${repository}:no-such-tag`,
      ]);
      expect(missing.code).toBe(3);
      expect(missing.stderr).toContain('no-such-tag');
    } finally {
      await proxy.close();
    }
    const none = await runIvoc([
      'lint',
      '--attached',
      `docker://${anonymous}/${repository}@${artifact.config.digest}`,
    ]);
    expect(none.code).toBe(3);
    const local = await runIvoc(['lint', '--attached', src]);
    expect(local.code).toBe(2);
  });

  it('re-publishing after a label-only change uploads only config, manifest and report (<= 64 KB)', async () => {
    const repository = repo('relabel');
    const first = await publish([await layoutOf(webImage()), `${anonymous}/${repository}:v1`]);
    expect(first.code).toBe(0);
    const proxy = await startFaultProxy(anonymous);
    try {
      const changed = webImage({
        labels: { ...goodLabels, 'org.opencontainers.image.description': 'Changed' },
      });
      const second = await publish([
        await layoutOf(changed),
        `${proxy.host}/${repository}:v2`,
        '--format',
        'json',
      ]);
      expect(second.code).toBe(0);
      const out = JSON.parse(second.stdout) as PublishJson;
      expect(out.blobs.filter((b) => b.outcome === 'uploaded')).toHaveLength(1); // the config
      const bytes = uploadedBytes(proxy);
      expect(bytes).toBeLessThanOrEqual(64 * 1024);
      expect(bytes).toBeGreaterThan(0);
      expect(await digestAt(anonymous, repository, 'v2')).toBe(out.digest);
    } finally {
      await proxy.close();
    }
  });

  it('re-publishing with a warm cache reads no layer of SRC, and the tag at DEST tells which layers are there: no HEAD each', async () => {
    const from = repo('warm-src');
    const to = repo('warm-dest');
    const image = webImage();
    const seeded = await publish([await layoutOf(image), `${anonymous}/${from}:v1`]);
    expect(seeded.code).toBe(0);
    const proxy = await startFaultProxy(anonymous);
    const cache = join(scratch, 'warm-publish-cache');
    const layers = image.manifest.layers.map((layer) => layer.digest);
    const about = (digest: string) => proxy.requests.filter((r) => r.path.includes(digest));
    const again = (revision: string) =>
      publish(
        [
          `docker://${proxy.host}/${from}:v1`,
          `${proxy.host}/${to}:v1`,
          '--revision',
          revision,
          '--format',
          'json',
        ],
        { IVOC_CACHE_DIR: cache },
      );
    try {
      const first = await again('first');
      expect(first.stderr).toBe('');
      expect(first.code).toBe(0);
      // Cold: validation read every layer of SRC; DEST got them by mount.
      for (const digest of layers) {
        expect(about(digest).some((r) => r.method === 'GET' && r.path.includes(`/${from}/`))).toBe(true);
      }
      proxy.clearLog();
      const second = await again('second');
      expect(second.stderr).toBe('');
      expect(second.code).toBe(0);
      const out = JSON.parse(second.stdout) as PublishJson & { summary: unknown };
      expect(out.digest).not.toBe((JSON.parse(first.stdout) as PublishJson).digest);
      expect(out.summary).toEqual(JSON.parse(first.stdout).summary);
      for (const digest of layers) {
        // Validation answered from the cache: no layer read from SRC; DEST's tag names the
        // layer already, so nothing is asked about it either.
        expect(about(digest)).toEqual([]);
        expect(out.blobs.find((b) => b.digest === digest)?.outcome).toBe('present');
      }
      // One read of what the tag points to now stood for a HEAD per layer.
      expect(
        proxy.requests
          .filter((r) => r.method === 'GET' && r.path === `/v2/${to}/manifests/v1`)
          .map((r) => r.status),
      ).toEqual([200]);
      expect(uploadedBytes(proxy)).toBeLessThanOrEqual(64 * 1024);
      expect(await digestAt(anonymous, to, 'v1')).toBe(out.digest);
    } finally {
      await proxy.close();
    }
  });

  it('publishes from a registry to another repository of it by cross-repository mount, uploading no layer', async () => {
    const from = repo('mount-from');
    const seeded = await publish([await layoutOf(webImage()), `${anonymous}/${from}:v1`]);
    expect(seeded.code).toBe(0);
    const proxy = await startFaultProxy(anonymous);
    try {
      const to = repo('mount-to');
      const result = await publish([
        `docker://${proxy.host}/${from}:v1`,
        `${proxy.host}/${to}:v1`,
        '--format',
        'json',
      ]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const out = JSON.parse(result.stdout) as PublishJson;
      expect(out.blobs.filter((b) => b.outcome === 'mounted')).toHaveLength(2);
      expect(proxy.requests.some((r) => r.method === 'POST' && r.path.includes('mount='))).toBe(true);
      expect(proxy.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
      expect(uploadedBytes(proxy)).toBeLessThanOrEqual(64 * 1024);
      // Publishing a published image changes nothing in its labels: the same digest again.
      expect(out.digest).toBe(seeded.stdout.trim());
      expect(await digestAt(anonymous, to, 'v1')).toBe(out.digest);
    } finally {
      await proxy.close();
    }
  });

  it('keeps Docker schema2 media types of a docker-archive (labels in the config only, layer digests unchanged)', async () => {
    const image = webImage({ mediaTypes: 'docker' });
    const archive = join(scratch, 'docker.tar');
    await writeDockerArchive(archive, image, { repoTags: ['x/app:1'] });
    const repository = repo('docker-archive');
    const result = await publish([
      `docker-archive:${archive}`,
      `${anonymous}/${repository}:v1`,
      '--format',
      'json',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as PublishJson;
    const got = await manifestAt(anonymous, repository, 'v1');
    expect(got.descriptor.digest).toBe(out.digest);
    const manifest = JSON.parse(got.bytes.toString()) as ImageManifest;
    expect(manifest.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(manifest.annotations).toBeUndefined();
    const source = JSON.parse(
      await skopeo(['inspect', '--raw', `docker-archive:${archive}`]),
    ) as ImageManifest;
    expect(manifest.layers.map((l) => l.digest)).toEqual(source.layers.map((l) => l.digest));
    const inspected = JSON.parse(
      await skopeo(['inspect', '--tls-verify=false', `docker://${anonymous}/${repository}:v1`]),
    ) as { Labels: Record<string, string> };
    expect(inspected.Labels['org.opencontainers.image.created']).toBe('2024-01-01T00:00:00Z');
  });
});

describe('ivoc publish: auth modes', () => {
  const creds = 'ivoc:ivoc-test-password';

  it('publishes to the Basic-auth registry with --creds, and fails with exit 3 without', async () => {
    const host = env.registries.basic.host;
    const repository = repo('basic-auth');
    const src = await layoutOf(webImage());
    const denied = await publish([src, `${host}/${repository}:v1`]);
    expect(denied.code).toBe(3);
    expect(denied.stderr).toMatch(/auth/i);
    const result = await publish([src, `${host}/${repository}:v1`, '--creds', creds, '--format', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as PublishJson;
    expect(await digestAt(host, repository, 'v1', creds)).toBe(out.digest);
    expect(await digestAt(host, repository, out.report!.tag!, creds)).toBeDefined();
  });

  it('publishes to the token-auth registry', async () => {
    const host = env.registries.token.host;
    const repository = repo('token-auth');
    const result = await publish([await layoutOf(webImage()), `${host}/${repository}:v1`, '--creds', creds]);
    expect(result.stderr).toContain('published');
    expect(result.code).toBe(0);
    expect(await digestAt(host, repository, 'v1', creds)).toBe(result.stdout.trim());
  });
});

describe('ivoc publish: atomicity', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await startFaultProxy(anonymous);
  });
  afterAll(async () => {
    await proxy.close();
  });

  /** DEST's tag v1 points at a first image; returns its digest and a new, different image's source. */
  async function existing(name: string, newLayerBytes = 256 << 10) {
    const repository = repo(name);
    const old = await publish([await layoutOf(webImage()), `${anonymous}/${repository}:v1`]);
    expect(old.code).toBe(0);
    const extra = await buildLayer([file('/opt/app/new.bin', { size: newLayerBytes })]);
    const src = await layoutOf(webImage({ layers: [base, app, extra] }));
    return { repository, oldDigest: old.stdout.trim(), src };
  }

  it('500 on the manifest PUT: exit 3, the existing tag still points at the old digest', async () => {
    const { repository, oldDigest, src } = await existing('atomic-500');
    proxy.clearFaults();
    proxy.addFault({ method: 'PUT', path: /\/manifests\//, fault: { kind: 'error', status: 500 } });
    const result = await publish([src, `${proxy.host}/${repository}:v1`]);
    proxy.clearFaults();
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(await digestAt(anonymous, repository, 'v1')).toBe(oldDigest);
  });

  it('the early read of the fallback tag refused (403) is made again when needed: the report is attached', async () => {
    const { repository, src } = await existing('fallback-read-refused');
    proxy.clearFaults();
    proxy.clearLog();
    const refused = proxy.addFault({
      method: 'GET',
      path: /\/manifests\/sha256-[0-9a-f]{64}$/,
      times: 1,
      fault: { kind: 'error', status: 403 },
    });
    const result = await publish([src, `${proxy.host}/${repository}:v1`, '--format', 'json']);
    proxy.clearFaults();
    expect(refused.fired).toBe(1);
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as PublishJson;
    expect(out.report?.via).toBe('fallback-tag');
    const reads = proxy.requests.filter((r) => r.method === 'GET' && /\/manifests\/sha256-/.test(r.path));
    // Refused early, read again after the artifact went up (no such tag yet: a new index).
    expect(reads.map((r) => r.status)).toEqual([403, 404]);
    const index = JSON.parse(
      (await manifestAt(anonymous, repository, out.report!.tag!)).bytes.toString(),
    ) as ImageIndex;
    expect(index.manifests.map((d) => d.digest)).toContain(out.report?.digest);
  });

  it('a 201 to an upload POST for a blob the registry lacks is not taken as an upload: exit 3, tag untouched', async () => {
    const { repository, oldDigest, src } = await existing('post-201');
    proxy.clearFaults();
    proxy.clearLog();
    proxy.addFault({
      method: 'POST',
      path: /\/blobs\/uploads\/$/,
      fault: { kind: 'error', status: 201, body: '' },
    });
    const result = await publish([src, `${proxy.host}/${repository}:v1`]);
    proxy.clearFaults();
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/answered 201 to an upload it was not sent/);
    expect(proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/manifests/'))).toEqual([]);
    expect(await digestAt(anonymous, repository, 'v1')).toBe(oldDigest);
  });

  it('connection cut on every layer upload: exit 3, tag untouched, no manifest pushed', async () => {
    const { repository, oldDigest, src } = await existing('atomic-reset');
    proxy.clearFaults();
    proxy.clearLog();
    proxy.addFault({ method: 'PUT', path: /\/blobs\/uploads\//, fault: { kind: 'hangup' } });
    proxy.addFault({ method: 'PATCH', path: /\/blobs\/uploads\//, fault: { kind: 'hangup' } });
    const result = await publish([src, `${proxy.host}/${repository}:v1`]);
    proxy.clearFaults();
    expect(result.code).toBe(3);
    expect(proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/manifests/'))).toEqual([]);
    expect(await digestAt(anonymous, repository, 'v1')).toBe(oldDigest);
  });

  it('a connection reset mid-layer once is restarted cleanly and the publish completes', async () => {
    const { repository, oldDigest, src } = await existing('atomic-restart', 20 << 20);
    proxy.clearFaults();
    proxy.clearLog();
    // 20 MiB layer: chunked PATCH uploads; the first chunk's connection is cut.
    proxy.addFault({ method: 'PATCH', path: /\/blobs\/uploads\//, times: 1, fault: { kind: 'hangup' } });
    const result = await publish([src, `${proxy.host}/${repository}:v1`]);
    proxy.clearFaults();
    expect(result.stderr).toContain('published');
    expect(result.code).toBe(0);
    const digest = result.stdout.trim();
    expect(digest).not.toBe(oldDigest);
    expect(await digestAt(anonymous, repository, 'v1')).toBe(digest);
    expect(proxy.requests.some((r) => r.fault === 'hangup')).toBe(true);
  }, 60_000);

  it('auth expiry mid-push (2 s tokens, slow registry): tokens are renewed; DEST is never half-updated', async () => {
    const host = env.registries.token.host;
    const creds = 'ivoc:ivoc-test-password';
    const repository = repo('atomic-expiry');
    const pattern = `^${repository.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`;
    const old = await publish([await layoutOf(webImage()), `${host}/${repository}:v1`, '--creds', creds]);
    expect(old.code).toBe(0);
    const oldDigest = old.stdout.trim();
    const tokenProxy = await startFaultProxy(host);
    await setTokenLifetime(env.registries.token.realm, 2, pattern);
    try {
      tokenProxy.addFault({
        method: 'HEAD',
        path: /\/blobs\//,
        fault: { kind: 'slow', headerDelayMs: 1200 },
      });
      const extra = await buildLayer([file('/opt/app/expiry.bin', { size: 64 << 10 })]);
      const src = await layoutOf(webImage({ layers: [base, app, extra] }));
      const result = await publish([src, `${tokenProxy.host}/${repository}:v1`, '--creds', creds]);
      const now = await digestAt(host, repository, 'v1', creds);
      if (result.code === 0) {
        expect(now).toBe(result.stdout.trim());
        expect(now).not.toBe(oldDigest);
      } else {
        expect(result.code).toBe(3);
        expect(now).toBe(oldDigest);
      }
      // The push outlived its first token: the registry asked for a new one at least once.
      expect(tokenProxy.requests.some((r) => r.status === 401)).toBe(true);
      expect(result.stderr).not.toContain('ivoc-test-password');
      expect(result.code).toBe(0);
    } finally {
      await resetTokenLifetime(env.registries.token.realm, pattern);
      await tokenProxy.close();
    }
  }, 60_000);
});

describe('ivoc publish: multi-platform', () => {
  function twoPlatforms(arm: Partial<ImageSpec> = {}): Index {
    return buildIndex([webImage(), webImage({ platform: 'linux/arm64/v8', ...arm })]);
  }

  it('--all-platforms validates each platform, pushes the relabelled platform manifests, then the index', async () => {
    const index = twoPlatforms();
    const repository = repo('multi');
    const result = await publish([
      await layoutOf(index),
      `${anonymous}/${repository}:v1`,
      '--all-platforms',
      '--format',
      'json',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as PublishJson & {
      manifests: Array<{ digest: string; platform: { architecture: string }; report?: string }>;
    };
    const got = await manifestAt(anonymous, repository, 'v1');
    expect(got.descriptor.digest).toBe(out.digest);
    const pushed = JSON.parse(got.bytes.toString()) as ImageIndex;
    expect(pushed.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(pushed.manifests.map((m) => m.platform?.architecture)).toEqual(['amd64', 'arm64']);
    expect(pushed.manifests.map((m) => m.digest)).toEqual(out.manifests.map((m) => m.digest));
    expect(pushed.annotations?.['net.ivoa.container.type']).toBe('web');
    for (const [i, entry] of pushed.manifests.entries()) {
      const manifest = JSON.parse(
        (await manifestAt(anonymous, repository, entry.digest)).bytes.toString(),
      ) as ImageManifest;
      expect(manifest.layers).toEqual(index.images[i]!.manifest.layers);
      expect(manifest.annotations?.['net.ivoa.container.type']).toBe('web');
      // Each platform manifest has its own report attached (fallback tag on this registry).
      const fallback = JSON.parse(
        (await manifestAt(anonymous, repository, `sha256-${entry.digest.slice(7)}`)).bytes.toString(),
      ) as ImageIndex;
      expect(fallback.manifests[0]?.digest).toBe(out.manifests[i]!.report);
    }
    const inspected = JSON.parse(
      await skopeo([
        'inspect',
        '--tls-verify=false',
        '--override-arch',
        'arm64',
        `docker://${anonymous}/${repository}:v1`,
      ]),
    ) as { Architecture: string; Labels: Record<string, string> };
    expect(inspected.Architecture).toBe('arm64');
    expect(inspected.Labels['net.ivoa.container.type']).toBe('web');
  });

  it('without --all-platforms publishes an index of the --platform manifest only', async () => {
    const repository = repo('multi-one');
    const result = await publish([
      await layoutOf(twoPlatforms({ user: 'root' })),
      `${anonymous}/${repository}:v1`,
    ]);
    expect(result.code).toBe(0);
    const pushed = JSON.parse((await manifestAt(anonymous, repository, 'v1')).bytes.toString()) as ImageIndex;
    expect(pushed.manifests.map((m) => m.platform?.architecture)).toEqual(['amd64']);
  });

  it('refuses the index when any chosen platform fails, writing nothing', async () => {
    const proxy = await startFaultProxy(anonymous);
    try {
      const repository = repo('multi-refused');
      const result = await publish([
        await layoutOf(twoPlatforms({ user: 'root' })),
        `${proxy.host}/${repository}:v1`,
        '--all-platforms',
      ]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('linux/arm64');
      expect(result.stderr).toContain('IVC-USER-001');
      expect(proxy.requests).toEqual([]);
    } finally {
      await proxy.close();
    }
  });
});

describe('ivoc publish: other transports', () => {
  it('publishes from an oci-archive and from the Docker engine (docker-daemon:), layers as stored', async () => {
    const image = webImage();
    const archive = join(scratch, 'src.oci.tar');
    await writeOciArchive(archive, image, { tag: 'v1' });
    const fromArchive = await publish([
      `oci-archive:${archive}:v1`,
      `${anonymous}/${repo('from-archive')}:v1`,
    ]);
    expect(fromArchive.stderr).toContain('published');
    expect(fromArchive.code).toBe(0);

    const dockerImage = webImage({ mediaTypes: 'docker' });
    const saved = join(scratch, 'engine.tar');
    const name = `ivoc-publish-${run}/engine:v1`;
    await writeDockerArchive(saved, dockerImage, { repoTags: [name] });
    await loadIntoEngine(saved, env.dockerHost);
    try {
      const repository = repo('from-daemon');
      const result = await publish(
        [`docker-daemon:${name}`, `${anonymous}/${repository}:v1`, '--format', 'json'],
        {
          DOCKER_HOST: env.dockerHost,
        },
      );
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const out = JSON.parse(result.stdout) as PublishJson;
      const inspected = JSON.parse(
        await skopeo(['inspect', '--tls-verify=false', `docker://${anonymous}/${repository}:v1`]),
      ) as { Digest: string; Labels: Record<string, string> };
      expect(inspected.Digest).toBe(out.digest);
      expect(inspected.Labels['net.ivoa.container.type']).toBe('web');
      expect(inspected.Labels['org.opencontainers.image.created']).toBeDefined();
    } finally {
      await exec('docker', ['-H', env.dockerHost, 'image', 'rm', '-f', name]).catch(() => undefined);
    }
  }, 120_000);
});
