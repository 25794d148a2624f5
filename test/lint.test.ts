import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  buildLayer,
  busyboxLayer,
  file,
  type Image,
  type ImageSpec,
  type Layer,
  pushImage,
  writeOciArchive,
} from '../fixtures/index.js';
import { report as validateReport } from '../src/generated/report-validator.js';
import { startFaultProxy } from './env/fault-proxy.js';
import { runIvoc } from './support/cli.js';
import { compliantLabels, compliantWebImage } from './support/web-image.js';

const env = inject('testEnv');
const run = Math.random().toString(36).slice(2, 8);
let scratch: string;
let base: Layer;

const goodLabels = compliantLabels('lint-me', '1.2.3');

/** A compliant web image on the busybox base: httpd on 8888 as uid 1000. */
function webImage(extraLayers: Layer[] = [], overrides: Partial<ImageSpec> = {}): Image {
  return compliantWebImage([base, ...extraLayers], goodLabels, overrides);
}

beforeAll(async () => {
  scratch = await mkdtemp(join(env.workDir, 'lint-'));
  base = await busyboxLayer();
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function lint(args: string[], extraEnv: Record<string, string> = {}) {
  return runIvoc(['lint', ...args], { IVOC_CACHE_DIR: join(scratch, 'cache'), ...extraEnv });
}

interface JsonReport {
  verdict: string;
  summary: { error: number; warning: number; info: number; skipped: number };
  results: Array<{ rule: string; status: string; level: string; message: string }>;
  image: { reference: string; digest: string };
}

describe('ivoc lint', () => {
  it('prints a readable report for the bundled example and passes it', async () => {
    const result = await runIvoc(['lint', 'oci-archive:examples/hello-notebook.oci.tar']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('oci-archive:examples/hello-notebook.oci.tar');
    expect(result.stdout).toMatch(/PASS/);
    expect(result.code).toBe(0);
  });

  it('reports every rule of the profile exactly once, in JSON that validates against the published schema', async () => {
    const path = join(scratch, 'web.oci.tar');
    await writeOciArchive(path, webImage());
    const result = await lint([`oci-archive:${path}`, '--format', 'json']);
    const report = JSON.parse(result.stdout) as JsonReport;
    const validate = validateReport;
    expect(validate(report) ? [] : validate.errors).toEqual([]);
    const ids = report.results.map((r) => r.rule);
    expect(new Set(ids).size).toBe(ids.length);
    const rules = await runIvoc(['rules', '--format', 'json']);
    expect(ids.sort()).toEqual((JSON.parse(rules.stdout) as Array<{ id: string }>).map((m) => m.id).sort());
    // Run rules are skipped with the reason, never passed.
    for (const r of report.results.filter((x) => x.rule.startsWith('IVC-RUN-'))) {
      expect(r.status).toBe('skip');
      expect(r.message).toContain('--run');
    }
    expect(report.results.filter((r) => r.status === 'fail' && r.level === 'error')).toEqual([]);
    expect(report.verdict).toBe('pass');
    expect(result.code).toBe(0);
  });

  it('fails a root image with exit 1 and says how to fix it', async () => {
    const path = join(scratch, 'root.oci.tar');
    await writeOciArchive(path, webImage([], { user: 'root' }));
    const result = await lint([`oci-archive:${path}`]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('IVC-USER-001');
    expect(result.stdout).toMatch(/fix: /i);
    expect(result.stdout).toMatch(/FAIL/);
  });

  it('honours --fail-on warning and never', async () => {
    const path = join(scratch, 'warn.oci.tar');
    // Only a warning: no keywords/messengers/documentation (IVC-META-006).
    const labels = { ...goodLabels } as Record<string, string>;
    delete labels['net.ivoa.container.keywords'];
    await writeOciArchive(path, webImage([], { labels }));
    expect((await lint([`oci-archive:${path}`])).code).toBe(0);
    expect((await lint([`oci-archive:${path}`, '--fail-on', 'warning'])).code).toBe(1);
    const rootPath = join(scratch, 'root-never.oci.tar');
    await writeOciArchive(rootPath, webImage([], { user: '0' }));
    expect((await lint([`oci-archive:${rootPath}`, '--fail-on', 'never'])).code).toBe(0);
  });

  it('lints several images in one call: {"reports": [...]}, and an unreadable one exits 3 without stopping the rest', async () => {
    const good = join(scratch, 'many-good.oci.tar');
    await writeOciArchive(good, webImage());
    const result = await lint([`oci-archive:${good}`, `oci:${join(scratch, 'absent')}`, '--format', 'json']);
    const set = JSON.parse(result.stdout) as { reports: Array<JsonReport & { error?: { code: string } }> };
    expect(set.reports).toHaveLength(2);
    expect(set.reports[0]!.verdict).toBe('pass');
    expect(set.reports[1]!.error?.code).toBe('ERR_NOT_FOUND');
    expect(result.stderr).toContain('absent');
    expect(result.code).toBe(3);
  });

  it('produces all six formats', async () => {
    const path = join(scratch, 'formats.oci.tar');
    await writeOciArchive(path, webImage([], { user: 'root' }));
    const reference = `oci-archive:${path}`;
    const sarif = JSON.parse((await lint([reference, '--format', 'sarif'])).stdout) as {
      version: string;
      runs: Array<{ results: Array<{ ruleId: string }> }>;
    };
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.runs[0]!.results.map((r) => r.ruleId)).toContain('IVC-USER-001');
    const junit = (await lint([reference, '--format', 'junit'])).stdout;
    expect(junit).toMatch(/^<\?xml/);
    expect(junit).toMatch(/<failure[^>]*>/);
    const github = (await lint([reference, '--format', 'github'])).stdout;
    expect(github).toMatch(/^::error .*IVC-USER-001/m);
    const markdown = (await lint([reference, '--format', 'markdown'])).stdout;
    expect(markdown).toMatch(/\| *error *\|.*IVC-USER-001/);
    const text = (await lint([reference, '--format', 'text', '--output', join(scratch, 'out.txt')])).stdout;
    expect(text).toBe('');
    expect(await readFile(join(scratch, 'out.txt'), 'utf8')).toContain('IVC-USER-001');
    // An output file that cannot be written: exit 3 naming it (not our temporary file).
    const missing = join(scratch, 'no-such-dir', 'out.json');
    const unwritable = await runIvoc(['lint', reference, '--format', 'json', '--output', missing]);
    expect(unwritable.code).toBe(3);
    expect(unwritable.stderr).toBe(`ivoc: cannot write the output file ${missing}: ENOENT\n`);
  });

  it('never prints a secret value, in any format', async () => {
    const secrets = {
      env: 'AKIAIOSFODNN7EXAMPLE',
      label: 'ghp_abcdefghijklmnopqrstuvwxyz0123456789AB',
      key: 'MIIEpAIBAAKCAQEA-not-a-real-key-but-secret-body',
    };
    const layer = await buildLayer([
      file(
        '/home/astro/.ssh/id_rsa',
        `-----BEGIN RSA PRIVATE KEY-----\n${secrets.key}\n-----END RSA PRIVATE KEY-----\n`,
        {
          uid: 1000,
          mode: 0o600,
        },
      ),
    ]);
    const image = webImage([layer], {
      env: { PATH: '/bin:/usr/bin', AWS_ACCESS_KEY_ID: secrets.env },
      labels: { ...goodLabels, 'org.example.deploy-token': secrets.label },
    });
    const path = join(scratch, 'secrets.oci.tar');
    await writeOciArchive(path, image);
    for (const format of ['text', 'json', 'sarif', 'junit', 'github', 'markdown']) {
      const result = await lint([`oci-archive:${path}`, '--format', format, '--verbose']);
      expect(result.code, format).toBe(1);
      const all = result.stdout + result.stderr;
      expect(all, format).toContain('IVC-SEC-001');
      for (const value of Object.values(secrets)) expect(all, `${format} leaks`).not.toContain(value);
      expect(all, format).toMatch(/AWS\\?_ACCESS\\?_KEY\\?_ID|id\\?_rsa/);
    }
  });

  it('a config-only rule set fetches no layer', async () => {
    const image = webImage([await buildLayer([file('/big', { size: 2_000_000 })])]);
    const host = env.registries.anonymous.host;
    await pushImage(image, `${host}/ivoc-test/lint-config-only:${run}`);
    const proxy = await startFaultProxy(host);
    try {
      const result = await lint([
        `docker://${proxy.host}/ivoc-test/lint-config-only:${run}`,
        '--rule',
        'IVC-USER-001,IVC-META-001,IVC-PORT-001',
        '--format',
        'json',
      ]);
      expect(result.code).toBe(0);
      const layerDigests = image.manifest.layers.map((l) => l.digest);
      const fetched = proxy.requests.filter((r) => layerDigests.some((d) => r.path.includes(d)));
      expect(fetched).toEqual([]);
      // Just the manifest and the config.
      expect(proxy.bytesSent()).toBeLessThan(20_000);
    } finally {
      await proxy.close();
    }
  });

  it('fetches a layer shared by several images once per call, and none on a second call', async () => {
    const shared = await buildLayer([file('/shared/data', { size: 1_000_000 })]);
    const host = env.registries.anonymous.host;
    const refs: string[] = [];
    const layerDigests = new Set<string>();
    for (const n of [1, 2, 3]) {
      const own = await buildLayer([file(`/own/${n}`, `image ${n}\n`)]);
      const image = webImage([shared, own]);
      for (const layer of image.manifest.layers) layerDigests.add(layer.digest);
      await pushImage(image, `${host}/ivoc-test/lint-shared-${n}:${run}`);
      refs.push(`ivoc-test/lint-shared-${n}:${run}`);
    }
    const proxy = await startFaultProxy(host);
    const cache = join(scratch, 'shared-cache');
    const layerGets = () =>
      proxy.requests.filter((r) => r.method === 'GET' && [...layerDigests].some((d) => r.path.includes(d)));
    try {
      const viaProxy = refs.map((ref) => `docker://${proxy.host}/${ref}`);
      const first = await lint([...viaProxy, '--format', 'json'], { IVOC_CACHE_DIR: cache });
      expect(first.stderr).toBe('');
      expect(layerGets().filter((r) => r.path.includes(shared.digest))).toHaveLength(1);
      expect(layerGets().filter((r) => r.path.includes(base.digest))).toHaveLength(1);
      // base + shared once, and each image's own layer.
      expect(layerGets()).toHaveLength(5);
      proxy.clearLog();
      await lint([...viaProxy, '--format', 'json'], { IVOC_CACHE_DIR: cache });
      expect(layerGets()).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('takes a user profile file and refuses a bad one with exit 2', async () => {
    const path = join(scratch, 'web2.oci.tar');
    await writeOciArchive(path, webImage([], { user: 'astro' }));
    const good = join(scratch, 'mine.yaml');
    await writeFile(good, 'extends: ivoa\nrules:\n  IVC-USER-004: "off"\n');
    const withProfile = await lint([`oci-archive:${path}`, '--profile', good, '--format', 'json']);
    const report = JSON.parse(withProfile.stdout) as JsonReport & {
      profile: { name: string; source?: string };
    };
    expect(report.profile.name).toBe('mine');
    expect(report.results.map((r) => r.rule)).not.toContain('IVC-USER-004');
    const bad = join(scratch, 'bad.yaml');
    await writeFile(bad, 'extends: ivoa\nrules:\n  IVC-USER-004: sometimes\n');
    const refused = await lint([`oci-archive:${path}`, '--profile', bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('bad.yaml');
    expect(refused.stderr).toContain('IVC-USER-004');
    const missing = await lint([`oci-archive:${path}`, '--profile', 'nonesuch']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("unknown profile 'nonesuch'");
  });

  it('explains rules and prints profiles', async () => {
    const rule = await runIvoc(['rules', 'IVC-USER-001']);
    expect(rule.code).toBe(0);
    expect(rule.stdout).toMatch(/^IVC-USER-001: /);
    expect(rule.stdout).toContain('standard.md#ivc-user-001');
    const list = await runIvoc(['profiles']);
    expect(list.stdout).toMatch(/^canfar /m);
    const canfar = JSON.parse((await runIvoc(['profiles', 'canfar'])).stdout) as {
      parameters: { startupScript: string };
    };
    expect(canfar.parameters.startupScript).toBe('/skaha/startup.sh');
    expect((await runIvoc(['rules', 'IVC-NOPE-001'])).code).toBe(2);
  });

  it('rejects a bad reference with exit 2 before reading anything', async () => {
    const result = await lint(['oci-archive:examples/hello-notebook.oci.tar', 'Bad/Name']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
  });
});

describe('ivoc lint with a warm cache', () => {
  async function records(cache: string): Promise<string[]> {
    const entries = await readdir(join(cache, 'images'), { recursive: true, withFileTypes: true }).catch(
      () => [],
    );
    return entries
      .filter((e) => e.isFile() && /^rules-.*\.json$/.test(e.name))
      .map((e) => join(e.parentPath, e.name))
      .sort();
  }

  it('reports exactly what a cold lint reports, reading no layer; a corrupt record is a miss; other options are another key', async () => {
    const tools = await buildLayer([
      file('/usr/local/bin/elevate', 'not really a tool\n', { mode: 0o4755 }),
      file('/skaha/startup.sh', '#!/bin/sh\nexec "$@"\n', { mode: 0o755 }),
      file('/home/astro/.netrc', 'machine example.org login astro password hunter2\n', { uid: 1000 }),
    ]);
    const host = env.registries.anonymous.host;
    // Two images on the same layers: a web image, and one with no Entrypoint/Cmd whose start-up
    // under canfar comes from /skaha/startup.sh (IVC-START-001 reads the filesystem only then).
    const images = {
      web: webImage([tools]),
      bare: webImage([tools], { entrypoint: null, cmd: null }),
    };
    for (const [name, image] of Object.entries(images)) {
      await pushImage(image, `${host}/ivoc-test/lint-warm-${name}:${run}`);
    }
    const proxy = await startFaultProxy(host);
    const cache = join(scratch, 'warm-cache');
    const layerDigests = images.web.manifest.layers.map((l) => l.digest);
    const layerRequests = () => proxy.requests.filter((r) => layerDigests.some((d) => r.path.includes(d)));
    const allowList = join(scratch, 'allow-elevate.yaml');
    await writeFile(allowList, 'extends: ivoa\nparameters:\n  setuidAllowList: [elevate]\n');
    const lintWarm = async (name: string, extra: string[], envVars: Record<string, string> = {}) => {
      const result = await lint([`docker://${proxy.host}/ivoc-test/lint-warm-${name}:${run}`, ...extra], {
        IVOC_CACHE_DIR: cache,
        ...envVars,
      });
      expect(result.stderr).toBe('');
      expect([0, 1]).toContain(result.code);
      return result.stdout;
    };
    try {
      const cases: Array<[string, string[]]> = [
        ['web', ['--format', 'json']],
        ['web', ['--format', 'sarif']],
        ['web', ['--format', 'json', '--profile', allowList]],
        ['bare', ['--format', 'json', '--profile', 'canfar']],
        ['bare', ['--format', 'text', '--profile', 'canfar', '--verbose']],
      ];
      const cold: string[] = [];
      for (const [name, extra] of cases) {
        proxy.clearLog();
        cold.push(await lintWarm(name, extra));
        // Read once per image and profile; the facts of each layer then come from their cache.
        expect(layerRequests().length).toBeLessThanOrEqual(layerDigests.length);
      }
      const web = JSON.parse(cold[0]!) as JsonReport;
      const allowed = JSON.parse(cold[2]!) as JsonReport;
      const bare = JSON.parse(cold[3]!) as JsonReport;
      expect(web.results.find((r) => r.rule === 'IVC-USER-003')?.status).toBe('fail');
      expect(allowed.results.find((r) => r.rule === 'IVC-USER-003')?.status).toBe('pass');
      expect(web.results.find((r) => r.rule === 'IVC-SEC-001')?.status).toBe('fail');
      expect(bare.results.find((r) => r.rule === 'IVC-START-001')?.message).toContain('/skaha/startup.sh');
      // One record per profile (and per config: the two images differ in theirs); formats share one.
      expect(await records(cache)).toHaveLength(3);
      const recorded = await Promise.all(
        (await records(cache)).map(
          async (f) =>
            JSON.parse(await readFile(f, 'utf8')).value.rules as Array<{ rule: string; result?: unknown }>,
        ),
      );
      // IVC-START-001 declares config only; without Entrypoint/Cmd under canfar it read the
      // filesystem, so its result is kept. Rules that did not read it are run again on a hit.
      const kept = (rules: (typeof recorded)[number], id: string) =>
        rules.find((r) => r.rule === id)?.result !== undefined;
      expect(recorded.filter((rules) => kept(rules, 'IVC-START-001'))).toHaveLength(1);
      for (const rules of recorded) {
        expect(kept(rules, 'IVC-USER-003')).toBe(true);
        expect(kept(rules, 'IVC-META-001')).toBe(false);
      }

      // Warm, and without any layer facts left: the records alone answer, byte for byte.
      await rm(join(cache, 'facts'), { recursive: true });
      for (const [i, [name, extra]] of cases.entries()) {
        proxy.clearLog();
        expect(await lintWarm(name, extra)).toBe(cold[i]);
        expect(layerRequests()).toEqual([]);
      }

      // A corrupt record is a miss: the layers are read again, the answer is the same, the record replaced.
      const [record] = await records(cache);
      for (const garbage of ['', '{"recordFormat":1,"value":{"rules":[]}}', '{"recordFormat":1']) {
        for (const target of await records(cache)) await writeFile(target, garbage);
        proxy.clearLog();
        for (const [i, [name, extra]] of cases.entries()) expect(await lintWarm(name, extra)).toBe(cold[i]);
        expect(layerRequests().length).toBeGreaterThan(0);
        expect(JSON.parse(await readFile(record!, 'utf8')).value.rules.length).toBeGreaterThan(0);
        await rm(join(cache, 'facts'), { recursive: true });
      }

      // Another level for a filesystem rule: another key, computed afresh.
      const stricter = join(scratch, 'stricter.yaml');
      await writeFile(stricter, 'extends: ivoa\nrules:\n  IVC-USER-003: error\n');
      proxy.clearLog();
      const strict = JSON.parse(
        await lintWarm('web', ['--format', 'json', '--profile', stricter]),
      ) as JsonReport;
      expect(strict.results.find((r) => r.rule === 'IVC-USER-003')).toMatchObject({
        status: 'fail',
        level: 'error',
      });
      expect(layerRequests().length).toBeGreaterThan(0);
      expect(await records(cache)).toHaveLength(4);
      // A subset of the rules is another key too.
      proxy.clearLog();
      await lintWarm('web', ['--format', 'json', '--rule', 'IVC-USER-003']);
      expect(await records(cache)).toHaveLength(5);

      // --no-cache and IVOC_NO_CACHE=1 bypass the records (and the facts).
      for (const [extra, vars] of [
        [['--no-cache'], {}],
        [[], { IVOC_NO_CACHE: '1' }],
      ] as Array<[string[], Record<string, string>]>) {
        proxy.clearLog();
        expect(await lintWarm('web', ['--format', 'json', ...extra], vars)).toBe(cold[0]);
        expect(layerRequests().length).toBe(layerDigests.length);
      }
    } finally {
      await proxy.close();
    }
  });
});
