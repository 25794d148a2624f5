/**
 * Digests: our SHA-256 (small blobs, no node:crypto at start-up; its block
 * function in WebAssembly and in JavaScript) against node:crypto, and the
 * verifier on both sides of the size threshold; parsing digests.
 */

import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ImageError } from '../src/errors.js';
import {
  createHashFor,
  DigestVerifier,
  digestOf,
  isDigest,
  parseDigest,
  smallBlobBytes,
} from '../src/oci/digest.js';
import { Sha256, sha256UsesWebAssembly } from '../src/oci/sha256.js';

const reference = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

it('Sha256 runs its block function in WebAssembly where Node has it', () => {
  expect(sha256UsesWebAssembly()).toBe(true);
});

describe.each([
  ['WebAssembly', false],
  ['JavaScript', true],
])('Sha256, block function in %s', (_engine, javascript) => {
  it('matches node:crypto for every length around the block and padding boundaries', () => {
    const data = randomBytes(300);
    for (let length = 0; length <= 300; length++) {
      const slice = data.subarray(0, length);
      expect(new Sha256({ javascript }).update(slice).digest('hex'), `length ${length}`).toBe(
        reference(slice),
      );
    }
  });

  it('matches node:crypto for the FIPS 180-4 examples and large inputs fed in odd pieces', () => {
    expect(new Sha256({ javascript }).update(Buffer.from('abc')).digest('hex')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
    expect(new Sha256({ javascript }).digest('hex')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    // 64,512 bytes fill the WebAssembly module's input area once: one byte either side too.
    for (const size of [1000, 64_511, 64_512, 64_513, 65_537, smallBlobBytes]) {
      const data = randomBytes(size);
      expect(new Sha256({ javascript }).update(data).digest('hex'), `size ${size}, whole`).toBe(
        reference(data),
      );
      const hash = new Sha256({ javascript });
      let offset = 0;
      let piece = 1;
      while (offset < size) {
        hash.update(data.subarray(offset, offset + piece));
        offset += piece;
        piece = (piece * 7 + 3) % 997;
      }
      expect(hash.digest('hex'), `size ${size}`).toBe(reference(data));
    }
  });

  it('keeps its state apart from hashes interleaved with it (the WebAssembly memory is shared)', () => {
    const first = randomBytes(5000);
    const second = randomBytes(7000);
    const one = new Sha256({ javascript });
    const two = new Sha256({ javascript });
    for (let offset = 0; offset < 7000; offset += 500) {
      one.update(first.subarray(offset, offset + 500));
      two.update(second.subarray(offset, offset + 500));
    }
    expect(one.digest('hex')).toBe(reference(first));
    expect(two.digest('hex')).toBe(reference(second));
  });

  it('refuses to be used after its digest', () => {
    const hash = new Sha256({ javascript });
    hash.digest('hex');
    expect(() => hash.update(Buffer.from('x'))).toThrow();
    expect(() => hash.digest('hex')).toThrow();
  });
});

describe('digestOf and DigestVerifier', () => {
  it('give the same digests below and above the JavaScript threshold', async () => {
    for (const size of [0, 10, smallBlobBytes, smallBlobBytes + 1, 1024 * 1024]) {
      const data = randomBytes(size);
      const expected = `sha256:${reference(data)}`;
      expect(digestOf(data)).toBe(expected);
      const verifier = new DigestVerifier({ digest: expected, size });
      verifier.update(data);
      await expect(verifier.finish()).resolves.toBeUndefined();
    }
    expect(digestOf('héllo')).toBe(`sha256:${reference(Buffer.from('héllo', 'utf8'))}`);
    expect(digestOf('abc', 'sha512')).toBe(`sha512:${createHash('sha512').update('abc').digest('hex')}`);
  });

  it('uses JavaScript only for small sha256 inputs', () => {
    expect(createHashFor('sha256', smallBlobBytes)).toBeInstanceOf(Sha256);
    expect(createHashFor('sha256', smallBlobBytes + 1)).not.toBeInstanceOf(Sha256);
    expect(createHashFor('sha512', 10)).not.toBeInstanceOf(Sha256);
  });

  it('sizeOnly (content verified elsewhere as it flows) checks the size and nothing else', async () => {
    const data = randomBytes(100);
    const descriptor = { digest: `sha256:${reference(data)}`, size: 100 };
    const other = new DigestVerifier(descriptor, undefined, { sizeOnly: true });
    other.update(randomBytes(100));
    await expect(other.finish()).resolves.toBeUndefined();
    const short = new DigestVerifier(descriptor, undefined, { sizeOnly: true });
    short.update(data.subarray(0, 99));
    await expect(short.finish()).rejects.toMatchObject({ code: 'ERR_SIZE_MISMATCH' });
    const long = new DigestVerifier(descriptor, undefined, { sizeOnly: true });
    expect(() => long.update(randomBytes(101))).toThrow(/larger than its descriptor/);
  });

  it('still refuses a small blob whose bytes do not match', async () => {
    const data = randomBytes(100);
    const verifier = new DigestVerifier({ digest: `sha256:${reference(data)}`, size: 100 });
    const tampered = Buffer.from(data);
    tampered[50] = tampered[50]! ^ 1;
    verifier.update(tampered);
    await expect(verifier.finish()).rejects.toThrow(/digest mismatch/);
  });
});

describe('parseDigest', () => {
  const hex = 'ab'.repeat(32);
  it('takes sha256 and sha512 digests of the right length in lowercase hex', () => {
    expect(parseDigest(`sha256:${hex}`)).toEqual({ algorithm: 'sha256', hex });
    expect(parseDigest(`sha512:${hex}${hex}`)).toEqual({ algorithm: 'sha512', hex: `${hex}${hex}` });
    expect(isDigest(`sha256:${hex}`)).toBe(true);
  });

  it('refuses anything else with a clear error', () => {
    const invalid = [
      `sha256:${hex.toUpperCase()}`,
      `sha256:${hex.slice(1)}g`,
      `sha256:${hex}0`,
      `sha256:${hex.slice(2)}`,
      `SHA256:${hex}`,
      `sha256 ${hex}`,
      `sha256:${hex}\n`,
      'sha256:',
      '',
    ];
    for (const value of invalid) {
      expect(isDigest(value), JSON.stringify(value)).toBe(false);
      expect(() => parseDigest(value, { image: 'img' }), JSON.stringify(value)).toThrow(ImageError);
    }
    expect(() => parseDigest(`md5:${hex.slice(32)}`)).toThrow(/unsupported digest algorithm 'md5'/);
    expect(() => parseDigest(`sha256:${hex.slice(2)}`)).toThrow(/invalid sha256 digest/);
  });
});
