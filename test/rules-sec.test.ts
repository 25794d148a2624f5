/**
 * IVC-SEC-001 over hand-built evidence: credentials in Env, labels,
 * manifest annotations and files; packaged files at info; and no secret
 * value anywhere in a result.
 */
import { describe, expect, it } from 'vitest';
import type { ImageConfigBody } from '../src/oci/descriptor.js';
import { FileSystemView } from '../src/oci/layer/filesystem.js';
import sec001 from '../src/rules/ivc-sec-001.js';
import { credentialReason, isPlaceholder } from '../src/rules/util/secrets-scan.js';
import type { TestEntry } from './layer-helpers.js';
import {
  check,
  type EntrySpec,
  evidenceFor,
  type LayerSpec,
  layerFacts,
  scannedEvidence,
} from './support/rule-evidence.js';

// Built at run time so that no scanner mistakes this file for a leak.
const githubToken = `ghp_${'A1b2C3d4E5'.repeat(4)}`;
const awsKeyId = `AKIA${'QWERTYUIOPASDFGH'}`;
const password = 'Sup3r-s3cret-pa55';
const keyBody = `-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA${'x9'.repeat(30)}\n-----END RSA PRIVATE KEY-----\n`;
const keyMaterial = `MIIEpAIBAAKCAQEA${'x9'.repeat(30)}`;
const values = [githubToken, awsKeyId, password, keyMaterial];

const privateKey = (path: string): EntrySpec => ({
  path,
  mode: 0o600,
  body: keyBody,
  probes: { 'private-key': 'RSA PRIVATE KEY' },
});

function image(config: ImageConfigBody = {}, entries: EntrySpec[] = [], more: LayerSpec[] = []) {
  return evidenceFor({
    config,
    layers: [{ entries: [{ path: '/bin/sh', mode: 0o755 }, ...entries] }, ...more],
  });
}

function expectNoValues(result: unknown): void {
  const text = JSON.stringify(result);
  for (const value of values) expect(text).not.toContain(value);
}

describe('metadata', () => {
  it('is an error rule on config and fs that declares its probe and captures', () => {
    expect(sec001.meta.level).toBe('error');
    expect(sec001.meta.evidence).toEqual(['config', 'fs']);
    expect(sec001.meta.specAnchor).toBe('ivc-sec-001');
    expect(sec001.meta.capture?.probes).toEqual(['private-key']);
    expect(sec001.meta.capture?.globs).toEqual(
      expect.arrayContaining([
        '/root/.*',
        '/home/*/.*',
        '/home/*/.docker/config.json',
        '/var/lib/dpkg/info/*.list',
        '/usr/local/lib/*/*-packages/*.dist-info/RECORD',
        '/opt/*/conda-meta/*.json',
      ]),
    );
    // No leading '**': the scan tests every tar entry against every glob.
    expect(sec001.meta.capture?.globs?.some((glob) => glob.startsWith('/**'))).toBe(false);
    expect(sec001.meta.capture?.paths).toContain('/lib/apk/db/installed');
  });

  it('skips without the filesystem', () => {
    expect(check(sec001, evidenceFor({ config: { Env: [`GITHUB_TOKEN=${githubToken}`] } })).status).toBe(
      'skip',
    );
  });
});

describe('heuristics', () => {
  it.each([
    '',
    'false',
    'true',
    '0',
    'changeme',
    '<your token>',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell-style reference, the value under test
    '${API_TOKEN}',
    '/run/secrets/token',
    'https://auth.example.org/',
  ])('a placeholder or harmless value is no credential: %j', (value) => {
    expect(credentialReason('API_TOKEN', value)).toBeUndefined();
  });

  it('knows a credential by its name or by its value', () => {
    expect(credentialReason('DB_PASSWORD', password)).toContain('its name');
    expect(credentialReason('SOME_SETTING', githubToken)).toContain('a GitHub token');
    expect(credentialReason('PIP_INDEX_URL', `https://user:${password}@pypi.example.org/simple`)).toContain(
      'a URL with a password',
    );
    expect(isPlaceholder(password)).toBe(false);
  });
});

describe('IVC-SEC-001 config', () => {
  it('passes a clean image, and credential names with empty or placeholder values', () => {
    const result = check(
      sec001,
      image({
        Env: [
          'PATH=/usr/bin:/bin',
          'API_TOKEN=',
          'PASSWORD_REQUIRED=false',
          'GIT_ASKPASS=/usr/bin/askpass',
          'GPG_KEY=A035C8C19219BA821ECEA86B64E628F8D684696D',
        ],
        Labels: { 'org.opencontainers.image.authors': 'Astro <a@example.org>' },
      }),
    );
    expect(result.status).toBe('pass');
  });

  it('fails credentials in Env with Env.NAME keys, never the value', () => {
    const result = check(
      sec001,
      image({
        Env: [
          `GITHUB_TOKEN=${githubToken}`,
          `AWS_ACCESS_KEY_ID=${awsKeyId}`,
          `DB_PASSWORD=${password}`,
          'HOME=/home/astro',
        ],
      }),
    );
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.findings?.map((finding) => finding.key)).toEqual([
      'Env.GITHUB_TOKEN',
      'Env.AWS_ACCESS_KEY_ID',
      'Env.DB_PASSWORD',
    ]);
    expect(result.findings?.[0]?.message).toContain('a GitHub token');
    expectNoValues(result);
  });

  it('fails credentials in labels and in manifest annotations', () => {
    const evidence = evidenceFor({
      config: { Labels: { 'deploy.password': password } },
      annotations: { 'com.example.ci-token': githubToken, 'org.opencontainers.image.title': 'x' },
      layers: [{ entries: [] }],
    });
    const result = check(sec001, evidence);
    expect(result.status).toBe('fail');
    expect(result.findings?.map((finding) => finding.key)).toEqual([
      'Labels.deploy.password',
      'Annotations.com.example.ci-token',
    ]);
    expectNoValues(result);
  });
});

describe('IVC-SEC-001 files', () => {
  it('fails a private key block (probe), with its path and layer', () => {
    const result = check(sec001, image({}, [], [{ entries: [privateKey('/opt/app/server.key')] }]));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.findings?.[0]).toMatchObject({
      path: '/opt/app/server.key',
      layer: { index: 1, digest: `sha256:${'2'.padStart(64, '0')}` },
    });
    expect(result.findings?.[0]?.message).toContain("a PEM 'RSA PRIVATE KEY' block");
    expectNoValues(result);
  });

  it('fails .ssh/id_* private keys but not their .pub halves', () => {
    const result = check(
      sec001,
      image({}, [
        { path: '/home/astro/.ssh/id_ed25519', mode: 0o600, body: 'opaque key bytes' },
        { path: '/home/astro/.ssh/id_ed25519.pub', body: 'ssh-ed25519 AAAA astro@host' },
      ]),
    );
    expect(result.status).toBe('fail');
    expect(result.findings?.map((finding) => finding.path)).toEqual(['/home/astro/.ssh/id_ed25519']);
  });

  it('fails .netrc, .git-credentials and a Docker config with auths', () => {
    const result = check(
      sec001,
      image({}, [
        { path: '/root/.netrc', body: `machine example.org login astro password ${password}\n` },
        { path: '/root/.git-credentials', body: `https://astro:${password}@github.com\n` },
        {
          path: '/home/astro/.docker/config.json',
          body: JSON.stringify({
            auths: { 'registry.example.org': { auth: Buffer.from(`astro:${password}`).toString('base64') } },
          }),
        },
      ]),
    );
    expect(result.status).toBe('fail');
    expect(result.findings?.map((finding) => finding.path)).toEqual([
      '/home/astro/.docker/config.json',
      '/root/.git-credentials',
      '/root/.netrc',
    ]);
    expectNoValues(result);
    expect(JSON.stringify(result)).not.toContain(Buffer.from(`astro:${password}`).toString('base64'));
  });

  it('passes credential files that hold no credential', () => {
    const result = check(
      sec001,
      image({}, [
        {
          path: '/home/astro/.docker/config.json',
          body: '{"auths": {}, "credHelpers": {"gcr.io": "gcloud"}}',
        },
        { path: '/home/astro/.netrc', body: 'machine example.org login anonymous\n' },
        { path: '/home/astro/.npmrc', body: 'registry=https://registry.npmjs.org/\n' },
        { path: '/root/.git-credentials' },
      ]),
    );
    expect(result.status).toBe('pass');
  });

  it('reports credential files outside the captured homes by name: error or warning by kind', () => {
    const facts = layerFacts(
      {
        entries: [
          { path: '/srv/app/.netrc', body: `machine x login y password ${password}\n` },
          { path: '/srv/app/.npmrc', body: 'registry=https://registry.npmjs.org/\n' },
        ],
      },
      1,
    );
    facts.bodies = {};
    const evidence = evidenceFor({});
    evidence.fs = FileSystemView.fromLayers([facts], { probes: ['private-key'] });
    const result = check(sec001, evidence);
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.findings?.map((finding) => [finding.path, finding.level])).toEqual([
      ['/srv/app/.netrc', undefined],
      ['/srv/app/.npmrc', 'warning'],
    ]);
    expect(result.findings?.[0]?.message).toContain('probably');
  });

  it('passes when a later layer removed the key (the merged view)', () => {
    const result = check(
      sec001,
      image({}, [privateKey('/root/.ssh/id_rsa')], [{ entries: [], whiteouts: ['/root/.ssh/id_rsa'] }]),
    );
    expect(result.status).toBe('pass');
  });
});

describe('IVC-SEC-001 packaged files are info', () => {
  const packagedKey = '/usr/lib/python3/dist-packages/cryptography/hazmat/tests/rsa.pem';

  it('reports a private key a dpkg package ships at info; the rule fails at info', () => {
    const result = check(
      sec001,
      image({}, [
        privateKey(packagedKey),
        {
          path: '/var/lib/dpkg/info/python3-cryptography:amd64.list',
          body: `/.\n/usr\n/usr/lib/python3/dist-packages/cryptography\n${packagedKey}\n`,
        },
      ]),
    );
    expect(result.status).toBe('fail');
    expect(result.level).toBe('info');
    expect(result.findings?.[0]).toMatchObject({ path: packagedKey, level: 'info' });
    expect(result.findings?.[0]?.message).toContain("dpkg package 'python3-cryptography'");
    expect(result.evidence?.packageDatabases).toEqual(['dpkg']);
    expectNoValues(result);
  });

  it('a packaged key next to an author key: the rule fails at error', () => {
    const result = check(
      sec001,
      image({}, [
        privateKey(packagedKey),
        privateKey('/etc/app/tls.key'),
        { path: '/var/lib/dpkg/info/python3-cryptography.list', body: `${packagedKey}\n` },
      ]),
    );
    expect(result.level).toBe('error');
    expect(result.findings?.map((finding) => [finding.path, finding.level])).toEqual([
      ['/etc/app/tls.key', undefined],
      [packagedKey, 'info'],
    ]);
  });

  it('matches dpkg paths across a merged /usr (/lib listed, /usr/lib on disk)', () => {
    const result = check(
      sec001,
      image({}, [
        privateKey('/usr/lib/ssl/test/key.pem'),
        { path: '/var/lib/dpkg/info/libssl-test.list', body: '/lib/ssl/test/key.pem\n' },
      ]),
    );
    expect(result.level).toBe('info');
  });

  it('reads apk, pip RECORD and conda-meta databases', () => {
    const apk = check(
      sec001,
      image({}, [
        privateKey('/usr/share/test/key.pem'),
        {
          path: '/lib/apk/db/installed',
          body: 'P:musl\nV:1\n\nP:testkeys\nV:1.0\nF:usr/share/test\nR:key.pem\n\n',
        },
      ]),
    );
    expect(apk.level).toBe('info');
    expect(apk.findings?.[0]?.message).toContain("apk package 'testkeys'");

    const site = '/usr/local/lib/python3.12/site-packages';
    const pip = check(
      sec001,
      image({}, [
        privateKey(`${site}/tornado/test/test.key`),
        {
          path: `${site}/tornado-6.4.dist-info/RECORD`,
          body: 'tornado/__init__.py,sha256=x,100\ntornado/test/test.key,sha256=y,1700\n',
        },
      ]),
    );
    expect(pip.level).toBe('info');
    expect(pip.findings?.[0]?.message).toContain("pip distribution 'tornado'");

    const conda = check(
      sec001,
      image({}, [
        privateKey('/opt/conda/lib/python3.12/site-packages/tornado/test/test.key'),
        {
          path: '/opt/conda/conda-meta/tornado-6.4-py312h1_0.json',
          body: JSON.stringify({
            name: 'tornado',
            files: ['lib/python3.12/site-packages/tornado/test/test.key'],
          }),
        },
      ]),
    );
    expect(conda.level).toBe('info');
    expect(conda.findings?.[0]?.message).toContain("conda package 'tornado'");
  });

  it('notes an rpm database it cannot read', () => {
    const result = check(
      sec001,
      image({}, [privateKey('/etc/pki/tls/private/localhost.key'), { path: '/var/lib/rpm', type: 'dir' }]),
    );
    expect(result.level).toBe('error');
    expect(result.evidence?.packageDatabases).toEqual(['rpm']);
    expect(String(result.evidence?.notRead)).toContain('rpm');
  });
});

describe('no secret value anywhere in a result', () => {
  const cases: [string, ReturnType<typeof image>][] = [
    ['env by value', image({ Env: [`SOMETHING=${githubToken}`] })],
    ['env by name', image({ Env: [`DB_PASSWORD=${password}`] })],
    ['aws', image({ Env: [`AWS_ACCESS_KEY_ID=${awsKeyId}`] })],
    ['label', image({ Labels: { 'deploy.password': password } })],
    ['url', image({ Env: [`PIP_INDEX_URL=https://u:${password}@pypi.example.org/simple`] })],
    ['key file', image({}, [privateKey('/root/key.pem')])],
    ['netrc', image({}, [{ path: '/root/.netrc', body: `machine x login y password ${password}` }])],
  ];
  it.each(cases)('%s', (_name, evidence) => {
    const result = check(sec001, evidence);
    expect(result.status).toBe('fail');
    expectNoValues(result);
  });
});

describe('through the real layer scan (the capture declared in meta is what the rule reads)', () => {
  const scanned = (config: ImageConfigBody, entries: TestEntry[]) =>
    scannedEvidence([sec001], config, entries);

  it('finds keys and credential files, and packaged keys through dpkg and pip', async () => {
    const site = 'usr/local/lib/python3.12/site-packages';
    const evidence = await scanned({ Env: [`DB_PASSWORD=${password}`] }, [
      { name: 'root/.netrc', body: `machine example.org login astro password ${password}\n` },
      { name: 'root/.bashrc', body: 'export PS1=x\n' },
      { name: 'root/.ssh/id_rsa', body: keyBody, mode: 0o600 },
      { name: 'home/astro/.docker/config.json', body: '{"auths": {"r.example.org": {"auth": "YTpi"}}}' },
      { name: 'home/astro/.npmrc', body: 'registry=https://registry.npmjs.org/\n' },
      { name: `${site}/tornado/test/test.key`, body: keyBody },
      { name: `${site}/tornado-6.4.dist-info/RECORD`, body: 'tornado/test/test.key,sha256=y,1700\n' },
      { name: 'usr/share/doc/pkg/example.pem', body: keyBody },
      { name: 'var/lib/dpkg/info/pkg.list', body: '/usr/share/doc/pkg\n/usr/share/doc/pkg/example.pem\n' },
    ]);
    const result = check(sec001, evidence);
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(
      result.findings?.map((finding) => [finding.key ?? finding.path, finding.level ?? 'error']),
    ).toEqual([
      ['Env.DB_PASSWORD', 'error'],
      ['/home/astro/.docker/config.json', 'error'],
      ['/root/.netrc', 'error'],
      ['/root/.ssh/id_rsa', 'error'],
      ['/usr/local/lib/python3.12/site-packages/tornado/test/test.key', 'info'],
      ['/usr/share/doc/pkg/example.pem', 'info'],
    ]);
    expect(result.evidence?.packageDatabases).toEqual(['dpkg', 'pip']);
    expectNoValues(result);
  });
});
