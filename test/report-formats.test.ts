import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { imageName, printable, uriPath } from '../src/report/common.js';
import {
  exitCodeFor,
  type FormatOptions,
  formatReports,
  outputFormats,
  verdictFor,
} from '../src/report/format.js';
import { escapeData, escapeProperty } from '../src/report/github.js';
import { stripInvalidXml, xmlAttribute, xmlText } from '../src/report/junit.js';
import { markdownText } from '../src/report/markdown.js';
import { fingerprintKey, pascalCase } from '../src/report/sarif.js';
import type { Finding, Report, RuleResult } from '../src/report/types.js';
import type { RuleMeta } from '../src/rules/types.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------- fixtures

function meta(id: string, level: RuleMeta['level'], title: string, help: string): RuleMeta {
  return {
    id,
    level,
    evidence: ['config'],
    title,
    description: `${title}: the requirement.`,
    rationale: `Why ${id} matters.`,
    help,
    specAnchor: id.toLowerCase(),
  };
}

const rules = new Map<string, RuleMeta>(
  [
    meta(
      'IVC-USER-001',
      'error',
      'Runs as a non-root user',
      'set USER to a numeric non-root uid, e.g. USER 1000:1000',
    ),
    meta(
      'IVC-SEC-001',
      'error',
      'No secrets baked in',
      'remove credentials from the image; pass them at run time',
    ),
    meta('IVC-PLAT-002', 'warning', 'Referred to by an immutable tag', 'use a digest or a version tag'),
    meta(
      'IVC-META-006',
      'warning',
      'Discovery is helped',
      'add keywords, messengers and documentation labels',
    ),
    meta('IVC-SIZE-001', 'warning', 'Reasonable size', 'squash layers'),
    meta('IVC-META-001', 'error', 'OCI metadata present', 'add the org.opencontainers.image.* labels'),
    meta('IVC-RUN-001', 'error', 'Starts as an arbitrary user', 'make HOME writable'),
    meta('IVC-RUN-002', 'error', 'Listens on the port', 'listen on 8888'),
  ].map((m) => [m.id, m]),
);

const specBaseUrl = 'https://github.com/ivoa-containers/ivoc/blob/main/spec/standard.md';

function options(overrides: Partial<FormatOptions> = {}): FormatOptions {
  return { rules, color: false, toolVersion: '0.1.0', specBaseUrl, failOn: 'error', ...overrides };
}

function result(
  rule: string,
  status: RuleResult['status'],
  message: string,
  extra: Partial<RuleResult> = {},
) {
  const m = rules.get(rule);
  return {
    rule,
    level: m?.level ?? 'error',
    status,
    message,
    help: m?.help ?? 'fix it',
    ...extra,
  } as RuleResult;
}

function report(reference: string, results: RuleResult[], extra: Partial<Report> = {}): Report {
  const summary = { error: 0, warning: 0, info: 0, skipped: 0 };
  for (const r of results) {
    if (r.status === 'fail') summary[r.level]++;
    if (r.status === 'skip') summary.skipped++;
  }
  return {
    reportVersion: '1',
    tool: { name: 'ivoc', version: '0.1.0' },
    profile: { name: 'ivoa', specVersion: '1.0.0' },
    image: {
      reference,
      digest: `sha256:${'ab12'.repeat(16)}`,
      configDigest: `sha256:${'cd34'.repeat(16)}`,
      platform: { os: 'linux', architecture: 'amd64' },
    },
    verdict: results.some((r) => r.status === 'fail' && r.level === 'error') ? 'fail' : 'pass',
    summary,
    results,
    discovery: {},
    ...extra,
  };
}

const manyFiles: Finding[] = Array.from({ length: 13 }, (_, i) => ({
  message: 'private key',
  path: `/home/astro/keys/key-${i}.pem`,
  layer: { index: 2, digest: `sha256:${'ef'.repeat(32)}` },
}));

/** Fails an error (with findings), a warning and an info-level finding; skips two run rules. */
const failing = report('docker://127.0.0.1:5000/team/app:1.2.0', [
  result('IVC-META-001', 'pass', 'all six OCI keys present'),
  result('IVC-USER-001', 'fail', "runs as root (User is '')"),
  result('IVC-SEC-001', 'fail', '15 secrets baked in', {
    findings: [
      { message: 'credential-like variable', key: 'Env.AWS_SECRET_ACCESS_KEY' },
      {
        message: 'test key shipped by a package',
        path: '/usr/lib/python3/dist-packages/x/test.key',
        level: 'info',
      },
      ...manyFiles,
    ],
  }),
  result('IVC-PLAT-002', 'fail', "tag '1.2.0' is fine but 'latest' was given"),
  result('IVC-META-006', 'fail', 'no keywords label', { level: 'info' }),
  result('IVC-SIZE-001', 'pass', '12 layers, 1.2 GB'),
  result('IVC-RUN-001', 'skip', 'needs --run'),
  result('IVC-RUN-002', 'skip', 'needs --run'),
]);

const passing = report('docker://ghcr.io/ivoa/hello-notebook:2.0.0', [
  result('IVC-META-001', 'pass', 'all six OCI keys present'),
  result('IVC-USER-001', 'pass', "runs as user 'astro' (uid 1000)"),
  result('IVC-PLAT-002', 'fail', "tag 'latest'"),
  result('IVC-RUN-001', 'skip', 'needs --run'),
]);

const unreadable = report('docker://registry.example.org/private/app:1.0', [], {
  error: { code: 'ERR_AUTH', message: 'the registry refused the credentials' },
});

// ---------------------------------------------------------------- verdict and exit code

describe('verdict and exit code', () => {
  it('fails on an error-level failure, on warnings only with --fail-on warning; never keeps the verdict', () => {
    expect(verdictFor(failing.results, 'error')).toBe('fail');
    expect(verdictFor(passing.results, 'error')).toBe('pass');
    expect(verdictFor(passing.results, 'warning')).toBe('fail');
    // --fail-on never changes the exit code, not whether the image complies.
    expect(verdictFor(failing.results, 'never')).toBe('fail');
    // An info-level failure never fails the image.
    expect(verdictFor([result('IVC-META-006', 'fail', 'x', { level: 'info' })], 'warning')).toBe('pass');
    // A skip is never a failure.
    expect(verdictFor([result('IVC-RUN-001', 'skip', 'needs --run')], 'warning')).toBe('pass');
  });

  it('exits 0, 1, or 3 when an image could not be checked', () => {
    expect(exitCodeFor([passing], 'error')).toBe(0);
    expect(exitCodeFor([passing, failing], 'error')).toBe(1);
    expect(exitCodeFor([passing], 'warning')).toBe(1);
    expect(exitCodeFor([failing], 'never')).toBe(0);
    expect(exitCodeFor([passing, unreadable], 'never')).toBe(3);
    expect(exitCodeFor([], 'error')).toBe(0);
  });
});

// ---------------------------------------------------------------- text

describe('text', () => {
  const text = formatReports([failing], 'text', options());

  it('has a header with reference, short digest, platform and profile', () => {
    expect(text.split('\n')[0]).toBe(
      'docker://127.0.0.1:5000/team/app:1.2.0  sha256:ab12ab12ab12  linux/amd64  profile ivoa 1.0.0',
    );
  });

  it('groups failures by level, errors first, each with its fix', () => {
    const errors = text.indexOf('errors (2)');
    const warnings = text.indexOf('warnings (1, below fail-on error)');
    const info = text.indexOf('info (1)\n');
    expect(errors).toBeGreaterThan(0);
    expect(warnings).toBeGreaterThan(errors);
    expect(info).toBeGreaterThan(warnings);
    expect(text).toContain("  error   IVC-USER-001  runs as root (User is '')");
    expect(text).toContain('          fix: set USER to a numeric non-root uid, e.g. USER 1000:1000');
    // Within a level, by rule ID.
    expect(text.indexOf('IVC-SEC-001')).toBeGreaterThan(errors);
    expect(text.indexOf('IVC-SEC-001')).toBeLessThan(text.indexOf('IVC-USER-001'));
    expect(text.indexOf('IVC-USER-001')).toBeLessThan(warnings);
    expect(text.indexOf('IVC-PLAT-002')).toBeGreaterThan(warnings);
    expect(text.indexOf('IVC-META-006')).toBeGreaterThan(info);
  });

  it('lists the first findings and counts the rest', () => {
    expect(text).toContain('          - Env.AWS_SECRET_ACCESS_KEY: credential-like variable');
    expect(text).toContain(
      '          - [info] /usr/lib/python3/dist-packages/x/test.key: test key shipped by a package',
    );
    expect(text).toContain('          - /home/astro/keys/key-0.pem: private key (layer 2)');
    expect(text).toContain('          ... and 5 more');
    expect(text).not.toContain('key-8.pem');
    const verbose = formatReports([failing], 'text', options({ verbose: true }));
    expect(verbose).toContain('key-12.pem');
    expect(verbose).not.toContain('... and');
  });

  it('collapses passes into a count, lists skips with reasons, sums up and gives the verdict', () => {
    expect(text).toContain('passed: 2 rules');
    expect(text).not.toContain('all six OCI keys present');
    expect(text).toMatch(/skipped \(2\)\n {2}IVC-RUN-001 {2}needs --run\n {2}IVC-RUN-002 {2}needs --run/);
    expect(text).toContain('2 errors, 1 warning, 1 info, 2 skipped');
    expect(text.trimEnd().split('\n').at(-1)).toBe('verdict: FAIL (fail-on error)');
    const verbose = formatReports([failing], 'text', options({ verbose: true }));
    expect(verbose).toContain('passed (2)\n  IVC-META-001  all six OCI keys present');
  });

  it('passes an image with only a warning at --fail-on error, fails it at warning', () => {
    expect(formatReports([passing], 'text', options())).toContain('verdict: PASS (fail-on error)');
    expect(formatReports([passing], 'text', options({ failOn: 'warning' }))).toContain(
      'verdict: FAIL (fail-on warning)',
    );
  });

  it('uses ANSI colour only when asked', () => {
    expect(text).not.toContain('\u001b');
    const coloured = formatReports([failing], 'text', options({ color: true }));
    expect(coloured).toContain('\u001b[31m');
    expect(coloured).toContain('\u001b[33m');
    expect(coloured.replace(/\u001b\[\d+m/g, '')).toBe(text);
  });

  it('has no trailing spaces and ends with one newline', () => {
    for (const variant of [
      text,
      formatReports([failing, passing, unreadable], 'text', options({ verbose: true })),
    ]) {
      expect(variant).not.toMatch(/[ \t]$/m);
      expect(variant.endsWith('\n')).toBe(true);
      expect(variant.endsWith('\n\n')).toBe(false);
    }
  });

  it('quiet: failures and the verdict only', () => {
    const quiet = formatReports([failing], 'text', options({ quiet: true }));
    expect(quiet).toContain('IVC-USER-001');
    expect(quiet).not.toContain('fix:');
    expect(quiet).not.toContain('skipped');
    expect(quiet).not.toContain('key-0.pem');
    expect(quiet).toContain('verdict: FAIL');
  });

  it('several images: a block each and a line for all, an unreadable image says why', () => {
    const several = formatReports([failing, passing, unreadable], 'text', options());
    expect(several).toContain('could not be checked: the registry refused the credentials');
    expect(several).toContain('verdict: ERROR (the image could not be checked)');
    expect(several.trimEnd().split('\n').at(-1)).toBe(
      '3 images: 1 passed, 1 failed, 1 not checked (2 errors, 2 warnings, 1 info, 3 skipped)',
    );
  });

  it('shows control characters from the image as escapes, never raw', () => {
    const nasty = report('docker://x.org/a:1', [
      result('IVC-SEC-001', 'fail', 'secret', {
        findings: [{ message: 'private key', path: '/tmp/\u001b[2J\u001b]0;pwned\u0007\nfake line' }],
      }),
    ]);
    const out = formatReports([nasty], 'text', options());
    expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(out).toContain('/tmp/\\x1b[2J\\x1b]0;pwned\\x07\\x0afake line: private key');
    expect(printable('a\u202eb')).toBe('a\\u202eb');
  });
});

// ---------------------------------------------------------------- json

describe('json', () => {
  it('prints one report as itself, 2-space indented, with a trailing newline', () => {
    const out = formatReports([failing], 'json', options());
    expect(JSON.parse(out)).toEqual(failing);
    expect(out).toBe(`${JSON.stringify(failing, null, 2)}\n`);
  });

  it('prints several as {"reports": [...]}', () => {
    const out = formatReports([failing, passing], 'json', options());
    expect(JSON.parse(out)).toEqual({ reports: [failing, passing] });
    expect(out.startsWith('{\n  "reports": [\n')).toBe(true);
  });
});

// ---------------------------------------------------------------- sarif

/**
 * The official SARIF 2.1.0 schema (2.1.0-rtm.5, the OASIS standard's final
 * schema) as the dev dependency @microsoft/jest-sarif ships it. It says
 * draft-04 (`id`); ajv reads it as draft-07 (`$id`): nothing else in it
 * differs. `unicodeRegExp: false` because one `pattern` in it is invalid in
 * Unicode mode.
 */
function sarifSchema(): Record<string, unknown> {
  const path = join(
    root,
    'node_modules',
    '@microsoft',
    'jest-sarif',
    'lib',
    'schemas',
    'sarif-2.1.0-rtm.5.json',
  );
  const schema = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  const { id, $schema: _draft, ...rest } = schema;
  return { ...rest, $id: schema.$id ?? id };
}

interface SarifRule {
  id: string;
  name: string;
  help: { text: string; markdown: string };
  defaultConfiguration: { level: string };
  properties: { tags: string[]; 'security-severity'?: string };
}

interface SarifResult {
  ruleId: string;
  ruleIndex: number;
  level: string;
  message: { text: string };
  locations: {
    physicalLocation: { artifactLocation: { uri: string; uriBaseId: string }; region: { startLine: number } };
    logicalLocations?: { name: string; fullyQualifiedName: string }[];
  }[];
  partialFingerprints: Record<string, string>;
  properties: { image: string; key?: string; path?: string };
}

interface SarifLog {
  $schema: string;
  version: string;
  runs: {
    tool: { driver: { name: string; version: string; informationUri: string; rules: SarifRule[] } };
    invocations: {
      executionSuccessful: boolean;
      toolExecutionNotifications?: { message: { text: string } }[];
    }[];
    results: SarifResult[];
    originalUriBaseIds: Record<string, unknown>;
  }[];
}

describe('sarif', () => {
  const log = JSON.parse(formatReports([failing, passing], 'sarif', options())) as SarifLog;
  const run = log.runs[0]!;
  const schema = sarifSchema();

  it('validates against the SARIF 2.1.0 schema', () => {
    const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true, unicodeRegExp: false });
    const validate = ajv.compile(schema);
    for (const reports of [[failing, passing], [failing], [passing], [unreadable], []]) {
      const document = JSON.parse(formatReports(reports, 'sarif', options()));
      const ok = validate(document);
      expect(ok ? [] : validate.errors).toEqual([]);
    }
  });

  it('has what GitHub code scanning requires', () => {
    expect(log.$schema).toBe('https://json.schemastore.org/sarif-2.1.0.json');
    expect(log.version).toBe('2.1.0');
    expect(log.runs).toHaveLength(1);
    expect(run.tool.driver).toMatchObject({ name: 'ivoc', version: '0.1.0' });
    expect(run.invocations).toEqual([{ executionSuccessful: true }]);
    const ids = run.tool.driver.rules.map((rule) => rule.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of run.results) {
      expect(typeof r.ruleId).toBe('string');
      expect(ids[r.ruleIndex]).toBe(r.ruleId);
      expect(['error', 'warning', 'note']).toContain(r.level);
      expect(r.message.text.length).toBeGreaterThan(0);
      expect(r.locations.length).toBeGreaterThanOrEqual(1);
      const physical = r.locations[0]!.physicalLocation;
      expect(physical.artifactLocation.uri).toMatch(/^[^/]/);
      expect(physical.artifactLocation.uri).not.toMatch(/^[a-z][a-z0-9+.-]*:/i);
      expect(physical.artifactLocation.uriBaseId).toBe('IMAGE');
      expect(physical.region.startLine).toBe(1);
      expect(r.partialFingerprints[fingerprintKey]).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it('describes each rule with help, a link into the standard and a default level', () => {
    const user = run.tool.driver.rules.find((rule) => rule.id === 'IVC-USER-001')!;
    expect(user).toMatchObject({
      name: 'RunsAsANonRootUser',
      shortDescription: { text: 'Runs as a non-root user' },
      fullDescription: { text: 'Runs as a non-root user: the requirement.' },
      helpUri: `${specBaseUrl}#ivc-user-001`,
      defaultConfiguration: { level: 'error' },
      properties: { 'security-severity': '7.0' },
    });
    expect(user.help.text).toContain('Fix: set USER to a numeric non-root uid');
    expect(user.help.markdown).toContain(`[IVC-USER-001 in the standard](${specBaseUrl}#ivc-user-001)`);
    expect(user.properties.tags).toContain('security');
    const plat = run.tool.driver.rules.find((rule) => rule.id === 'IVC-PLAT-002')!;
    expect(plat.properties['security-severity']).toBeUndefined();
    expect(plat.properties.tags).not.toContain('security');
    expect(plat.defaultConfiguration.level).toBe('warning');
    expect(run.tool.driver.rules.find((rule) => rule.id === 'IVC-META-006')!.defaultConfiguration.level).toBe(
      'warning',
    );
    expect(pascalCase('Referred to by an immutable tag')).toBe('ReferredToByAnImmutableTag');
  });

  it('reports failures only: one result per located finding, the image itself otherwise', () => {
    const byRule = (id: string) => run.results.filter((r) => r.ruleId === id);
    expect(run.results.some((r) => r.ruleId.startsWith('IVC-RUN'))).toBe(false);
    expect(run.results.some((r) => r.ruleId === 'IVC-META-001')).toBe(false);
    // 1 key + 1 package file + 13 files
    expect(byRule('IVC-SEC-001')).toHaveLength(15);
    const key = byRule('IVC-SEC-001').find((r) => r.properties.key === 'Env.AWS_SECRET_ACCESS_KEY')!;
    expect(key.locations[0]!.physicalLocation.artifactLocation.uri).toBe('127.0.0.1%3A5000/team/app');
    expect(key.locations[0]!.logicalLocations).toEqual([
      { name: 'Env.AWS_SECRET_ACCESS_KEY', fullyQualifiedName: 'Env.AWS_SECRET_ACCESS_KEY' },
    ]);
    expect(key.message.text).toBe(
      'Env.AWS_SECRET_ACCESS_KEY: credential-like variable (image docker://127.0.0.1:5000/team/app:1.2.0)',
    );
    const file = byRule('IVC-SEC-001').find((r) => r.properties.path === '/home/astro/keys/key-3.pem')!;
    expect(file.locations[0]!.physicalLocation.artifactLocation.uri).toBe(
      '127.0.0.1%3A5000/team/app/home/astro/keys/key-3.pem',
    );
    expect(file.level).toBe('error');
    const publicKey = byRule('IVC-SEC-001').find((r) => r.properties.path?.endsWith('test.key'))!;
    expect(publicKey.level).toBe('note');
    // The user rule has no findings: one result, located at the image.
    expect(byRule('IVC-USER-001')).toHaveLength(1);
    expect(byRule('IVC-USER-001')[0]!.locations[0]!.physicalLocation.artifactLocation.uri).toBe(
      '127.0.0.1%3A5000/team/app',
    );
    // Both images' failures are in the one run, each naming its image.
    const plat = byRule('IVC-PLAT-002');
    expect(plat.map((r) => r.properties.image).sort()).toEqual([
      'docker://127.0.0.1:5000/team/app:1.2.0',
      'docker://ghcr.io/ivoa/hello-notebook:2.0.0',
    ]);
    expect(plat.every((r) => r.level === 'warning')).toBe(true);
    expect(byRule('IVC-META-006')[0]!.level).toBe('note');
  });

  it('fingerprints survive a new tag or digest, and differ between images, rules and paths', () => {
    const rebuilt = structuredClone(failing);
    rebuilt.image.reference = 'docker://127.0.0.1:5000/team/app:1.3.0@sha256:'.concat('9'.repeat(64));
    rebuilt.image.digest = `sha256:${'9'.repeat(64)}`;
    const again = JSON.parse(formatReports([rebuilt], 'sarif', options())) as SarifLog;
    const prints = (results: SarifResult[]) =>
      results.map((r) => r.partialFingerprints[fingerprintKey]).sort();
    const first = run.results.filter((r) => r.properties.image === failing.image.reference);
    expect(prints(again.runs[0]!.results)).toEqual(prints(first));
    expect(new Set(prints(run.results)).size).toBe(run.results.length);
  });

  it('keeps URIs relative, encoded and inside the pseudo root', () => {
    expect(uriPath('/../../etc/./passwd')).toBe('etc/passwd');
    expect(uriPath('/srv/a b#c?d%')).toBe('srv/a%20b%23c%3Fd%25');
    expect(imageName('docker://localhost:5000/team/app:1.0@sha256:'.concat('1'.repeat(64)))).toBe(
      'localhost:5000/team/app',
    );
    expect(imageName('alpine')).toBe('docker.io/library/alpine');
    expect(imageName('oci:./layouts/app:1.0')).toBe('oci/./layouts/app');
    const odd = report('oci-archive:/work/../secret/x.tar', [
      result('IVC-SEC-001', 'fail', 'secret', {
        findings: [{ message: 'key', path: '/../../root/.ssh/id_rsa' }],
      }),
    ]);
    const uri = JSON.parse(formatReports([odd], 'sarif', options())).runs[0].results[0].locations[0]
      .physicalLocation.artifactLocation.uri;
    expect(uri).toBe('oci-archive/work/secret/x.tar/root/.ssh/id_rsa');
  });

  it('an image that could not be checked makes the invocation unsuccessful, with a notification', () => {
    const out = JSON.parse(formatReports([passing, unreadable], 'sarif', options())) as SarifLog;
    const invocation = out.runs[0]!.invocations[0]!;
    expect(invocation.executionSuccessful).toBe(false);
    expect(invocation.toolExecutionNotifications![0]!.message.text).toContain(
      'the registry refused the credentials',
    );
  });

  it('caps results per rule and image, saying how many more there are', () => {
    const big = report('docker://x.org/big:1', [
      result('IVC-SEC-001', 'fail', '150 secrets', {
        findings: Array.from({ length: 150 }, (_, i) => ({ message: 'key', path: `/k/${i}` })),
      }),
    ]);
    const results = JSON.parse(formatReports([big], 'sarif', options())).runs[0].results;
    expect(results).toHaveLength(101);
    expect(results.at(-1).message.text).toBe(
      '150 secrets; 50 more findings not listed (image docker://x.org/big:1)',
    );
  });
});

// ---------------------------------------------------------------- junit

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

function unescapeXml(text: string): string {
  return text.replace(/&(#\d+|#x[0-9a-f]+|amp|lt|gt|quot|apos);/gi, (_, entity: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (entity.startsWith('#x')) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number(entity.slice(1)));
    return named[entity]!;
  });
}

/** A strict little XML reader: enough to prove the output well-formed and read it back. */
function parseXml(xml: string): XmlElement {
  expect(xml).not.toMatch(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u);
  let rest = xml.replace(/^<\?xml [^?]*\?>\n/, '');
  const document: XmlElement = { name: '#document', attributes: {}, children: [], text: '' };
  const stack = [document];
  while (rest.length > 0) {
    const lt = rest.indexOf('<');
    const text = lt < 0 ? rest : rest.slice(0, lt);
    if (text) {
      // Raw text: no '>' (so no ']]>') and no '&' outside a reference.
      expect(text).not.toMatch(/>|&(?!(#\d+|#x[0-9a-f]+|amp|lt|gt|quot|apos);)/i);
      stack.at(-1)!.text += unescapeXml(text);
    }
    if (lt < 0) break;
    rest = rest.slice(lt);
    const tag = /^<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>/.exec(rest);
    expect(tag, `malformed tag at: ${rest.slice(0, 60)}`).not.toBeNull();
    const [whole, closing, name, attributeText, selfClosing] = tag!;
    rest = rest.slice(whole.length);
    if (closing) {
      const open = stack.pop()!;
      expect(open.name).toBe(name);
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const [, key, value] of attributeText!.matchAll(/([A-Za-z_][\w.-]*)="([^"]*)"/g)) {
      expect(value).not.toMatch(/&(?!(#\d+|#x[0-9a-f]+|amp|lt|gt|quot|apos);)/i);
      expect(attributes[key!], `duplicate attribute ${key}`).toBeUndefined();
      attributes[key!] = unescapeXml(value!);
    }
    const element: XmlElement = { name: name!, attributes, children: [], text: '' };
    stack.at(-1)!.children.push(element);
    if (!selfClosing) stack.push(element);
  }
  expect(stack).toHaveLength(1);
  expect(document.children).toHaveLength(1);
  return document.children[0]!;
}

describe('junit', () => {
  const xml = formatReports([failing, passing], 'junit', options());
  const suites = parseXml(xml);

  it('is well-formed, a suite per image, a testcase per rule, counts that match', () => {
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')).toBe(true);
    expect(suites.name).toBe('testsuites');
    const [first, second] = suites.children;
    expect(first!.attributes).toMatchObject({
      name: 'docker://127.0.0.1:5000/team/app:1.2.0',
      tests: '8',
      failures: '2',
      errors: '0',
      skipped: '2',
    });
    expect(second!.attributes).toMatchObject({ tests: '4', failures: '0', skipped: '1', errors: '0' });
    let tests = 0;
    let failures = 0;
    let skipped = 0;
    for (const suite of suites.children) {
      const cases = suite.children.filter((c) => c.name === 'testcase');
      const suiteFailures = cases.filter((c) => c.children.some((x) => x.name === 'failure')).length;
      const suiteSkipped = cases.filter((c) => c.children.some((x) => x.name === 'skipped')).length;
      expect(cases.length).toBe(Number(suite.attributes.tests));
      expect(suiteFailures).toBe(Number(suite.attributes.failures));
      expect(suiteSkipped).toBe(Number(suite.attributes.skipped));
      tests += cases.length;
      failures += suiteFailures;
      skipped += suiteSkipped;
    }
    expect(suites.attributes).toMatchObject({
      tests: String(tests),
      failures: String(failures),
      skipped: String(skipped),
    });
  });

  it('fails at the threshold, notes below it, skips with the reason', () => {
    const cases = suites.children[0]!.children.filter((c) => c.name === 'testcase');
    const byRule = (id: string) => cases.find((c) => c.attributes.name!.startsWith(id))!;
    const user = byRule('IVC-USER-001');
    expect(user.attributes).toEqual({
      classname: 'ivoc.docker://127_0_0_1:5000/team/app:1_2_0',
      name: 'IVC-USER-001 Runs as a non-root user',
    });
    const failure = user.children[0]!;
    expect(failure.name).toBe('failure');
    expect(failure.attributes).toEqual({ message: "runs as root (User is '')", type: 'error' });
    expect(failure.text).toContain('fix: set USER to a numeric non-root uid');
    expect(failure.text).toContain(`see: ${specBaseUrl}#ivc-user-001`);
    const secrets = byRule('IVC-SEC-001').children[0]!;
    expect(secrets.text).toContain('  - Env.AWS_SECRET_ACCESS_KEY: credential-like variable');
    expect(secrets.text).toContain('  - /home/astro/keys/key-12.pem: private key (layer 2)');
    const plat = byRule('IVC-PLAT-002');
    expect(plat.children.map((c) => c.name)).toEqual(['system-out']);
    expect(plat.children[0]!.text).toMatch(/^warning \(below --fail-on error\): tag/);
    expect(byRule('IVC-RUN-001').children[0]).toMatchObject({
      name: 'skipped',
      attributes: { message: 'needs --run' },
    });
    expect(byRule('IVC-META-001').children).toEqual([]);
    const strict = parseXml(formatReports([passing], 'junit', options({ failOn: 'warning' })));
    expect(strict.children[0]!.attributes.failures).toBe('1');
    const never = parseXml(formatReports([failing], 'junit', options({ failOn: 'never' })));
    expect(never.attributes.failures).toBe('0');
  });

  it('an image that could not be checked is an error testcase', () => {
    const out = parseXml(formatReports([unreadable], 'junit', options()));
    const suite = out.children[0]!;
    expect(suite.attributes).toMatchObject({ tests: '1', errors: '1', failures: '0' });
    const error = suite.children.find((c) => c.name === 'testcase')!.children[0]!;
    expect(error).toMatchObject({ name: 'error', attributes: { type: 'ERR_AUTH' } });
  });

  it('escapes markup and quotes, and drops characters XML 1.0 cannot hold', () => {
    expect(xmlText('a < b && c > d ]]>')).toBe('a &lt; b &amp;&amp; c &gt; d ]]&gt;');
    expect(xmlAttribute(`"it's" <x>\n\tz`)).toBe('&quot;it&apos;s&quot; &lt;x&gt;&#10;&#9;z');
    expect(stripInvalidXml('a\u0000b\u0007c\u001bd\uFFFEe\uD800f\u{1F600}')).toBe('abcdef\u{1F600}');
    const nasty = report('docker://x.org/"quoted"&<app>:1', [
      result('IVC-SEC-001', 'fail', `a 'quoted' <message> & \u0001 "more"`, {
        findings: [{ message: 'key ]]> here', path: '/etc/<x>&"y"\u0000\u001b' }],
      }),
      result('IVC-RUN-001', 'skip', 'skip <because> & "so"'),
    ]);
    const out = parseXml(formatReports([nasty], 'junit', options()));
    const suite = out.children[0]!;
    expect(suite.attributes.name).toBe('docker://x.org/"quoted"&<app>:1');
    const [secret, skip] = suite.children.filter((c) => c.name === 'testcase');
    expect(secret!.children[0]!.attributes.message).toBe(`a 'quoted' <message> &  "more"`);
    expect(secret!.children[0]!.text).toContain('- /etc/<x>&"y": key ]]> here');
    expect(skip!.children[0]!.attributes.message).toBe('skip <because> & "so"');
  });
});

// ---------------------------------------------------------------- github

describe('github', () => {
  const out = formatReports([failing, passing], 'github', options());
  const lines = out.trimEnd().split('\n');

  it('escapes data and properties as GitHub does', () => {
    expect(escapeData('100% done\r\nnext')).toBe('100%25 done%0D%0Anext');
    expect(escapeProperty('IVC-USER-001: a, b\n%')).toBe('IVC-USER-001%3A a%2C b%0A%25');
  });

  it('one annotation per failing rule, by level, with the image, fix and findings in the message', () => {
    const user = lines.find((line) => line.includes('IVC-USER-001'))!;
    expect(user).toBe(
      "::error title=IVC-USER-001%3A Runs as a non-root user::docker://127.0.0.1:5000/team/app:1.2.0: runs as root (User is '')%0Afix: set USER to a numeric non-root uid, e.g. USER 1000:1000",
    );
    const secrets = lines.find((line) => line.includes('IVC-SEC-001'))!;
    expect(secrets).toContain('%0A- Env.AWS_SECRET_ACCESS_KEY: credential-like variable');
    expect(secrets).toContain('%0A... and 5 more');
    expect(lines.filter((line) => line.startsWith('::warning title=IVC-PLAT-002'))).toHaveLength(2);
    expect(lines.filter((line) => line.startsWith('::notice title=IVC-META-006'))).toHaveLength(1);
    expect(lines.some((line) => line.includes('IVC-RUN-001'))).toBe(false);
    // Every line is a command except the summary; no line break leaks out of a message.
    expect(lines.slice(0, -1).every((line) => /^::(error|warning|notice) title=[^:]*::/.test(line))).toBe(
      true,
    );
  });

  it('ends with a summary line; quiet leaves it and the notices out', () => {
    expect(lines.at(-1)).toBe(
      'ivoc: FAIL: 2 images, 1 failed (2 errors, 2 warnings, 1 info, 3 skipped; fail-on error)',
    );
    const quiet = formatReports([failing], 'github', options({ quiet: true }));
    expect(quiet).not.toContain('::notice');
    expect(quiet).not.toContain('ivoc: FAIL');
  });

  it('a newline, % or :: in content cannot start a command of its own', () => {
    const nasty = report('docker://x.org/a:1', [
      result('IVC-SEC-001', 'fail', 'x%0A::error::forged', {
        findings: [{ message: 'key', path: '/a\n::stop-commands::tok\r\n::error::forged' }],
      }),
    ]);
    const text = formatReports([nasty], 'github', options());
    const nastyLines = text.trimEnd().split('\n');
    expect(nastyLines).toHaveLength(2);
    expect(nastyLines[0]).toContain('x%250A::error::forged');
    expect(nastyLines[0]).not.toMatch(/[\r]/);
  });
});

// ---------------------------------------------------------------- markdown

describe('markdown', () => {
  const out = formatReports([failing, passing], 'markdown', options());

  it('a heading and verdict per image, a table of failures with links and fixes', () => {
    expect(out.startsWith('## ivoc lint ❌ FAIL\n')).toBe(true);
    expect(out).toContain('### ❌ docker://127.0.0.1:5000/team/app:1.2.0');
    expect(out).toContain('### ✅ docker://ghcr.io/ivoa/hello-notebook:2.0.0');
    expect(out).toContain('**FAIL** (fail-on error) · 2 errors · 1 warning · 1 info · 2 skipped · 2 passed');
    expect(out).toContain('| Level | Rule | Message | Fix |\n| --- | --- | --- | --- |');
    expect(out).toContain(
      `| error | [IVC-USER-001](${specBaseUrl}#ivc-user-001) | runs as root \\(User is ''\\) | set USER to a numeric non-root uid, e.g. USER 1000:1000 |`,
    );
    expect(out).toContain('<details><summary>Findings (15)</summary>');
    expect(out).toContain('- Env.AWS\\_SECRET\\_ACCESS\\_KEY: credential-like variable');
    expect(out).toContain('<details><summary>Skipped (2)</summary>\n\n- IVC-RUN-001: needs --run');
    // Every table row has exactly four unescaped separators plus the edges.
    for (const row of out.split('\n').filter((line) => line.startsWith('| ') && line.includes('IVC-'))) {
      const cells = row.replace(/\\\|/g, '').split('|').length - 2;
      expect([3, 4]).toContain(cells);
    }
  });

  it('escapes pipes, backticks, markup and HTML in cells', () => {
    expect(markdownText('a|b`c`*d*_e_ <img src=x> & [l](u)')).toBe(
      'a\\|b\\`c\\`\\*d\\*\\_e\\_ &lt;img src=x&gt; &amp; \\[l\\]\\(u\\)',
    );
    const nasty = report('docker://x.org/a:1', [
      result('IVC-SEC-001', 'fail', 'bad | cell `code` </details>', {
        help: 'fix | it\nnow',
        findings: [{ message: 'key', path: '/x|y`</details><script>' }],
      }),
    ]);
    const md = formatReports([nasty], 'markdown', options());
    const row = md.split('\n').find((line) => line.startsWith('| error'))!;
    expect(row).toBe(
      `| error | [IVC-SEC-001](${specBaseUrl}#ivc-sec-001) | bad \\| cell \\\`code\\\` &lt;/details&gt; | fix \\| it\\\\x0anow |`,
    );
    expect(md).not.toContain('<script>');
    expect(md.match(/<\/details>/g)).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- every format

describe('every format', () => {
  it('is produced for one image, several, none, and an unreadable one', () => {
    for (const format of outputFormats) {
      for (const reports of [[failing], [failing, passing, unreadable], []]) {
        const out = formatReports(reports, format, options());
        if (format === 'github' && reports.length === 0) continue;
        expect(out.endsWith('\n'), format).toBe(true);
      }
    }
  });

  it('is deterministic', () => {
    for (const format of outputFormats) {
      expect(formatReports([failing, passing], format, options())).toBe(
        formatReports([structuredClone(failing), structuredClone(passing)], format, options()),
      );
    }
  });
});
