// Assembles SHA-256's block function as a small WebAssembly module (a few
// hundred bytes) from its instructions, at build time: src/generated/sha256-wasm.js
// holds the bytes (git-ignored, rebuilt by every build), src/oci/sha256-wasm.ts
// compiles and runs them. Assembling at run time cost ~3 ms of V8's
// interpreter; decoding the bytes costs microseconds.
//
// blocks(p, n) hashes the n 64-byte blocks at p into the state. Memory (one
// 64 KiB page): round constants at 0 (64 words), the message schedule at 256
// (64 words), the state at 512 (8 words), input from 1024. Words in memory are
// little-endian (as a Uint32Array sees them); input is big-endian per FIPS 180-4
// and byte-swapped on load.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const scheduleOffset = 256;
const stateOffset = 512;
const inputOffset = 1024;

// Opcodes (WebAssembly core spec, section 5.4).
const op = {
  block: 0x02,
  loop: 0x03,
  br: 0x0c,
  brIf: 0x0d,
  end: 0x0b,
  get: 0x20,
  set: 0x21,
  tee: 0x22,
  load: 0x28,
  store: 0x36,
  const: 0x41,
  geU: 0x4f,
  ltU: 0x49,
  add: 0x6a,
  sub: 0x6b,
  and: 0x71,
  or: 0x72,
  xor: 0x73,
  shrU: 0x76,
  rotl: 0x77,
  rotr: 0x78,
};
const voidBlock = 0x40;
const i32 = 0x7f;

/** Signed LEB128 (i32.const immediates). */
function sleb(value) {
  const bytes = [];
  let rest = value | 0;
  for (;;) {
    const byte = rest & 0x7f;
    rest >>= 7;
    if ((rest === 0 && (byte & 0x40) === 0) || (rest === -1 && (byte & 0x40) !== 0)) {
      bytes.push(byte);
      return bytes;
    }
    bytes.push(byte | 0x80);
  }
}

/** Unsigned LEB128 (sizes, indices, memory offsets). */
function uleb(value) {
  const bytes = [];
  let rest = value >>> 0;
  do {
    const byte = rest & 0x7f;
    rest >>>= 7;
    bytes.push(rest === 0 ? byte : byte | 0x80);
  } while (rest !== 0);
  return bytes;
}

// Locals: the two parameters, then the working variables.
const [p, n, a, b, c, d, e, f, g, h, t1, t2, i, x, end] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
const extraLocals = 13;

const get = (local) => [op.get, local];
const set = (local) => [op.set, local];
const konst = (value) => [op.const, ...sleb(value)];
/** i32.load/store with 4-byte alignment and a constant offset added to the address on the stack. */
const load = (offset) => [op.load, 2, ...uleb(offset)];
const store = (offset) => [op.store, 2, ...uleb(offset)];
const rotr = (local, bits) => [...get(local), ...konst(bits), op.rotr];

/** The end of a loop over words: i += 4, again while i < limit. */
function nextWord(limit) {
  return [...get(i), ...konst(4), op.add, op.tee, i, ...konst(limit), op.ltU, op.brIf, 0, op.end];
}

/** rotr(v, r1) ^ rotr(v, r2) ^ rotr(v, r3), or the last as a shift (the small sigmas). */
function sigma(local, r1, r2, last, shift) {
  return [
    ...rotr(local, r1),
    ...rotr(local, r2),
    op.xor,
    ...get(local),
    ...konst(last),
    shift ? op.shrU : op.rotr,
    op.xor,
  ];
}

/** Big-endian word at the address on the stack: rotr(w, 8) & 0xff00ff00 | rotl(w, 8) & 0x00ff00ff. */
function loadBigEndian() {
  return [
    ...load(0),
    op.tee,
    x,
    ...konst(8),
    op.rotr,
    ...konst(0xff00ff00),
    op.and,
    ...get(x),
    ...konst(8),
    op.rotl,
    ...konst(0x00ff00ff),
    op.and,
    op.or,
  ];
}

/** blocks(p, n): hashes the n 64-byte blocks at p into the state. */
function body() {
  const code = [
    // end = p + n * 64
    ...get(p),
    ...get(n),
    ...konst(6),
    0x74, // i32.shl
    op.add,
    ...set(end),
    op.block,
    voidBlock,
    op.loop,
    voidBlock,
    // while (p < end)
    ...get(p),
    ...get(end),
    op.geU,
    op.brIf,
    1,
    // W[0..15]: the block, big-endian
    ...konst(0),
    ...set(i),
    op.loop,
    voidBlock,
    ...get(i),
    ...get(p),
    ...get(i),
    op.add,
    ...loadBigEndian(),
    ...store(scheduleOffset),
    ...nextWord(64),
    // W[16..63] = sigma1(W[t-2]) + W[t-7] + sigma0(W[t-15]) + W[t-16]; i = 4t
    op.loop,
    voidBlock,
    ...get(i),
    // sigma0(W[t-15])
    ...get(i),
    ...load(scheduleOffset - 60),
    ...set(x),
    ...sigma(x, 7, 18, 3, true),
    // sigma1(W[t-2])
    ...get(i),
    ...load(scheduleOffset - 8),
    ...set(t2),
    ...sigma(t2, 17, 19, 10, true),
    op.add,
    ...get(i),
    ...load(scheduleOffset - 64),
    op.add,
    ...get(i),
    ...load(scheduleOffset - 28),
    op.add,
    ...store(scheduleOffset),
    ...nextWord(256),
  ];
  // a..h = state
  [a, b, c, d, e, f, g, h].forEach((local, k) => {
    code.push(...konst(0), ...load(stateOffset + 4 * k), ...set(local));
  });
  code.push(
    ...konst(0),
    ...set(i),
    op.loop,
    voidBlock,
    // t1 = h + Sigma1(e) + ch(e, f, g) + K[t] + W[t]; ch = g ^ (e & (f ^ g))
    ...get(h),
    ...sigma(e, 6, 11, 25, false),
    op.add,
    ...get(g),
    ...get(e),
    ...get(f),
    ...get(g),
    op.xor,
    op.and,
    op.xor,
    op.add,
    ...get(i),
    ...load(0),
    op.add,
    ...get(i),
    ...load(scheduleOffset),
    op.add,
    ...set(t1),
    // t2 = Sigma0(a) + maj(a, b, c); maj = (a & b) | (c & (a | b))
    ...sigma(a, 2, 13, 22, false),
    ...get(a),
    ...get(b),
    op.and,
    ...get(c),
    ...get(a),
    ...get(b),
    op.or,
    op.and,
    op.or,
    op.add,
    ...set(t2),
    ...get(g),
    ...set(h),
    ...get(f),
    ...set(g),
    ...get(e),
    ...set(f),
    ...get(d),
    ...get(t1),
    op.add,
    ...set(e),
    ...get(c),
    ...set(d),
    ...get(b),
    ...set(c),
    ...get(a),
    ...set(b),
    ...get(t1),
    ...get(t2),
    op.add,
    ...set(a),
    ...nextWord(256),
  );
  // state += a..h
  [a, b, c, d, e, f, g, h].forEach((local, k) => {
    code.push(
      ...konst(0),
      ...konst(0),
      ...load(stateOffset + 4 * k),
      ...get(local),
      op.add,
      ...store(stateOffset + 4 * k),
    );
  });
  code.push(
    // p += 64, next block
    ...get(p),
    ...konst(64),
    op.add,
    ...set(p),
    op.br,
    0,
    op.end,
    op.end,
    op.end,
  );
  return code;
}

function section(id, content) {
  return [id, ...uleb(content.length), ...content];
}

function name(text) {
  return [...uleb(text.length), ...Array.from(text, (ch) => ch.charCodeAt(0))];
}

/** The module's bytes: one memory and one function, both exported. */
export function sha256ModuleBytes() {
  const code = body();
  const functionBody = [...uleb(1), ...uleb(extraLocals), i32, ...code];
  return Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, 2, i32, i32, 0]), // type 0: (i32, i32) -> ()
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0x00, 1]), // memory 0: one page, no maximum
    ...section(7, [2, ...name('memory'), 0x02, 0, ...name('blocks'), 0x00, 0]),
    ...section(10, [1, ...uleb(functionBody.length), ...functionBody]),
  ]);
}

/** Writes src/generated/sha256-wasm.js: the module's bytes (base64) and its memory layout. */
export async function generateSha256Wasm(dir) {
  const base64 = Buffer.from(sha256ModuleBytes()).toString('base64');
  await writeFile(
    join(dir, 'sha256-wasm.js'),
    `// Generated by scripts/sha256-wasm.mjs: do not edit.\n` +
      `export const sha256Wasm = ${JSON.stringify(base64)};\n` +
      `export const layout = ${JSON.stringify({ scheduleOffset, stateOffset, inputOffset })};\n`,
  );
}
