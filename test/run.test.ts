import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  buildImage,
  buildLayer,
  busyboxLayer,
  dockerClient,
  file,
  type Image,
  type ImageSpec,
  type Layer,
  loadIntoEngine,
  pushImage,
  writeDockerArchive,
  writeOciArchive,
  writeOciLayout,
} from '../fixtures/index.js';
import { startFaultProxy } from './env/fault-proxy.js';
import { runIvoc } from './support/cli.js';

/**
 * `ivoc lint --run` against the real engine: busybox images that pass and fail
 * each run rule, and nothing left behind afterwards (interrupted runs included).
 */

const env = inject('testEnv');
const run = Math.random().toString(36).slice(2, 8);
const docker = dockerClient(env.dockerHost);
let scratch: string;
let base: Layer;
let profilePath: string;
/** For the signal tests: their apps never answer, and no run may end on its own before the signal. */
let patientProfilePath: string;

interface RunResult {
  rule: string;
  status: string;
  message: string;
  evidence?: Record<string, unknown>;
}

const labels = {
  'net.ivoa.container.spec-version': '1.0.0',
  'net.ivoa.container.type': 'web',
  'net.ivoa.container.port': '8888',
  'net.ivoa.container.base-path': 'env:BASE_PATH',
  // A distinct image per test run: its containers are found by ancestor.
  'ivoc.test.run': run,
};

async function script(path: string, body: string): Promise<Layer> {
  return buildLayer([file(path, `#!/bin/sh\n${body}\n`, { mode: 0o755 })]);
}

/** Serves $HOME/www (writable HOME proves the mount), with the prefix created from $BASE_PATH. */
const serveUnderPrefix = `set -e
www="$HOME/www"
mkdir -p "$www$BASE_PATH"
echo '<a href="./x">ok</a>' > "$www$BASE_PATH/index.html"
exec httpd -f -p 8888 -h "$www"`;

async function webImage(
  start: string,
  overrides: Partial<ImageSpec> = {},
  extra: Layer[] = [],
): Promise<Image> {
  return buildImage({
    layers: [base, await script('/app/start', start), ...extra],
    user: '1000:1000',
    ports: [8888],
    env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
    entrypoint: ['/app/start'],
    labels,
    ...overrides,
  });
}

async function archive(name: string, image: Image): Promise<string> {
  const path = join(scratch, `${name}.oci.tar`);
  await writeOciArchive(path, image);
  return `oci-archive:${path}`;
}

async function lintRun(
  reference: string,
  profile = profilePath,
): Promise<{ code: number | null; results: Map<string, RunResult>; stderr: string }> {
  const result = await runIvoc(
    [
      'lint',
      reference,
      '--run',
      '--profile',
      profile,
      '--format',
      'json',
      '--rule',
      'IVC-RUN-001,IVC-RUN-002,IVC-RUN-003,IVC-RUN-004,IVC-RUN-005',
    ],
    { DOCKER_HOST: env.dockerHost },
  );
  if (result.stdout.trim() === '') throw new Error(`no report: ${result.stderr}`);
  const report = JSON.parse(result.stdout) as { results: RunResult[] };
  return {
    code: result.code,
    results: new Map(report.results.map((r) => [r.rule, r])),
    stderr: result.stderr,
  };
}

/** Containers of ours (label ivoc.run) made from IMAGE, running or not. */
async function leftovers(image: Image): Promise<number> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: ['ivoc.run'], ancestor: [image.configDescriptor.digest] },
  });
  return list.length;
}

/** Running containers of ours made from IMAGE (the run's own; the one its IDs are read from never starts). */
async function running(image: Image): Promise<number> {
  const list = await docker.listContainers({
    filters: { label: ['ivoc.run'], ancestor: [image.configDescriptor.digest], status: ['running'] },
  });
  return list.length;
}

/**
 * Watches the engine's events for containers with LABEL (key=value) while a
 * command runs: how many ran at once at most, and which images were started.
 */
interface ContainerEvent {
  action: 'start' | 'die';
  /** When the engine saw it, ms since the epoch. */
  at: number;
}

async function watchContainers(
  label: string,
): Promise<() => Promise<{ most: number; started: string[]; events: ContainerEvent[] }>> {
  const stream = (await docker.getEvents({
    filters: { type: ['container'], event: ['start', 'die'], label: [label] },
  })) as NodeJS.ReadableStream & { destroy: () => void };
  let now = 0;
  let most = 0;
  const started: string[] = [];
  const events: ContainerEvent[] = [];
  let buffered = '';
  stream.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
      const event = JSON.parse(buffered.slice(0, at)) as { Action: string; from?: string; timeNano?: number };
      buffered = buffered.slice(at + 1);
      if (event.Action === 'start' || event.Action === 'die') {
        events.push({ action: event.Action, at: (event.timeNano ?? 0) / 1e6 });
      }
      if (event.Action === 'start') {
        now++;
        most = Math.max(most, now);
        started.push(event.from ?? '');
      } else if (event.Action === 'die') now--;
    }
  });
  return async () => {
    // Events come a moment after the fact: let the last ones arrive.
    await new Promise((r) => setTimeout(r, 500));
    stream.destroy();
    return { most, started, events };
  };
}

/** Text output with what differs from one run to the next (IDs, ports, times) blanked out. */
function normalised(text: string): string {
  return text.replace(/ivoc-[0-9a-f]{12}/g, 'ivoc-ID').replace(/\d+/g, 'N');
}

function statuses(results: Map<string, RunResult>): Record<string, string> {
  return Object.fromEntries([...results].map(([rule, r]) => [rule, r.status]));
}

beforeAll(async () => {
  scratch = await mkdtemp(join(env.workDir, 'run-'));
  base = await busyboxLayer();
  profilePath = join(scratch, 'fast.yaml');
  await writeFile(profilePath, 'extends: ivoa\nparameters:\n  run:\n    startupTimeoutSeconds: 6\n');
  patientProfilePath = join(scratch, 'patient.yaml');
  await writeFile(patientProfilePath, 'extends: ivoa\nparameters:\n  run:\n    startupTimeoutSeconds: 60\n');
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('ivoc lint --run', () => {
  it('an app that serves under the prefix it is given passes every run rule', async () => {
    const image = await webImage(serveUnderPrefix);
    const { code, results } = await lintRun(await archive('good', image));
    expect(statuses(results)).toEqual({
      'IVC-RUN-001': 'pass',
      'IVC-RUN-002': 'pass',
      'IVC-RUN-003': 'pass',
      'IVC-RUN-004': 'pass',
      'IVC-RUN-005': 'pass',
    });
    expect(code).toBe(0);
    const uid = results.get('IVC-RUN-001')!.evidence!.uid as number;
    expect(uid).toBeGreaterThanOrEqual(100000);
    expect(uid).toBeLessThan(200000);
    const probes = results.get('IVC-RUN-003')!.evidence!.probes as Array<{ url: string; status: number }>;
    expect(probes.at(-1)!.status).toBe(200);
    expect(probes[0]!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/session\/ivoc-[0-9a-f]+\/$/);
    expect(await leftovers(image)).toBe(0);
  });

  it('base-path arg: the access path is the first argument; docker-archive and docker-daemon sources', async () => {
    const image = await webImage(serveUnderPrefix.replace('set -e', 'set -e\nBASE_PATH="$1"'), {
      labels: { ...labels, 'net.ivoa.container.base-path': 'arg' },
      cmd: ['/'],
    });
    const path = join(scratch, 'arg.docker.tar');
    await writeDockerArchive(path, image, { repoTags: [`ivoc-test/run-arg:${run}`] });
    const fromArchive = await lintRun(`docker-archive:${path}`);
    expect(fromArchive.results.get('IVC-RUN-003')!.status).toBe('pass');
    await loadIntoEngine(path, env.dockerHost);
    const fromEngine = await lintRun(`docker-daemon:ivoc-test/run-arg:${run}`);
    expect(statuses(fromEngine.results)).toMatchObject({ 'IVC-RUN-001': 'pass', 'IVC-RUN-003': 'pass' });
    // The run reads a docker-daemon: image from the engine's inspect: a missing one is still exit 3.
    const missing = await runIvoc(
      ['lint', `docker-daemon:ivoc-test/no-such:${run}`, '--run', '--format', 'json'],
      {
        DOCKER_HOST: env.dockerHost,
      },
    );
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('no such image in the Docker engine');
    expect((JSON.parse(missing.stdout) as { error: { code: string } }).error.code).toBe('ERR_NOT_FOUND');
    expect(await leftovers(image)).toBe(0);
  });

  it('docker:// registry source is streamed into the engine', async () => {
    const image = await webImage(serveUnderPrefix, {
      labels: { ...labels, 'ivoc.test.variant': 'registry' },
    });
    const host = env.registries.anonymous.host;
    await pushImage(image, `${host}/ivoc-test/run:${run}`);
    const { results } = await lintRun(`docker://${host}/ivoc-test/run@${image.descriptor.digest}`);
    expect(results.get('IVC-RUN-003')!.status).toBe('pass');
    expect(await leftovers(image)).toBe(0);
  });

  it('Basic auth: IVC-RUN-004 fails with the challenge', async () => {
    const image = await webImage(
      serveUnderPrefix.replace(
        'exec httpd -f -p 8888 -h "$www"',
        'echo "/:user:pass" > "$HOME/httpd.conf"\nexec httpd -f -p 8888 -h "$www" -c "$HOME/httpd.conf" -r ivoc',
      ),
    );
    const { code, results } = await lintRun(await archive('auth', image));
    expect(results.get('IVC-RUN-004')!.status).toBe('fail');
    expect(results.get('IVC-RUN-004')!.message).toContain('401');
    expect(results.get('IVC-RUN-002')!.status).toBe('pass');
    expect(code).toBe(1);
    expect(await leftovers(image)).toBe(0);
  });

  it('a redirect to /login: IVC-RUN-004 and IVC-RUN-003 fail', async () => {
    const redirect = await script(
      '/app/redirect',
      `read -r line\nprintf 'HTTP/1.0 302 Found\\r\\nLocation: /login?next=%%2F\\r\\nContent-Length: 0\\r\\n\\r\\n'`,
    );
    const image = await webImage('exec nc -ll -p 8888 -e /app/redirect', {}, [redirect]);
    const { results } = await lintRun(await archive('login', image));
    expect(results.get('IVC-RUN-004')!.status).toBe('fail');
    expect(results.get('IVC-RUN-004')!.message).toContain('/login');
    expect(results.get('IVC-RUN-003')!.status).toBe('fail');
    expect(results.get('IVC-RUN-003')!.message).toContain('outside the access path');
    expect(await leftovers(image)).toBe(0);
  });

  it('only starts as root: IVC-RUN-001 fails with the last log line', async () => {
    const image = await webImage(
      `if [ "$(id -u)" != 0 ]; then echo "must run as root, not $(id -u)" >&2; exit 1; fi\n${serveUnderPrefix}`,
    );
    const { results } = await lintRun(await archive('root', image));
    const r1 = results.get('IVC-RUN-001')!;
    expect(r1.status).toBe('fail');
    expect(r1.message).toContain('exited with status 1');
    expect(r1.message).toContain('must run as root');
    expect(results.get('IVC-RUN-002')!.status).toBe('fail');
    expect(results.get('IVC-RUN-003')!.status).toBe('skip');
    expect(await leftovers(image)).toBe(0);
  });

  it('listens on the wrong port: IVC-RUN-002 fails at the time-out', async () => {
    const image = await webImage(serveUnderPrefix.replace('-p 8888', '-p 8080'));
    const { results } = await lintRun(await archive('port', image));
    expect(results.get('IVC-RUN-002')!.status).toBe('fail');
    expect(results.get('IVC-RUN-002')!.message).toContain('within 6 s');
    expect(results.get('IVC-RUN-001')!.status).toBe('pass');
    expect(results.get('IVC-RUN-003')!.status).toBe('skip');
    expect(await leftovers(image)).toBe(0);
  });

  it('holds TCP but never answers HTTP: IVC-RUN-002 passes, IVC-RUN-003 fails', async () => {
    const image = await webImage('exec nc -ll -p 8888 -e sleep 60', {
      labels: { ...labels, 'ivoc.test.variant': 'silent' },
    });
    const { results } = await lintRun(await archive('silent', image));
    expect(results.get('IVC-RUN-002')!.status).toBe('pass');
    expect(results.get('IVC-RUN-003')!.status).toBe('fail');
    expect(await leftovers(image)).toBe(0);
  });

  it('ignores the prefix: IVC-RUN-003 fails with 404', async () => {
    const image = await webImage(
      'mkdir -p "$HOME/www" && echo ok > "$HOME/www/index.html" && exec httpd -f -p 8888 -h "$HOME/www"',
    );
    const { results } = await lintRun(await archive('prefix', image));
    expect(results.get('IVC-RUN-003')!.status).toBe('fail');
    expect(results.get('IVC-RUN-003')!.message).toContain('404');
    expect(results.get('IVC-RUN-004')!.status).toBe('pass');
    expect(await leftovers(image)).toBe(0);
  });

  it('exits at once: IVC-RUN-001 fails, with the last log lines redacted', async () => {
    const token = `ghp_${'a1B2c3D4e5'.repeat(4)}`;
    const image = await webImage(
      `echo "API_TOKEN=${token}"\necho "using ${token} now"\necho "nothing to do"; exit 0`,
    );
    const { results } = await lintRun(await archive('exit', image));
    const r1 = results.get('IVC-RUN-001')!;
    expect(r1.status).toBe('fail');
    expect(r1.message).toContain('nothing to do');
    // The last log lines are in the evidence, credentials redacted.
    const logs = r1.evidence!.logs as string[];
    expect(logs).toContain('API_TOKEN=<redacted>');
    expect(JSON.stringify(r1)).not.toContain(token);
    expect(await leftovers(image)).toBe(0);
  });

  it('a hub process inside: IVC-RUN-005 fails', async () => {
    const hub = await script('/usr/local/bin/jupyterhub', 'sleep 600');
    const image = await webImage(
      serveUnderPrefix.replace('exec httpd', '/usr/local/bin/jupyterhub &\nexec httpd'),
      {},
      [hub],
    );
    const { results } = await lintRun(await archive('hub', image));
    expect(results.get('IVC-RUN-005')!.status).toBe('fail');
    expect(results.get('IVC-RUN-005')!.message).toContain('jupyterhub');
    expect(await leftovers(image)).toBe(0);
  });

  it('headless: the smoke command runs through the entrypoint; exit 0 passes, a failure fails', async () => {
    const headless = { ...labels, 'net.ivoa.container.type': 'headless' };
    delete (headless as Record<string, string>)['net.ivoa.container.base-path'];
    const ok = buildImage({ layers: [base], user: '1000:1000', labels: headless, cmd: ['sh'] });
    const passing = await lintRun(await archive('headless-ok', ok));
    expect(passing.results.get('IVC-RUN-001')!.status).toBe('pass');
    expect(passing.results.get('IVC-RUN-002')!.status).toBe('pass');
    const failing = await webImage('echo "cannot open /data/input.fits" >&2; exit 2', {
      labels: { ...headless, 'ivoc.test.variant': 'fails' },
      ports: [],
    });
    const failed = await lintRun(await archive('headless-bad', failing));
    const r1 = failed.results.get('IVC-RUN-001')!;
    expect(r1.status).toBe('fail');
    expect(r1.message).toContain('status 2');
    expect(r1.message).toContain('cannot open /data/input.fits');
    expect(await leftovers(ok)).toBe(0);
    expect(await leftovers(failing)).toBe(0);
  });

  it('without --run the run rules skip; without an engine --run exits 3', async () => {
    const image = await webImage(serveUnderPrefix, {
      labels: { ...labels, 'ivoc.test.variant': 'noengine' },
    });
    const reference = await archive('noengine', image);
    const plain = await runIvoc(['lint', reference, '--format', 'json', '--rule', 'IVC-RUN-001']);
    const report = JSON.parse(plain.stdout) as { results: RunResult[] };
    expect(report.results[0]!.status).toBe('skip');
    expect(report.results[0]!.message).toContain('--run');
    const none = await runIvoc(['lint', reference, '--run'], {
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    });
    expect(none.code).toBe(3);
    expect(none.stderr).toContain('Docker engine');
  });

  it('a layer that fails its digest while it is loaded into the engine: exit 3 naming it, no stack trace', async () => {
    const extra = await buildLayer([file('/app/data', 'some data\n')]);
    const image = await webImage(
      serveUnderPrefix,
      { labels: { ...labels, 'ivoc.test.variant': 'corrupt' } },
      [extra],
    );
    const layout = join(scratch, 'corrupt-layout');
    await writeOciLayout(layout, image, { tag: 'v1' });
    const blob = join(layout, 'blobs', 'sha256', extra.digest.slice('sha256:'.length));
    const bytes = await readFile(blob);
    bytes[bytes.length - 12] = (bytes[bytes.length - 12] ?? 0) ^ 0xff;
    await writeFile(blob, bytes);
    // Run rules only: the layer is first read by the load into the engine.
    const result = await runIvoc(['lint', `oci:${layout}:v1`, '--run', '--rule', 'IVC-RUN-001'], {
      DOCKER_HOST: env.dockerHost,
    });
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stderr).not.toContain("Unhandled 'error'");
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(extra.digest);
    expect(await leftovers(image)).toBe(0);
  });

  it('the engine cutting its answer mid-read of /etc: the IDs are read file by file, the run reported, no container left', async () => {
    // Through a fault proxy in front of the engine's socket (DOCKER_HOST=tcp://...).
    const proxy = await startFaultProxy(env.dockerHost.slice('unix://'.length));
    try {
      proxy.addFault({
        method: 'GET',
        path: /\/containers\/[^/]+\/archive/,
        fault: { kind: 'reset', afterBytes: 400 },
      });
      const image = await webImage(serveUnderPrefix, {
        labels: { ...labels, 'ivoc.test.variant': 'cut-archive' },
      });
      const reference = await archive('cut-archive', image);
      const result = await runIvoc(
        ['lint', reference, '--run', '--rule', 'IVC-RUN-001', '--format', 'json'],
        {
          DOCKER_HOST: `tcp://${proxy.host}`,
        },
      );
      expect(proxy.requests.some((r) => /\/archive/.test(r.path))).toBe(true);
      // Before: the cut never reached the tar reader, the run waited for ever and Node exited 0, silent.
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout) as { results: RunResult[] };
      expect(report.results.map((r) => [r.rule, r.status])).toEqual([['IVC-RUN-001', 'pass']]);
      expect(await leftovers(image)).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('the engine cutting the upload of docker load: exit 3 naming the image and the load, no hang, no container left', async () => {
    const proxy = await startFaultProxy(env.dockerHost.slice('unix://'.length));
    try {
      proxy.addFault({
        method: 'POST',
        path: /\/images\/load/,
        fault: { kind: 'cut-request', afterBytes: 64 * 1024 },
      });
      // Big enough that the load is cut mid-upload, not after it: a 16 MiB layer of incompressible bytes, more than the sockets buffer.
      const extra = await buildLayer([file('/app/noise', { size: 16 * 1024 * 1024, kind: 'random' })]);
      const image = await webImage(
        serveUnderPrefix,
        { labels: { ...labels, 'ivoc.test.variant': 'cut-load' } },
        [extra],
      );
      const reference = await archive('cut-load', image);
      const result = await runIvoc(['lint', reference, '--run', '--rule', 'IVC-RUN-001'], {
        DOCKER_HOST: `tcp://${proxy.host}`,
      });
      const load = proxy.requests.find((r) => /\/images\/load/.test(r.path));
      expect(load?.fault).toBe('cut-request');
      expect(load?.bytesReceived).toBeLessThan(16 * 1024 * 1024);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      expect(result.stderr).not.toContain("Unhandled 'error'");
      expect(result.stderr).not.toContain('stopped before it finished');
      expect(result.code).toBe(3);
      expect(result.stderr).toContain(reference);
      expect(await leftovers(image)).toBe(0);
    } finally {
      await proxy.close();
    }
  });

  it('read-only root filesystem: an app that writes only under HOME still passes', async () => {
    const image = await webImage(serveUnderPrefix, { labels: { ...labels, 'ivoc.test.variant': 'ro' } });
    const roProfile = join(scratch, 'ro.yaml');
    await writeFile(
      roProfile,
      'extends: ivoa\nparameters:\n  run:\n    startupTimeoutSeconds: 6\n    readOnlyRootfs: true\n    memory: 256m\n',
    );
    const { results } = await lintRun(await archive('ro', image), roProfile);
    expect(statuses(results)).toMatchObject({ 'IVC-RUN-001': 'pass', 'IVC-RUN-003': 'pass' });
    const writes = await webImage(`echo x > /app/state || exit 4\n${serveUnderPrefix}`, {
      labels: { ...labels, 'ivoc.test.variant': 'ro-writes' },
    });
    const failed = await lintRun(await archive('ro-writes', writes), roProfile);
    expect(failed.results.get('IVC-RUN-001')!.status).toBe('fail');
    expect(failed.results.get('IVC-RUN-001')!.message).toContain('status 4');
    expect(await leftovers(image)).toBe(0);
    expect(await leftovers(writes)).toBe(0);
  });

  it('a UID or GID the image knows is not used: the run is done again with other IDs', async () => {
    // Every ID of the range but two is in the image's passwd: the first pick almost surely clashes.
    const free = [150_000, 150_001];
    const lines: string[] = ['root:x:0:0::/root:/bin/sh'];
    for (let id = 100_000; id < 200_000; id++) {
      if (!free.includes(id)) lines.push(`u${id}:x:${id}:${id}::/:/bin/sh`);
    }
    const passwd = await buildLayer([file('/etc/passwd', `${lines.join('\n')}\n`)]);
    const image = await webImage(serveUnderPrefix, { labels: { ...labels, 'ivoc.test.variant': 'ids' } }, [
      passwd,
    ]);
    const { results } = await lintRun(await archive('ids', image));
    const r1 = results.get('IVC-RUN-001')!;
    expect(r1.status).toBe('pass');
    expect(free).toContain(r1.evidence!.uid);
    expect(free).toContain(r1.evidence!.gid);
    expect(results.get('IVC-RUN-003')!.status).toBe('pass');
    expect(await leftovers(image)).toBe(0);
  });

  it('several images at once (IVOC_JOBS=2): reports in order as one at a time gives them, at most 2 running', async () => {
    const group = { ...labels, 'ivoc.test.group': `jobs-${run}` };
    // The first is the slowest: the others finish before it.
    const slow = await webImage(`sleep 2\n${serveUnderPrefix}`, {
      labels: { ...group, 'ivoc.test.variant': 'j-slow' },
    });
    const prefix = await webImage(
      'mkdir -p "$HOME/www" && echo ok > "$HOME/www/index.html" && exec httpd -f -p 8888 -h "$HOME/www"',
      { labels: { ...group, 'ivoc.test.variant': 'j-prefix' } },
    );
    const good = await webImage(serveUnderPrefix, { labels: { ...group, 'ivoc.test.variant': 'j-good' } });
    const inputs = [
      await archive('j-slow', slow),
      `oci-archive:${join(scratch, 'no-such.tar')}`,
      await archive('j-prefix', prefix),
      await archive('j-good', good),
    ];
    const lint = (jobs: string, format: string) =>
      runIvoc(
        [
          'lint',
          ...inputs,
          '--run',
          '--profile',
          profilePath,
          '--format',
          format,
          '--rule',
          'IVC-RUN-001,IVC-RUN-003',
        ],
        { DOCKER_HOST: env.dockerHost, IVOC_JOBS: jobs },
      );

    const stop = await watchContainers(`ivoc.test.group=jobs-${run}`);
    const json = await lint('2', 'json');
    const seen = await stop();
    expect(seen.most).toBe(2);
    expect(seen.started).toHaveLength(3);
    const { reports } = JSON.parse(json.stdout) as {
      reports: Array<{ image: { reference: string }; error?: { code: string }; results: RunResult[] }>;
    };
    expect(reports.map((r) => r.image.reference)).toEqual(
      inputs.map((i) => expect.stringContaining(i.split(':')[1]!)),
    );
    expect(reports[1]!.error?.code).toBeDefined();
    expect(reports.map((r) => r.results.map((x) => x.status).join(','))).toEqual([
      'pass,pass',
      '',
      'pass,fail',
      'pass,pass',
    ]);
    expect(json.code).toBe(3);
    for (const image of [slow, prefix, good]) expect(await leftovers(image)).toBe(0);

    // Text, exit code and messages exactly as one image at a time.
    const [parallel, sequential] = [await lint('2', 'text'), await lint('1', 'text')];
    expect(parallel.code).toBe(sequential.code);
    expect(normalised(parallel.stdout)).toBe(normalised(sequential.stdout));
    expect(normalised(parallel.stderr)).toBe(normalised(sequential.stderr));
    expect(parallel.stderr).toContain('no-such.tar');
    for (const image of [slow, prefix, good]) expect(await leftovers(image)).toBe(0);
  }, 180_000);

  it('one image named twice, checked at once, is loaded into the engine once', async () => {
    const image = await webImage(serveUnderPrefix, { labels: { ...labels, 'ivoc.test.variant': 'twice' } });
    const path = join(scratch, 'twice.docker.tar');
    await writeDockerArchive(path, image);
    const events = (await docker.getEvents({
      filters: { type: ['image'], event: ['load'] },
    })) as NodeJS.ReadableStream & { destroy: () => void };
    let loads = 0;
    events.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const event = JSON.parse(line) as { id?: string; Actor?: { ID?: string } };
        if ((event.Actor?.ID ?? event.id) === image.configDescriptor.digest) loads++;
      }
    });
    const result = await runIvoc(
      [
        'lint',
        await archive('twice', image),
        `docker-archive:${path}`,
        '--run',
        '--profile',
        profilePath,
        '--format',
        'json',
        '--rule',
        'IVC-RUN-001,IVC-RUN-003',
      ],
      { DOCKER_HOST: env.dockerHost, IVOC_JOBS: '2' },
    );
    await new Promise((r) => setTimeout(r, 500));
    events.destroy();
    const { reports } = JSON.parse(result.stdout) as { reports: Array<{ results: RunResult[] }> };
    expect(reports.map((r) => r.results.map((x) => x.status).join(','))).toEqual(['pass,pass', 'pass,pass']);
    expect(loads).toBe(1);
    expect(await leftovers(image)).toBe(0);
  });

  it('SIGINT with several images running at once removes every container and starts no more', async () => {
    const group = { ...labels, 'ivoc.test.group': `jobs-int-${run}` };
    const images = await Promise.all(
      ['a', 'b', 'c'].map((v) =>
        webImage(serveUnderPrefix.replace('-p 8888', '-p 8081'), {
          labels: { ...group, 'ivoc.test.variant': `int-${v}` },
        }),
      ),
    );
    const inputs = await Promise.all(images.map((image, i) => archive(`int-${i}`, image)));
    const stop = await watchContainers(`ivoc.test.group=jobs-int-${run}`);
    const bin = fileURLToPath(new URL('../bin/ivoc.cjs', import.meta.url));
    const child = spawn(
      process.execPath,
      [bin, 'lint', ...inputs, '--run', '--profile', patientProfilePath],
      {
        env: { ...process.env, DOCKER_HOST: env.dockerHost, IVOC_JOBS: '2' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const runningNow = async () => (await Promise.all(images.map(running))).reduce((a, b) => a + b, 0);
    for (let i = 0; i < 150 && (await runningNow()) < 2; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await runningNow()).toBe(2);
    const interruptedAt = Date.now();
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const seen = await stop();
    // No start after the interrupt (a moment's grace: a start already asked of the engine).
    expect(seen.events.filter((event) => event.action === 'start' && event.at > interruptedAt + 500)).toEqual(
      [],
    );
    // The two seen running; a third only if one of them had ended before the interrupt
    // (a quick run can end between the check above and the signal, and the pool starts the next).
    const endedBefore = seen.events.filter(
      (event) => event.action === 'die' && event.at <= interruptedAt,
    ).length;
    expect(seen.started).toHaveLength(2 + Math.min(endedBefore, 1));
    for (const image of images) expect(await leftovers(image)).toBe(0);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s mid-run removes the container', async (signal, exitCode) => {
    const image = await webImage(serveUnderPrefix.replace('-p 8888', '-p 8081'), {
      labels: { ...labels, 'ivoc.test.variant': signal },
    });
    const reference = await archive(signal, image);
    const bin = fileURLToPath(new URL('../bin/ivoc.cjs', import.meta.url));
    const child = spawn(
      process.execPath,
      [bin, 'lint', reference, '--run', '--profile', patientProfilePath],
      {
        env: { ...process.env, DOCKER_HOST: env.dockerHost },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Wait until the container runs, then interrupt.
    for (let i = 0; i < 100 && (await running(image)) === 0; i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(await running(image)).toBe(1);
    child.kill(signal);
    expect(await exited).toBe(exitCode);
    expect(await leftovers(image)).toBe(0);
  });
});
