import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  buildImage,
  buildLayer,
  file,
  type Image,
  type Layer,
  writeOciArchive,
  writeOciLayout,
} from '../fixtures/index.js';
import { createStreamHash, DigestVerifier, offloadMinBytes } from '../src/oci/digest.js';
import { OffloadedSha256 } from '../src/oci/hash-offload.js';
import { bundleScript } from './support/bundle.js';
import { runIvoc } from './support/cli.js';

const reference = (chunks: Uint8Array[]) => {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
};

describe('SHA-256 on the hash worker', () => {
  it('gives node:crypto digests for empty, tiny, record-sized and split chunks, across ring wrap-arounds', async () => {
    // The ring is 4 MiB and a record holds at most 1 MiB: 3 MiB chunks are split, 40 MiB wraps many times.
    const cases: Uint8Array[][] = [
      [],
      [Buffer.from('a')],
      [randomBytes(1024 * 1024), randomBytes(1)],
      [randomBytes(3 * 1024 * 1024 + 5)],
      Array.from({ length: 40 }, (_, i) => randomBytes(1024 * 1024 - i * 7)),
    ];
    for (const chunks of cases) {
      const hash = new OffloadedSha256();
      for (const chunk of chunks) hash.update(chunk);
      expect(await hash.digest()).toBe(reference(chunks));
    }
  });

  it('keeps interleaved hashes apart, and an abandoned one does not disturb the others', async () => {
    const streams = Array.from({ length: 5 }, () => ({
      hash: new OffloadedSha256(),
      chunks: [] as Buffer[],
    }));
    const dropped = new OffloadedSha256();
    for (let round = 0; round < 30; round++) {
      for (const [i, stream] of streams.entries()) {
        const chunk = randomBytes(1 + ((round * 7919 + i * 104729) % (300 * 1024)));
        stream.hash.update(chunk);
        stream.chunks.push(chunk);
      }
      if (round < 3) dropped.update(randomBytes(1000));
      if (round === 3) dropped.abandon();
    }
    const digests = await Promise.all(streams.map((stream) => stream.hash.digest()));
    expect(digests).toEqual(streams.map((stream) => reference(stream.chunks)));
    await expect(dropped.digest()).rejects.toThrow(/digest called twice/);
  });

  it('verifies large blobs there: a good one passes, one changed byte is a digest mismatch', async () => {
    const data = randomBytes(offloadMinBytes + 12345);
    expect(createStreamHash('sha256', data.length)).toBeInstanceOf(OffloadedSha256);
    expect(createStreamHash('sha256', offloadMinBytes - 1)).not.toBeInstanceOf(OffloadedSha256);
    const descriptor = { digest: `sha256:${reference([data])}`, size: data.length };
    const good = new DigestVerifier(descriptor);
    for (let at = 0; at < data.length; at += 65536) good.update(data.subarray(at, at + 65536));
    await expect(good.finish()).resolves.toBeUndefined();
    const tampered = Buffer.from(data);
    tampered[offloadMinBytes] = (tampered[offloadMinBytes] ?? 0) ^ 1;
    const bad = new DigestVerifier(descriptor, 'img');
    bad.update(tampered);
    await expect(bad.finish()).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH', image: 'img' });
  });

  it('lets a process exit after an abandoned hash: only an awaited digest holds it open', async () => {
    // A library user who abandons a large hash (a failed download) must not be left with a process
    // that never exits. Bundled, run in a child: the worker is per process.
    const module = fileURLToPath(new URL('../src/oci/hash-offload.ts', import.meta.url));
    const scratch = await mkdtemp(join(inject('testEnv').workDir, 'hash-exit-'));
    try {
      const script = join(scratch, 'exit.mjs');
      await bundleScript(
        `import { OffloadedSha256 } from ${JSON.stringify(module)};
          const dropped = new OffloadedSha256();
          dropped.update(Buffer.alloc(9 << 20, 1));
          dropped.abandon();
          console.log('abandoned');`,
        script,
      );
      // The timeout only bounds a hang; an exit is the assertion.
      const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 60_000 });
      expect(stdout.trim()).toBe('abandoned');
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it('IVOC_HASH_WORKER=0 keeps every hash in this thread', () => {
    const saved = process.env.IVOC_HASH_WORKER;
    process.env.IVOC_HASH_WORKER = '0';
    try {
      expect(createStreamHash('sha256', offloadMinBytes * 4)).not.toBeInstanceOf(OffloadedSha256);
    } finally {
      if (saved === undefined) delete process.env.IVOC_HASH_WORKER;
      else process.env.IVOC_HASH_WORKER = saved;
    }
  });
});

describe('the built CLI with the hash worker', () => {
  const env = inject('testEnv');
  let scratch: string;
  let archive: string;
  let image: Image;
  let raw: Layer;

  beforeAll(async () => {
    scratch = await mkdtemp(join(env.workDir, 'hash-offload-'));
    // Over offloadMinBytes compressed (random data): its digest and diffId are hashed on the worker.
    const big = await buildLayer([
      file('/data/random.bin', { size: offloadMinBytes + 4096, kind: 'random' }),
    ]);
    // Uncompressed: a changed byte can only be caught by the digest (gzip would also fail its CRC).
    raw = await buildLayer([file('/data/raw.bin', { size: offloadMinBytes + 8192, kind: 'random' })], {
      compression: 'none',
    });
    const small = await buildLayer([file('/etc/motd', 'hello\n')]);
    archive = join(scratch, 'big.oci.tar');
    image = buildImage({ layers: [big, raw, small], user: '1000:1000' });
    await writeOciArchive(archive, image, { tag: 'v1' });
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('scans a large layer, verifying its diff_id when asked, and exits', async () => {
    for (const verify of ['0', '1']) {
      const result = await runIvoc(['inspect', `oci-archive:${archive}`, '--scan', '--no-cache'], {
        IVOC_VERIFY_DIFF_IDS: verify,
      });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/Filesystem:/);
    }
  });

  it('refuses a large layer whose bytes do not match its digest', async () => {
    const layout = join(scratch, 'corrupt');
    await writeOciLayout(layout, image, { tag: 'v1' });
    const blob = join(layout, 'blobs', 'sha256', raw.digest.slice('sha256:'.length));
    const bytes = await readFile(blob);
    const at = 100_000; // inside the file body, not a tar header
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    await writeFile(blob, bytes);
    const result = await runIvoc(['inspect', `oci:${layout}:v1`, '--scan', '--no-cache']);
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/digest mismatch/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
