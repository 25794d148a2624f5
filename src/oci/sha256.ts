/**
 * SHA-256 (FIPS 180-4) for the small blobs a metadata-only command verifies
 * (manifests, configs: kilobytes). Loading node:crypto costs ~10 ms of
 * start-up, far more than hashing a few kilobytes here; anything large goes to
 * node:crypto (OpenSSL, with the CPU's SHA extensions), see digest.ts. The
 * block function is WebAssembly (sha256-wasm.ts), or JavaScript where
 * WebAssembly is missing. Both are checked against node:crypto in
 * test/digest.test.ts.
 */

import { inputCapacity, inputOffset, type Sha256Blocks, sha256Blocks, stateOffset } from './sha256-wasm.js';

// The first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const roundConstants = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);

// The first 32 bits of the fractional parts of the square roots of the first 8 primes.
const initialState = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

export class Sha256 {
  /** The WebAssembly block function; null for the JavaScript one (also the choice of tests). */
  private readonly engine: Sha256Blocks | null;
  private readonly state = new Uint32Array(initialState);
  private readonly schedule = new Uint32Array(64);
  /** The block being filled, and how many of its bytes are set. */
  private readonly block = new Uint8Array(64);
  private blockBytes = 0;
  private totalBytes = 0;
  private finished = false;

  constructor(options: { javascript?: boolean } = {}) {
    this.engine = options.javascript ? null : sha256Blocks(roundConstants);
  }

  update(data: Uint8Array): this {
    if (this.finished) throw new Error('Sha256: update after digest');
    this.totalBytes += data.length;
    let offset = 0;
    if (this.blockBytes > 0) {
      const take = Math.min(64 - this.blockBytes, data.length);
      this.block.set(data.subarray(0, take), this.blockBytes);
      this.blockBytes += take;
      offset = take;
      if (this.blockBytes < 64) return this;
      this.compressBlocks(this.block, 0, 64);
      this.blockBytes = 0;
    }
    const whole = (data.length - offset) & ~63;
    if (whole > 0) this.compressBlocks(data, offset, whole);
    offset += whole;
    if (offset < data.length) {
      this.block.set(data.subarray(offset), 0);
      this.blockBytes = data.length - offset;
    }
    return this;
  }

  /** The digest as lowercase hex (as node's `hash.digest('hex')`). */
  digest(_encoding: 'hex'): string {
    if (this.finished) throw new Error('Sha256: digest called twice');
    const bits = this.totalBytes * 8;
    // Padding: 0x80, zeros up to 56 mod 64, then the message length in bits as 64-bit big-endian.
    const padding = new Uint8Array((this.blockBytes < 56 ? 56 : 120) - this.blockBytes + 8);
    padding[0] = 0x80;
    const view = new DataView(padding.buffer);
    view.setUint32(padding.length - 8, Math.floor(bits / 0x1_0000_0000));
    view.setUint32(padding.length - 4, bits >>> 0);
    this.update(padding);
    this.finished = true;
    let hex = '';
    for (const word of this.state) hex += word.toString(16).padStart(8, '0');
    return hex;
  }

  /** Hashes `length` bytes (whole blocks) of data from offset into the state. */
  private compressBlocks(data: Uint8Array, offset: number, length: number): void {
    const engine = this.engine;
    if (engine === null) {
      for (let at = offset; at < offset + length; at += 64) this.compress(data, at);
      return;
    }
    // The engine's memory is shared by every hash: the state goes in and comes back out.
    engine.words.set(this.state, stateOffset / 4);
    for (let at = offset; at < offset + length; at += inputCapacity) {
      const chunk = Math.min(inputCapacity, offset + length - at);
      engine.bytes.set(data.subarray(at, at + chunk), inputOffset);
      engine.blocks(inputOffset, chunk / 64);
    }
    this.state.set(engine.words.subarray(stateOffset / 4, stateOffset / 4 + 8));
  }

  private compress(data: Uint8Array, offset: number): void {
    const w = this.schedule;
    for (let i = 0; i < 16; i++) {
      const at = offset + i * 4;
      w[i] = (data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!;
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]!;
      const y = w[i - 2]!;
      const sigma0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const sigma1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16]! + sigma0 + w[i - 7]! + sigma1) | 0;
    }
    const s = this.state;
    let a = s[0]!;
    let b = s[1]!;
    let c = s[2]!;
    let d = s[3]!;
    let e = s[4]!;
    let f = s[5]!;
    let g = s[6]!;
    let h = s[7]!;
    for (let i = 0; i < 64; i++) {
      const sum1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const choose = (e & f) ^ (~e & g);
      const t1 = (h + sum1 + choose + roundConstants[i]! + w[i]!) | 0;
      const sum0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const majority = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (sum0 + majority) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    s[0] = (s[0]! + a) | 0;
    s[1] = (s[1]! + b) | 0;
    s[2] = (s[2]! + c) | 0;
    s[3] = (s[3]! + d) | 0;
    s[4] = (s[4]! + e) | 0;
    s[5] = (s[5]! + f) | 0;
    s[6] = (s[6]! + g) | 0;
    s[7] = (s[7]! + h) | 0;
  }
}

/** Whether the block function is WebAssembly here (tests; else JavaScript). */
export function sha256UsesWebAssembly(): boolean {
  return sha256Blocks(roundConstants) !== null;
}
