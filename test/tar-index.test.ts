/**
 * TarIndex, the member index of oci-archive: and docker-archive: files, on
 * archives written byte by byte (fixtures/tar.ts) for what builders rarely
 * write: a member whose size only a pax record gives (over 8 GiB in real
 * archives, where the header's field says 0).
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BLOCK, encodeHeader } from '../fixtures/tar.js';
import { TarIndex } from '../src/oci/transports/tar-index.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ivoc-tar-index-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const entry = (name: string, body: Buffer, pax?: Record<string, string>) => [
  encodeHeader({
    name,
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: pax ? 0 : body.length,
    pax,
  }),
  body,
  Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK),
];

async function archive(name: string, parts: Buffer[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, Buffer.concat([...parts, Buffer.alloc(2 * BLOCK)]));
  return path;
}

async function bodyOf(index: TarIndex, name: string): Promise<Buffer> {
  const member = index.get(name);
  if (member === undefined) throw new Error(`no member ${name}`);
  const chunks: Buffer[] = [];
  for await (const chunk of index.stream(member)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('TarIndex', () => {
  it('takes a member size from its pax record, and finds the next member after that body', async () => {
    const big = Buffer.alloc(1500, 7);
    const next = Buffer.from('after the pax-sized member\n');
    const path = await archive('pax-size.tar', [
      ...entry('blobs/sha256/aaaa', big, { size: String(big.length) }),
      ...entry('index.json', next),
      ...entry('empty', Buffer.alloc(0)),
    ]);
    const index = await TarIndex.open(path);
    expect(await bodyOf(index, 'blobs/sha256/aaaa')).toEqual(big);
    expect(await bodyOf(index, 'index.json')).toEqual(next);
    expect(await bodyOf(index, 'empty')).toEqual(Buffer.alloc(0));
  });

  it('refuses a pax size that is not a number, naming the archive', async () => {
    const path = await archive('pax-bad.tar', [...entry('a', Buffer.from('x'), { size: '12x' })]);
    await expect(TarIndex.open(path)).rejects.toMatchObject({
      code: 'ERR_ARCHIVE',
      message: expect.stringContaining('bad pax size'),
    });
  });
});
