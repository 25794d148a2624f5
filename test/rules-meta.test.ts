/**
 * IVC-META-001..006: OCI and discovery labels, from config labels or manifest
 * annotations (labels win on conflict), over hand-built evidence.
 */
import { describe, expect, it } from 'vitest';
import meta001 from '../src/rules/ivc-meta-001.js';
import meta002 from '../src/rules/ivc-meta-002.js';
import meta003 from '../src/rules/ivc-meta-003.js';
import meta004 from '../src/rules/ivc-meta-004.js';
import meta005 from '../src/rules/ivc-meta-005.js';
import meta006 from '../src/rules/ivc-meta-006.js';
import type { Rule } from '../src/rules/types.js';
import { check, evidenceFor, ivoaProfileForTests } from './support/rule-evidence.js';

const oci = (name: string) => `org.opencontainers.image.${name}`;
const ivoa = (name: string) => `net.ivoa.container.${name}`;

/** A fully labelled notebook image: every META rule passes on it. */
const good: Record<string, string> = {
  [oci('title')]: 'Astro notebook',
  [oci('description')]: 'JupyterLab with astropy',
  [oci('version')]: '1.2.3',
  [oci('source')]: 'https://github.com/example/astro-notebook',
  [oci('licenses')]: 'BSD-3-Clause',
  [oci('authors')]: 'Astro Team <astro@example.org>',
  [oci('url')]: 'https://example.org/astro',
  [oci('documentation')]: 'https://example.org/astro/docs',
  [oci('created')]: '2024-05-01T12:00:00Z',
  [ivoa('spec-version')]: '1.0.0',
  [ivoa('type')]: 'notebook',
  [ivoa('port')]: '8888',
  [ivoa('base-path')]: 'env:BASE_URL',
  [ivoa('keywords')]: 'astropy, spectra',
  [ivoa('messengers')]: 'Optical,Infrared',
  [ivoa('resources')]: 'cores=2,memory=8Gi',
};

function without(...keys: string[]): Record<string, string> {
  const copy = { ...good };
  for (const key of keys) delete copy[key];
  return copy;
}

const withLabels = (Labels: Record<string, string>, annotations?: Record<string, string>) =>
  evidenceFor(annotations ? { config: { Labels }, annotations } : { config: { Labels } });

describe('every META rule', () => {
  const rules: Rule[] = [meta001, meta002, meta003, meta004, meta005, meta006];

  it.each(rules.map((rule) => [rule.meta.id, rule] as const))(
    '%s passes on a fully labelled image',
    (_, rule) => {
      const result = check(rule, withLabels(good));
      expect(result.status, result.message).toBe('pass');
      expect(result.findings).toBeUndefined();
    },
  );

  it.each(rules.map((rule) => [rule.meta.id, rule] as const))('%s has complete metadata', (id, rule) => {
    expect(rule.meta.specAnchor).toBe(id.toLowerCase());
    expect(rule.meta.evidence).toEqual(['config', 'manifest']);
    for (const field of ['title', 'description', 'rationale', 'help'] as const) {
      expect(rule.meta[field].length).toBeGreaterThan(10);
    }
    expect(rule.meta.help).not.toContain('\n');
  });

  it('levels follow the catalogue', () => {
    expect(rules.map((rule) => rule.meta.level)).toEqual([
      'error',
      'error',
      'error',
      'error',
      'error',
      'warning',
    ]);
  });
});

describe('IVC-META-001 OCI descriptive keys present', () => {
  it('names each missing and empty key, one finding each', () => {
    const result = check(
      meta001,
      withLabels({ ...without(oci('title'), oci('authors')), [oci('licenses')]: ' ' }),
    );
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.message).toBe('missing title and authors; empty licenses (org.opencontainers.image.*)');
    expect(result.findings).toEqual([
      { message: `${oci('title')} is missing`, key: `Labels.${oci('title')}` },
      { message: `${oci('licenses')} is empty`, key: `Labels.${oci('licenses')}` },
      { message: `${oci('authors')} is missing`, key: `Labels.${oci('authors')}` },
    ]);
  });

  it('fails an image with no labels at all', () => {
    const result = check(meta001, evidenceFor());
    expect(result.status).toBe('fail');
    expect(result.findings).toHaveLength(6);
  });

  it('counts manifest annotations as well as labels', () => {
    const annotations = { [oci('title')]: 'From the manifest', [oci('authors')]: 'Someone' };
    const result = check(meta001, withLabels(without(oci('title'), oci('authors')), annotations));
    expect(result.status, result.message).toBe('pass');
  });

  it('a label that is empty wins over a good annotation, and the finding names the label', () => {
    const result = check(meta001, withLabels({ ...good, [oci('title')]: '' }, { [oci('title')]: 'Fine' }));
    expect(result.status).toBe('fail');
    expect(result.findings).toEqual([{ message: `${oci('title')} is empty`, key: `Labels.${oci('title')}` }]);
  });
});

describe('IVC-META-002 OCI key formats', () => {
  const withValue = (key: string, value: string) => withLabels({ ...good, [oci(key)]: value });

  it('tolerates a leading v on the version, with a note', () => {
    const result = check(meta002, withValue('version', 'v1.2.3'));
    expect(result.status).toBe('pass');
    expect(result.message).toContain("version 'v1.2.3' has a leading 'v' (tolerated; semver is '1.2.3')");
  });

  it.each([
    ['1.2', "version '1.2' is not a semantic version (semver needs three parts, e.g. '1.2.0')"],
    ['latest', "version 'latest' is not a semantic version"],
    ['vv1.0.0', "version 'vv1.0.0' is not a semantic version"],
    ['01.2.3', "version '01.2.3' is not a semantic version"],
  ])('fails version %s', (value, message) => {
    const result = check(meta002, withValue('version', value));
    expect(result.status).toBe('fail');
    expect(result.message).toBe(message);
    expect(result.findings).toEqual([{ message, key: `Labels.${oci('version')}` }]);
  });

  it('accepts pre-release and build versions', () => {
    expect(check(meta002, withValue('version', '2.0.0-rc.1+build.5')).status).toBe('pass');
  });

  it.each([
    'MIT',
    'Apache-2.0 OR MIT',
    'GPL-2.0-only WITH Classpath-exception-2.0',
    'LicenseRef-Proprietary',
    '(MIT AND BSD-3-Clause)',
  ])('accepts the SPDX expression %s', (value) => {
    expect(check(meta002, withValue('licenses', value)).status).toBe('pass');
  });

  it.each(['Apache 2', 'MIT AND', 'mit', 'GPL v3', '(MIT'])('fails the bad SPDX expression %s', (value) => {
    const result = check(meta002, withValue('licenses', value));
    expect(result.status).toBe('fail');
    expect(result.message).toContain(`licenses '${value}' is not a valid SPDX license expression`);
    expect(result.findings?.[0]?.key).toBe(`Labels.${oci('licenses')}`);
  });

  it.each(['NONE', 'NOASSERTION'])('fails %s: it states no licence', (value) => {
    const result = check(meta002, withValue('licenses', value));
    expect(result.status).toBe('fail');
    expect(result.message).toContain('states no licence');
  });

  it.each([
    ['source', 'github.com/example/app', 'is not an absolute URL'],
    ['source', '/docs/index.html', 'is not an absolute URL'],
    ['url', 'git@github.com:example/app.git', 'is not an absolute URL'],
    ['documentation', 'ftp://example.org/docs', 'is not an http(s) URL (scheme ftp:)'],
    ['source', 'file:///src', 'is not an http(s) URL (scheme file:)'],
  ])('fails %s %s', (key, value, why) => {
    const result = check(meta002, withValue(key, value));
    expect(result.status).toBe('fail');
    expect(result.message).toBe(`${key} '${value}' ${why}`);
    expect(result.findings).toEqual([{ message: result.message, key: `Labels.${oci(key)}` }]);
  });

  it.each([
    '2024-05-01T12:00:00Z',
    '2024-05-01T12:00:00.123456+02:00',
    '2024-02-29t23:59:60z',
    '1999-12-31T23:59:59-08:00',
  ])('accepts created %s', (value) => {
    expect(check(meta002, withValue('created', value)).status).toBe('pass');
  });

  it.each([
    ['2024-05-01', 'a date alone'],
    ['2024-05-01 12:00:00Z', "use 'T'"],
    ['2023-02-29T12:00:00Z', 'e.g.'],
    ['2024-04-31T12:00:00Z', 'e.g.'],
    ['2024-05-01T12:00:00', 'e.g.'],
    ['2024-05-01T12:00:00+0200', 'e.g.'],
    ['2024-05-01T24:00:00Z', 'e.g.'],
    ['yesterday', 'e.g.'],
  ])('fails created %s', (value, hint) => {
    const result = check(meta002, withValue('created', value));
    expect(result.status).toBe('fail');
    expect(result.message).toContain(`created '${value}' is not an RFC 3339 date-time`);
    expect(result.message).toContain(hint);
  });

  it('checks only keys that are present', () => {
    const result = check(meta002, withLabels({ [oci('title')]: 'only a title' }));
    expect(result.status).toBe('pass');
    expect(result.message).toBe('no OCI key with a format to check is present');
  });

  it('reports every bad key, one finding each', () => {
    const result = check(
      meta002,
      withLabels({
        ...good,
        [oci('version')]: 'one',
        [oci('licenses')]: 'Apache 2',
        [oci('url')]: 'example.org',
      }),
    );
    expect(result.status).toBe('fail');
    expect(result.findings?.map((finding) => finding.key)).toEqual([
      `Labels.${oci('version')}`,
      `Labels.${oci('licenses')}`,
      `Labels.${oci('url')}`,
    ]);
  });

  it('annotations count: a bad annotation fails and its finding names the annotation', () => {
    const result = check(meta002, withLabels(without(oci('version')), { [oci('version')]: 'one' }));
    expect(result.status).toBe('fail');
    expect(result.findings).toEqual([
      { message: "version 'one' is not a semantic version", key: `Annotations.${oci('version')}` },
    ]);
  });

  it('labels win on conflict: a good annotation does not save a bad label', () => {
    const result = check(
      meta002,
      withLabels({ ...good, [oci('version')]: 'one' }, { [oci('version')]: '1.0.0' }),
    );
    expect(result.status).toBe('fail');
    expect(result.findings?.[0]?.key).toBe(`Labels.${oci('version')}`);
  });

  it('labels win on conflict: a good label overrides a bad annotation', () => {
    const result = check(meta002, withLabels(good, { [oci('version')]: 'one' }));
    expect(result.status).toBe('pass');
  });

  it('never quotes a credential-looking value', () => {
    const token = `ghp_${'a1B2'.repeat(10)}`;
    const result = check(meta002, withValue('source', token));
    expect(result.status).toBe('fail');
    expect(JSON.stringify(result)).not.toContain(token);
    expect(result.message).toContain('<redacted>');
  });
});

describe('IVC-META-003 session type', () => {
  it('passes each type of the profile', () => {
    for (const type of ['notebook', 'web', 'desktop-app', 'headless']) {
      const result = check(meta003, withLabels({ [ivoa('type')]: type }));
      expect(result.status).toBe('pass');
      expect(result.message).toBe(`type '${type}' is a type of profile 'ivoa'`);
    }
  });

  it('fails a missing type and lists the vocabulary', () => {
    const result = check(meta003, withLabels(without(ivoa('type'))));
    expect(result.status).toBe('fail');
    expect(result.message).toBe(
      "net.ivoa.container.type is not set; profile 'ivoa' knows notebook, web, desktop-app, headless",
    );
    expect(result.findings).toEqual([{ message: result.message, key: `Labels.${ivoa('type')}` }]);
  });

  it('fails an unknown type', () => {
    const result = check(meta003, withLabels({ [ivoa('type')]: 'carta' }));
    expect(result.status).toBe('fail');
    expect(result.message).toBe(
      "net.ivoa.container.type 'carta' is not a session type; profile 'ivoa' knows notebook, web, desktop-app, headless",
    );
  });

  it('suggests the right case', () => {
    const result = check(meta003, withLabels({ [ivoa('type')]: 'Notebook' }));
    expect(result.status).toBe('fail');
    expect(result.message).toContain("(did you mean 'notebook'?)");
  });

  it("accepts a profile's own types and says what they behave as", () => {
    const profile = ivoaProfileForTests({
      name: 'canfar',
      types: { carta: { behavesAs: 'web', port: 6901 }, headless: { behavesAs: 'headless' } },
    });
    const result = check(meta003, withLabels({ [ivoa('type')]: 'carta' }), profile);
    expect(result.status).toBe('pass');
    expect(result.message).toBe("type 'carta' (behaves as web) is a type of profile 'canfar'");
  });

  it('reads the type from a manifest annotation too', () => {
    const result = check(meta003, withLabels({}, { [ivoa('type')]: 'web' }));
    expect(result.status).toBe('pass');
  });

  it('does not take a prototype property for a type', () => {
    expect(check(meta003, withLabels({ [ivoa('type')]: 'constructor' })).status).toBe('fail');
  });
});

describe('IVC-META-004 spec version', () => {
  it('passes 1.0.0 and 1.4.2 under ^1.0.0', () => {
    for (const version of ['1.0.0', '1.4.2']) {
      const result = check(meta004, withLabels({ [ivoa('spec-version')]: version }));
      expect(result.status).toBe('pass');
      expect(result.message).toBe(
        `spec-version ${version} is within the range ^1.0.0 that profile 'ivoa' supports`,
      );
    }
  });

  it('fails 2.0.0, outside ^1.0.0', () => {
    const result = check(meta004, withLabels({ [ivoa('spec-version')]: '2.0.0' }));
    expect(result.status).toBe('fail');
    expect(result.message).toBe(
      "net.ivoa.container.spec-version '2.0.0' is outside the range ^1.0.0 that profile 'ivoa' supports",
    );
    expect(result.findings?.[0]?.key).toBe(`Labels.${ivoa('spec-version')}`);
  });

  it('fails a missing spec-version', () => {
    const result = check(meta004, withLabels({}));
    expect(result.status).toBe('fail');
    expect(result.message).toBe("net.ivoa.container.spec-version is not set; profile 'ivoa' supports ^1.0.0");
  });

  it.each(['1.0', 'one', 'v1.0.0'])('fails the non-semver %s', (value) => {
    const result = check(meta004, withLabels({ [ivoa('spec-version')]: value }));
    expect(result.status).toBe('fail');
    expect(result.message).toContain('is not a semantic version');
  });

  it("follows the profile's range", () => {
    const profile = ivoaProfileForTests({ supportedSpecVersions: '>=1.0.0 <3.0.0' });
    expect(check(meta004, withLabels({ [ivoa('spec-version')]: '2.0.0' }), profile).status).toBe('pass');
  });

  it('skips when the profile range does not parse', () => {
    const profile = ivoaProfileForTests({ supportedSpecVersions: 'whatever' });
    const result = check(meta004, withLabels({ [ivoa('spec-version')]: '1.0.0' }), profile);
    expect(result.status).toBe('skip');
  });
});

describe('IVC-META-005 label schema', () => {
  it('passes an image with no discovery labels (presence is other rules’ business)', () => {
    const result = check(meta005, withLabels({ [oci('title')]: 'x' }));
    expect(result.status).toBe('pass');
    expect(result.message).toBe('no net.ivoa.container.* labels to validate');
  });

  it('reports each schema error with its key', () => {
    const labels = {
      ...good,
      [ivoa('colour')]: 'blue',
      [ivoa('port')]: 'abc',
      [ivoa('messengers')]: 'Optical,Visible',
      [ivoa('resources')]: 'cores=two',
    };
    const result = check(meta005, withLabels(labels));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.message).toBe(
      "net.ivoa.container.* labels fail the label schema: unknown colour; invalid messengers 'Optical,Visible', port 'abc' and resources 'cores=two'",
    );
    expect(result.findings?.map((finding) => finding.key)).toEqual([
      `Labels.${ivoa('colour')}`,
      `Labels.${ivoa('messengers')}`,
      `Labels.${ivoa('port')}`,
      `Labels.${ivoa('resources')}`,
    ]);
    const byKey = Object.fromEntries(
      (result.findings ?? []).map((finding) => [finding.key, finding.message]),
    );
    expect(byKey[`Labels.${ivoa('colour')}`]).toMatch(
      /^unknown label net\.ivoa\.container\.colour \(the namespace defines spec-version, type, port/,
    );
    expect(byKey[`Labels.${ivoa('port')}`]).toMatch(
      /^net\.ivoa\.container\.port 'abc' is invalid: expected the TCP port/,
    );
    expect(byKey[`Labels.${ivoa('messengers')}`]).toMatch(
      /^net\.ivoa\.container\.messengers 'Optical,Visible' is invalid \('Visible' is not allowed\): expected .*Radio, Millimeter/,
    );
    expect(byKey[`Labels.${ivoa('resources')}`]).toBe(
      "net.ivoa.container.resources 'cores=two' is invalid: expected resource hints for a typical session: comma-separated cores=N (N >= 1), memory=NGi (N >= 1, gibibytes) and gpu=N (N >= 0), in any order, each at most once, at least one of them",
    );
  });

  it('suggests the key an unknown one was meant to be', () => {
    const result = check(meta005, withLabels({ [ivoa('keyword')]: 'x', [ivoa('Port')]: '8888' }));
    expect(result.findings?.map((finding) => finding.message)).toEqual([
      'unknown label net.ivoa.container.Port (did you mean net.ivoa.container.port?)',
      'unknown label net.ivoa.container.keyword (did you mean net.ivoa.container.keywords?)',
    ]);
  });

  it.each([
    ['port', '08888'],
    ['port', '70000'],
    ['base-path', 'env:'],
    ['spec-version', 'v1.0.0'],
    ['type', 'Notebook'],
    ['keywords', 'a,,b'],
    ['resources', 'cores=2,cores=4'],
    ['resources', 'memory=8G'],
    ['messengers', 'optical'],
  ])('fails %s %s', (key, value) => {
    const result = check(meta005, withLabels({ [ivoa(key)]: value }));
    expect(result.status).toBe('fail');
    expect(result.findings).toHaveLength(1);
    expect(result.findings?.[0]?.key).toBe(`Labels.${ivoa(key)}`);
  });

  it('validates annotations too, and names them', () => {
    const result = check(meta005, withLabels({}, { [ivoa('port')]: 'abc' }));
    expect(result.status).toBe('fail');
    expect(result.findings?.[0]?.key).toBe(`Annotations.${ivoa('port')}`);
  });

  it('labels win on conflict', () => {
    expect(check(meta005, withLabels({ [ivoa('port')]: '8888' }, { [ivoa('port')]: 'abc' })).status).toBe(
      'pass',
    );
    expect(check(meta005, withLabels({ [ivoa('port')]: 'abc' }, { [ivoa('port')]: '8888' })).status).toBe(
      'fail',
    );
  });

  it('names the refused items of a list', () => {
    const result = check(meta005, withLabels({ [ivoa('resources')]: 'cores=2, memory=8GB,gpu=one' }));
    expect(result.findings?.[0]?.message).toContain("('memory=8GB' and 'gpu=one' are not allowed)");
  });

  it('leaves other namespaces alone', () => {
    expect(check(meta005, withLabels({ ...good, 'com.example.colour': 'blue' })).status).toBe('pass');
  });
});

describe('IVC-META-006 discovery helped', () => {
  it('warns about each missing discovery label', () => {
    const result = check(meta006, withLabels(without(ivoa('keywords'), oci('documentation'))));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('warning');
    expect(result.message).toBe(
      'discovery labels missing or empty: net.ivoa.container.keywords and org.opencontainers.image.documentation',
    );
    expect(result.findings?.map((finding) => finding.key)).toEqual([
      `Labels.${ivoa('keywords')}`,
      `Labels.${oci('documentation')}`,
    ]);
  });

  it('counts an empty value as missing', () => {
    const result = check(meta006, withLabels({ ...good, [ivoa('messengers')]: '' }));
    expect(result.status).toBe('fail');
    expect(result.findings).toEqual([
      { message: `${ivoa('messengers')} is empty`, key: `Labels.${ivoa('messengers')}` },
    ]);
  });

  it('takes documentation from a manifest annotation', () => {
    const result = check(
      meta006,
      withLabels(without(oci('documentation')), { [oci('documentation')]: 'https://x.org' }),
    );
    expect(result.status).toBe('pass');
  });
});
