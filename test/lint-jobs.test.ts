import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildImage, buildLayer, file, type Layer, pushImage } from '../fixtures/index.js';
import { type FaultProxy, startFaultProxy } from './env/fault-proxy.js';
import { runIvoc } from './support/cli.js';

/**
 * `ivoc lint -j N` of images on one base, through a counting proxy: a layer
 * the images share is fetched once even when they are read at the same time
 * (the facts cache cannot help then: nothing is stored yet).
 */

const env = inject('testEnv');
const run = Math.random().toString(36).slice(2, 8);
let proxy: FaultProxy;
let scratch: string;
let base: Layer;
const names: string[] = [];

beforeAll(async () => {
  scratch = await mkdtemp(join(env.workDir, 'lint-jobs-'));
  base = await buildLayer([file('/opt/base/data.bin', { size: 1_500_000, kind: 'random' })]);
  for (const app of ['a', 'b', 'c']) {
    const top = await buildLayer([file(`/opt/${app}/app.txt`, `app ${app} ${run}\n`)]);
    const image = buildImage({ layers: [base, top], user: '1000:1000', labels: { 'ivoc.test.run': run } });
    const name = `ivoc-test/jobs-${app}:${run}`;
    await pushImage(image, `${env.registries.anonymous.host}/${name}`);
    names.push(name);
  }
  proxy = await startFaultProxy(env.registries.anonymous.host);
});

afterAll(async () => {
  await proxy?.close();
  await rm(scratch, { recursive: true, force: true });
});

describe('ivoc lint -j: images on one base', () => {
  it('three images read at once fetch the shared layer once; reports in order', async () => {
    // The shared layer comes slowly, so all three jobs need it while the first reads it.
    proxy.addFault({
      method: 'GET',
      path: new RegExp(`/blobs/${base.digest}`),
      fault: { kind: 'slow', bytesPerSecond: 1_000_000 },
    });
    const inputs = names.map((name) => `docker://${proxy.host}/${name}`);
    const result = await runIvoc(['lint', ...inputs, '--format', 'json', '--fail-on', 'never'], {
      IVOC_JOBS: '3',
      IVOC_CACHE_DIR: join(scratch, 'cache'),
    });
    expect(result.code).toBe(0);
    const { reports } = JSON.parse(result.stdout) as { reports: Array<{ image: { reference: string } }> };
    expect(reports.map((r) => r.image.reference)).toEqual(
      names.map((name) => expect.stringContaining(name) as unknown as string),
    );
    const baseGets = proxy.requests.filter(
      (r) => r.method === 'GET' && r.path.includes(`/blobs/${base.digest}`),
    );
    expect(baseGets).toHaveLength(1);
    // Each image's own top layer was fetched.
    const blobGets = proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/sha256:'));
    expect(blobGets.length).toBeGreaterThanOrEqual(1 + 3);
  });
});
