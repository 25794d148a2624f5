/**
 * The built CLI as users run it: what a metadata-only command loads (start-up
 * time is a product target, bench/), and the TLS path of the bundle, which
 * leaves out undici's HTTP/2 client (scripts/build.mjs), against a real
 * distribution registry serving HTTPS with a self-signed certificate.
 */

import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runIvoc } from './support/cli.js';
import { selfSignedCertificate } from './support/tls.js';

const run = promisify(execFile);
const env = inject('testEnv');
const bin = fileURLToPath(new URL('../bin/ivoc.cjs', import.meta.url));
const example = fileURLToPath(new URL('../examples/hello-notebook.oci.tar', import.meta.url));

/** Runs the built CLI and returns the built-in modules it loaded (process.moduleLoadList). */
async function builtinsLoaded(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number | null; modules: string[] }> {
  const dir = await mkdtemp(join(env.workDir, 'bundle-modules-'));
  const out = join(dir, 'modules.json');
  // An ESM hook run before the CLI: at exit, write what was loaded.
  const source = `import { writeFileSync } from 'node:fs'; process.on('exit', () => writeFileSync(${JSON.stringify(
    out,
  )}, JSON.stringify(process.moduleLoadList)));`;
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', `data:text/javascript,${encodeURIComponent(source)}`, bin, ...args],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NO_COLOR: '1', ...extraEnv } },
    );
    child.on('error', reject);
    child.on('close', resolve);
  });
  const list = JSON.parse(await readFile(out, 'utf8')) as string[];
  await rm(dir, { recursive: true, force: true });
  return {
    code,
    modules: list
      .filter((entry) => entry.startsWith('NativeModule ') && !entry.includes('internal/'))
      .map((entry) => entry.slice('NativeModule '.length)),
  };
}

/** Built-in modules a command that reads only an image's metadata has no use for. */
const notForMetadata = [
  'v8',
  'http',
  'http2',
  'tls',
  'crypto',
  'child_process',
  'zlib',
  'worker_threads',
  'fs/promises',
  'assert',
];

describe('the built CLI', () => {
  it('is where package.json and the GitHub Action (action.yml) run it from', async () => {
    const root = join(dirname(bin), '..');
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    const action = await readFile(join(root, 'action.yml'), 'utf8');
    const named = [
      ...Object.values(pkg.bin),
      ...[...action.matchAll(/\bbin\/[\w.-]+/g)].map((match) => match[0]),
    ];
    expect(named.length).toBeGreaterThan(1);
    for (const path of new Set(named)) await expect(stat(join(root, path)), path).resolves.toBeTruthy();
  });

  it('loads no node:http, HTTP/2, TLS, crypto, child_process, zlib or worker thread for a metadata-only inspect; no HTTP/2, TLS, crypto, child_process, zlib or worker thread for a config-only lint', async () => {
    const image = `${env.registries.anonymous.host}/ivoc-test/bundle-modules:1`;
    const pushed = await runIvoc([
      'publish',
      `oci-archive:${example}`,
      `docker://${image}`,
      '--fail-on',
      'never',
      '-q',
    ]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const { code, modules } = await builtinsLoaded(['inspect', `docker://${image}`, '--format', 'json']);
    expect(code).toBe(0);
    expect(modules).toContain('net'); // undici's HTTP/1.1 client did run
    // worker_threads: the hash worker starts only for a blob of 8 MiB or more.
    // http: undici needs node:http only to destroy a body or without maxHeaderSize (scripts/build.mjs).
    // fs/promises: loaded where it is used (credentials files, --output); os is the launcher's,
    // which sizes libuv's pool to the cores before anything can start it (src/cli/launch.ts);
    // assert: undici's invariants load it only when one fails (scripts/build.mjs).
    for (const absent of notForMetadata) expect(modules).not.toContain(absent);

    // A lint whose rules read only the config loads no layer reader and no engine client either.
    const lint = await builtinsLoaded([
      'lint',
      `docker://${image}`,
      '--rule',
      'IVC-META-001,IVC-USER-001,IVC-PORT-001',
      '--format',
      'json',
    ]);
    expect([0, 1]).toContain(lint.code);
    for (const absent of notForMetadata) expect(lint.modules).not.toContain(absent);
  });

  it('a warm lint of every rule (results cache hit) loads no layer reader: no zlib, crypto or child_process', async () => {
    const cache = { IVOC_CACHE_DIR: await mkdtemp(join(env.workDir, 'bundle-warm-cache-')) };
    const input = `oci-archive:${example}`;
    const cold = await builtinsLoaded(['lint', input, '--format', 'json'], cache);
    expect([0, 1]).toContain(cold.code);
    expect(cold.modules).toContain('zlib'); // the cold lint did read the layers
    const warm = await builtinsLoaded(['lint', input, '--format', 'json'], cache);
    expect(warm.code).toBe(cold.code);
    for (const absent of ['zlib', 'crypto', 'child_process', 'worker_threads'])
      expect(warm.modules).not.toContain(absent);
  });
});

describe('the code cache of the built CLI (src/cli/launch.ts)', () => {
  const input = `oci-archive:${example}`;
  const codeFiles = async (cacheDir: string) =>
    (await readdir(join(cacheDir, 'code')).catch(() => [] as string[])).filter((name) =>
      name.endsWith('.v8'),
    );

  it('is made by the first run of a command, used as it is by the next, and changes nothing in the output', async () => {
    const cacheDir = await mkdtemp(join(env.workDir, 'code-cache-'));
    const first = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    expect(first.code, first.stderr).toBe(0);
    const files = await codeFiles(cacheDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{32}-node\d+\.\d+\.\d+-[a-z0-9]+-inspect\.v8$/);
    const path = join(cacheDir, 'code', files[0] as string);
    const made = await stat(path);
    expect(made.size).toBeGreaterThan(10_000);

    const second = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    // Accepted, so not made again: a new cache is written to a new file and renamed over the old one.
    const after = await stat(path);
    expect(after.ino).toBe(made.ino);
    expect(after.mtimeMs).toBe(made.mtimeMs);

    // Another command has its own.
    const lint = await runIvoc(['lint', input, '--rule', 'IVC-USER-001', '--format', 'json'], {
      IVOC_CACHE_DIR: cacheDir,
    });
    expect([0, 1]).toContain(lint.code);
    const both = await codeFiles(cacheDir);
    expect(both.some((name) => name.endsWith('-lint.v8'))).toBe(true);
    // inspect has a bundle of its own: lint's run keeps its cache (same build), as the reverse.
    expect(both).toContain(files[0]);
    expect(both.find((name) => name.endsWith('-lint.v8'))?.slice(0, 32)).not.toBe(files[0]?.slice(0, 32));
  });

  it("another build's caches are pruned when a cache is written; this build's are kept", async () => {
    const cacheDir = await mkdtemp(join(env.workDir, 'code-cache-prune-'));
    await mkdir(join(cacheDir, 'code'), { mode: 0o700 });
    const stale = `${'e'.repeat(32)}-node${process.versions.node}-${process.arch}-inspect.v8`;
    await writeFile(join(cacheDir, 'code', stale), 'old build', { mode: 0o600 });
    const lint = await runIvoc(['lint', input, '--rule', 'IVC-USER-001', '--format', 'json'], {
      IVOC_CACHE_DIR: cacheDir,
    });
    expect([0, 1]).toContain(lint.code);
    const inspect = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    expect(inspect.code, inspect.stderr).toBe(0);
    const files = await codeFiles(cacheDir);
    expect(files).not.toContain(stale);
    expect(files.filter((name) => name.endsWith('-lint.v8') || name.endsWith('-inspect.v8'))).toHaveLength(2);
  });

  /** An inspect run in a fresh cache directory, and the one code cache file it wrote. */
  async function cachedInspect(prefix: string) {
    const cacheDir = await mkdtemp(join(env.workDir, prefix));
    const clean = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    expect(clean.code, clean.stderr).toBe(0);
    const [file] = await codeFiles(cacheDir);
    return { cacheDir, clean, file, path: join(cacheDir, 'code', file as string) };
  }

  it('a corrupt cache is rejected, the command runs as without one, and the cache is made again', async () => {
    const { cacheDir, clean, path } = await cachedInspect('code-cache-corrupt-');
    const size = (await stat(path)).size;
    const garbage = Buffer.alloc(size, 0x5a);
    await writeFile(path, garbage);

    const run2 = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    expect(run2.code, run2.stderr).toBe(0);
    expect(run2.stderr).toBe('');
    expect(run2.stdout).toBe(clean.stdout);
    expect((await readFile(path)).equals(garbage)).toBe(false);
  });

  it('a cache damaged on disk, whose load crashes V8, crashes one start at most: the next deletes it', async () => {
    // A release build of V8 does not checksum a code cache: 64 flipped bytes inside crash its
    // deserializer (a native trap). The marker written around the load tells the next start.
    const { cacheDir, clean, path, file } = await cachedInspect('code-cache-damaged-');
    const bytes = await readFile(path);
    for (let i = 1000; i < 1064; i++) bytes[i] = (bytes[i] ?? 0) ^ 0xff;
    await writeFile(path, bytes);
    await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    const after = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toBe(clean.stdout);
    const third = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    expect(third.code, third.stderr).toBe(0);
    expect(await readdir(join(cacheDir, 'code'))).toEqual([file]);
  });

  it('a run that read layers (GC flags changed, then restored) leaves a cache the next such run uses', async () => {
    const cacheDir = await mkdtemp(join(env.workDir, 'code-cache-layers-'));
    const lint = () => runIvoc(['lint', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    const first = await lint();
    expect([0, 1]).toContain(first.code);
    const [file] = (await codeFiles(cacheDir)).filter((name) => name.endsWith('-lint.v8'));
    const path = join(cacheDir, 'code', file as string);
    const made = await stat(path);
    // Layer facts and results gone: the next lint reads the layers again.
    for (const dir of ['facts', 'images', 'blobs'])
      await rm(join(cacheDir, dir), { recursive: true, force: true });
    const second = await lint();
    expect(second.code).toBe(first.code);
    const after = await stat(path);
    expect(after.ino).toBe(made.ino);
    expect(after.mtimeMs).toBe(made.mtimeMs);
  });

  it('an inspect that reads layers has a cache of its own, apart from a metadata-only one', async () => {
    const cacheDir = await mkdtemp(join(env.workDir, 'code-cache-scan-'));
    const plain = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    expect(plain.code, plain.stderr).toBe(0);
    const scan = await runIvoc(['inspect', input, '--scan', '--format', 'json'], {
      IVOC_CACHE_DIR: cacheDir,
    });
    expect(scan.code, scan.stderr).toBe(0);
    const path = await runIvoc(['inspect', input, '--path=/etc/passwd', '--format', 'json'], {
      IVOC_CACHE_DIR: cacheDir,
    });
    expect(path.code, path.stderr).toBe(0);
    const names = (await codeFiles(cacheDir)).map((name) =>
      name.replace(/^.*-x?[a-z0-9]+-(inspect.*)\.v8$/, '$1'),
    );
    expect(names.sort()).toEqual(['inspect', 'inspect-scan']);
  });

  it('is made by a short run only: a long one (over IVOC_CODE_CACHE_MAX_CPU_MS of CPU) leaves it to the next', async () => {
    const cacheDir = await mkdtemp(join(env.workDir, 'code-cache-long-'));
    // Every run is long with a limit of 0 ms.
    const long = await runIvoc(['inspect', input, '--scan', '--format', 'json'], {
      IVOC_CACHE_DIR: cacheDir,
      IVOC_CODE_CACHE_MAX_CPU_MS: '0',
    });
    expect(long.code, long.stderr).toBe(0);
    expect(await codeFiles(cacheDir)).toEqual([]);
    // The default (3 s) for a value that is not a number of milliseconds: this run is short.
    const short = await runIvoc(['inspect', input, '--scan', '--format', 'json'], {
      IVOC_CACHE_DIR: cacheDir,
      IVOC_CODE_CACHE_MAX_CPU_MS: 'soon',
    });
    expect(short.code, short.stderr).toBe(0);
    expect(short.stdout).toBe(long.stdout);
    const files = await codeFiles(cacheDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/-inspect-scan\.v8$/);
  });

  it('is not made by --help or a failed run, and one others could write is not used but made again', async () => {
    const cacheDir = await mkdtemp(join(env.workDir, 'code-cache-gates-'));
    const help = await runIvoc(['inspect', '--help'], { IVOC_CACHE_DIR: cacheDir });
    expect(help.code).toBe(0);
    const usage = await runIvoc(['inspect'], { IVOC_CACHE_DIR: cacheDir });
    expect(usage.code).toBe(2);
    const missing = await runIvoc(['inspect', 'oci:/nonexistent/layout:1'], { IVOC_CACHE_DIR: cacheDir });
    expect(missing.code).toBe(3);
    expect(await codeFiles(cacheDir)).toEqual([]);

    const good = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    expect(good.code, good.stderr).toBe(0);
    const [file] = await codeFiles(cacheDir);
    const path = join(cacheDir, 'code', file as string);
    expect((await stat(path)).mode & 0o077).toBe(0);
    await chmod(path, 0o666);
    const made = await stat(path);
    const again = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(good.stdout);
    // Not used, so made again: a new file renamed over it, ours alone.
    const after = await stat(path);
    expect(after.ino).not.toBe(made.ino);
    expect(after.mode & 0o077).toBe(0);

    // A FIFO in its place is not waited on (an open for reading would block for a writer).
    await rm(path);
    execFileSync('mkfifo', ['-m', '600', path]);
    const fifo = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: cacheDir });
    expect(fifo.code, fifo.stderr).toBe(0);
    expect(fifo.stdout).toBe(good.stdout);
    expect((await stat(path)).isFile()).toBe(true);
  });

  it('a checkout whose bundle is missing says how to build it: exit 3, no stack trace', async () => {
    const dir = await mkdtemp(join(env.workDir, 'code-cache-unbuilt-'));
    await mkdir(join(dir, 'bin'));
    await mkdir(join(dir, 'dist'));
    await copyFile(bin, join(dir, 'bin', 'ivoc.cjs'));
    await copyFile(join(dirname(bin), '..', 'dist', 'cli.cjs'), join(dir, 'dist', 'cli.cjs'));
    // The package's "type" must not matter: bin and launcher are .cjs.
    await writeFile(join(dir, 'package.json'), '{"type":"module"}');
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [join(dir, 'bin', 'ivoc.cjs'), '--version'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^ivoc: not built \(ENOENT: .*ivoc\.cjs\); run `npm install`/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('inspect runs from its own bundle (dist/ivoc-inspect.cjs), which holds no other command', async () => {
    const dir = await mkdtemp(join(env.workDir, 'inspect-bundle-'));
    await mkdir(join(dir, 'bin'));
    await mkdir(join(dir, 'dist'));
    const dist = join(dirname(bin), '..', 'dist');
    await copyFile(bin, join(dir, 'bin', 'ivoc.cjs'));
    // Without dist/ivoc.cjs: only inspect can run. Without undici's parser (llhttp*.wasm) too:
    // over plain HTTP, a metadata-only inspect makes no request through undici (direct.ts).
    for (const file of ['cli.cjs', 'ivoc-inspect.cjs'])
      await copyFile(join(dist, file), join(dir, 'dist', file));
    const runCopy = (args: string[]) =>
      runIvoc(args, { IVOC_CACHE_DIR: join(dir, 'cache') }, join(dir, 'bin', 'ivoc.cjs'));
    const image = `${env.registries.anonymous.host}/ivoc-test/inspect-bundle:1`;
    const pushed = await runIvoc(['publish', `oci-archive:${example}`, `docker://${image}`]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const inspected = await runCopy(['inspect', `docker://${image}`, '--format', 'json']);
    expect(inspected.code, inspected.stderr).toBe(0);
    const reference = await runIvoc(['inspect', `docker://${image}`, '--format', 'json']);
    expect(inspected.stdout).toBe(reference.stdout);
    const lint = await runCopy(['lint', `oci-archive:${example}`]);
    expect(lint.code).toBe(3);
    expect(lint.stderr).toMatch(/^ivoc: not built \(ENOENT: .*ivoc\.cjs\)/);
    // What went into it, by its source map.
    const { sources } = JSON.parse(await readFile(join(dist, 'ivoc-inspect.cjs.map'), 'utf8')) as {
      sources: string[];
    };
    expect(sources.some((source) => source.endsWith('src/cli/inspect.ts'))).toBe(true);
    for (const elsewhere of ['src/rules/', 'src/publish/', 'src/run/'])
      expect(sources.filter((source) => source.includes(elsewhere))).toEqual([]);
    expect((await stat(join(dist, 'ivoc-inspect.cjs'))).size).toBeLessThan(
      (await stat(join(dist, 'ivoc.cjs'))).size * 0.6,
    );
  });

  it('IVOC_CODE_CACHE=0, IVOC_NO_CACHE=1 and --no-cache write none; a cache directory that cannot be made is no error', async () => {
    const cacheDir = await mkdtemp(join(env.workDir, 'code-cache-off-'));
    const off = await runIvoc(['inspect', input, '--format', 'json'], {
      IVOC_CACHE_DIR: cacheDir,
      IVOC_CODE_CACHE: '0',
    });
    expect(off.code, off.stderr).toBe(0);
    const noCache = await runIvoc(['inspect', input, '--format', 'json'], {
      IVOC_CACHE_DIR: cacheDir,
      IVOC_NO_CACHE: '1',
    });
    expect(noCache.code, noCache.stderr).toBe(0);
    const flag = await runIvoc(['inspect', input, '--format', 'json', '--no-cache'], {
      IVOC_CACHE_DIR: cacheDir,
    });
    expect(flag.code, flag.stderr).toBe(0);
    expect(await codeFiles(cacheDir)).toEqual([]);

    // A regular file where the cache directory should be: nothing can be written under it.
    const blocked = join(cacheDir, 'not-a-directory');
    await writeFile(blocked, 'x');
    const run2 = await runIvoc(['inspect', input, '--format', 'json'], { IVOC_CACHE_DIR: blocked });
    expect(run2.code, run2.stderr).toBe(0);
    expect(run2.stderr).toBe('');
    expect(JSON.parse(run2.stdout).digest).toBe(JSON.parse(off.stdout).digest);
  });
});

describe('the built CLI against a registry serving HTTPS (self-signed, loopback)', () => {
  let dir: string;
  let host: string;
  let registry: ReturnType<typeof spawn> | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(env.workDir, 'bundle-tls-registry-'));
    const { keyPath: key, certPath: cert } = await selfSignedCertificate(dir, {
      commonName: '127.0.0.1',
      altName: 'IP:127.0.0.1',
    });
    await mkdir(join(dir, 'data'));
    const config = join(dir, 'config.yml');
    // A free port, as the kernel gave it to us a moment ago: another process may take it
    // before the registry binds it, and the registry then exits. Another port is tried.
    for (let attempt = 1; ; attempt++) {
      host = `127.0.0.1:${await freePort()}`;
      await writeFile(
        config,
        [
          'version: 0.1',
          'log:',
          '  level: error',
          'storage:',
          '  filesystem:',
          `    rootdirectory: ${join(dir, 'data')}`,
          'http:',
          `  addr: ${host}`,
          '  tls:',
          `    certificate: ${cert}`,
          `    key: ${key}`,
          '',
        ].join('\n'),
      );
      const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
      if (await waitForTls(host, child)) {
        registry = child;
        break;
      }
      if (attempt === 5) throw new Error(`the TLS registry did not start (last on ${host})`);
    }
  });

  afterAll(async () => {
    registry?.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes to it and inspects from it over TLS; skopeo sees the same image', async () => {
    const image = `${host}/ivoc-test/bundle-tls:1`;
    const pushed = await runIvoc([
      'publish',
      `oci-archive:${example}`,
      `docker://${image}`,
      '--fail-on',
      'never',
    ]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const digest = pushed.stdout.trim().split('\n').at(-1);
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const inspected = await runIvoc(['inspect', `docker://${image}`, '--format', 'json']);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(JSON.parse(inspected.stdout).digest).toBe(digest);

    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${image}`]);
    expect(JSON.parse(stdout).Digest).toBe(digest);
  });

  it("inspects over TLS without undici; a publish reads undici's parser from dist/, and says so clearly when it is missing", async () => {
    const image = `${host}/ivoc-test/bundle-tls-parser:1`;
    const copy = await mkdtemp(join(env.workDir, 'tls-no-parser-'));
    await mkdir(join(copy, 'bin'));
    await mkdir(join(copy, 'dist'));
    await copyFile(bin, join(copy, 'bin', 'ivoc.cjs'));
    const dist = join(dirname(bin), '..', 'dist');
    for (const file of ['cli.cjs', 'ivoc-inspect.cjs', 'ivoc.cjs'])
      await copyFile(join(dist, file), join(copy, 'dist', file));
    const runCopy = (args: string[]) =>
      runIvoc(args, { IVOC_CACHE_DIR: join(copy, 'cache') }, join(copy, 'bin', 'ivoc.cjs'));
    // A publish uploads through undici: without its parser beside it, a clear word, not a bare ENOENT.
    const publish = ['publish', `oci-archive:${example}`, `docker://${image}`, '--fail-on', 'never'];
    const unparsed = await runCopy(publish);
    expect(unparsed.code).toBe(3);
    expect(unparsed.stderr).toMatch(
      /ivoc is not built in full \(ENOENT: .*llhttp.*\.wasm\); run `npm install`/,
    );
    // With it, from the copy's own dist/ (scripts/build.mjs).
    for (const file of ['llhttp.wasm', 'llhttp_simd.wasm'])
      await copyFile(join(dist, file), join(copy, 'dist', file));
    const pushed = await runCopy(publish);
    expect(pushed.code, pushed.stderr).toBe(0);
    // GETs over TLS are read by direct.ts: an inspect needs no parser.
    for (const file of ['llhttp.wasm', 'llhttp_simd.wasm']) await rm(join(copy, 'dist', file));
    const inspected = await runCopy(['inspect', `docker://${image}`, '--format', 'json']);
    expect(inspected.code, inspected.stderr).toBe(0);
    expect(JSON.parse(inspected.stdout).digest).toBe(pushed.stdout.trim().split('\n').at(-1));
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Until the registry answers on its TLS port (it takes a moment to start):
 * true then, false if it exited first (its port was taken).
 */
async function waitForTls(host: string, registry: ReturnType<typeof spawn>): Promise<boolean> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (registry.exitCode !== null || registry.signalCode !== null) return false;
    const status = await new Promise<number | undefined>((resolve) => {
      const request = httpsGet(
        `https://${host}/v2/`,
        { rejectUnauthorized: false, timeout: 2000 },
        (response) => {
          response.resume();
          resolve(response.statusCode);
        },
      );
      request.on('error', () => resolve(undefined));
      request.on('timeout', () => request.destroy());
    });
    if (status === 200) return true;
    if (Date.now() > deadline) {
      registry.kill('SIGTERM');
      throw new Error(`the TLS registry on ${host} did not start`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
