#!/usr/bin/env node
// Layer-scan throughput experiment (issue 2, item 7): where does the time of a
// full layer scan go, and would worker threads help on a 2-core machine?
//
//   node bench/layer-throughput.mjs [--mb 300] [--files 50000] [--runs 3]
//                                   [--layers random,binary,small] [--no-worker] [--quick]
//
// Builds three layers under bench/work/layer-throughput/ (kept between runs):
//   random   ~300 MB of incompressible data in 8 files, gzip -1
//   binary   ~300 MB that compresses ~2:1 like executables, in 40 files, gzip -6
//   small    50k small text-like files (every 10th a '#!' script), gzip -6
// and reads them from disk, measuring MB/s of compressed input (and of the
// uncompressed tar), with the CPU seconds of this process and of its children:
//   - floors: `igzip -dc`, `pigz -dc` alone (to /dev/null), sha256 in Node;
//   - inflate only, zlib vs igzip (our decompressor, output drained);
//   - inflate + diffId sha256;
//   - scanLayer on an unverified input (inflate + diffId + tar parse + probes);
//   - the full scanLayer (compressed digest verified as a source's stream does)
//     with zlib and with igzip, 1 layer and 2 layers at once;
//   - a worker-thread prototype: the verified blob is posted in chunks to a
//     worker that inflates, hashes and parses, 1 and 2 layers at once;
//   - the three layers as one image through scanImageLayers (pool of 2).
// Prints a table; numbers vary with the machine and its load (the CPU columns
// vary less than the wall-clock ones on a shared machine).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { createGzip } from 'node:zlib';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const work = join(root, 'bench', 'work', 'layer-throughput');
const bundle = join(work, 'layer.mjs');

async function main() {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(work, { recursive: true });
  await bundleModules();
  const layer = await import(pathToFileURL(bundle).href);

  const randomFile = join(work, `random-${args.mb}.tar.gz`);
  const binaryFile = join(work, `binary3-${args.mb}.tar.gz`);
  const smallFile = join(work, `small-${args.files}.tar.gz`);
  if (!existsSync(randomFile)) await buildRandomLayer(randomFile, args.mb);
  if (!existsSync(binaryFile)) await buildBinaryLayer(binaryFile, args.mb);
  if (!existsSync(smallFile)) await buildSmallLayer(smallFile, args.files);
  const layers = {
    random: await describe(randomFile, layer),
    binary: await describe(binaryFile, layer),
    small: await describe(smallFile, layer),
  };
  console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
  for (const [name, info] of Object.entries(layers)) {
    console.log(
      `layer ${name}: ${mb(info.size)} MB compressed, ${mb(info.uncompressed)} MB tar, ${info.entries} entries`,
    );
  }
  const inflaters = layer.externalInflaters();
  console.log(`external gzip inflater: ${inflaters.gzip?.command ?? 'none'}`);
  console.log('');

  const rows = [];
  const measure = async (label, layerName, copies, run) => {
    const info = layers[layerName];
    let best = Number.POSITIVE_INFINITY;
    let cpu = { self: 0, children: 0 };
    for (let i = 0; i < args.runs; i++) {
      const before = cpuSeconds();
      const start = performance.now();
      await run(info);
      const seconds = (performance.now() - start) / 1000;
      const after = cpuSeconds();
      if (seconds < best) {
        best = seconds;
        cpu = { self: after.self - before.self, children: after.children - before.children };
      }
    }
    const row = {
      case: label,
      layer: layerName,
      layers: copies,
      seconds: best.toFixed(2),
      'compressed MB/s': ((info.size * copies) / 1e6 / best).toFixed(0),
      'tar MB/s': ((info.uncompressed * copies) / 1e6 / best).toFixed(0),
      'node CPU s': cpu.self.toFixed(2),
      'child CPU s': cpu.children.toFixed(2),
    };
    rows.push(row);
    console.log(Object.values(row).join('\t'));
  };

  for (const name of args.layers) {
    const file = layers[name].file;
    if (hasCommand('igzip')) await measure('igzip -dc > /dev/null', name, 1, () => runTo('igzip', file));
    if (hasCommand('pigz')) await measure('pigz -dc > /dev/null', name, 1, () => runTo('pigz', file));
    await measure('node sha256 of the blob (fs stream)', name, 1, () => hashFile(file));
    for (const inflater of ['zlib', 'auto']) {
      const tag = inflater === 'zlib' ? 'zlib' : (inflaters.gzip?.command.split('/').pop() ?? 'zlib');
      await measure(`inflate only (${tag})`, name, 1, (info) => inflateOnly(layer, info, inflater, false));
      await measure(`inflate + diffId sha256 (${tag})`, name, 1, (info) =>
        inflateOnly(layer, info, inflater, true),
      );
      await measure(`scanLayer, input not verified (${tag})`, name, 1, (info) =>
        scanOnce(layer, info, inflater, false),
      );
      for (const copies of [1, 2]) {
        await measure(`scanLayer: verify+inflate+diffId+tar (${tag})`, name, copies, (info) =>
          Promise.all(Array.from({ length: copies }, () => scanOnce(layer, info, inflater))),
        );
      }
      if (inflater === 'auto' && args.worker) {
        for (const copies of [1, 2]) {
          await measure(`worker prototype: inflate+diffId+tar in a worker (${tag})`, name, copies, (info) =>
            Promise.all(Array.from({ length: copies }, () => scanInWorker(info, inflater))),
          );
        }
      }
    }
  }
  // The three layers as one image, read from disk through scanImageLayers (pool of 2, no cache).
  const all = args.layers.map((name) => layers[name]);
  const image = {
    size: all.reduce((sum, info) => sum + info.size, 0),
    uncompressed: all.reduce((sum, info) => sum + info.uncompressed, 0),
  };
  layers.image = image;
  for (const inflater of ['zlib', 'auto']) {
    const tag = inflater === 'zlib' ? 'zlib' : (inflaters.gzip?.command.split('/').pop() ?? 'zlib');
    await measure(`scanImageLayers: all layers, concurrency 2 (${tag})`, 'image', 1, () =>
      layer.scanImageLayers(
        fileSource(layer, all),
        all.map((info) => info.descriptor),
        spec,
        {
          cache: false,
          concurrency: 2,
          inflater,
        },
      ),
    );
  }
  await measure('reference: cat all blobs > /dev/null + sha256sum', 'image', 1, () =>
    runShell(
      `cat ${all.map((info) => info.file).join(' ')} > /dev/null && sha256sum ${all.map((info) => info.file).join(' ')} > /dev/null`,
    ),
  );
  console.log('');
  console.table(rows);
}

function parseArgs(argv) {
  const args = { mb: 300, files: 50000, runs: 3, layers: ['random', 'binary', 'small'], worker: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--mb') args.mb = Number(argv[++i]);
    else if (arg === '--files') args.files = Number(argv[++i]);
    else if (arg === '--runs') args.runs = Number(argv[++i]);
    else if (arg === '--no-worker') args.worker = false;
    else if (arg === '--layers') args.layers = argv[++i].split(',');
    else if (arg === '--quick') Object.assign(args, { mb: 64, files: 10000, runs: 1 });
  }
  return args;
}

async function bundleModules() {
  const { build } = await import('esbuild');
  await build({
    stdin: {
      contents: [
        "export { scanLayer } from './src/oci/layer/scan-layer.ts';",
        "export { scanImageLayers } from './src/oci/layer/scan.ts';",
        "export { decompressor, externalInflaters } from './src/oci/layer/decompress.ts';",
        "export { VerifyingStream, digestOf } from './src/oci/digest.ts';",
      ].join('\n'),
      resolveDir: root,
      loader: 'ts',
    },
    outfile: bundle,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'warning',
    banner: {
      js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
    },
  });
}

/** CPU seconds of this process (all threads) and of its waited-for children (from /proc). */
function cpuSeconds() {
  const usage = process.cpuUsage();
  let children = 0;
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    children = (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    // not Linux: children unknown
  }
  return { self: (usage.user + usage.system) / 1e6, children };
}

const mb = (bytes) => (bytes / 1e6).toFixed(1);

function hasCommand(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** A deterministic incompressible stream (AES-CTR-like via sha256 chaining is too slow: use crypto random). */
async function buildRandomLayer(file, totalMb) {
  const { randomFillSync } = await import('node:crypto');
  const tarStream = (await import('tar-stream')).default;
  const pack = tarStream.pack();
  const out = pipeline(pack, createGzip({ level: 1 }), createWriteStream(file));
  const files = 8;
  const perFile = Math.floor((totalMb * 1024 * 1024) / files);
  for (let f = 0; f < files; f++) {
    await new Promise((resolve, reject) => {
      const entry = pack.entry({ name: `data/blob-${f}.bin`, size: perFile, mode: 0o644 }, (error) =>
        error ? reject(error) : resolve(),
      );
      const chunk = Buffer.allocUnsafe(1024 * 1024);
      let left = perFile;
      const write = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          randomFillSync(chunk, 0, n);
          left -= n;
          const ok = entry.write(Buffer.from(chunk.subarray(0, n)));
          if (left === 0) entry.end();
          if (!ok) {
            entry.once('drain', write);
            return;
          }
        }
      };
      write();
    });
  }
  pack.finalize();
  await out;
}

/**
 * Compressible like executables and libraries (~3:1): 64-byte words drawn from
 * a small random dictionary, compressed by pigz -6 when installed (fast), else zlib.
 */
async function buildBinaryLayer(file, totalMb) {
  const { randomFillSync } = await import('node:crypto');
  const tarStream = (await import('tar-stream')).default;
  const pack = tarStream.pack();
  const compressor = hasCommand('pigz')
    ? spawn('pigz', ['-6', '-c'], { stdio: ['pipe', 'pipe', 'inherit'] })
    : undefined;
  const out = compressor
    ? Promise.all([pipeline(pack, compressor.stdin), pipeline(compressor.stdout, createWriteStream(file))])
    : pipeline(pack, createGzip({ level: 6 }), createWriteStream(file));
  // 256 words of 64 bytes (16 KiB: inside deflate's 32 KiB window) for 70% of the slots,
  // fresh random bytes for the rest: compresses about 3:1, like binaries.
  const dictionary = randomFillSync(Buffer.alloc(64 * 256));
  const noise = randomFillSync(Buffer.alloc(1024 * 1024));
  let seed = 7;
  const next = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed >> 8;
  };
  const files = 40;
  const perFile = Math.floor((totalMb * 1024 * 1024) / files);
  for (let f = 0; f < files; f++) {
    await new Promise((resolve, reject) => {
      const entry = pack.entry({ name: `usr/lib/lib${f}.so`, size: perFile, mode: 0o755 }, (error) =>
        error ? reject(error) : resolve(),
      );
      let left = perFile;
      const write = () => {
        while (left > 0) {
          const n = Math.min(left, 1024 * 1024);
          const chunk = Buffer.allocUnsafe(n);
          for (let at = 0; at < n; at += 64) {
            const take = Math.min(64, n - at);
            if (next() % 10 < 3) {
              const from = next() % (noise.length - 64);
              noise.copy(chunk, at, from, from + take);
            } else {
              const word = next() % 256;
              dictionary.copy(chunk, at, word * 64, word * 64 + take);
            }
          }
          left -= n;
          const ok = entry.write(chunk);
          if (left === 0) entry.end();
          if (!ok) {
            entry.once('drain', write);
            return;
          }
        }
      };
      write();
    });
  }
  pack.finalize();
  await out;
}

async function buildSmallLayer(file, count) {
  const tarStream = (await import('tar-stream')).default;
  const pack = tarStream.pack();
  const out = pipeline(pack, createGzip({ level: 6 }), createWriteStream(file));
  const words = 'the quick brown fox jumps over a lazy dog while astronomers reduce their data'.split(' ');
  let seed = 1;
  const next = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let i = 0; i < count; i++) {
    if (i % 500 === 0) pack.entry({ name: `usr/share/pkg${i / 500}/`, type: 'directory', mode: 0o755 });
    const length = 200 + (next() % 4000);
    let text = '';
    while (text.length < length) text += `${words[next() % words.length]} `;
    const body = Buffer.from(text.slice(0, length));
    const exec = i % 10 === 0;
    const name = `usr/share/pkg${Math.floor(i / 500)}/file-${i}${exec ? '.sh' : '.txt'}`;
    const data = exec ? Buffer.concat([Buffer.from('#!/bin/sh\n'), body]) : body;
    await new Promise((resolve, reject) =>
      pack.entry({ name, size: data.length, mode: exec ? 0o755 : 0o644 }, data, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
  }
  pack.finalize();
  await out;
}

async function describe(file, layer) {
  const size = statSync(file).size;
  const digest = `sha256:${await hashFile(file)}`;
  const descriptor = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size };
  const facts = await scanOnce(layer, { file, descriptor }, 'auto');
  return { file, size, descriptor, uncompressed: facts.uncompressedSize, entries: facts.entries.length };
}

async function hashFile(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}

function runShell(script) {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sh exit ${code}`))));
  });
}

/** An ImageSource over layer files on disk (fetch only: what scanImageLayers uses). */
function fileSource(layer, infos) {
  const byDigest = new Map(infos.map((info) => [info.descriptor.digest, info]));
  return {
    reference: { transport: 'oci', path: work },
    async fetch(descriptor) {
      const verifying = new layer.VerifyingStream(descriptor);
      pipeline(createReadStream(byDigest.get(descriptor.digest).file), verifying).catch(() => {});
      return verifying;
    },
    async resolve() {
      throw new Error('not used');
    },
    async close() {},
  };
}

function runTo(command, file) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, ['-dc', file], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exit ${code}`))));
  });
}

async function inflateOnly(layer, info, inflater, hash) {
  const digest = hash ? createHash('sha256') : undefined;
  const sink = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk, _encoding, callback) {
      digest?.update(chunk);
      callback();
    },
  });
  await pipeline(createReadStream(info.file), layer.decompressor('gzip', { inflater }), sink);
  digest?.digest('hex');
}

const spec = {
  paths: ['/etc/passwd'],
  globs: [],
  probes: ['shebang', 'elf', 'private-key'],
  maxBodyBytes: 65536,
};

function scanOnce(layer, info, inflater, verify = true) {
  const input = createReadStream(info.file);
  const stream = verify ? input.pipe(new layer.VerifyingStream(info.descriptor)) : input;
  return layer.scanLayer(stream, info.descriptor, spec, { inflater });
}

// ------------------------------------------------------------ worker prototype
// Main thread: read + verify the compressed blob (as a source's verified stream
// would), post chunks to a worker. Worker: inflate (spawning the inflater),
// diffId sha256 and tar parsing; posts back the facts.

function scanInWorker(info, inflater) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(fileURLToPath(import.meta.url), {
      workerData: { bundle, descriptor: info.descriptor, inflater, spec },
    });
    let credit = 8;
    let waiting;
    worker.on('message', (message) => {
      if (message.type === 'credit') {
        credit += message.n;
        const wake = waiting;
        waiting = undefined;
        wake?.();
      } else if (message.type === 'facts') {
        resolve(message.facts);
        worker.terminate();
      } else if (message.type === 'error') {
        reject(new Error(message.message));
        worker.terminate();
      }
    });
    worker.on('error', reject);
    (async () => {
      const input = Readable.from(createReadStream(info.file)).pipe(
        new (await import(pathToFileURL(bundle).href)).VerifyingStream(info.descriptor),
      );
      for await (const chunk of input) {
        if (credit <= 0) await new Promise((wake) => (waiting = wake));
        credit--;
        const copy = new Uint8Array(chunk.length);
        copy.set(chunk);
        worker.postMessage({ type: 'chunk', chunk: copy }, [copy.buffer]);
      }
      worker.postMessage({ type: 'end' });
    })().catch(reject);
  });
}

async function workerMain() {
  const { bundle: bundlePath, descriptor, inflater, spec: workerSpec } = workerData;
  const layer = await import(pathToFileURL(bundlePath).href);
  // Credit flows back as the scan consumes the input: bounded buffering.
  let owed = 0;
  const input = new Readable({
    highWaterMark: 1024 * 1024,
    read() {
      if (owed > 0) parentPort.postMessage({ type: 'credit', n: owed });
      owed = 0;
    },
  });
  parentPort.on('message', (message) => {
    if (message.type === 'chunk') {
      const below = input.push(
        Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.length),
      );
      if (below) parentPort.postMessage({ type: 'credit', n: 1 });
      else owed++;
    } else if (message.type === 'end') {
      input.push(null);
    }
  });
  try {
    const facts = await layer.scanLayer(input, descriptor, workerSpec, { inflater });
    parentPort.postMessage({ type: 'facts', facts: { entries: facts.entries.length, diffId: facts.diffId } });
  } catch (error) {
    parentPort.postMessage({ type: 'error', message: String(error?.message ?? error) });
  }
}

if (!isMainThread) {
  await workerMain();
} else {
  await main();
}
