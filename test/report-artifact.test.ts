import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { MediaType } from '../src/oci/media-types.js';
import { RegistryClient } from '../src/oci/registry/client.js';
import { openRegistryTarget } from '../src/oci/registry/index.js';
import {
  buildReportArtifact,
  emptyBytes,
  emptyDescriptor,
  fallbackTag,
  readAttachedReport,
  reportArtifactType,
} from '../src/publish/report-artifact.js';
import { startFaultProxy } from './env/fault-proxy.js';
import { failure, type PushedImage, pushImage, uniqueRepo } from './registry-support.js';

/**
 * Reading back an attached report (`ivoc lint --attached`) from what a
 * registry serves: the fallback tag's index is shared with other tools, and
 * the referrers API's answer is the registry's. The test registry refuses a
 * manifest that is not JSON and an index naming what it does not hold, so the
 * malformed index is served by the fault proxy in front of it, and what is
 * malformed in the registry itself is what it accepts: report blobs.
 */

const env = inject('testEnv');
const host = env.registries.anonymous.host;

describe('readAttachedReport', () => {
  const repo = uniqueRepo('report-artifact');
  let client: RegistryClient;
  let subject: PushedImage;

  beforeAll(async () => {
    client = new RegistryClient(host);
    subject = await pushImage(client, repo, 'v1');
    await client.pushBlob(repo, emptyDescriptor, Readable.from([emptyBytes]));
  });
  afterAll(async () => {
    await client.close();
  });

  /** Pushes a report artifact for the subject whose report blob holds REPORT (any bytes). */
  async function pushArtifact(report: string) {
    const artifact = buildReportArtifact(report, subject.manifest.descriptor);
    await client.pushBlob(repo, artifact.reportDescriptor, Readable.from([artifact.reportBytes]));
    await client.putManifest(repo, artifact.descriptor.digest, MediaType.ociManifest, artifact.manifestBytes);
    return artifact;
  }

  /** Reads the report back with the fallback tag's index answered with MANIFESTS as its list (the rest from the registry). */
  async function readWithIndex(entries: unknown) {
    const proxy = await startFaultProxy(host);
    const tag = fallbackTag(subject.manifest.descriptor.digest);
    const body = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: entries });
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/manifests/${tag}$`),
      fault: { kind: 'error', status: 200, body, headers: { 'content-type': MediaType.ociIndex } },
    });
    const target = openRegistryTarget({ registry: proxy.host, repository: repo, tag: 'v1' });
    try {
      return await readAttachedReport(target, subject.manifest.descriptor.digest);
    } finally {
      await target.close();
      await proxy.close();
    }
  }

  it("reads the newest ivoc report, leaving other tools' entries alone, and says what is wrong with its bytes", async () => {
    const notJson = await pushArtifact('{"verdict": "pass", ');
    const other = { ...notJson.descriptor, artifactType: 'application/vnd.example.sbom' };
    const error = await failure(readWithIndex([notJson.descriptor, other, { not: 'ours' }, 'not an object']));
    expect(error.code).toBe('ERR_MANIFEST_INVALID');
    expect(error.message).toBe('the attached report is not valid JSON');
    expect(error.blob).toBe(notJson.reportDescriptor.digest);

    const notObject = await pushArtifact('[1, 2]');
    const second = await failure(readWithIndex([notJson.descriptor, notObject.descriptor, other]));
    expect(second.code).toBe('ERR_MANIFEST_INVALID');
    expect(second.message).toBe('the attached report is not a JSON object');
    expect(second.blob).toBe(notObject.reportDescriptor.digest);
  });

  it('refuses an entry of ours that is not a descriptor, rather than read an older report without a word', async () => {
    const valid = await pushArtifact('{}');
    const tag = fallbackTag(subject.manifest.descriptor.digest);
    for (const [broken, why] of [
      [{ ...valid.descriptor, digest: 'v1' }, "has an invalid digest 'v1'"],
      [{ ...valid.descriptor, size: -1 }, "has an invalid size '-1'"],
      [{ artifactType: reportArtifactType }, 'has no mediaType'],
    ] as const) {
      const error = await failure(readWithIndex([valid.descriptor, broken]));
      expect(error.code).toBe('ERR_MANIFEST_INVALID');
      expect(error.message).toBe(`report entry 1 of the index at tag ${tag} ${why}`);
      // Named by the image (through the proxy) and by the index the entry is in.
      expect(error.image).toMatch(new RegExp(`^docker://127\\.0\\.0\\.1:\\d+/${repo}:v1$`));
      expect(error.blob).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
  });

  it("finds nothing in an index with only other tools' entries, and refuses one without a manifests list", async () => {
    const other = {
      mediaType: MediaType.ociManifest,
      digest: subject.manifest.descriptor.digest,
      size: 1,
      artifactType: 'x/y',
    };
    expect(await readWithIndex([other])).toBeUndefined();
    const error = await failure(readWithIndex({ not: 'a list' }));
    expect(error.code).toBe('ERR_MANIFEST_INVALID');
    expect(error.message).toMatch(/^the index at tag sha256-[0-9a-f]{64} has no manifests list$/);
  });
});
