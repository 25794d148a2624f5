/**
 * spec/: the JSON Schemas compile, the built-in profiles and sample documents
 * validate against them, the schemas stay in step with the TypeScript types,
 * and the standard has a section (anchor) for every rule ID of the catalogue.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import canfarProfile from '../spec/profiles/canfar.json' with { type: 'json' };
import ivoaProfile from '../spec/profiles/ivoa.json' with { type: 'json' };
import kubeflowProfile from '../spec/profiles/kubeflow.json' with { type: 'json' };
import labelsSchema from '../spec/schemas/labels.schema.json' with { type: 'json' };
import profileSchema from '../spec/schemas/profile.schema.json' with { type: 'json' };
import reportSchema from '../spec/schemas/report.schema.json' with { type: 'json' };
import type { Finding, Report, ReportImage, ReportSet, RuleResult } from '../src/report/types.js';
import type { ProfileParameters, RunParameters, SessionType } from '../src/rules/types.js';

const specDir = new URL('../spec/', import.meta.url);
const catalogueUrl = new URL('../../shared/standard/catalogue.md', import.meta.url);
const catalogueFound = existsSync(catalogueUrl);
if (!catalogueFound) {
  console.warn(`spec.test: ${catalogueUrl.pathname} not found; the catalogue cross-check is skipped`);
}

const LABELS_ID = 'urn:ivoc:schemas:labels:1';
const PROFILE_ID = 'urn:ivoc:schemas:profile:1';
const REPORT_ID = 'urn:ivoc:schemas:report:1';

/** One Ajv for all three schemas, as the code does: compiled once, reused. */
function makeAjv(): Ajv2020 {
  // strict: true turns every strict-mode warning (strictTypes, strictRequired, ...) into an error.
  return new Ajv2020({ strict: true, allErrors: true })
    .addSchema(labelsSchema)
    .addSchema(profileSchema)
    .addSchema(reportSchema);
}

const ajv = makeAjv();
const validate = (id: string): ValidateFunction => {
  const fn = ajv.getSchema(id);
  if (!fn) throw new Error(`schema ${id} not found`);
  return fn;
};
const validateLabels = validate(LABELS_ID);
const validateProfile = validate(PROFILE_ID);
const validateCompleteProfile = validate(`${PROFILE_ID}#/$defs/complete`);
const validateReport = validate(REPORT_ID);

/** The key (top-level property) each error is about: the unknown key itself, or the key whose value is wrong. */
function errorKeys(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((error) => {
    if (error.keyword === 'additionalProperties') {
      return String((error.params as { additionalProperty: string }).additionalProperty);
    }
    const first = error.instancePath.split('/')[1] ?? '';
    return first.replaceAll('~1', '/').replaceAll('~0', '~');
  });
}

function expectValid(fn: ValidateFunction, data: unknown): void {
  const ok = fn(data);
  expect(fn.errors ?? [], JSON.stringify(fn.errors, null, 2)).toEqual([]);
  expect(ok).toBe(true);
}

describe('schemas', () => {
  it('every schema file compiles with ajv (draft 2020-12, strict mode)', () => {
    const files = readdirSync(new URL('schemas/', specDir)).filter((f) => f.endsWith('.schema.json'));
    expect(files.sort()).toEqual(['labels.schema.json', 'profile.schema.json', 'report.schema.json']);
    for (const file of files) {
      const schema = JSON.parse(readFileSync(new URL(`schemas/${file}`, specDir), 'utf8')) as {
        $schema: string;
        $id: string;
      };
      expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
      // A fresh instance per file: each is valid against the 2020-12 meta-schema and compiles on its own.
      const own = new Ajv2020({ strict: true });
      expect(own.validateSchema(schema), JSON.stringify(own.errors)).toBe(true);
      const fn = own.compile(schema);
      expect(typeof fn).toBe('function');
    }
  });

  it('each schema is also compiled on its own with default options', () => {
    for (const schema of [labelsSchema, profileSchema, reportSchema]) {
      expect(() => new Ajv2020().compile(schema)).not.toThrow();
    }
  });
});

describe('labels.schema.json', () => {
  const good = {
    'net.ivoa.container.spec-version': '1.0.0',
    'net.ivoa.container.type': 'notebook',
    'net.ivoa.container.port': '8888',
    'net.ivoa.container.base-path': 'env:NB_PREFIX',
    'net.ivoa.container.keywords': 'spectroscopy, radio astronomy,cubes',
    'net.ivoa.container.messengers': 'Radio, Millimeter,Infrared',
    'net.ivoa.container.resources': 'cores=4,memory=16Gi,gpu=1',
  };

  it('accepts a complete, well-formed label set', () => {
    expectValid(validateLabels, good);
  });

  it('accepts the empty set (presence is for other rules)', () => {
    expectValid(validateLabels, {});
  });

  it.each([
    ['net.ivoa.container.spec-version', '1.0.0-rc.1+build.5'],
    ['net.ivoa.container.spec-version', '2.10.0'],
    ['net.ivoa.container.type', 'desktop-app'],
    ['net.ivoa.container.type', 'carta'],
    ['net.ivoa.container.port', '1'],
    ['net.ivoa.container.port', '65535'],
    ['net.ivoa.container.base-path', 'arg'],
    ['net.ivoa.container.base-path', 'env:_PREFIX2'],
    ['net.ivoa.container.keywords', 'topcat'],
    ['net.ivoa.container.messengers', 'X-ray,Gamma-ray, GravitationalWave, Neutrino,Particle,UV,EUV,Optical'],
    ['net.ivoa.container.resources', 'gpu=0'],
    ['net.ivoa.container.resources', 'memory=8Gi, cores=2'],
    ['net.ivoa.container.resources', 'gpu=2,memory=64Gi,cores=16'],
  ])('accepts %s = %j', (key, value) => {
    expectValid(validateLabels, { [key]: value });
  });

  it.each([
    ['net.ivoa.container.spec-version', '1.0'],
    ['net.ivoa.container.spec-version', 'v1.0.0'],
    ['net.ivoa.container.spec-version', '01.0.0'],
    ['net.ivoa.container.type', 'Notebook'],
    ['net.ivoa.container.type', 'desktop app'],
    ['net.ivoa.container.port', '0'],
    ['net.ivoa.container.port', '65536'],
    ['net.ivoa.container.port', '8888/tcp'],
    ['net.ivoa.container.port', '08888'],
    ['net.ivoa.container.port', 'http'],
    ['net.ivoa.container.base-path', 'env:'],
    ['net.ivoa.container.base-path', 'env:1PREFIX'],
    ['net.ivoa.container.base-path', 'ENV:NB_PREFIX'],
    ['net.ivoa.container.base-path', '/session/abc'],
    ['net.ivoa.container.base-path', 'args'],
    ['net.ivoa.container.keywords', ''],
    ['net.ivoa.container.keywords', 'a,,b'],
    ['net.ivoa.container.keywords', 'a,b,'],
    ['net.ivoa.container.messengers', 'optical'],
    ['net.ivoa.container.messengers', 'Optical;Radio'],
    ['net.ivoa.container.messengers', 'Optical, Submillimeter'],
    ['net.ivoa.container.messengers', 'Radio,'],
    ['net.ivoa.container.messengers', ' Radio'],
    ['net.ivoa.container.resources', ''],
    ['net.ivoa.container.resources', 'memory=16G'],
    ['net.ivoa.container.resources', 'cpus=4'],
    ['net.ivoa.container.resources', 'cores=0'],
    ['net.ivoa.container.resources', 'cores=2,cores=4'],
    ['net.ivoa.container.resources', 'cores=2;memory=4Gi'],
    ['net.ivoa.container.resources', 'cores=1.5'],
  ])('rejects %s = %j, naming the key', (key, value) => {
    expect(validateLabels({ ...good, [key]: value })).toBe(false);
    expect(errorKeys(validateLabels.errors)).toEqual([key]);
  });

  it('rejects an unknown key of the namespace, naming it', () => {
    expect(validateLabels({ ...good, 'net.ivoa.container.prot': '8888' })).toBe(false);
    expect(errorKeys(validateLabels.errors)).toEqual(['net.ivoa.container.prot']);
    expect(validateLabels.errors?.[0]?.keyword).toBe('additionalProperties');
  });

  it('rejects a non-string value (labels are strings)', () => {
    expect(validateLabels({ 'net.ivoa.container.port': 8888 })).toBe(false);
    expect(errorKeys(validateLabels.errors)).toEqual(['net.ivoa.container.port']);
  });

  it('reports every bad key at once (allErrors)', () => {
    const bad = {
      ...good,
      'net.ivoa.container.port': '99999',
      'net.ivoa.container.messengers': 'Optical,Visible',
      'net.ivoa.container.resources': 'ram=4Gi',
      'net.ivoa.container.base-path': 'env:NB-PREFIX',
      'net.ivoa.container.colour': 'blue',
    };
    expect(validateLabels(bad)).toBe(false);
    expect(errorKeys(validateLabels.errors).sort()).toEqual(
      [
        'net.ivoa.container.base-path',
        'net.ivoa.container.colour',
        'net.ivoa.container.messengers',
        'net.ivoa.container.port',
        'net.ivoa.container.resources',
      ].sort(),
    );
  });

  it('describes every property', () => {
    for (const [key, property] of Object.entries(labelsSchema.properties)) {
      expect(key.startsWith('net.ivoa.container.')).toBe(true);
      expect(property.description.length, key).toBeGreaterThan(20);
    }
  });
});

describe('profiles', () => {
  const builtIns = { ivoa: ivoaProfile, canfar: canfarProfile, kubeflow: kubeflowProfile };

  it('the built-in directory holds exactly ivoa, canfar and kubeflow', () => {
    const files = readdirSync(new URL('profiles/', specDir)).sort();
    expect(files).toEqual(['canfar.json', 'ivoa.json', 'kubeflow.json']);
  });

  it.each(Object.entries(builtIns))(
    'built-in %s validates against profile.schema.json and is complete',
    (name, profile) => {
      expectValid(validateProfile, profile);
      expectValid(validateCompleteProfile, profile);
      expect(profile.name).toBe(name);
      expect(profile.specVersion).toBe('1.0.0');
      expect(profile.supportedSpecVersions).toBe('^1.0.0');
    },
  );

  it('built-ins follow the catalogue table', () => {
    const ports = (p: { types: object }) =>
      Object.fromEntries(
        Object.entries(p.types as Record<string, { port?: number }>).map(([t, v]) => [t, v.port ?? null]),
      );
    expect(ports(ivoaProfile)).toEqual({ notebook: 8888, web: 8888, 'desktop-app': null, headless: null });
    expect(ports(canfarProfile)).toEqual({
      notebook: 8888,
      carta: 6901,
      contributed: 5000,
      firefly: 8080,
      'desktop-app': null,
      headless: null,
    });
    expect(ports(kubeflowProfile)).toEqual({ notebook: 8888 });

    expect(ivoaProfile.parameters.platformMounts).toEqual(['/arc', '/scratch', '/home']);
    expect(canfarProfile.parameters.platformMounts).toEqual(['/arc', '/scratch']);
    expect(kubeflowProfile.parameters.platformMounts).toEqual(['/home/jovyan']);

    expect(ivoaProfile.parameters).not.toHaveProperty('startupScript');
    expect(canfarProfile.parameters).toMatchObject({
      startupScript: '/skaha/startup.sh',
      startupStyle: 'exec',
      initScript: '/skaha/init.sh',
    });
    expect(canfarProfile.types.contributed.basePath).toBe('arg');
    expect(canfarProfile.types['desktop-app'].requiredExecutables).toEqual(['xterm']);
    expect(kubeflowProfile.types.notebook.basePath).toBe('env:NB_PREFIX');
    expect(kubeflowProfile.parameters.user).toEqual({ name: 'jovyan', uid: 1000, home: '/home/jovyan' });

    const catalogueAllowList = [
      'su',
      'passwd',
      'sudo',
      'mount',
      'umount',
      'newgrp',
      'chsh',
      'chfn',
      'gpasswd',
      'unix_chkpwd',
      'ssh-keysign',
      'dbus-daemon-launch-helper',
    ];
    for (const profile of Object.values(builtIns)) {
      expect(profile.parameters.setuidAllowList).toEqual(expect.arrayContaining(catalogueAllowList));
      expect(profile.parameters.maxLayers).toBe(40);
      expect(profile.parameters.maxCompressedBytes).toBe(20 * 1024 ** 3);
    }
  });

  it('accepts a user profile that extends, overrides levels, turns rules off and removes with null', () => {
    expectValid(validateProfile, {
      extends: 'canfar',
      name: 'my-site',
      description: 'CANFAR as our site runs it',
      rules: { 'IVC-PLAT-002': 'off', 'IVC-USER-004': 'error', 'IVC-SIZE-001': null },
      types: { firefly: null, voila: { behavesAs: 'web', port: 8866, basePath: 'arg' } },
      parameters: {
        initScript: null,
        maxCompressedBytes: 32 * 1024 ** 3,
        run: { startupTimeoutSeconds: 120, env: { TZ: 'UTC', SKAHA_X: null }, memory: '8g', cpus: 0.5 },
      },
    });
    expectValid(validateProfile, {});
    expectValid(validateProfile, { extends: './base-profile.yaml' });
  });

  it.each([
    ['a misspelt top-level key', { extend: 'ivoa' }, ''],
    ['a misspelt parameter', { parameters: { maxLayer: 10 } }, '/parameters'],
    ['a misspelt run parameter', { parameters: { run: { memroy: '2g' } } }, '/parameters/run'],
    ['a rule ID that is not an ID', { rules: { 'IVC-USER-1': 'off' } }, '/rules'],
    ['an unknown level', { rules: { 'IVC-USER-001': 'fatal' } }, '/rules/IVC-USER-001'],
    ['an unknown behaviour', { types: { carta: { behavesAs: 'viewer' } } }, '/types/carta/behavesAs'],
    ['a port out of range', { types: { web: { behavesAs: 'web', port: 70000 } } }, '/types/web/port'],
    [
      'a bad base-path form',
      { types: { web: { behavesAs: 'web', basePath: 'prefix' } } },
      '/types/web/basePath',
    ],
    ['a type name in capitals', { types: { Web: { behavesAs: 'web' } } }, '/types'],
    ['a relative mount', { parameters: { platformMounts: ['home'] } }, '/parameters/platformMounts/0'],
    ['a root user', { parameters: { user: { uid: 0 } } }, '/parameters/user/uid'],
    [
      'a memory limit in the wrong syntax',
      { parameters: { run: { memory: '2GiB' } } },
      '/parameters/run/memory',
    ],
    ['an empty smoke command', { parameters: { run: { smokeCommand: [] } } }, '/parameters/run/smokeCommand'],
    ['a non-integer layer limit', { parameters: { maxLayers: 10.5 } }, '/parameters/maxLayers'],
    ['a bad spec version', { specVersion: '1.0' }, '/specVersion'],
  ])('rejects %s', (_what, profile, instancePath) => {
    expect(validateProfile(profile)).toBe(false);
    expect(validateProfile.errors?.map((e) => e.instancePath)).toContain(instancePath);
  });

  it('a user profile is not complete on its own', () => {
    expect(validateCompleteProfile({ extends: 'ivoa', rules: {} })).toBe(false);
    const { run: _run, ...withoutRun } = ivoaProfile.parameters;
    expect(validateCompleteProfile({ ...ivoaProfile, parameters: withoutRun })).toBe(false);
    expect(validateCompleteProfile({ ...ivoaProfile, types: { web: { behavesAs: 'web' } } })).toBe(false);
  });

  it('covers every field of SessionType, ProfileParameters and RunParameters', () => {
    // Record<keyof T, true>: the compiler fails if a field is added to the type and not listed here.
    const sessionTypeKeys: Record<keyof SessionType, true> = {
      behavesAs: true,
      port: true,
      requiredExecutables: true,
      basePath: true,
    };
    const parameterKeys: Record<keyof ProfileParameters, true> = {
      platformMounts: true,
      startupScript: true,
      startupStyle: true,
      initScript: true,
      setuidAllowList: true,
      maxLayers: true,
      maxCompressedBytes: true,
      user: true,
      run: true,
    };
    const runKeys: Record<keyof RunParameters, true> = {
      startupTimeoutSeconds: true,
      smokeCommand: true,
      env: true,
      memory: true,
      cpus: true,
      readOnlyRootfs: true,
    };
    const defs = profileSchema.$defs;
    expect(Object.keys(defs.sessionType.properties).sort()).toEqual(Object.keys(sessionTypeKeys).sort());
    expect(Object.keys(defs.parameters.properties).sort()).toEqual(Object.keys(parameterKeys).sort());
    expect(Object.keys(defs.run.properties).sort()).toEqual(Object.keys(runKeys).sort());
  });
});

describe('report.schema.json', () => {
  const sample: Report = {
    reportVersion: '1',
    tool: { name: 'ivoc', version: '0.1.0' },
    profile: { name: 'ivoa', specVersion: '1.0.0', source: 'built-in' },
    image: {
      reference: 'docker://127.0.0.1:5000/team/app:1.2.0',
      digest: `sha256:${'a'.repeat(64)}`,
      manifestDigest: `sha256:${'b'.repeat(64)}`,
      configDigest: `sha256:${'c'.repeat(64)}`,
      platform: { os: 'linux', architecture: 'amd64' },
    },
    verdict: 'pass',
    summary: { error: 0, warning: 1, info: 1, skipped: 1 },
    results: [
      {
        rule: 'IVC-USER-001',
        level: 'error',
        status: 'pass',
        message: "runs as user 'astro' (uid 1000)",
        evidence: { user: 'astro' },
        help: 'Set USER to a non-root numeric user, e.g. USER 1000:1000.',
        helpUri: 'spec/standard.md#ivc-user-001',
      },
      {
        rule: 'IVC-USER-004',
        level: 'warning',
        status: 'fail',
        message: "User 'astro' is a name; Kubernetes runAsNonRoot can only verify a numeric user",
        help: 'Use the numeric form: USER 1000:1000.',
      },
      {
        rule: 'IVC-SEC-001',
        level: 'info',
        status: 'fail',
        message: 'a private key shipped by a distribution package',
        help: 'Nothing to do if the key is public test data.',
        findings: [
          {
            message: 'private key (shipped by package python3-cryptography)',
            path: '/usr/lib/python3/dist-packages/tests/key.pem',
            layer: { index: 1, digest: `sha256:${'d'.repeat(64)}` },
            level: 'info',
          },
          { message: 'credential-like env name with an empty value', key: 'Env.API_TOKEN' },
        ],
      },
      {
        rule: 'IVC-RUN-001',
        level: 'error',
        status: 'skip',
        message: 'run rules need --run',
        help: 'Run ivoc lint --run with a Docker engine.',
      },
    ],
    discovery: { type: 'notebook', title: 'Astro notebook' },
  };

  it('a hand-written report of the TypeScript type validates', () => {
    expectValid(validateReport, sample);
  });

  it('a report set validates', () => {
    const set: ReportSet = { reports: [sample, { ...sample, verdict: 'fail' }] };
    expectValid(validateReport, set);
    expectValid(validateReport, { reports: [] });
  });

  it('a report for an image that could not be read validates', () => {
    const failed: Report = {
      ...sample,
      image: { ...sample.image, digest: '', configDigest: '', manifestDigest: undefined },
      verdict: 'fail',
      summary: { error: 0, warning: 0, info: 0, skipped: 0 },
      results: [],
      discovery: {},
      error: { code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' },
    };
    // undefined is what JSON.stringify drops; validate the JSON form.
    expectValid(validateReport, JSON.parse(JSON.stringify(failed)));
  });

  it.each([
    ['a wrong reportVersion', { ...sample, reportVersion: '2' }],
    ['a numeric reportVersion', { ...sample, reportVersion: 1 }],
    ['another tool', { ...sample, tool: { name: 'other', version: '1' } }],
    ['an unknown verdict', { ...sample, verdict: 'warn' }],
    ['a missing summary', { ...sample, summary: undefined }],
    ['an extra top-level key', { ...sample, score: 3 }],
    ['a bad rule ID', { ...sample, results: [{ ...sample.results[0], rule: 'USER-001' }] }],
    ['an unknown status', { ...sample, results: [{ ...sample.results[0], status: 'error' }] }],
    ['an unknown level', { ...sample, results: [{ ...sample.results[0], level: 'critical' }] }],
    ['a result without help', { ...sample, results: [{ ...sample.results[0], help: undefined }] }],
    [
      'a relative finding path',
      { ...sample, results: [{ ...sample.results[2], findings: [{ message: 'x', path: 'etc' }] }] },
    ],
    ['a bad digest', { ...sample, image: { ...sample.image, digest: 'abc' } }],
    ['a negative count', { ...sample, summary: { ...sample.summary, error: -1 } }],
    ['a report set with an extra key', { reports: [sample], total: 1 }],
    ['a report set with a broken report', { reports: [{ ...sample, verdict: 'maybe' }] }],
  ])('rejects %s', (_what, broken) => {
    expect(validateReport(JSON.parse(JSON.stringify(broken)))).toBe(false);
  });

  it('covers every field of Report, ReportImage, RuleResult and Finding', () => {
    const reportKeys: Record<keyof Report, true> = {
      reportVersion: true,
      tool: true,
      profile: true,
      image: true,
      verdict: true,
      summary: true,
      results: true,
      discovery: true,
      error: true,
    };
    const imageKeys: Record<keyof ReportImage, true> = {
      reference: true,
      digest: true,
      manifestDigest: true,
      configDigest: true,
      platform: true,
    };
    const resultKeys: Record<keyof RuleResult, true> = {
      rule: true,
      level: true,
      status: true,
      message: true,
      evidence: true,
      help: true,
      findings: true,
      helpUri: true,
    };
    const findingKeys: Record<keyof Finding, true> = {
      message: true,
      path: true,
      key: true,
      layer: true,
      level: true,
    };
    const defs = reportSchema.$defs;
    expect(Object.keys(defs.report.properties).sort()).toEqual(Object.keys(reportKeys).sort());
    expect(Object.keys(defs.image.properties).sort()).toEqual(Object.keys(imageKeys).sort());
    expect(Object.keys(defs.ruleResult.properties).sort()).toEqual(Object.keys(resultKeys).sort());
    expect(Object.keys(defs.finding.properties).sort()).toEqual(Object.keys(findingKeys).sort());
  });
});

describe('standard.md', () => {
  const standard = readFileSync(new URL('standard.md', specDir), 'utf8');
  const anchors = [...standard.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]!);
  const ruleIdPattern = /IVC-[A-Z]+-[0-9]{3}/g;

  it('states its version and the RFC 2119 keywords', () => {
    expect(standard).toMatch(/spec-version\W+1\.0\.0/i);
    expect(standard).toContain('RFC 2119');
  });

  it('anchors are unique and every in-page link has its anchor', () => {
    expect(new Set(anchors).size).toBe(anchors.length);
    const links = [...standard.matchAll(/\]\(#([^)]+)\)/g)].map((m) => m[1]!);
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(anchors, `link #${link}`).toContain(link);
  });

  it('every rule section has its anchor just before its heading', () => {
    const sections = [
      ...standard.matchAll(/<a id="(ivc-[a-z]+-[0-9]{3})"><\/a>\n+### (IVC-[A-Z]+-[0-9]{3}) /g),
    ];
    expect(sections.length).toBeGreaterThanOrEqual(29);
    for (const [, anchor, id] of sections) expect(anchor).toBe(id!.toLowerCase());
    const ruleAnchors = anchors.filter((a) => /^ivc-[a-z]+-[0-9]{3}$/.test(a));
    expect(ruleAnchors.sort()).toEqual(sections.map((s) => s[1]!).sort());
  });

  it('mentions no rule ID that has no section', () => {
    const mentioned = new Set([...standard.matchAll(ruleIdPattern)].map((m) => m[0].toLowerCase()));
    for (const id of mentioned) expect(anchors, id).toContain(id);
  });

  it.skipIf(!catalogueFound)(
    `has an anchor for every rule ID of the catalogue${catalogueFound ? '' : ' (SKIPPED: ../shared/standard/catalogue.md is not beside the repository)'}`,
    () => {
      const catalogue = readFileSync(catalogueUrl, 'utf8');
      const ids = [...new Set([...catalogue.matchAll(ruleIdPattern)].map((m) => m[0]))];
      expect(ids.length).toBeGreaterThanOrEqual(29);
      const missing = ids.filter((id) => !anchors.includes(id.toLowerCase()));
      expect(missing, 'rule IDs of the catalogue without <a id="..."> in spec/standard.md').toEqual([]);
    },
  );
});
