import { describe, expect, it } from 'vitest';
import { type FormatOptions, formatReports, outputFormats } from '../src/report/format.js';
import type { Report } from '../src/report/types.js';
import type { RuleMeta } from '../src/rules/types.js';

/**
 * A secret found in an image is reported by NAME (the env key, the label,
 * the file's path), never by value; the engine keeps values out of reports.
 * Here: every output format still tells the user which names and paths to
 * look at, in a form they can read back. (The end-to-end "no secret value in
 * any format" test runs ivoc lint on an image with real secrets.)
 */

const rules = new Map<string, RuleMeta>([
  [
    'IVC-SEC-001',
    {
      id: 'IVC-SEC-001',
      level: 'error',
      evidence: ['config', 'fs'],
      title: 'No secrets baked in',
      description: 'Images carry no credentials.',
      rationale: 'Anyone who can pull the image can read them.',
      help: 'remove the credential from the image and rotate it; pass secrets at run time',
      specAnchor: 'ivc-sec-001',
    },
  ],
]);

const options: FormatOptions = {
  rules,
  color: false,
  toolVersion: '0.1.0',
  specBaseUrl: 'https://github.com/ivoa-containers/ivoc/blob/main/spec/standard.md',
  failOn: 'error',
};

const names = [
  'Env.AWS_SECRET_ACCESS_KEY',
  'Env.GITHUB_TOKEN',
  'Labels.org.example.db-password',
  '/root/.ssh/id_rsa',
  '/home/astro/.netrc',
  '/home/astro/.docker/config.json',
];

const report: Report = {
  reportVersion: '1',
  tool: { name: 'ivoc', version: '0.1.0' },
  profile: { name: 'ivoa', specVersion: '1.0.0' },
  image: {
    reference: 'docker://127.0.0.1:5000/team/leaky:1.0.0',
    digest: `sha256:${'1'.repeat(64)}`,
    configDigest: `sha256:${'2'.repeat(64)}`,
    platform: { os: 'linux', architecture: 'amd64' },
  },
  verdict: 'fail',
  summary: { error: 1, warning: 0, info: 0, skipped: 0 },
  results: [
    {
      rule: 'IVC-SEC-001',
      level: 'error',
      status: 'fail',
      message: '6 credentials baked in (AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN, a password label, 3 files)',
      evidence: { keys: ['Env.AWS_SECRET_ACCESS_KEY', 'Env.GITHUB_TOKEN'], files: 3 },
      help: 'remove the credential from the image and rotate it; pass secrets at run time',
      findings: [
        { message: 'credential-like variable name', key: 'Env.AWS_SECRET_ACCESS_KEY' },
        { message: 'GitHub token', key: 'Env.GITHUB_TOKEN' },
        { message: 'password in a label', key: 'Labels.org.example.db-password' },
        {
          message: 'private key',
          path: '/root/.ssh/id_rsa',
          layer: { index: 3, digest: `sha256:${'3'.repeat(64)}` },
        },
        { message: 'netrc with a password', path: '/home/astro/.netrc' },
        { message: 'docker config with auths', path: '/home/astro/.docker/config.json' },
      ],
    },
  ],
  discovery: {},
};

/** Undoes each format's escaping so names can be looked for as written. */
function readable(format: string, output: string): string {
  switch (format) {
    case 'github':
      return output.replace(/%(25|0D|0A|3A|2C)/g, (_, hex: string) =>
        String.fromCharCode(Number.parseInt(hex, 16)),
      );
    case 'junit':
      return output
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&apos;/g, "'")
        .replace(/&amp;/g, '&');
    case 'markdown':
      return output
        .replace(/\\(.)/g, '$1')
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&');
    case 'sarif':
      // Paths also appear percent-encoded in artifact URIs; messages and properties carry them as written.
      return JSON.stringify(JSON.parse(output));
    default:
      return output;
  }
}

describe('secret names reach the user in every format', () => {
  for (const format of outputFormats) {
    it(`${format}: names every key and path`, () => {
      const output = readable(format, formatReports([report], format, options));
      expect(output).toContain('IVC-SEC-001');
      expect(output).toContain('docker://127.0.0.1:5000/team/leaky:1.0.0');
      for (const name of names) expect(output, `${format} names ${name}`).toContain(name);
    });
  }

  it('sarif: a result per key or path, with the path as its location', () => {
    interface Result {
      locations: {
        physicalLocation: { artifactLocation: { uri: string } };
        logicalLocations?: { name: string }[];
      }[];
    }
    const sarif = JSON.parse(formatReports([report], 'sarif', options)) as { runs: { results: Result[] }[] };
    const results = sarif.runs[0]!.results;
    expect(results).toHaveLength(names.length);
    const uris = results.map((r) => r.locations[0]!.physicalLocation.artifactLocation.uri);
    expect(uris).toContain('127.0.0.1%3A5000/team/leaky/root/.ssh/id_rsa');
    expect(uris).toContain('127.0.0.1%3A5000/team/leaky/home/astro/.docker/config.json');
    const keys = results.flatMap((r) => r.locations[0]!.logicalLocations ?? []).map((l) => l.name);
    expect(keys).toEqual(['Env.AWS_SECRET_ACCESS_KEY', 'Env.GITHUB_TOKEN', 'Labels.org.example.db-password']);
  });
});
