/**
 * BlobStream on its own: bodies are plain streams here, so the order of
 * events (a body failing before anyone reads, a destroy during a resume) can
 * be set exactly. The registry paths are in registry-faults.test.ts.
 */

import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay, setImmediate as turn } from 'node:timers/promises';
import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { BlobStream, type BodyFailure } from '../src/oci/blob-stream.js';
import { DigestVerifier } from '../src/oci/digest.js';
import { drain } from './registry-support.js';

const blob = randomBytes(300_000);
const descriptor = { digest: `sha256:${createHash('sha256').update(blob).digest('hex')}`, size: blob.length };
const reset = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

/** A body that has already sent `bytes` (buffered, unread) and is still open. */
function bodyWith(bytes: Buffer): PassThrough {
  const body = new PassThrough();
  body.write(bytes);
  return body;
}

function resumeFrom(delivered: number): BodyFailure {
  return {
    resume: async () => {
      const body = new PassThrough();
      body.end(blob.subarray(delivered));
      return { body, skip: 0 };
    },
  };
}

describe('BlobStream', () => {
  it('holds a body that fails before the first read, then resumes it when read', async () => {
    const first = bodyWith(blob.subarray(0, 1000));
    const seen: unknown[] = [];
    const stream = new BlobStream({
      first: { body: first, skip: 0 },
      verifier: new DigestVerifier(descriptor),
      onFailure: (error, delivered) => {
        seen.push((error as { code?: string }).code, delivered);
        return resumeFrom(delivered);
      },
    });
    // The consumer is busy elsewhere (a push awaiting its upload session) while the body breaks.
    first.destroy(reset());
    await turn();
    await turn();
    expect(seen).toEqual([]);
    const { bytes, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(bytes.equals(blob)).toBe(true);
    // Nothing had been read from the broken body: the resume starts at 0.
    expect(seen).toEqual(['ECONNRESET', 0]);
  });

  it('treats a body closed before the first read without its end as a premature close', async () => {
    const first = bodyWith(blob.subarray(0, 1000));
    const codes: unknown[] = [];
    const stream = new BlobStream({
      first: { body: first, skip: 0 },
      verifier: new DigestVerifier(descriptor),
      onFailure: (error) => {
        codes.push((error as { code?: string }).code);
        return { fail: error };
      },
    });
    first.destroy();
    await turn();
    const { bytes, error } = await drain(stream);
    expect(codes).toEqual(['ERR_STREAM_PREMATURE_CLOSE']);
    expect(error).toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });
    expect(bytes.length).toBe(0);
  });

  it('ends with a digest mismatch, not an uncaught error, when wrong bytes arrive before the first read', async () => {
    const wrong = Buffer.from(blob);
    wrong[5] = (wrong[5] ?? 0) ^ 1;
    const first = new PassThrough();
    first.end(wrong);
    const stream = new BlobStream({
      first: { body: first, skip: 0 },
      verifier: new DigestVerifier(descriptor, 'img'),
      onFailure: (error) => ({ fail: error }),
    });
    await turn();
    await turn();
    const { error } = await drain(stream);
    expect(error).toMatchObject({ code: 'ERR_DIGEST_MISMATCH', image: 'img', blob: descriptor.digest });
  });

  it('destroyed before it was read, destroys the body it holds', async () => {
    const first = bodyWith(blob.subarray(0, 1000));
    const stream = new BlobStream({
      first: { body: first, skip: 0 },
      verifier: new DigestVerifier(descriptor),
      onFailure: (error) => ({ fail: error }),
    });
    stream.destroy();
    await turn();
    expect(first.destroyed).toBe(true);
  });

  it('aborts the signal a resume waits on when the stream is destroyed meanwhile, and opens nothing after', async () => {
    const first = bodyWith(blob.subarray(0, 1000));
    let waitedOn: AbortSignal | undefined;
    let opened = 0;
    const stream = new BlobStream({
      first: { body: first, skip: 0 },
      verifier: new DigestVerifier(descriptor),
      onFailure: (_error, _delivered, destroyed): BodyFailure => ({
        resume: async () => {
          waitedOn = destroyed;
          await new Promise((resolve) => destroyed.addEventListener('abort', resolve, { once: true }));
          opened++;
          const body = new PassThrough();
          body.end(blob);
          return { body, skip: 0 };
        },
      }),
    });
    const reading = drain(stream);
    await turn();
    first.destroy(reset());
    await turn();
    expect(waitedOn?.aborted).toBe(false);
    stream.destroy(new Error('consumer gave up'));
    const { error } = await reading;
    expect(error).toMatchObject({ message: 'consumer gave up' });
    expect(waitedOn?.aborted).toBe(true);
    await turn();
    // The body the late resume returned is not read (and is destroyed).
    expect(opened).toBe(1);
  });

  it('fails with exactly what onFailure gives, an abort reason included; a falsy one is wrapped, not lost', async () => {
    const reason = { why: 'not an Error' };
    for (const fail of [reason, '']) {
      const first = bodyWith(blob.subarray(0, 10));
      const stream = new BlobStream({
        first: { body: first, skip: 0 },
        verifier: new DigestVerifier(descriptor),
        onFailure: () => ({ fail }),
      });
      const events: string[] = [];
      stream.on('error', () => events.push('error'));
      stream.on('end', () => events.push('end'));
      const reading = drain(stream);
      await turn();
      first.destroy(reset());
      const { error } = await reading;
      // destroy('') would close the stream with no 'error' and no 'end': a consumer waiting on either would hang.
      expect(events).toEqual(['error']);
      if (fail === reason) expect(error).toBe(reason);
      else expect(error).toBeInstanceOf(Error);
    }
  });

  it("ends a tar pass when an entry's stream is given up before its end, rather than hang it", async () => {
    // docker-daemon: layers are entries of the engine's export; a consumer that stops reading one
    // (a failed push) must end the pass, which then closes the export. A tar-stream entry destroyed
    // without an error ends its whole archive with no error event: the pass waited for ever.
    const pack = tarStream.pack();
    const bodies = [randomBytes(3e6), randomBytes(3e6), randomBytes(3e6)];
    for (const [i, body] of bodies.entries()) pack.entry({ name: `layer${i}.tar`, size: body.length }, body);
    pack.finalize();
    // From a file, as the engine's export comes from a socket: not all in memory at once.
    const dir = await mkdtemp(join(tmpdir(), 'ivoc-blob-stream-'));
    const archive = join(dir, 'export.tar');
    await pipeline(pack as unknown as Readable, createWriteStream(archive));
    const extract = tarStream.extract();
    createReadStream(archive).pipe(extract);
    const pass = (async () => {
      let index = 0;
      for await (const entry of extract) {
        const body = bodies[index++] as Buffer;
        const stream = new BlobStream({
          first: { body: entry as unknown as Readable, skip: 0 },
          verifier: new DigestVerifier({
            digest: `sha256:${createHash('sha256').update(body).digest('hex')}`,
            size: body.length,
          }),
          onFailure: (error) => ({ fail: error }),
        });
        for await (const _chunk of stream) {
          // The consumer works on a chunk a while, then gives the layer up.
          await delay(10);
          break;
        }
      }
    })();
    try {
      // The pass fails with the consumer's abort (a hang here fails the test by its timeout).
      await expect(pass).rejects.toThrow(/aborted/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
