/**
 * Platform, reference, port, base-path, volume and size rules over
 * hand-built evidence: IVC-PLAT-001/002, IVC-PORT-001/002, IVC-PATH-001,
 * IVC-VOL-001, IVC-SIZE-001.
 */
import { describe, expect, it } from 'vitest';
import type { ImageConfigBody, ImageIndex, Platform } from '../src/oci/descriptor.js';
import path001 from '../src/rules/ivc-path-001.js';
import plat001 from '../src/rules/ivc-plat-001.js';
import plat002 from '../src/rules/ivc-plat-002.js';
import port001 from '../src/rules/ivc-port-001.js';
import port002 from '../src/rules/ivc-port-002.js';
import size001 from '../src/rules/ivc-size-001.js';
import vol001 from '../src/rules/ivc-vol-001.js';
import type { Evidence, ResolvedProfile, Rule } from '../src/rules/types.js';
import { check, evidenceFor, ivoaProfileForTests } from './support/rule-evidence.js';

const ivoa = (name: string) => `net.ivoa.container.${name}`;
const digest = `sha256:${'ab'.repeat(32)}`;

/** A CANFAR-like profile: its own web types, one with a base path imposed; no /home mount. */
const canfarLike: ResolvedProfile = ivoaProfileForTests({
  name: 'canfar',
  types: {
    notebook: { behavesAs: 'notebook', port: 8888, requiredExecutables: ['jupyter'] },
    carta: { behavesAs: 'web', port: 6901 },
    contributed: { behavesAs: 'web', port: 5000, basePath: 'arg' },
    firefly: { behavesAs: 'web', port: 8080 },
    'desktop-app': { behavesAs: 'desktop-app', requiredExecutables: ['xterm'] },
    headless: { behavesAs: 'headless' },
  },
});
canfarLike.parameters = { ...canfarLike.parameters, platformMounts: ['/arc', '/scratch'] };

/** A kubeflow-like profile: notebook only, base path from NB_PREFIX, /home/jovyan mounted. */
const kubeflowLike: ResolvedProfile = ivoaProfileForTests({
  name: 'kubeflow',
  types: { notebook: { behavesAs: 'notebook', port: 8888, basePath: 'env:NB_PREFIX' } },
});
kubeflowLike.parameters = { ...kubeflowLike.parameters, platformMounts: ['/home/jovyan'] };

function image(config: ImageConfigBody): Evidence {
  return evidenceFor({ config });
}

function typed(type: string, config: ImageConfigBody = {}, labels: Record<string, string> = {}): Evidence {
  return image({ ...config, Labels: { [ivoa('type')]: type, ...labels } });
}

/** A notebook that gets ports and labels right for the ivoa profile. */
function notebook(ports: string[], labels: Record<string, string> = { [ivoa('port')]: '8888' }): Evidence {
  return typed('notebook', { ExposedPorts: Object.fromEntries(ports.map((port) => [port, {}])) }, labels);
}

describe('metadata', () => {
  const rules: [Rule, string, string[]][] = [
    [plat001, 'error', ['manifest']],
    [plat002, 'warning', ['reference']],
    [port001, 'error', ['config']],
    [port002, 'warning', ['config']],
    [path001, 'error', ['config', 'manifest']],
    [vol001, 'error', ['config']],
    [size001, 'warning', ['manifest']],
  ];
  it.each(rules.map(([rule, level, evidence]) => [rule.meta.id, rule, level, evidence] as const))(
    '%s: level, evidence, anchor, one-line help',
    (id, rule, level, evidence) => {
      expect(rule.meta.level).toBe(level);
      expect(rule.meta.evidence).toEqual(evidence);
      expect(rule.meta.specAnchor).toBe(id.toLowerCase());
      expect(rule.meta.help).not.toContain('\n');
      expect(rule.meta.rationale.length).toBeGreaterThan(20);
    },
  );
});

describe('IVC-PLAT-001 linux/amd64 available', () => {
  const amd64: Platform = { os: 'linux', architecture: 'amd64' };
  const arm64: Platform = { os: 'linux', architecture: 'arm64', variant: 'v8' };

  /** Evidence as the engine builds it for an index: the chosen platform is what was loaded. */
  function fromIndex(platforms: Platform[], loaded: Platform): Evidence {
    const evidence = evidenceFor({ platforms });
    const manifest = evidence.manifest!;
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: platforms.map((platform) => ({ ...manifest.descriptor, platform })),
    };
    manifest.index = index;
    manifest.platform = loaded;
    manifest.wantedPlatformFound = platforms.some((p) => p.architecture === 'amd64');
    return evidence;
  }

  it('passes a single linux/amd64 manifest', () => {
    const result = check(plat001, evidenceFor());
    expect(result.status).toBe('pass');
    expect(result.message).toBe('linux/amd64 is available');
  });

  it('passes an index with an amd64 entry and lists the offer', () => {
    const result = check(plat001, fromIndex([arm64, amd64], amd64));
    expect(result.status).toBe('pass');
    expect(result.message).toBe('linux/amd64 is available; the index offers linux/arm64/v8, linux/amd64');
  });

  it('fails an index without amd64, naming what it offers', () => {
    const result = check(plat001, fromIndex([arm64, { os: 'linux', architecture: 'ppc64le' }], arm64));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.message).toBe('no linux/amd64 image: the index offers only linux/arm64/v8, linux/ppc64le');
    expect(result.evidence).toEqual({ platforms: ['linux/arm64/v8', 'linux/ppc64le'], index: true });
  });

  it('fails a single arm64 manifest', () => {
    const evidence = evidenceFor();
    evidence.manifest!.platform = arm64;
    evidence.manifest!.platforms = [arm64];
    const result = check(plat001, evidence);
    expect(result.status).toBe('fail');
    expect(result.message).toBe('no linux/amd64 image: the image offers only linux/arm64/v8');
  });

  it('fails windows/amd64', () => {
    const windows = { os: 'windows', architecture: 'amd64' };
    const result = check(plat001, fromIndex([windows], windows));
    expect(result.status).toBe('fail');
  });

  it('is about linux/amd64 even when another platform was asked for', () => {
    const evidence = fromIndex([arm64, amd64], arm64);
    evidence.manifest!.wantedPlatform = arm64;
    evidence.manifest!.wantedPlatformFound = true;
    expect(check(plat001, evidence).status).toBe('pass');
  });

  it('names an amd64 variant', () => {
    const v3 = { os: 'linux', architecture: 'amd64', variant: 'v3' };
    const result = check(plat001, fromIndex([v3], v3));
    expect(result.status).toBe('pass');
    expect(result.message).toBe('linux/amd64 (variant v3) is available');
  });
});

describe('IVC-PLAT-002 digest or immutable tag', () => {
  const judged = (input: string) => check(plat002, evidenceFor({ input }));

  it.each([
    `registry.example.org/team/app@${digest}`,
    `docker://team/app:latest@${digest}`,
    `docker-daemon:app@${digest}`,
    `docker-daemon:sha256:${'cd'.repeat(32)}`,
  ])('passes %s (digest)', (input) => {
    expect(judged(input).status).toBe('pass');
  });

  it.each([
    ['docker://127.0.0.1:5100/team/app:1.0.0', 'version'],
    ['team/app:v2.3.0', 'version'],
    ['team/app:1.2.3-rc1', 'version'],
    ['team/app:2.3.0-cuda12', 'version'],
    ['python:3.11.4-slim-bookworm', 'version'],
    ['team/app:2024-05-01', 'date'],
    ['team/app:20240501', 'date'],
    ['team/app:2025.03.14', 'date'],
    ['team/app:2024-05-01-a1b2c3d', 'date'],
    ['team/app:20240501T1200', 'date'],
    ['docker-daemon:team/app:1.0.0', 'version'],
    ['docker-archive:/tmp/app.tar:team/app:2.1.0', 'version'],
    ['oci:/tmp/layout:1.0.0', 'version'],
    ['oci-archive:/tmp/app.tar:2024-05-01', 'date'],
  ])('passes %s (%s tag)', (input, kind) => {
    const result = judged(input);
    expect(result.status, result.message).toBe('pass');
    expect(result.evidence).toMatchObject({ kind });
  });

  it('fails latest', () => {
    const result = judged('team/app:latest');
    expect(result.status).toBe('fail');
    expect(result.level).toBe('warning');
    expect(result.message).toBe("the reference uses tag 'latest', which moves with every push");
  });

  it('fails no tag, which means latest', () => {
    for (const input of ['team/app', 'docker://registry.example.org:5000/team/app']) {
      const result = judged(input);
      expect(result.status).toBe('fail');
      expect(result.message).toBe(
        "the reference has no tag, so it means 'latest', which moves with every push",
      );
    }
  });

  it.each([
    ['main', 'neither a full version nor a date'],
    ['stable', 'neither a full version nor a date'],
    ['latest-gpu', 'neither a full version nor a date'],
    ['sha-4f9a2c1', 'neither a full version nor a date'],
    ['3', 'a partial version, which moves with each release'],
    ['3.11', 'a partial version, which moves with each release'],
    ['v1.2', 'a partial version, which moves with each release'],
    ['2024.05', 'a month, not a full date'],
    ['2024-13-01', 'neither a full version nor a date'],
  ])('fails the mutable-looking tag %s', (tag, why) => {
    const result = judged(`team/app:${tag}`);
    expect(result.status).toBe('fail');
    expect(result.message).toBe(`the reference uses tag '${tag}', which does not look immutable (${why})`);
  });

  it('judges daemon and archive names the same way', () => {
    expect(judged('docker-daemon:team/app').message).toBe(
      "the daemon image name has no tag, so it means 'latest', which moves with every push",
    );
    expect(judged('docker-archive:/tmp/app.tar:team/app:latest').status).toBe('fail');
    expect(judged('oci:/tmp/layout:main').status).toBe('fail');
    expect(judged('oci-archive:/tmp/app.tar:latest').message).toBe(
      "the OCI archive reference name uses tag 'latest', which moves with every push",
    );
  });

  it('passes, as not applicable, a local file with no reference name', () => {
    for (const input of ['oci:/tmp/layout', 'oci-archive:/tmp/app.tar', 'docker-archive:/tmp/app.tar']) {
      const result = judged(input);
      expect(result.status).toBe('pass');
      expect(result.message).toMatch(/^a local .*: no tag to judge, the rule does not apply$/);
    }
    expect(judged('docker-archive:/tmp/app.tar:@1').message).toBe(
      'a local docker archive, image @1: no tag to judge, the rule does not apply',
    );
  });

  it('passes an OCI layout image named by a digest', () => {
    const result = judged(`oci:/tmp/layout:${digest}`);
    expect(result.status).toBe('pass');
    expect(result.message).toBe('the OCI layout image is picked by digest');
  });
});

describe('IVC-PORT-001 well-known port', () => {
  it.each([['8888/tcp'], ['8888']])('passes EXPOSE %s with the label', (port) => {
    const result = check(port001, notebook([port]));
    expect(result.status, result.message).toBe('pass');
    expect(result.message).toBe(
      `EXPOSE ${port} and net.ivoa.container.port="8888" match the profile's port for type 'notebook'`,
    );
  });

  it('fails EXPOSE 8080 for a notebook', () => {
    const result = check(port001, notebook(['8080/tcp'], { [ivoa('port')]: '8080' }));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.message).toBe(
      "EXPOSE 8080/tcp, but the profile's port for type 'notebook' is 8888/tcp; net.ivoa.container.port is 8080, but the profile's port for type 'notebook' is 8888",
    );
    expect(result.findings?.map((finding) => finding.key)).toEqual([
      'ExposedPorts',
      `Labels.${ivoa('port')}`,
    ]);
  });

  it('fails no EXPOSE at all', () => {
    const result = check(port001, notebook([]));
    expect(result.status).toBe('fail');
    expect(result.message).toBe("no port is exposed, but the profile's port for type 'notebook' is 8888/tcp");
  });

  it('a UDP port does not count', () => {
    const result = check(port001, notebook(['8888/udp']));
    expect(result.status).toBe('fail');
    expect(result.message).toBe(
      "EXPOSE 8888/udp is not TCP, but the profile's port for type 'notebook' is 8888/tcp",
    );
  });

  it('fails when the label is missing, disagrees, or is not a number', () => {
    expect(check(port001, notebook(['8888/tcp'], {})).message).toBe(
      'net.ivoa.container.port is not set (should be "8888")',
    );
    expect(check(port001, notebook(['8888/tcp'], { [ivoa('port')]: '9999' })).message).toBe(
      "net.ivoa.container.port is 9999, but the profile's port for type 'notebook' is 8888",
    );
    expect(check(port001, notebook(['8888/tcp'], { [ivoa('port')]: 'abc' })).message).toBe(
      'net.ivoa.container.port \'abc\' is not a port number (should be "8888")',
    );
  });

  it('reads the port label from a manifest annotation', () => {
    const evidence = evidenceFor({
      config: { ExposedPorts: { '8888/tcp': {} }, Labels: { [ivoa('type')]: 'notebook' } },
      annotations: { [ivoa('port')]: '8888' },
    });
    expect(check(port001, evidence).status).toBe('pass');
  });

  it('fails a well-known port below 1024 (profile with port 80)', () => {
    const profile = ivoaProfileForTests();
    profile.types = { ...profile.types, web: { behavesAs: 'web', port: 80 } };
    const evidence = typed('web', { ExposedPorts: { '80/tcp': {} } }, { [ivoa('port')]: '80' });
    const result = check(port001, evidence, profile);
    expect(result.status).toBe('fail');
    expect(result.message).toBe(
      "port 80, the profile's port for type 'web', is below 1024, which only root can bind",
    );
    expect(result.findings).toEqual([{ message: result.message, key: 'ExposedPorts.80/tcp' }]);
  });

  it("uses the profile's port for its own types", () => {
    const ok = typed('carta', { ExposedPorts: { '6901/tcp': {} } }, { [ivoa('port')]: '6901' });
    expect(check(port001, ok, canfarLike).status).toBe('pass');
    const wrong = typed('firefly', { ExposedPorts: { '8888/tcp': {} } }, { [ivoa('port')]: '8888' });
    const result = check(port001, wrong, canfarLike);
    expect(result.status).toBe('fail');
    expect(result.message).toContain(
      "EXPOSE 8888/tcp, but the profile's port for type 'firefly' (behaves as web) is 8080/tcp",
    );
  });

  it('passes non-interactive types', () => {
    for (const type of ['headless', 'desktop-app']) {
      const result = check(port001, typed(type));
      expect(result.status).toBe('pass');
      expect(result.message).toBe(
        `type '${type}' is not interactive: no well-known port required, the rule does not apply`,
      );
    }
  });

  it('skips without a known session type', () => {
    expect(check(port001, image({ ExposedPorts: { '8888/tcp': {} } })).message).toBe(
      'skipped: no known session type: net.ivoa.container.type is not set (IVC-META-003)',
    );
    const result = check(port001, typed('carta'));
    expect(result.status).toBe('skip');
    expect(result.message).toBe(
      "skipped: no known session type: 'carta' is not a type of profile 'ivoa' (IVC-META-003)",
    );
  });

  it("checks the label's port when the profile gives an interactive type none", () => {
    const profile = ivoaProfileForTests();
    profile.types = { ...profile.types, web: { behavesAs: 'web' } };
    const ok = typed('web', { ExposedPorts: { '9000/tcp': {} } }, { [ivoa('port')]: '9000' });
    expect(check(port001, ok, profile).message).toBe(
      'EXPOSE 9000/tcp and net.ivoa.container.port="9000" match the port the label declares',
    );
    const unexposed = typed('web', { ExposedPorts: { '8080/tcp': {} } }, { [ivoa('port')]: '9000' });
    expect(check(port001, unexposed, profile).message).toBe(
      'EXPOSE 8080/tcp, but the port the label declares is 9000/tcp',
    );
    const unlabelled = check(port001, typed('web', { ExposedPorts: { '9000/tcp': {} } }), profile);
    expect(unlabelled.status).toBe('fail');
    expect(unlabelled.message).toBe(
      "net.ivoa.container.port is not set; profile 'ivoa' gives type 'web' no port either",
    );
    const low = typed('web', { ExposedPorts: { '443/tcp': {} } }, { [ivoa('port')]: '443' });
    expect(check(port001, low, profile).message).toBe(
      'port 443, the port the label declares, is below 1024, which only root can bind',
    );
  });
});

describe('IVC-PORT-002 no other ports', () => {
  it('passes the well-known port alone, in either spelling', () => {
    expect(check(port002, notebook(['8888/tcp'])).status).toBe('pass');
    expect(check(port002, notebook(['8888'])).status).toBe('pass');
    expect(check(port002, notebook([])).message).toBe('no port is exposed');
  });

  it('warns about extra ports, one finding each', () => {
    const result = check(port002, notebook(['8888/tcp', '8080/tcp', '8888/udp']));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('warning');
    expect(result.message).toBe(
      "EXPOSE 8080/tcp, 8888/udp besides the port 8888/tcp for type 'notebook'; the platform routes only 8888",
    );
    expect(result.findings).toEqual([
      { message: 'EXPOSE 8080/tcp is not routed by the platform', key: 'ExposedPorts.8080/tcp' },
      { message: 'EXPOSE 8888/udp is not routed by the platform', key: 'ExposedPorts.8888/udp' },
    ]);
  });

  it('counts a range around the port as extra, and a non-port key', () => {
    const result = check(port002, notebook(['8000-9000/tcp', 'http']));
    expect(result.findings?.map((finding) => finding.message)).toEqual([
      'EXPOSE 8000-9000/tcp exposes a range; the platform routes only 8888',
      'EXPOSE http is not a port',
    ]);
  });

  it('warns about any port of a non-interactive type', () => {
    const result = check(port002, typed('headless', { ExposedPorts: { '8080/tcp': {} } }));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('warning');
    expect(result.message).toBe(
      "type 'headless' is not interactive, yet it exposes 8080/tcp; the platform routes no port to it",
    );
    expect(result.findings).toEqual([
      { message: 'EXPOSE 8080/tcp is not routed by the platform', key: 'ExposedPorts.8080/tcp' },
    ]);
    const quiet = check(port002, typed('desktop-app'));
    expect(quiet.status).toBe('pass');
    expect(quiet.message).toBe("type 'desktop-app' is not interactive and exposes no port");
  });

  it("uses the label's port when the profile gives the type none", () => {
    const profile = ivoaProfileForTests();
    profile.types = { ...profile.types, web: { behavesAs: 'web' } };
    const ports = { ExposedPorts: { '9000/tcp': {}, '9001/tcp': {} } };
    const result = check(port002, typed('web', ports, { [ivoa('port')]: '9000' }), profile);
    expect(result.findings?.map((finding) => finding.key)).toEqual(['ExposedPorts.9001/tcp']);
    expect(check(port002, typed('web', ports), profile).status).toBe('skip');
  });

  it('skips without a known session type', () => {
    expect(check(port002, image({ ExposedPorts: { '22/tcp': {} } })).status).toBe('skip');
  });
});

describe('IVC-PATH-001 base path', () => {
  const withPath = (type: string, basePath?: string) =>
    typed(type, {}, basePath === undefined ? {} : { [ivoa('base-path')]: basePath });

  it.each(['env:BASE_URL', 'env:NB_PREFIX', 'env:_x1', 'arg'])('passes %s for a notebook', (value) => {
    const result = check(path001, withPath('notebook', value));
    expect(result.status).toBe('pass');
    expect(result.message).toBe(`type 'notebook' declares base-path '${value}'`);
  });

  it('fails a missing base path on an interactive type', () => {
    const result = check(path001, withPath('web'));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.message).toBe(
      "net.ivoa.container.base-path is not set; type 'web' must declare 'env:NAME' or 'arg'",
    );
    expect(result.findings).toEqual([{ message: result.message, key: `Labels.${ivoa('base-path')}` }]);
  });

  it.each([
    ['env:', "'env:' is not 'env:NAME' or 'arg' (NAME must be"],
    ['env:1PATH', "'env:1PATH' is not 'env:NAME' or 'arg' (NAME must be"],
    ['env:NB-PREFIX', "'env:NB-PREFIX' is not 'env:NAME' or 'arg' (NAME must be"],
    ['ARG', "'ARG' is not 'env:NAME' or 'arg' (the form is lower-case: 'arg')"],
    ['ENV:NB_PREFIX', "'ENV:NB_PREFIX' is not 'env:NAME' or 'arg' (the form is lower-case: 'env:NB_PREFIX')"],
    ['/session/notebook', "'/session/notebook' is not 'env:NAME' or 'arg'"],
    ['$NB_PREFIX', "'$NB_PREFIX' is not 'env:NAME' or 'arg'"],
  ])('fails the form %s', (value, message) => {
    const result = check(path001, withPath('notebook', value));
    expect(result.status).toBe('fail');
    expect(result.message).toContain(message);
  });

  it('passes non-interactive types without a base path', () => {
    const result = check(path001, withPath('headless'));
    expect(result.status).toBe('pass');
    expect(result.message).toBe(
      "type 'headless' is not interactive: no base path needed, the rule does not apply",
    );
  });

  it('skips without a known session type', () => {
    expect(check(path001, image({ Labels: { [ivoa('base-path')]: 'arg' } })).status).toBe('skip');
  });

  describe('a form the profile imposes', () => {
    it('passes the imposed form', () => {
      const result = check(path001, withPath('contributed', 'arg'), canfarLike);
      expect(result.status).toBe('pass');
      expect(result.message).toBe(
        "type 'contributed' (behaves as web) declares base-path 'arg', as profile 'canfar' imposes",
      );
      expect(check(path001, withPath('notebook', 'env:NB_PREFIX'), kubeflowLike).status).toBe('pass');
    });

    it('fails no label, naming the form to declare', () => {
      const result = check(path001, withPath('contributed'), canfarLike);
      expect(result.status).toBe('fail');
      expect(result.message).toBe(
        "net.ivoa.container.base-path is not set; profile 'canfar' passes the path to type 'contributed' (behaves as web) as 'arg': declare that",
      );
    });

    it('fails a different form', () => {
      const result = check(path001, withPath('notebook', 'env:BASE_URL'), kubeflowLike);
      expect(result.status).toBe('fail');
      expect(result.message).toBe(
        "net.ivoa.container.base-path is 'env:BASE_URL', but profile 'kubeflow' passes the path to type 'notebook' as 'env:NB_PREFIX'",
      );
      expect(check(path001, withPath('contributed', 'env:SESSION'), canfarLike).status).toBe('fail');
      expect(check(path001, withPath('notebook', 'arg'), kubeflowLike).status).toBe('fail');
    });

    it('still wants a form where the profile imposes none', () => {
      expect(check(path001, withPath('carta'), canfarLike).status).toBe('fail');
    });
  });
});

describe('IVC-VOL-001 volumes vs platform mounts', () => {
  const volumes = (...paths: string[]) => image({ Volumes: Object.fromEntries(paths.map((p) => [p, {}])) });

  it('passes no VOLUME and volumes elsewhere', () => {
    expect(check(vol001, image({})).message).toBe('no VOLUME declared');
    const result = check(vol001, volumes('/data', '/opt/cache', '/homework'));
    expect(result.status).toBe('pass');
    expect(result.message).toBe(
      'VOLUME /data, /opt/cache, /homework clear the platform mounts /arc, /scratch, /home',
    );
  });

  it('fails a VOLUME equal to a mount, trailing slashes and all', () => {
    const result = check(vol001, volumes('/home/', '//scratch'));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.findings).toEqual([
      { message: 'VOLUME /home/ is the platform mount /home', key: 'Volumes./home/' },
      { message: 'VOLUME //scratch is the platform mount /scratch', key: 'Volumes.//scratch' },
    ]);
    expect(result.message).toBe(
      "VOLUME /home/ is the platform mount /home; VOLUME //scratch is the platform mount /scratch (profile 'ivoa' mounts /arc, /scratch, /home)",
    );
  });

  it('fails a VOLUME under a mount', () => {
    const result = check(vol001, volumes('/home/jovyan/work'));
    expect(result.status).toBe('fail');
    expect(result.findings?.[0]?.message).toBe(
      'VOLUME /home/jovyan/work lies inside the platform mount /home',
    );
  });

  it('fails a VOLUME that contains a mount', () => {
    const result = check(vol001, volumes('/home'), kubeflowLike);
    expect(result.status).toBe('fail');
    expect(result.findings?.[0]?.message).toBe('VOLUME /home contains the platform mount /home/jovyan');
    expect(check(vol001, volumes('/')).findings?.[0]?.message).toBe(
      'VOLUME / contains the platform mounts /arc, /scratch, /home',
    );
  });

  it("follows the profile's mounts", () => {
    expect(check(vol001, volumes('/home/user'), canfarLike).status).toBe('pass');
    expect(check(vol001, volumes('/arc/projects'), canfarLike).status).toBe('fail');
  });
});

describe('IVC-SIZE-001 layer count and size', () => {
  const GiB = 1024 ** 3;
  const sized = (sizes: number[]) => evidenceFor({ layerSizes: sizes });

  it('passes within both limits', () => {
    const result = check(size001, sized([300 * 1024 ** 2, 1.2 * GiB]));
    expect(result.status).toBe('pass');
    expect(result.message).toBe('2 layers (limit 40), 1.5 GiB compressed (limit 20 GiB)');
  });

  it('warns about too many layers', () => {
    const result = check(size001, sized(Array.from({ length: 41 }, () => 1000)));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('warning');
    expect(result.message).toBe("41 layers, more than the profile's limit of 40 (profile 'ivoa')");
    expect(result.evidence).toMatchObject({ layers: 41, maxLayers: 40 });
  });

  it('warns about too many bytes', () => {
    const result = check(size001, sized([15 * GiB, 6 * GiB]));
    expect(result.status).toBe('fail');
    expect(result.message).toBe(
      "21 GiB of compressed layers, more than the profile's limit of 20 GiB (profile 'ivoa')",
    );
  });

  it('reports both limits at once, against the profile parameters', () => {
    const profile = ivoaProfileForTests();
    profile.parameters = { ...profile.parameters, maxLayers: 2, maxCompressedBytes: 1024 ** 2 };
    const result = check(size001, sized([1024 ** 2, 1024 ** 2, 1]), profile);
    expect(result.status).toBe('fail');
    expect(result.findings).toHaveLength(2);
    expect(result.message).toBe(
      "3 layers, more than the profile's limit of 2; 2 MiB of compressed layers, more than the profile's limit of 1 MiB (profile 'ivoa')",
    );
  });

  it('passes exactly at the limits', () => {
    const profile = ivoaProfileForTests();
    profile.parameters = { ...profile.parameters, maxLayers: 2, maxCompressedBytes: 2000 };
    expect(check(size001, sized([1000, 1000]), profile).status).toBe('pass');
  });
});
