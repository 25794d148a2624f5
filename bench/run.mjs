#!/usr/bin/env node
// ivoc's performance bench (issue 2, item 7): our command and the reference
// command, measured in the same run, alternating, ratios into bench/RESULTS.md.
//
//   npm run bench -- [--size small|medium|large] [--only NAME[,NAME...]] [--reps N]
//                    [--no-build] [--no-write] [--wait-quiet[=IDLE%]]
//
// NAMEs: inspect (a), bytes, scan (b and d), warm (c); `profile` (not in the
// default set) runs one cold scan under `node --cpu-prof` and prints the top
// frames. See bench/README.md.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { importTs, quietGate, ROOT, startBenchEnv, WORK_DIR } from './env.mjs';

const SIZES = ['small', 'medium', 'large'];
const MEASUREMENTS = ['inspect', 'bytes', 'scan', 'warm'];
const OPTIONAL = ['profile'];
const RESULTS_JSON = join(ROOT, 'bench', 'results.json');
const RESULTS_MD = join(ROOT, 'bench', 'RESULTS.md');
/** The CLI measured: bin/ivoc.cjs, or IVOC_BENCH_CLI (e.g. another checkout's, to compare builds). */
const IVOC = process.env.IVOC_BENCH_CLI ?? join(ROOT, 'bin', 'ivoc.cjs');
const NODE = process.execPath;
const MB = 1e6;

// ---------------------------------------------------------------- arguments

function usage(message) {
  if (message) process.stderr.write(`bench: ${message}\n`);
  process.stderr.write(
    'usage: node bench/run.mjs [--size small|medium|large] [--only inspect,bytes,scan,warm,profile] [--reps N] [--no-build] [--no-write] [--wait-quiet[=IDLE%]] | --render\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const options = { size: 'large', only: [...MEASUREMENTS], reps: undefined, build: true, write: true };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const value = () => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
    switch (flag) {
      case '--size':
        options.size = value();
        if (!SIZES.includes(options.size)) usage(`unknown size '${options.size}'`);
        break;
      case '--only':
        options.only = value()
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean);
        for (const name of options.only)
          if (![...MEASUREMENTS, ...OPTIONAL].includes(name)) usage(`unknown measurement '${name}'`);
        break;
      case '--reps':
        options.reps = Number.parseInt(value(), 10);
        if (!(options.reps >= 1)) usage('--reps wants a positive integer');
        break;
      case '--no-build':
        options.build = false;
        break;
      case '--no-write':
        options.write = false;
        break;
      case '--render':
        options.render = true;
        break;
      case '--wait-quiet':
        options.waitQuiet = inline === undefined ? 90 : Number(inline);
        break;
      case '--help':
      case '-h':
        usage();
        break;
      default:
        usage(`unknown argument '${argv[i]}'`);
    }
  }
  return options;
}

// ---------------------------------------------------------------- small helpers

const log = (message) => process.stderr.write(`bench: ${message}\n`);

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function stats(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: values };
}

const round = (x, digits = 1) => (x === undefined || x === null ? x : Number(x.toFixed(digits)));

function commandOutput(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return undefined;
  }
}

function hasCommand(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

// ---------------------------------------------------------------- prerequisites

/**
 * Debian package -> a file it provides: the bench's own tools, then what the
 * test environment it starts needs (as scripts/test.mjs installs them), so
 * that the bench runs first on a fresh machine too.
 */
const PACKAGES = [
  ['skopeo', 'skopeo'],
  ['time', '/usr/bin/time'],
  ['isal', 'igzip'],
  ['docker.io', 'dockerd'],
  ['docker-registry', 'docker-registry'],
  ['apache2-utils', 'htpasswd'],
  ['openssl', 'openssl'],
];

function ensurePrograms() {
  const missing = PACKAGES.filter(([, command]) =>
    command.startsWith('/') ? !existsSync(command) : !hasCommand(command),
  ).map(([pkg]) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() === 0 && process.env.IVOC_BENCH_NO_INSTALL !== '1' && hasCommand('apt-get')) {
    log(`installing ${missing.join(' ')} (apt-get)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    let result = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
      stdio: 'inherit',
      env,
    });
    if (result.status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
      result = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], {
        stdio: 'inherit',
        env,
      });
    }
  }
  for (const [pkg, command] of PACKAGES) {
    const present = command.startsWith('/') ? existsSync(command) : hasCommand(command);
    if (!present && pkg !== 'isal') {
      log(`${command} is missing: install the Debian package \`${pkg}\``);
      process.exit(3);
    }
  }
}

/** When dist/ (the CLI measured) was last built. */
function distBuilt() {
  try {
    return statSync(join(dirname(IVOC), '..', 'dist', 'cli.cjs')).mtime.toISOString();
  } catch {
    return 'unknown';
  }
}

/** HEAD's short hash, with '+N' for N uncommitted files under src/ (what the build measured). */
function commitLabel() {
  const head = commandOutput('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = (commandOutput('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src']) ?? '')
    .split('\n')
    .filter(Boolean).length;
  return dirty ? `${head}+${dirty}` : head;
}

function machine() {
  const git = (args) => commandOutput('git', ['-C', ROOT, ...args]);
  const dirtySrc = (git(['status', '--porcelain', '--', 'src']) ?? '').split('\n').filter(Boolean).length;
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model?.trim(),
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    skopeo: commandOutput('skopeo', ['--version'])?.replace(/^skopeo version /, ''),
    igzip: hasCommand('igzip')
      ? (/\d+(\.\d+)+/.exec(commandOutput('igzip', ['--version']) ?? '')?.[0] ?? 'present')
      : 'absent',
    kernel: commandOutput('uname', ['-r']),
    commit: git(['rev-parse', '--short', 'HEAD']),
    uncommittedSrcFiles: dirtySrc,
    // Set here but not for the measured commands (measuredEnv).
    removedFromEnv: REMOVED_FROM_ENV.filter((name) => process.env[name] !== undefined),
  };
}

// ---------------------------------------------------------------- running one command

const running = new Set();

/** Peak of the summed VmRSS of ROOT's descendants (ROOT itself excluded), sampled. */
function sampleTree(rootPid) {
  const tree = new Set();
  let peakKiB = 0;
  let ticks = 0;
  const discover = () => {
    const parents = new Map();
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
        parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      } catch {
        // gone
      }
    }
    const known = new Set([rootPid]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const [pid, ppid] of parents) {
        if (known.has(ppid) && !known.has(pid)) {
          known.add(pid);
          grew = true;
        }
      }
    }
    known.delete(rootPid);
    tree.clear();
    for (const pid of known) tree.add(pid);
  };
  const tick = () => {
    if (ticks++ % 5 === 0) discover();
    let sum = 0;
    for (const pid of tree) {
      try {
        const match = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
        if (match) sum += Number(match[1]);
      } catch {
        tree.delete(pid);
      }
    }
    if (sum > peakKiB) peakKiB = sum;
  };
  const timer = setInterval(tick, 50);
  return {
    stop() {
      clearInterval(timer);
      return peakKiB;
    },
  };
}

/**
 * Variables removed from every measured command's environment. With
 * NODE_EXTRA_CA_CERTS set (as some sandboxes and CI images set it for every
 * process), Node reads and parses those certificates at each start, before
 * any script: ~90 ms on the bench machine, three times Node's own start-up.
 * It is neither Node's start-up nor ours, it is the same for `node -e 0` and
 * ivoc, and its variance drowned what (a) and (c) measure. skopeo does not
 * read it; the bench registry is plain HTTP.
 */
const REMOVED_FROM_ENV = ['NODE_EXTRA_CA_CERTS'];

function measuredEnv(extra = {}) {
  const env = { ...process.env, ...extra };
  for (const name of REMOVED_FROM_ENV) delete env[name];
  return env;
}

/**
 * Runs COMMAND once; wall time from spawn to exit (process.hrtime). With
 * `time`, under /usr/bin/time (peak RSS of the largest process, CPU seconds)
 * and with the process tree's RSS sampled every 50 ms.
 */
async function runOnce(command, args, options = {}) {
  let file = command;
  let argv = args;
  let timeFile;
  if (options.time) {
    timeFile = join(WORK_DIR, `.time-${process.pid}`);
    file = '/usr/bin/time';
    argv = ['-f', '%M %e %U %S', '-o', timeFile, '--', command, ...args];
  }
  const env = measuredEnv(options.env);
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, {
    stdio: ['ignore', options.captureStdout ? 'pipe' : 'ignore', 'pipe'],
    env,
    cwd: ROOT,
  });
  running.add(child);
  const sampler = options.time ? sampleTree(child.pid) : undefined;
  const stdout = [];
  const stderr = [];
  child.stdout?.on('data', (chunk) => stdout.push(chunk));
  child.stderr.on('data', (chunk) => stderr.push(chunk));
  let ended = started;
  let treePeakKiB;
  child.on('exit', () => {
    ended = process.hrtime.bigint();
    treePeakKiB = sampler?.stop();
  });
  // 'close' comes after 'exit' and after the pipes are drained.
  const { code, signal } = await new Promise((resolve, reject) => {
    child.on('error', (error) => {
      sampler?.stop();
      reject(error);
    });
    child.on('close', (code, signal) => resolve({ code, signal }));
  }).finally(() => running.delete(child));
  const result = {
    ms: Number(ended - started) / 1e6,
    code,
    signal,
    stdout: Buffer.concat(stdout).toString(),
    stderr: Buffer.concat(stderr).toString(),
  };
  if (timeFile) {
    const lines = (await readFile(timeFile, 'utf8').catch(() => '')).trim().split('\n');
    const [maxRssKiB, , user, sys] = (lines.at(-1) ?? '').split(' ').map(Number);
    Object.assign(result, { maxRssKiB, cpuSeconds: user + sys, treePeakKiB });
    await rm(timeFile, { force: true });
  }
  if (code !== 0 && !options.allowFailure) {
    throw new Error(
      `${[command, ...args].join(' ')} failed (${signal ?? `exit ${code}`}):\n${result.stderr.slice(-2000)}`,
    );
  }
  return result;
}

// ---------------------------------------------------------------- the commands

function ours(image, extra = []) {
  return [NODE, [IVOC, 'inspect', `docker://${image}`, '--format', 'json', ...extra]];
}

async function cacheEnv(name, { fresh }) {
  const dir = join(WORK_DIR, 'cache', name);
  if (fresh) await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // XDG_CACHE_HOME too: if IVOC_CACHE_DIR were ignored, nothing outside the bench would be reused.
  return { dir, env: { IVOC_CACHE_DIR: join(dir, 'ivoc'), XDG_CACHE_HOME: join(dir, 'xdg') } };
}

/** Files and bytes under DIR, the CLI's code cache (`code/`, not a cache of image data) left out. */
function dirBytes(dir) {
  let total = 0;
  let files = 0;
  const walk = (at) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory() && at === dir && entry.name === 'code') continue;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) {
        files++;
        total += statSync(path).size;
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return { bytes: total, files };
}

async function scanSupported() {
  const help = await runOnce(NODE, [IVOC, 'inspect', '--help'], { captureStdout: true, allowFailure: true });
  return /--scan\b/.test(help.stdout + help.stderr);
}

// ---------------------------------------------------------------- measurements

function loadNow() {
  return round(loadavg()[0], 2);
}

/** (a) metadata-only inspection vs node -e 0 + skopeo inspect --config. */
async function measureInspect(ctx) {
  // At least 25: a repetition takes well under a second, and medians of 9 moved by several ms between runs.
  const reps = Math.max(ctx.reps ?? 5, 25);
  const image = ctx.image.reference;
  const { env } = await cacheEnv('inspect', { fresh: true });
  const commands = {
    ours: ours(image),
    node: [NODE, ['-e', '0']],
    skopeo: ['skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${image}`]],
  };
  const check = await runOnce(...commands.ours, { env, captureStdout: true });
  const summary = JSON.parse(check.stdout);
  if (summary.layers?.length !== ctx.image.layers)
    throw new Error(`ivoc inspect ${image}: ${summary.layers?.length} layers, expected ${ctx.image.layers}`);
  await runOnce(...commands.node);
  await runOnce(...commands.skopeo);
  const gate = quietGate(ctx.waitQuiet, log);
  const loadBefore = loadNow();
  const times = { ours: [], node: [], skopeo: [], oursNoCache: [] };
  const order = ['ours', 'node', 'skopeo', 'oursNoCache'];
  // For the record, not the ratio: ours as a first look at the image with a first run of the
  // command is, with --no-cache: no code cache (src/cli/launch.ts), the config fetched (src/oci/blob-cache.ts).
  const envOf = (name) => (name === 'ours' || name === 'oursNoCache' ? env : {});
  commands.oursNoCache = ours(image, ['--no-cache']);
  for (let i = 0; i < reps; i++) {
    await gate();
    // Rotate who goes first, so no side always runs right after the other.
    for (let k = 0; k < order.length; k++) {
      const name = order[(i + k) % order.length];
      times[name].push((await runOnce(...commands[name], { env: envOf(name) })).ms);
    }
  }
  const reference = times.node.map((t, i) => t + times.skopeo[i]);
  const result = {
    date: new Date().toISOString(),
    loadBefore,
    loadAfter: loadNow(),
    idleBeforeReps: gate.seen,
    waitQuiet: ctx.waitQuiet,
    reps,
    ours: stats(times.ours),
    oursNoCache: stats(times.oursNoCache),
    nodeStartup: stats(times.node),
    skopeo: stats(times.skopeo),
    reference: stats(reference),
  };
  result.ratio = result.ours.median / result.reference.median;
  result.ratioMin = result.ours.min / result.reference.min;
  return result;
}

/** Sizes of the manifest and the config, and the layer digests, from the image's OCI layout. */
function layoutFacts(layoutDir) {
  const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8'));
  const top = index.manifests[0];
  const manifest = JSON.parse(readFileSync(join(layoutDir, 'blobs', ...top.digest.split(':')), 'utf8'));
  return {
    manifestBytes: top.size,
    configBytes: manifest.config.size,
    layerDigests: manifest.layers.map((layer) => layer.digest),
  };
}

/**
 * Bytes our metadata-only inspection fetches, counted by the fault proxy, per
 * image: O(1) in the image's size means exactly its manifest and config (which
 * grow with the number of layers, not with their bytes) and no layer blob.
 */
async function measureBytes(ctx) {
  const { startFaultProxy } = await importTs('test/env/fault-proxy.ts');
  const proxy = await startFaultProxy(ctx.registry);
  ctx.cleanups.push(() => proxy.close());
  const { env } = await cacheEnv('bytes', { fresh: true });
  const perImage = {};
  try {
    for (const image of ctx.images) {
      const facts = layoutFacts(image.layoutDir);
      const viaProxy = image.reference.replace(ctx.registry, proxy.host);
      const count = async (command, args, runEnv) => {
        proxy.clearLog();
        await runOnce(command, args, { env: runEnv });
        return {
          total: proxy.bytesSent(),
          manifests: proxy.bytesSent(/\/manifests\//),
          blobs: proxy.bytesSent(/\/blobs\//),
          requests: proxy.requests.length,
          layerRequests: proxy.requests.filter((r) => facts.layerDigests.some((d) => r.path.includes(d)))
            .length,
        };
      };
      const oursCount = await count(...ours(viaProxy), env);
      perImage[image.size] = {
        compressedBytes: image.compressedBytes,
        layers: image.layers,
        manifestBytes: facts.manifestBytes,
        configBytes: facts.configBytes,
        ours: oursCount,
        skopeo: await count(
          'skopeo',
          ['inspect', '--tls-verify=false', '--config', `docker://${viaProxy}`],
          {},
        ),
        metadataOnly:
          oursCount.layerRequests === 0 && oursCount.total <= facts.manifestBytes + facts.configBytes,
      };
    }
  } finally {
    await proxy.close();
  }
  const entries = Object.values(perImage);
  return {
    date: new Date().toISOString(),
    images: perImage,
    constant: entries.every((entry) => entry.metadataOnly),
    maxOurs: Math.max(...entries.map((entry) => entry.ours.total)),
  };
}

/** (b) full scan with a cold cache vs skopeo copy to a fresh oci: dir; (d) peak RSS of ours. */
async function measureScan(ctx) {
  const reps = ctx.reps ?? (ctx.image.size === 'large' ? 3 : 5);
  const image = ctx.image.reference;
  const copyOnce = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ivoc-bench-copy-'));
    ctx.cleanups.push(() => rm(dir, { recursive: true, force: true }));
    try {
      return await runOnce(
        'skopeo',
        ['copy', '--quiet', '--src-tls-verify=false', `docker://${image}`, `oci:${join(dir, 'oci')}`],
        { time: true },
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  let cacheCheck;
  // Cold means no layer data cached; the CLI's code cache (README, "Caches") is kept from the
  // warm-up run, as a user's is from their first run, and put into each fresh cache directory.
  const primedCode = join(WORK_DIR, 'cache', 'cold-code');
  rmSync(primedCode, { recursive: true, force: true });
  const scanOnce = async () => {
    const { dir, env } = await cacheEnv('cold', { fresh: true });
    if (existsSync(primedCode)) cpSync(primedCode, join(dir, 'ivoc', 'code'), { recursive: true });
    const result = await runOnce(...ours(image, ['--scan']), { env, time: true });
    if (!existsSync(primedCode) && existsSync(join(dir, 'ivoc', 'code')))
      cpSync(join(dir, 'ivoc', 'code'), primedCode, { recursive: true });
    cacheCheck ??= { ivoc: dirBytes(join(dir, 'ivoc')), xdg: dirBytes(join(dir, 'xdg')) };
    return result;
  };
  // Warm-up (not counted): the registry's blob files into the page cache, both programs' binaries too.
  if (ctx.scan) await scanOnce();
  await copyOnce();
  const gate = quietGate(ctx.waitQuiet, log);
  const loadBefore = loadNow();
  const runs = { ours: [], skopeo: [] };
  for (let i = 0; i < reps; i++) {
    await gate();
    const order = i % 2 === 0 ? ['ours', 'skopeo'] : ['skopeo', 'ours'];
    for (const name of order) {
      if (name === 'ours' && !ctx.scan) continue;
      log(`  scan rep ${i + 1}/${reps}: ${name}`);
      runs[name].push(name === 'ours' ? await scanOnce() : await copyOnce());
    }
  }
  const pick = (list, key) => list.map((run) => run[key]);
  const result = {
    date: new Date().toISOString(),
    loadBefore,
    loadAfter: loadNow(),
    idleBeforeReps: gate.seen,
    waitQuiet: ctx.waitQuiet,
    reps,
    skopeo: stats(pick(runs.skopeo, 'ms')),
    skopeoRss: stats(pick(runs.skopeo, 'maxRssKiB')),
    skopeoCpu: stats(pick(runs.skopeo, 'cpuSeconds')),
  };
  if (ctx.scan) {
    Object.assign(result, {
      ours: stats(pick(runs.ours, 'ms')),
      oursRss: stats(pick(runs.ours, 'maxRssKiB')),
      oursTreeRss: stats(pick(runs.ours, 'treePeakKiB')),
      oursCpu: stats(pick(runs.ours, 'cpuSeconds')),
      cacheAfterColdScan: cacheCheck,
    });
    result.ratio = result.ours.median / result.skopeo.median;
    result.ratioMin = result.ours.min / result.skopeo.min;
  } else result.unavailable = 'ivoc inspect --scan is not implemented yet';
  return result;
}

/** (c) the scan again with a warm cache vs our metadata-only inspection. */
async function measureWarm(ctx) {
  if (!ctx.scan)
    return { date: new Date().toISOString(), unavailable: 'ivoc inspect --scan is not implemented yet' };
  // At least 25, as (a): two commands of well under a second each, whose medians differ by a few ms.
  const reps = Math.max(ctx.reps ?? 5, 25);
  const image = ctx.image.reference;
  const warm = await cacheEnv('warm', { fresh: true });
  const plain = await cacheEnv('inspect', { fresh: true });
  log('  priming the warm cache (one cold scan)');
  await runOnce(...ours(image, ['--scan']), { env: warm.env });
  const cache = { ivoc: dirBytes(join(warm.dir, 'ivoc')), xdg: dirBytes(join(warm.dir, 'xdg')) };
  // What a warm scan downloads, through the counting proxy.
  const { startFaultProxy } = await importTs('test/env/fault-proxy.ts');
  const proxy = await startFaultProxy(ctx.registry);
  let warmBytes;
  try {
    await runOnce(...ours(image.replace(ctx.registry, proxy.host), ['--scan']), { env: warm.env });
    warmBytes = {
      total: proxy.bytesSent(),
      blobs: proxy.bytesSent(/\/blobs\//),
      requests: proxy.requests.length,
    };
  } finally {
    await proxy.close();
  }
  await runOnce(...ours(image, ['--scan']), { env: warm.env });
  await runOnce(...ours(image), { env: plain.env });
  const gate = quietGate(ctx.waitQuiet, log);
  const loadBefore = loadNow();
  const times = { warm: [], inspect: [] };
  for (let i = 0; i < reps; i++) {
    await gate();
    const order = i % 2 === 0 ? ['warm', 'inspect'] : ['inspect', 'warm'];
    for (const name of order) {
      const [command, args] = name === 'warm' ? ours(image, ['--scan']) : ours(image);
      times[name].push((await runOnce(command, args, { env: name === 'warm' ? warm.env : plain.env })).ms);
    }
  }
  const result = {
    date: new Date().toISOString(),
    loadBefore,
    loadAfter: loadNow(),
    idleBeforeReps: gate.seen,
    waitQuiet: ctx.waitQuiet,
    reps,
    ours: stats(times.warm),
    reference: stats(times.inspect),
    cache,
    warmBytes,
  };
  result.ratio = result.ours.median / result.reference.median;
  result.ratioMin = result.ours.min / result.reference.min;
  return result;
}

/** Top frames by self time of each .cpuprofile in DIR (one per thread). */
function summariseProfiles(dir) {
  const threads = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(dir, name), 'utf8'));
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    const self = new Map();
    const byFile = new Map();
    const deltas = profile.timeDeltas;
    for (let i = 0; i < profile.samples.length; i++) {
      const frame = byId.get(profile.samples[i]).callFrame;
      const dt = (deltas[i + 1] ?? deltas[i] ?? 0) / 1000;
      const where = frame.url ? frame.url.replace(`file://${ROOT}/`, '') : '';
      const key = `${frame.functionName || '(anonymous)'} ${where}${where ? `:${frame.lineNumber + 1}` : ''}`;
      self.set(key, (self.get(key) ?? 0) + dt);
      const file = where || `(${frame.functionName || 'native'})`;
      byFile.set(file, (byFile.get(file) ?? 0) + dt);
    }
    const total = [...self.values()].reduce((a, b) => a + b, 0);
    const top = (map, n) =>
      [...map.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, n)
        .map(([frame, ms]) => ({ frame, ms: round(ms, 0), share: round((100 * ms) / total, 1) }));
    threads.push({ file: name, totalMs: round(total, 0), top: top(self, 20), files: top(byFile, 12) });
  }
  return threads;
}

/** Where a perf sample's CPU went: the first rule matching any frame of its stack (leaf to root). */
const PERF_CATEGORIES = [
  ['sha256', /sha256_block|sha256_/],
  ['socket read (registry → node)', /tcp_recvmsg/],
  ['pipe read (inflater → node)', /unix_stream_recvmsg|pipe_read/],
  ['pipe write (node → inflater)', /unix_stream_sendmsg|pipe_write/],
  ['process spawn', /__do_sys_clone|kernel_clone|__x64_sys_execve|do_exit|exit_mmap/],
  ['page faults, other', /asm_exc_page_fault/],
  ['inflate (zlib in node)', /inflate|Inflate/],
  [
    'garbage collection',
    /v8::internal::(Heap::|Scavenger|ScavengeJob|ConcurrentMarking|MarkCompact|Sweeper|MinorMarkCompact|IncrementalMarking|MarkingVisitor|ConcurrentMarkingVisitor)/,
  ],
  ['V8 wasm compiler (undici llhttp)', /v8::internal::(wasm::|compiler::ExecuteTurbofanWasm)/],
  ['V8 JS compilers', /v8::internal::(compiler::|maglev::|baseline::|Compiler::|Parser|PreParser|Scanner)/],
  ['JavaScript and builtins', /^(JS:|Builtins_|LazyCompile|Function:|\[unknown\] \(\/tmp\/perf-)/],
];

/** Parses `perf script` output into CPU ms per thread group and category. */
function perfBreakdown(perfData, frequency) {
  const text = spawnSync('perf', ['script', '-i', perfData, '-F', 'comm,pid,tid,ip,sym,dso'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  }).stdout;
  const groups = new Map();
  const nodePids = new Set();
  const add = (group, category) => {
    const g = groups.get(group) ?? new Map();
    g.set(category, (g.get(category) ?? 0) + 1000 / frequency);
    groups.set(group, g);
  };
  for (const block of text.split('\n\n')) {
    const lines = block.split('\n').filter((line) => line.trim());
    if (lines.length === 0) continue;
    const head = /^\s*(\S.*?)\s+(\d+)\/(\d+)/.exec(lines[0]);
    if (!head) continue;
    const [, comm, pid, tid] = head;
    if (comm === 'node') nodePids.add(Number(pid));
    const frames = lines.slice(1).map((line) => line.trim().replace(/^[0-9a-f]+\s+/, ''));
    let group;
    if (comm !== 'node') group = `${comm} (child processes)`;
    else if (Number(tid) === Number(pid)) group = 'node main thread';
    else group = 'node other threads';
    let category = comm !== 'node' ? (frames.some((f) => /\[kernel/.test(f)) ? 'kernel' : 'user') : undefined;
    if (frames.some((f) => f.includes('asm_exc_page_fault'))) add(group, '(of which page faults)');
    if (comm !== 'node') {
      const rule = PERF_CATEGORIES.slice(1, 6).find(([, re]) => frames.some((f) => re.test(f)));
      category = rule ? rule[0] : frames.some((f) => /inflate|huffman|isal/.test(f)) ? 'inflate' : category;
    } else {
      const rule = PERF_CATEGORIES.find(([, re]) => frames.some((f) => re.test(f)));
      category = rule?.[0] ?? (/\[kernel/.test(frames[0] ?? '') ? 'kernel, other' : 'native, other');
    }
    add(group, category);
  }
  const out = {};
  for (const [group, categories] of groups) {
    const faults = categories.get('(of which page faults)') ?? 0;
    categories.delete('(of which page faults)');
    const total = [...categories.values()].reduce((a, b) => a + b, 0);
    out[group] = {
      totalMs: round(total, 0),
      pageFaultMs: round(faults, 0),
      categories: [...categories.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([category, ms]) => ({ category, ms: round(ms, 0), share: round((100 * ms) / total, 1) })),
    };
  }
  // --perf-basic-prof's symbol maps of the profiled node: next to perf.data (copy one back to /tmp for `perf report`).
  for (const pid of nodePids) {
    const map = `/tmp/perf-${pid}.map`;
    if (existsSync(map)) copyFileSync(map, join(dirname(perfData), `perf-${pid}.map`));
    rmSync(map, { force: true });
  }
  return out;
}

/** Our metadata-only inspection, a cold scan and a warm scan under --cpu-prof (and perf when installed): where the time goes. */
async function measureProfile(ctx) {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const out = {};
  const targets = { inspect: [] };
  if (ctx.scan) {
    targets.scan = ['--scan'];
    targets.warm = ['--scan'];
  }
  // A cache for each run: empty (cold), or primed by one scan (warm).
  const cache = async (label) => {
    const made = await cacheEnv(`profile-${label}`, { fresh: true });
    if (label === 'warm') await runOnce(...ours(ctx.image.reference, ['--scan']), { env: made.env });
    return made.env;
  };
  for (const [label, extra] of Object.entries(targets)) {
    const dir = join(WORK_DIR, 'profiles', `${stamp}-${label}`);
    await mkdir(dir, { recursive: true });
    const env = await cache(label);
    const [command, args] = ours(ctx.image.reference, extra);
    const run = await runOnce(command, ['--cpu-prof', '--cpu-prof-dir', dir, ...args], { env, time: true });
    const threads = summariseProfiles(dir);
    out[label] = { wallMs: run.ms, cpuSeconds: run.cpuSeconds, maxRssKiB: run.maxRssKiB, dir, threads };
    process.stdout.write(
      `\nprofile of ${label}: ${ms(run.ms)} wall, ${round(run.cpuSeconds, 2)} s CPU, ${mb(run.maxRssKiB)} peak RSS (${dir})\n`,
    );
    if (hasCommand('perf')) {
      // The whole process tree (other threads, the inflaters), by category.
      const perfData = join(dir, 'perf.data');
      const frequency = 999;
      const perfEnv = await cache(label);
      const perfRun = await runOnce(
        'perf',
        [
          'record',
          '-q',
          '-F',
          String(frequency),
          '-g',
          '-o',
          perfData,
          '--',
          command,
          '--perf-basic-prof',
          ...args,
        ],
        { env: perfEnv, allowFailure: true },
      );
      if (perfRun.code === 0) {
        out[label].perf = perfBreakdown(perfData, frequency);
        process.stdout.write(`perf (whole process tree, ${ms(perfRun.ms)} wall under perf):\n`);
        for (const [group, g] of Object.entries(out[label].perf)) {
          process.stdout.write(
            `  ${group}: ${g.totalMs} ms (page faults anywhere in it: ${g.pageFaultMs} ms)\n`,
          );
          for (const row of g.categories)
            process.stdout.write(
              `    ${String(row.ms).padStart(7)} ms ${String(row.share).padStart(5)}%  ${row.category}\n`,
            );
        }
      } else process.stdout.write(`perf record failed: ${perfRun.stderr.slice(-300)}\n`);
    }
    for (const thread of threads) {
      process.stdout.write(`${thread.file}: ${thread.totalMs} ms sampled\n  by function (self time):\n`);
      for (const row of thread.top)
        process.stdout.write(
          `  ${String(row.ms).padStart(7)} ms ${String(row.share).padStart(5)}%  ${row.frame}\n`,
        );
      process.stdout.write('  by file:\n');
      for (const row of thread.files)
        process.stdout.write(
          `  ${String(row.ms).padStart(7)} ms ${String(row.share).padStart(5)}%  ${row.frame}\n`,
        );
    }
  }
  return { date: new Date().toISOString(), ...out };
}

// ---------------------------------------------------------------- results

const TARGETS = {
  inspect: { text: '≤ 1.0', pass: (r) => r.ratio <= 1.0 },
  scan: { text: '≤ 1.0', pass: (r) => r.ratio <= 1.0 },
  warm: { text: '≤ 1.1', pass: (r) => r.ratio <= 1.1 },
  rss: { text: '≤ 200 MB', pass: (r) => r.oursRss.max * 1024 <= 200 * MB },
};

const ms = (x) => (x === undefined ? '—' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(0)} ms`);
const mb = (kib) => (kib === undefined ? '—' : `${((kib * 1024) / MB).toFixed(0)} MB`);
const verdict = (ok) => (ok ? 'pass' : '**fail**');

/** The machine's state around a measurement: 1-minute load before it; idle share before each repetition. */
function conditions(r) {
  const built = r.built ? `, build of ${r.built.length > 24 ? r.built : r.built.slice(11, 16)}` : '';
  const when = r.date ? `${r.date.slice(11, 16)}${built}${r.commit ? ` (HEAD \`${r.commit}\`)` : ''}; ` : '';
  const idle = r.idleBeforeReps?.length
    ? `; ${Math.min(...r.idleBeforeReps)}–${Math.max(...r.idleBeforeReps)} % idle`
    : '';
  return `${when}load ${r.loadBefore}${idle}`;
}

const NAMES = {
  inspect: ['a', 'metadata-only inspect'],
  scan: ['b', 'full scan, cold cache'],
  warm: ['c', 'full scan, warm cache'],
};

function rows(entry) {
  const m = { ...entry.measurements };
  const out = [];
  for (const [name, [letter, title]] of Object.entries(NAMES)) {
    if (!m[name]?.error) continue;
    const first =
      m[name].error.split('\n').find((line) => line.startsWith('ivoc:')) ?? m[name].error.split('\n')[0];
    out.push([
      letter,
      title,
      `**failed** at ${m[name].date.slice(0, 16).replace('T', ' ')}: ${first.replaceAll('|', '\\|')}`,
      '—',
      '—',
      '—',
      '**fail**',
      '',
    ]);
    delete m[name];
  }
  const inspect = m.inspect;
  if (inspect) {
    out.push([
      'a',
      'metadata-only inspect',
      `${ms(inspect.ours.median)} / ${ms(inspect.ours.min)}`,
      `${ms(inspect.reference.median)} / ${ms(inspect.reference.min)} (node -e 0 ${ms(inspect.nodeStartup.median)} + skopeo inspect --config ${ms(inspect.skopeo.median)}; ${inspect.oursNoCache ? `ours with --no-cache (no code cache, config fetched) ${ms(inspect.oursNoCache.median)}` : `ours without the code cache ${inspect.oursNoCodeCache ? ms(inspect.oursNoCodeCache.median) : 'not measured'}`})`,
      `${inspect.ratio.toFixed(2)} (min ${inspect.ratioMin.toFixed(2)})`,
      TARGETS.inspect.text,
      verdict(TARGETS.inspect.pass(inspect)),
      conditions(inspect),
    ]);
  }
  const scan = m.scan;
  if (scan) {
    const reference = `${ms(scan.skopeo.median)} / ${ms(scan.skopeo.min)} (skopeo copy to oci:, CPU ${scan.skopeoCpu.median.toFixed(1)} s)`;
    if (scan.unavailable) {
      out.push([
        'b',
        'full scan, cold cache',
        scan.unavailable,
        reference,
        '—',
        TARGETS.scan.text,
        '—',
        conditions(scan),
      ]);
      out.push(['d', 'peak RSS of (b)', scan.unavailable, '—', '—', TARGETS.rss.text, '—', conditions(scan)]);
    } else {
      out.push([
        'b',
        'full scan, cold cache',
        `${ms(scan.ours.median)} / ${ms(scan.ours.min)} (CPU ${scan.oursCpu.median.toFixed(1)} s)`,
        reference,
        `${scan.ratio.toFixed(2)} (min ${scan.ratioMin.toFixed(2)})`,
        TARGETS.scan.text,
        verdict(TARGETS.scan.pass(scan)),
        conditions(scan),
      ]);
      out.push([
        'd',
        'peak RSS of (b)',
        `${mb(scan.oursRss.max)} max, ${mb(scan.oursRss.median)} median (process tree ${mb(scan.oursTreeRss.max)})`,
        `skopeo copy ${mb(scan.skopeoRss.max)}`,
        '—',
        TARGETS.rss.text,
        verdict(TARGETS.rss.pass(scan)),
        conditions(scan),
      ]);
    }
  }
  const warm = m.warm;
  if (warm) {
    if (warm.unavailable)
      out.push(['c', 'full scan, warm cache', warm.unavailable, '—', '—', TARGETS.warm.text, '—', '']);
    else {
      out.push([
        'c',
        'full scan, warm cache',
        `${ms(warm.ours.median)} / ${ms(warm.ours.min)}`,
        `${ms(warm.reference.median)} / ${ms(warm.reference.min)} (our metadata-only inspect)`,
        `${warm.ratio.toFixed(2)} (min ${warm.ratioMin.toFixed(2)})`,
        TARGETS.warm.text,
        verdict(TARGETS.warm.pass(warm)),
        conditions(warm),
      ]);
    }
  }
  return out.sort((x, y) => x[0].localeCompare(y[0]));
}

function table(header, body) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...body.map(line)].join('\n');
}

function renderSize(size, entry) {
  const machine = entry.machine;
  const image = entry.image;
  const parts = [
    `## ${size}: \`${image.reference}\``,
    '',
    `${image.layers} layers, ${(image.compressedBytes / MB).toFixed(0)} MB compressed (${(image.tarBytes / MB).toFixed(0)} MB of tar), ${image.files} files; manifest \`${image.manifestDigest.slice(0, 19)}…\`.`,
    `Measured ${entry.updated.slice(0, 16).replace('T', ' ')} UTC at commit \`${machine.commit}\`${machine.uncommittedSrcFiles ? ` (+${machine.uncommittedSrcFiles} uncommitted files under src/)` : ''}; ` +
      `${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, skopeo ${machine.skopeo}, igzip: ${machine.igzip}, Linux ${machine.kernel}.` +
      (machine.removedFromEnv?.length
        ? ` Removed from the measured commands' environment: ${machine.removedFromEnv.map((name) => `\`${name}\``).join(', ')} (bench/README.md).`
        : ''),
    '',
    table(
      [
        '',
        'measurement',
        'ours median / min',
        'reference median / min',
        'ratio (medians)',
        'target',
        'result',
        'when (UTC), commit; load; idle before reps',
      ],
      rows(entry),
    ),
  ];
  const bytes = entry.measurements.bytes;
  if (bytes && !bytes.error) {
    parts.push(
      '',
      `Bytes fetched by the metadata-only inspection, counted by the fault proxy (response bodies): ${
        bytes.constant
          ? '**the manifest and the config only, no layer: O(1) in the image size** (they grow with the number of layers, not with their bytes)'
          : '**more than the manifest and the config: not O(1)**'
      }.`,
      '',
      table(
        [
          'image',
          'compressed size',
          'manifest + config',
          'ours: bytes (manifests + blobs), requests',
          'beyond manifest + config',
          'layer requests',
          'skopeo inspect --config: bytes, requests',
        ],
        Object.entries(bytes.images).map(([name, e]) => [
          name,
          `${(e.compressedBytes / MB).toFixed(0)} MB, ${e.layers} layers`,
          `${e.manifestBytes} + ${e.configBytes} = ${e.manifestBytes + e.configBytes}`,
          `${e.ours.total} (${e.ours.manifests} + ${e.ours.blobs}), ${e.ours.requests}`,
          `${e.ours.total - e.manifestBytes - e.configBytes}`,
          `${e.ours.layerRequests}`,
          `${e.skopeo.total}, ${e.skopeo.requests}`,
        ]),
      ),
    );
  }
  const warm = entry.measurements.warm;
  if (warm && !warm.unavailable && !warm.error) {
    parts.push(
      '',
      `Warm scan: the cache held ${warm.cache.ivoc.files} files, ${(warm.cache.ivoc.bytes / MB).toFixed(1)} MB in IVOC_CACHE_DIR (${warm.cache.xdg.files} under XDG_CACHE_HOME); a warm scan fetched ${warm.warmBytes.total} bytes in ${warm.warmBytes.requests} requests (${warm.warmBytes.blobs} from /blobs/).`,
    );
  }
  const scan = entry.measurements.scan;
  if (scan && !scan.unavailable && !scan.error && scan.cacheAfterColdScan.ivoc.files === 0) {
    parts.push(
      '',
      `**Warning**: the cold scan wrote nothing to IVOC_CACHE_DIR (${scan.cacheAfterColdScan.xdg.files} files under XDG_CACHE_HOME).`,
    );
  }
  const timed = Object.values(entry.measurements).filter((r) => typeof r?.loadBefore === 'number');
  const loads = timed.map((r) => r.loadBefore);
  const gated = timed.filter((r) => r.idleBeforeReps?.length);
  if (loads.some((l) => l > 0.5)) {
    const gate =
      gated.length === timed.length
        ? (() => {
            const seen = gated.flatMap((r) => r.idleBeforeReps);
            const threshold = Math.min(...gated.map((r) => r.waitQuiet ?? 90));
            const quiet = seen.filter((idle) => idle >= threshold).length;
            return ` With \`--wait-quiet\`, ${quiet} of ${seen.length} repetitions started once the machine had been at least ${threshold} % idle for 2 s${quiet < seen.length ? `; the others after 2 minutes of waiting (down to ${Math.min(...seen)} % idle)` : ''}: the load averages mostly reflect bursts between repetitions, though a burst can still land inside a long one (the spread of the scan times shows it).`;
          })()
        : ' Use `--wait-quiet` to start each repetition on an idle machine.';
    parts.push(
      '',
      `*Shared machine*: ${machine.cpus} cores shared with other agents' builds and tests; the 1-minute load average before the measurements was ${loads.join(', ')}. Ours and the reference alternate, so both see the same conditions.${gate}`,
    );
  }
  return parts.join('\n');
}

function renderResults(results) {
  const sections = SIZES.filter((size) => results.sizes?.[size]).map((size) =>
    renderSize(size, results.sizes[size]),
  );
  return [
    '<!-- bench:begin — generated by `npm run bench` from bench/results.json; edit outside these markers -->',
    '',
    'Times are whole-process wall times (spawn to exit, `process.hrtime`), median / min of the',
    'repetitions, ours and the reference alternating in the same run. Ratio = ours / reference',
    '(medians). Peak RSS from `/usr/bin/time -f %M` (largest single process) and, for the process',
    'tree (node + any inflater it spawns), the sum of VmRSS sampled every 50 ms. MB = 10^6 bytes.',
    '',
    sections.join('\n\n'),
    '',
    '<!-- bench:end -->',
  ].join('\n');
}

async function writeResults(results) {
  await writeFile(RESULTS_JSON, `${JSON.stringify(results, null, 2)}\n`);
  // As Biome formats JSON (short arrays on one line), so `biome check bench` stays clean.
  spawnSync(join(ROOT, 'node_modules', '.bin', 'biome'), ['format', '--write', RESULTS_JSON], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  const generated = renderResults(results);
  let text = await readFile(RESULTS_MD, 'utf8').catch(() => '');
  const begin = text.indexOf('<!-- bench:begin');
  const endMarker = '<!-- bench:end -->';
  const end = text.indexOf(endMarker);
  if (begin >= 0 && end > begin) text = text.slice(0, begin) + generated + text.slice(end + endMarker.length);
  else
    text = `# Bench results\n\nIssue 2, item 7: our command vs the reference, measured in the same run (see bench/README.md).\n\n${generated}\n`;
  await writeFile(RESULTS_MD, text);
}

function printTable(size, entry) {
  const body = rows(entry).map((r) => r.slice(0, 7));
  process.stdout.write(`\n${size} (${entry.image.reference})\n`);
  const widths = body[0]?.map((_, i) => Math.max(...body.map((r) => String(r[i]).length))) ?? [];
  for (const r of body)
    process.stdout.write(`  ${r.map((c, i) => String(c).padEnd(widths[i])).join('  ')}\n`);
  const bytes = entry.measurements.bytes;
  if (bytes && !bytes.error) {
    for (const [name, e] of Object.entries(bytes.images))
      process.stdout.write(
        `  bytes fetched by inspect, ${name}: ours ${e.ours.total} (${e.ours.requests} requests), skopeo ${e.skopeo.total}\n`,
      );
    process.stdout.write(
      `  metadata only (manifest + config, no layer) for every image: ${bytes.constant}\n`,
    );
  }
}

// ---------------------------------------------------------------- main

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.render) {
    // RESULTS.md again from results.json, measuring nothing (after a change of the layout).
    await writeResults(JSON.parse(await readFile(RESULTS_JSON, 'utf8')));
    log(`wrote ${RESULTS_MD}`);
    return;
  }
  ensurePrograms();
  if (options.build) {
    log('npm run build');
    const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  await mkdir(WORK_DIR, { recursive: true });
  const cleanups = [];
  let env;
  const stopAll = async () => {
    for (const child of running) child.kill('SIGTERM');
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await env?.stop();
  };
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      stopAll().finally(() => process.exit(130));
    });
  }
  try {
    env = await startBenchEnv();
    const registry = env.testEnv.registries.anonymous.host;
    const images = await importTs('bench/images.ts');
    const wanted = [...new Set(['small', options.size])];
    const built = [];
    for (const size of wanted) built.push(await images.ensureBenchImage(size, registry));
    const image = built.find((b) => b.size === options.size);
    const ctx = {
      registry,
      image,
      images: built,
      reps: options.reps,
      waitQuiet: options.waitQuiet,
      scan: await scanSupported(),
      cleanups,
    };
    if (!ctx.scan)
      log('ivoc inspect --scan is not there yet: measuring the references only for (b), skipping (c)');
    const results = JSON.parse(await readFile(RESULTS_JSON, 'utf8').catch(() => '{"sizes":{}}'));
    results.sizes ??= {};
    const entry = results.sizes[options.size] ?? { measurements: {} };
    entry.machine = machine();
    entry.image = {
      reference: image.reference,
      manifestDigest: image.manifestDigest,
      layers: image.layers,
      compressedBytes: image.compressedBytes,
      tarBytes: image.tarBytes,
      files: image.files,
    };
    const measure = { inspect: measureInspect, bytes: measureBytes, scan: measureScan, warm: measureWarm };
    const selected = MEASUREMENTS.filter((n) => options.only.includes(n));
    for (const name of selected) {
      log(`${name} (${options.size}), load ${loadNow()}`);
      const builtBefore = distBuilt();
      try {
        entry.measurements[name] = await measure[name](ctx);
        // Which build was measured: others' `npm test` in this checkout rebuilds dist/ too.
        const builtAfter = distBuilt();
        Object.assign(entry.measurements[name], {
          commit: commitLabel(),
          built:
            builtBefore === builtAfter ? builtBefore : `${builtBefore} and ${builtAfter} (rebuilt meanwhile)`,
        });
      } catch (error) {
        // A failing command is a result too (recorded, shown), not the end of the run.
        log(`${name} failed: ${error.message}`);
        entry.measurements[name] = { date: new Date().toISOString(), error: error.message.slice(0, 2000) };
      }
    }
    entry.updated = new Date().toISOString();
    results.sizes[options.size] = entry;
    if (selected.length > 0) {
      printTable(options.size, entry);
      if (options.write) {
        await writeResults(results);
        log(`wrote ${RESULTS_MD} and ${RESULTS_JSON}`);
      }
    }
    if (options.only.includes('profile')) await measureProfile(ctx);
  } finally {
    await stopAll();
  }
}

main().catch((error) => {
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
  process.exit(1);
});
