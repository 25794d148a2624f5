/**
 * The registry client against the real anonymous registry of the test
 * environment: manifests (OCI, Docker schema2, indexes), blobs, uploads,
 * tags, referrers, and the transport's ImageSource/ImageTarget.
 */

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../src/errors.js';
import { readAll } from '../src/oci/content.js';
import type { Descriptor } from '../src/oci/descriptor.js';
import { digestOf } from '../src/oci/digest.js';
import { MediaType } from '../src/oci/media-types.js';
import { RegistryClient } from '../src/oci/registry/client.js';
import { openRegistrySource, openRegistryTarget } from '../src/oci/registry/index.js';
import {
  blobOf,
  buildImage,
  failure,
  type PushedImage,
  pushImage,
  pushIndex,
  readStream,
  skopeo,
  uniqueRepo,
} from './registry-support.js';

const env = inject('testEnv');
const host = env.registries.anonymous.host;

describe('registry client (anonymous registry)', () => {
  let client: RegistryClient;
  let oci: PushedImage;
  let docker: PushedImage;
  const repo = uniqueRepo('client');

  beforeAll(async () => {
    client = new RegistryClient(host);
    oci = await pushImage(client, repo, 'oci');
    docker = await pushImage(client, repo, 'docker', { mediaTypes: 'docker' });
  });
  afterAll(async () => {
    await client.close();
  });

  it('pings the API root over plain HTTP (loopback is insecure, TLS probe falls back)', async () => {
    const result = await client.ping();
    expect(result.origin).toBe(`http://${host}`);
    expect(result.apiVersion).toBe('registry/2.0');
    expect(result.auth).toBeUndefined();
  });

  it('gets an OCI manifest by tag and by digest, with its descriptor', async () => {
    const byTag = await client.getManifest(repo, 'oci');
    expect(byTag.descriptor).toEqual(oci.manifest.descriptor);
    expect(byTag.bytes.equals(oci.manifest.bytes)).toBe(true);
    const byDigest = await client.getManifest(repo, oci.manifest.descriptor.digest);
    expect(byDigest.descriptor).toEqual(oci.manifest.descriptor);
  });

  it('gets a Docker schema2 manifest with its media type', async () => {
    const got = await client.getManifest(repo, 'docker');
    expect(got.descriptor.mediaType).toBe(MediaType.dockerManifest);
    expect(got.descriptor.digest).toBe(docker.manifest.descriptor.digest);
  });

  it('HEADs manifests: descriptor when present, undefined when absent', async () => {
    expect(await client.headManifest(repo, 'oci')).toEqual(oci.manifest.descriptor);
    expect(await client.headManifest(repo, 'no-such-tag')).toBeUndefined();
  });

  it('gets OCI indexes and Docker manifest lists', async () => {
    const arm = await pushImage(client, repo, 'arm', { architecture: 'arm64' });
    const index = await pushIndex(client, repo, 'multi', [
      { descriptor: oci.manifest.descriptor, architecture: 'amd64' },
      { descriptor: arm.manifest.descriptor, architecture: 'arm64' },
    ]);
    const got = await client.getManifest(repo, 'multi');
    expect(got.descriptor).toEqual(index.descriptor);
    const list = await pushIndex(
      client,
      repo,
      'list',
      [{ descriptor: docker.manifest.descriptor, architecture: 'amd64' }],
      'docker',
    );
    const gotList = await client.getManifest(repo, list.descriptor.digest);
    expect(gotList.descriptor.mediaType).toBe(MediaType.dockerManifestList);
    expect(gotList.descriptor.digest).toBe(list.descriptor.digest);
  });

  it('streams a blob, verified, byte for byte', async () => {
    const layer = oci.layers[0]!;
    const stream = await client.fetchBlob(repo, layer.descriptor);
    expect((await readStream(stream)).equals(layer.bytes)).toBe(true);
  });

  it('refuses a blob whose size differs from its descriptor, naming the blob', async () => {
    const layer = oci.layers[0]!;
    const wrong = { ...layer.descriptor, size: layer.descriptor.size + 1 };
    const error = await failure(client.fetchBlob(repo, wrong).then(readStream));
    expect(error.code).toBe('ERR_SIZE_MISMATCH');
    expect(error.blob).toBe(layer.descriptor.digest);
  });

  it('reports a missing blob as ERR_BLOB_NOT_FOUND naming image and digest (exit 3)', async () => {
    const missing = blobOf(randomBytes(100), MediaType.ociLayerGzip).descriptor;
    const error = await failure(client.fetchBlob(repo, missing, { image: `docker://${host}/${repo}:oci` }));
    expect(error.code).toBe('ERR_BLOB_NOT_FOUND');
    expect(error.exitCode).toBe(ExitCode.failure);
    expect(error.blob).toBe(missing.digest);
    expect(error.image).toBe(`docker://${host}/${repo}:oci`);
    expect(error.describe()).toContain(missing.digest);
    expect(await client.blobExists(repo, missing.digest)).toBe(false);
    expect(await client.blobExists(repo, oci.layers[0]!.descriptor.digest)).toBe(true);
  });

  it('reports a missing manifest and an unknown repository as ERR_NOT_FOUND', async () => {
    const tag = await failure(client.getManifest(repo, 'nope'));
    expect(tag.code).toBe('ERR_NOT_FOUND');
    expect(tag.message).toContain('nope');
    const name = await failure(client.getManifest(uniqueRepo('absent'), 'latest'));
    expect(name.code).toBe('ERR_NOT_FOUND');
    expect((name as { status?: number }).status).toBe(404);
  });

  it('uploads a large blob in PATCH chunks, and skopeo reads the image back', async () => {
    const chunked = new RegistryClient(host, { monolithicUploadBytes: 1024, uploadChunkBytes: 256 * 1024 });
    try {
      const data = randomBytes(1024 * 1024 + 123);
      const image = buildImage({ layers: [data] });
      const pieces = [data.subarray(0, 1000), data.subarray(1000, 500_000), data.subarray(500_000)];
      await chunked.pushBlob(repo, image.layers[0]!.descriptor, Readable.from(pieces));
      await chunked.pushBlob(repo, image.config.descriptor, Readable.from([image.config.bytes]));
      await chunked.putManifest(repo, 'chunked', MediaType.ociManifest, image.manifest.bytes);
      // POST + 5 PATCH + PUT for the layer.
      expect(chunked.http.stats.requests).toBeGreaterThanOrEqual(7);
      expect(await chunked.headBlob(repo, image.layers[0]!.descriptor.digest)).toEqual({
        digest: image.layers[0]!.descriptor.digest,
        size: data.length,
      });
      const raw = await skopeo([
        'inspect',
        '--raw',
        '--tls-verify=false',
        `docker://${host}/${repo}:chunked`,
      ]);
      expect(raw).toBe(image.manifest.bytes.toString());
      const info = JSON.parse(
        await skopeo(['inspect', '--tls-verify=false', `docker://${host}/${repo}:chunked`]),
      ) as { Digest: string; Layers: string[] };
      expect(info.Digest).toBe(image.manifest.descriptor.digest);
      expect(info.Layers).toEqual([image.layers[0]!.descriptor.digest]);
      // skopeo copy verifies every blob's digest on the way.
      await skopeo([
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        `docker://${host}/${repo}:chunked`,
        `oci:${env.workDir}/registry-chunked-${process.pid}:x`,
      ]);
    } finally {
      await chunked.close();
    }
  });

  it('refuses to upload content that does not match its descriptor', async () => {
    const blob = blobOf(randomBytes(2000), MediaType.ociLayerGzip);
    const error = await failure(client.pushBlob(repo, blob.descriptor, Readable.from([randomBytes(2000)])));
    expect(error.code).toBe('ERR_DIGEST_MISMATCH');
    expect(await client.blobExists(repo, blob.descriptor.digest)).toBe(false);
  });

  it('mounts a blob from another repository instead of uploading it', async () => {
    const other = uniqueRepo('mount');
    const before = client.http.stats.requests;
    expect(await client.mountBlob(other, oci.layers[0]!.descriptor.digest, repo)).toBe(true);
    expect(client.http.stats.requests - before).toBe(1);
    expect(await client.blobExists(other, oci.layers[0]!.descriptor.digest)).toBe(true);
    const unknown = blobOf(randomBytes(10), MediaType.ociLayerGzip).descriptor.digest;
    expect(await client.mountBlob(other, unknown, repo)).toBe(false);
  });

  it('lists tags, following pagination', async () => {
    const tags = await client.listTags(repo, { pageSize: 2 });
    expect(tags).toEqual(expect.arrayContaining(['oci', 'docker', 'multi', 'list']));
    expect(new Set(tags).size).toBe(tags.length);
  });

  it('detects a registry without the referrers API', async () => {
    // distribution 2.8 predates distribution-spec 1.1: 404, so publish must use the fallback tag.
    expect(await client.referrers(repo, oci.manifest.descriptor.digest)).toBeUndefined();
    const artifact = buildImage({
      subject: oci.manifest.descriptor,
      artifactType: 'application/vnd.ivoc.report+json',
    });
    for (const blob of [artifact.config, ...artifact.layers]) {
      await client.pushBlob(repo, blob.descriptor, Readable.from([blob.bytes]));
    }
    const put = await client.putManifest(
      repo,
      artifact.manifest.descriptor.digest,
      MediaType.ociManifest,
      artifact.manifest.bytes,
    );
    expect(put.subjectProcessed).toBe(false);
  });

  it('RegistrySource resolves a tag once and serves the root manifest from memory', async () => {
    const source = openRegistrySource({ registry: host, repository: repo, tag: 'oci' });
    try {
      const root = await source.resolve();
      expect(root).toEqual(oci.manifest.descriptor);
      const requests = source.client.http.stats.requests;
      const bytes = await readAll(source, root, 4 << 20);
      expect(bytes.equals(oci.manifest.bytes)).toBe(true);
      expect(source.client.http.stats.requests).toBe(requests);
      const config = await readAll(source, oci.config.descriptor, 1 << 20);
      expect(config.equals(oci.config.bytes)).toBe(true);
      // Held bytes are checked against the descriptor's size: one that says otherwise is refused.
      const error = await failure(readAll(source, { ...root, size: root.size + 1 }, 4 << 20));
      expect(error.code).toBe('ERR_SIZE_MISMATCH');
      expect(error.message).toContain(`blob is ${root.size} bytes, its descriptor says ${root.size + 1}`);
      expect(error.blob).toBe(root.digest);
      // A descriptor must name a digest: not a tag, which would be fetched unchecked.
      for (const digest of ['oci', 'latest', 'sha256:short']) {
        const notDigest = await failure(
          readAll(source, { ...root, digest: digest as Descriptor['digest'] }, 4 << 20),
        );
        expect(notDigest.code, digest).toBe('ERR_DIGEST_INVALID');
        expect(notDigest.image).toBe(`docker://${host}/${repo}:oci`);
      }
      // The stream of fetch() serves the same bytes.
      expect((await readStream(await source.fetch(root))).equals(oci.manifest.bytes)).toBe(true);
      expect(source.client.http.stats.requests).toBe(requests + 1);
      expect(source.reference).toMatchObject({
        transport: 'docker',
        registry: host,
        repository: repo,
        tag: 'oci',
      });
    } finally {
      await source.close();
    }
  });

  it('RegistrySource resolves a digest reference, verified', async () => {
    const digest = docker.manifest.descriptor.digest;
    const source = openRegistrySource({ registry: host, repository: repo, digest });
    try {
      expect(await source.resolve()).toEqual(docker.manifest.descriptor);
    } finally {
      await source.close();
    }
    const wrong = digestOf('not this manifest');
    const bad = openRegistrySource({ registry: host, repository: repo, digest: wrong });
    try {
      const error = await failure(bad.resolve());
      expect(error.code).toBe('ERR_NOT_FOUND');
      expect(error.image).toBe(`docker://${host}/${repo}@${wrong}`);
    } finally {
      await bad.close();
    }
  });

  it('RegistryTarget pushes blobs and a manifest, tags it, and says what exists', async () => {
    const destRepo = uniqueRepo('target');
    const target = openRegistryTarget({ registry: host, repository: destRepo, tag: 'v1' });
    const image = buildImage();
    try {
      expect(await target.exists(image.layers[0]!.descriptor)).toBe(false);
      for (const blob of [image.config, ...image.layers]) {
        await target.push(blob.descriptor, Readable.from([blob.bytes]));
      }
      expect(await target.exists(image.layers[0]!.descriptor)).toBe(true);
      await target.push(image.manifest.descriptor, Readable.from([image.manifest.bytes]));
      await target.tag(image.manifest.descriptor, 'v1');
      expect(await target.exists(image.manifest.descriptor)).toBe(true);
    } finally {
      await target.close();
    }
    const check = new RegistryClient(host);
    try {
      expect((await check.getManifest(destRepo, 'v1')).descriptor).toEqual(image.manifest.descriptor);
    } finally {
      await check.close();
    }
  });
});

describe('schema 1 and media types (a loopback server standing in for an old registry)', () => {
  // distribution 2.8 refuses schema1 pushes by default, so these answers come from a tiny server.
  let server: Server;
  let origin: string;
  const bodies: Record<string, { type: string; body: string }> = {
    '/v2/old/app/manifests/signed': {
      type: MediaType.dockerSchema1Signed,
      body: JSON.stringify({
        schemaVersion: 1,
        name: 'old/app',
        tag: 'signed',
        fsLayers: [],
        signatures: [],
      }),
    },
    '/v2/old/app/manifests/untyped': {
      type: 'application/json',
      body: JSON.stringify({ schemaVersion: 1, name: 'old/app', tag: 'untyped', fsLayers: [] }),
    },
    '/v2/old/app/manifests/weird': {
      type: 'application/vnd.example.thing+json',
      body: JSON.stringify({ schemaVersion: 2, things: [] }),
    },
    '/v2/old/app/manifests/lying': {
      type: MediaType.ociManifest,
      body: '{"schemaVersion":2}',
    },
  };

  const huge = JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    annotations: { filler: 'x'.repeat(4 * 1024 * 1024 + 10) },
  });
  const swappedDigest = digestOf('the manifest that was asked for');

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/v2/old/app/manifests/huge') {
        res.writeHead(200, {
          'content-type': MediaType.ociManifest,
          'content-length': Buffer.byteLength(huge),
        });
        res.end(huge);
        return;
      }
      if (req.url === '/v2/old/app/manifests/huge-chunked') {
        res.writeHead(200, { 'content-type': MediaType.ociManifest });
        for (let i = 0; i < huge.length; i += 65536) res.write(huge.slice(i, i + 65536));
        res.end();
        return;
      }
      if (req.url === `/v2/old/app/manifests/${swappedDigest}`) {
        res.writeHead(200, { 'content-type': MediaType.ociManifest });
        res.end('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}');
        return;
      }
      const entry = bodies[req.url ?? ''];
      if (!entry) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
        return;
      }
      const headers: Record<string, string> = { 'content-type': entry.type };
      if (req.url?.endsWith('/lying')) headers['docker-content-digest'] = digestOf('something else');
      res.writeHead(200, headers);
      res.end(entry.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses schema 1 by media type and by body, with advice', async () => {
    const client = new RegistryClient(origin);
    try {
      for (const tag of ['signed', 'untyped']) {
        const error = await failure(client.getManifest('old/app', tag));
        expect(error.code).toBe('ERR_UNSUPPORTED');
        expect(error.message).toMatch(/schema 1 manifests are not supported; re-push/);
        expect(error.exitCode).toBe(ExitCode.failure);
      }
    } finally {
      await client.close();
    }
  });

  it('refuses unknown manifest media types and a Docker-Content-Digest that lies', async () => {
    const client = new RegistryClient(origin);
    try {
      const weird = await failure(client.getManifest('old/app', 'weird'));
      expect(weird.code).toBe('ERR_MEDIA_TYPE');
      expect(weird.message).toContain('application/vnd.example.thing+json');
      const lying = await failure(client.getManifest('old/app', 'lying'));
      expect(lying.code).toBe('ERR_DIGEST_MISMATCH');
      const swapped = await failure(client.getManifest('old/app', swappedDigest));
      expect(swapped.code).toBe('ERR_DIGEST_MISMATCH');
      expect(swapped.blob).toBe(swappedDigest);
    } finally {
      await client.close();
    }
  });

  it('refuses a manifest over 4 MiB with ERR_TOO_LARGE naming the image, with or without Content-Length', async () => {
    // distribution 2.8.2 itself refuses to store one, so the stand-in serves it.
    const client = new RegistryClient(origin);
    try {
      for (const tag of ['huge', 'huge-chunked']) {
        const error = await failure(client.getManifest('old/app', tag));
        expect(error.code).toBe('ERR_TOO_LARGE');
        expect(error.image).toBe(`docker://${origin}/old/app:${tag}`);
        expect(error.message).toMatch(/4194304-byte limit/);
      }
    } finally {
      await client.close();
    }
  });
});
