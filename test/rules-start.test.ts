/**
 * Startup rules over hand-built evidence: IVC-START-001 (a recipe),
 * IVC-START-002 (its program on the image's PATH, shebang interpreters),
 * IVC-START-003 (the platform's startup and init scripts), IVC-START-004
 * (type-specific executables).
 */
import { describe, expect, it } from 'vitest';
import type { ImageConfigBody } from '../src/oci/descriptor.js';
import { FileSystemView } from '../src/oci/layer/filesystem.js';
import start001 from '../src/rules/ivc-start-001.js';
import start002 from '../src/rules/ivc-start-002.js';
import start003 from '../src/rules/ivc-start-003.js';
import start004 from '../src/rules/ivc-start-004.js';
import type { ResolvedProfile, Rule } from '../src/rules/types.js';
import { execEnding } from '../src/rules/util/startup-script.js';
import {
  check,
  type EntrySpec,
  evidenceFor,
  ivoaProfileForTests,
  type LayerSpec,
  layerFacts,
  scannedEvidence,
} from './support/rule-evidence.js';

const ivoa = (name: string) => `net.ivoa.container.${name}`;

/** An ELF executable (the scan's 'elf' probe says so). */
const bin = (path: string, mode = 0o755): EntrySpec => ({ path, mode, probes: { elf: 'elf' } });
/** An executable script with a body. */
const script = (path: string, body: string, mode = 0o755): EntrySpec => ({ path, mode, body });

const baseSystem: EntrySpec[] = [bin('/bin/sh'), bin('/bin/bash'), bin('/usr/bin/env')];

function canfarProfile(): ResolvedProfile {
  const profile = ivoaProfileForTests({
    name: 'canfar',
    types: {
      notebook: { behavesAs: 'notebook', port: 8888, requiredExecutables: ['jupyter'] },
      'desktop-app': { behavesAs: 'desktop-app', requiredExecutables: ['xterm'] },
      headless: { behavesAs: 'headless' },
    },
  });
  profile.parameters = {
    ...profile.parameters,
    platformMounts: ['/arc', '/scratch'],
    startupScript: '/skaha/startup.sh',
    startupStyle: 'exec',
    initScript: '/skaha/init.sh',
  };
  return profile;
}

function image(config: ImageConfigBody, entries?: EntrySpec[], more: LayerSpec[] = []) {
  return entries === undefined
    ? evidenceFor({ config })
    : evidenceFor({ config, layers: [{ entries }, ...more] });
}

describe('metadata', () => {
  const rules: [Rule, string[]][] = [
    [start001, ['config']],
    [start002, ['fs']],
    [start003, ['fs']],
    [start004, ['fs']],
  ];
  it.each(rules)('%# is an error rule with an anchor and one-line help', (rule, kinds) => {
    expect(rule.meta.level).toBe('error');
    expect(rule.meta.evidence).toEqual(kinds);
    expect(rule.meta.specAnchor).toBe(rule.meta.id.toLowerCase());
    expect(rule.meta.help).not.toContain('\n');
  });

  it('declares the probes and bodies the fs rules read', () => {
    expect(start002.meta.capture?.probes).toEqual(['shebang', 'elf']);
    expect(start003.meta.capture?.globs).toEqual(['/skaha/*.sh']);
  });
});

describe('IVC-START-001 a startup recipe exists', () => {
  it('passes a Cmd or an Entrypoint on the config alone', () => {
    expect(check(start001, image({ Cmd: ['jupyter', 'lab'] })).status).toBe('pass');
    expect(check(start001, image({ Entrypoint: ['/usr/local/bin/start'] })).status).toBe('pass');
  });

  it('fails no recipe, and a recipe of empty strings', () => {
    for (const config of [{}, { Cmd: [''] }, { Entrypoint: [''], Cmd: [] }, { Cmd: null }]) {
      const result = check(start001, image(config as ImageConfigBody));
      expect(result.status).toBe('fail');
      expect(result.message).toContain('no startup script');
      expect(result.findings?.[0]?.key).toBe('Cmd');
    }
    expect(check(start001, image({ Cmd: [''] })).message).toContain('only empty strings');
    expect(check(start001, image({})).message).toContain('neither Entrypoint nor Cmd is set');
  });

  it('under a profile with a startup script: passes when the image ships it, fails when not', () => {
    const profile = canfarProfile();
    const shipped = image({}, [script('/skaha/startup.sh', '#!/bin/sh\nexec "$@"\n')]);
    expect(check(start001, shipped, profile).status).toBe('pass');
    const missing = check(start001, image({}, [bin('/bin/sh')]), profile);
    expect(missing.status).toBe('fail');
    expect(missing.message).toContain('/skaha/startup.sh');
  });

  it('skips when it needs the filesystem to look for the startup script and it was not read', () => {
    const result = check(start001, image({}), canfarProfile());
    expect(result.status).toBe('skip');
    expect(result.message).toContain('/skaha/startup.sh');
  });

  it('does not echo credential-looking arguments', () => {
    const result = check(start001, image({ Cmd: ['jupyter', 'lab', '--ServerApp.token=hunter2hunter2'] }));
    expect(result.status).toBe('pass');
    expect(JSON.stringify(result)).not.toContain('hunter2hunter2');
  });
});

describe('IVC-START-002 the program exists and is executable', () => {
  it('skips without the filesystem', () => {
    expect(check(start002, image({ Cmd: ['jupyter'] })).status).toBe('skip');
  });

  it("finds a program only on the image's own PATH from Env", () => {
    const entries = [...baseSystem, bin('/opt/conda/bin/jupyter')];
    const withPath = check(
      start002,
      image({ Env: ['PATH=/opt/conda/bin:/usr/bin:/bin'], Cmd: ['jupyter', 'lab'] }, entries),
    );
    expect(withPath.status).toBe('pass');
    expect(withPath.message).toContain('/opt/conda/bin/jupyter');
    const defaultPath = check(start002, image({ Cmd: ['jupyter', 'lab'] }, entries));
    expect(defaultPath.status).toBe('fail');
    expect(defaultPath.message).toContain('jupyter is not on the image PATH');
    expect(defaultPath.message).toContain('/opt/conda/bin/jupyter');
    expect(defaultPath.findings?.[0]?.key).toBe('Cmd');
  });

  it('takes the Entrypoint before Cmd, and a relative path from WorkingDir', () => {
    const entries = [...baseSystem, script('/app/run.sh', '#!/bin/sh\nexec "$@"\n')];
    expect(
      check(start002, image({ Entrypoint: ['./run.sh'], Cmd: ['x'], WorkingDir: '/app' }, entries)).status,
    ).toBe('pass');
    const wrongDir = check(start002, image({ Entrypoint: ['./run.sh'], WorkingDir: '/srv' }, entries));
    expect(wrongDir.status).toBe('fail');
    expect(wrongDir.message).toContain('/srv/run.sh does not exist');
    expect(wrongDir.findings?.[0]?.key).toBe('Entrypoint');
  });

  it('fails a program that is not executable, naming it with its layer', () => {
    const result = check(
      start002,
      image({ Entrypoint: ['/start.sh'] }, [...baseSystem, script('/start.sh', '#!/bin/bash\n', 0o644)]),
    );
    expect(result.status).toBe('fail');
    expect(result.message).toContain('/start.sh is not executable');
    expect(result.findings?.[0]).toMatchObject({ path: '/start.sh', layer: { index: 0 } });
  });

  it('fails a symbolic link to a file a later layer deleted', () => {
    const result = check(
      start002,
      image(
        { Entrypoint: ['/usr/local/bin/start'] },
        [...baseSystem, { path: '/usr/local/bin/start', linkname: '/opt/app/start' }, bin('/opt/app/start')],
        [{ entries: [], whiteouts: ['/opt/app/start'] }],
      ),
    );
    expect(result.status).toBe('fail');
    expect(result.message).toContain('symbolic link to /opt/app/start, which does not exist');
  });

  it("passes a script whose '#!' interpreter exists; fails when it is missing", () => {
    const ok = check(
      start002,
      image({ Entrypoint: ['/start.sh'] }, [...baseSystem, script('/start.sh', '#!/bin/bash\nexec "$@"\n')]),
    );
    expect(ok.status).toBe('pass');
    expect(ok.message).toContain('/bin/bash');
    const missing = check(
      start002,
      image({ Entrypoint: ['/start.sh'] }, [bin('/bin/sh'), script('/start.sh', '#!/bin/bash\nexec "$@"\n')]),
    );
    expect(missing.status).toBe('fail');
    expect(missing.message).toContain("'#!/bin/bash'");
    expect(missing.message).toContain('/bin/bash does not exist');
  });

  it('looks up the command of `#!/usr/bin/env python3` on the PATH', () => {
    const entries = [...baseSystem, script('/usr/local/bin/reduce', '#!/usr/bin/env python3\nprint(1)\n')];
    const absent = check(start002, image({ Cmd: ['reduce'] }, entries));
    expect(absent.status).toBe('fail');
    expect(absent.message).toContain('python3 is not on the image PATH');
    const found = check(
      start002,
      image({ Env: ['PATH=/opt/py/bin:/usr/local/bin:/usr/bin:/bin'], Cmd: ['reduce'] }, [
        ...entries,
        bin('/opt/py/bin/python3'),
      ]),
    );
    expect(found.status).toBe('pass');
    expect(found.evidence?.chain).toEqual(['/usr/local/bin/reduce', '/usr/bin/env', '/opt/py/bin/python3']);
  });

  it('explains `#!/usr/bin/env python3 -u` (one word for env without -S)', () => {
    const entries = [
      ...baseSystem,
      bin('/usr/bin/python3'),
      script('/usr/local/bin/tool', '#!/usr/bin/env python3 -u\n'),
    ];
    const result = check(start002, image({ Cmd: ['tool'] }, entries));
    expect(result.status).toBe('fail');
    expect(result.message).toContain('without -S');
  });

  it('fails an executable with neither a shebang nor an ELF header', () => {
    const result = check(
      start002,
      image({ Cmd: ['/run'] }, [{ path: '/run', mode: 0o755, body: 'echo hi\n' }]),
    );
    expect(result.status).toBe('fail');
    expect(result.message).toContain('exec format error');
  });

  it('checks the shell of `sh -c` and the first word of its string when it is a plain word', () => {
    const ok = check(
      start002,
      image({ Cmd: ['/bin/sh', '-c', 'exec jupyter lab'] }, [...baseSystem, bin('/usr/bin/jupyter')]),
    );
    expect(ok.status).toBe('pass');
    expect(ok.evidence?.shellCommand).toBe('/usr/bin/jupyter');
    const missing = check(
      start002,
      image({ Cmd: ['/bin/sh', '-c', 'jupyter lab --ip=0.0.0.0'] }, baseSystem),
    );
    expect(missing.status).toBe('fail');
    expect(missing.message).toContain(
      'the first command of the sh -c string: jupyter is not on the image PATH',
    );
    // Builtins, expansions and login shells are not second-guessed.
    for (const argv of [
      ['/bin/sh', '-c', 'source /opt/env && jupyter lab'],
      ['/bin/sh', '-c', '$APP --port 8888'],
      ['/bin/bash', '-lc', 'jupyter lab'],
    ]) {
      expect(check(start002, image({ Cmd: argv }, baseSystem)).status).toBe('pass');
    }
    const noShell = check(start002, image({ Cmd: ['/bin/sh', '-c', 'true'] }, [bin('/bin/bash')]));
    expect(noShell.status).toBe('fail');
    expect(noShell.message).toContain('/bin/sh does not exist');
  });

  it('notes a program that others cannot execute, without failing', () => {
    const result = check(start002, image({ Entrypoint: ['/opt/start'] }, [bin('/opt/start', 0o750)]));
    expect(result.status).toBe('pass');
    expect(result.message).toContain('not executable by others');
  });

  it('passes with nothing to check when there is no recipe', () => {
    expect(check(start002, image({}, baseSystem)).status).toBe('pass');
  });

  it('fails a symbolic link loop on the program path (an error of the image, not a crash)', () => {
    const result = check(
      start002,
      image({ Entrypoint: ['/a'] }, [
        { path: '/a', linkname: '/b' },
        { path: '/b', linkname: '/a' },
      ]),
    );
    expect(result.status).toBe('fail');
    expect(result.message).toMatch(/symbolic links/);
  });
});

describe('IVC-START-003 the startup script', () => {
  const good =
    '#!/bin/bash\n# /skaha/startup.sh\nsource /opt/conda/etc/profile.d/conda.sh\nconda activate science\nexec "$@"\n';

  it('passes under a profile without a startup script', () => {
    const result = check(start003, image({}, baseSystem));
    expect(result.status).toBe('pass');
    expect(result.message).toContain('has no startup script');
  });

  it('passes an image that ships neither script', () => {
    const result = check(start003, image({ Cmd: ['x'] }, baseSystem), canfarProfile());
    expect(result.status).toBe('pass');
    expect(result.message).toContain('ships neither');
  });

  it('passes an executable script with a shebang ending in exec "$@"', () => {
    const result = check(
      start003,
      image({}, [...baseSystem, script('/skaha/startup.sh', good)]),
      canfarProfile(),
    );
    expect(result.status).toBe('pass');
    expect(result.message).toContain('exec "$@"');
  });

  it('fails a script without execute bits, naming its path and layer', () => {
    const result = check(
      start003,
      image({}, [...baseSystem, script('/skaha/startup.sh', good, 0o644)]),
      canfarProfile(),
    );
    expect(result.status).toBe('fail');
    expect(result.message).toContain('not executable (mode 0644)');
    expect(result.findings?.[0]).toMatchObject({ path: '/skaha/startup.sh', layer: { index: 0 } });
  });

  it('fails a script without a shebang', () => {
    const result = check(start003, image({}, [script('/skaha/startup.sh', 'exec "$@"\n')]), canfarProfile());
    expect(result.status).toBe('fail');
    expect(result.message).toContain("does not start with a '#!' line");
  });

  it.each([
    ['"$@"', /without exec/],
    ['exec $@', /double quotes/],
    ['exec jupyter lab', /ignores the arguments/],
    ['sleep infinity', /not `exec "\$@"`/],
    ['exec "$@" &', /background/],
  ])('fails a script ending with %s', (ending, message) => {
    const result = check(
      start003,
      image({}, [...baseSystem, script('/skaha/startup.sh', `#!/bin/sh\n${ending}\n`)]),
      canfarProfile(),
    );
    expect(result.status).toBe('fail');
    expect(result.message).toMatch(message);
  });

  it('tolerates trailing comments and blank lines, the braced form, `--` and a wrapper', () => {
    for (const ending of [
      'exec "$@"   # hand over\n\n# done\n',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text, not a template
      'exec "${@}"',
      'exec -- "$@"',
      'cd /work && exec "$@"',
      'exec tini -- "$@"',
    ]) {
      expect(execEnding(`#!/bin/sh\nset -e\n${ending}\n`).ok).toBe(true);
    }
  });

  it('checks the init script: executable, shebang, and it returns', () => {
    const profile = canfarProfile();
    const ok = check(
      start003,
      image({}, [...baseSystem, script('/skaha/init.sh', '#!/bin/sh\nmkdir -p "$HOME/.config"\n')]),
      profile,
    );
    expect(ok.status).toBe('pass');
    const blocking = check(
      start003,
      image({}, [...baseSystem, script('/skaha/init.sh', '#!/bin/sh\nstart-services\nsleep infinity\n')]),
      profile,
    );
    expect(blocking.status).toBe('fail');
    expect(blocking.message).toContain('must return promptly');
    const service = check(
      start003,
      image({}, [...baseSystem, script('/skaha/init.sh', '#!/bin/sh\njupyter lab --no-browser\n')]),
      profile,
    );
    expect(service.status).toBe('fail');
    expect(service.message).toContain('jupyter in the foreground');
  });

  it('skips when the script lives where the scan keeps no body (a user profile elsewhere)', () => {
    const profile = canfarProfile();
    profile.parameters = {
      ...profile.parameters,
      startupScript: '/opt/platform/start.sh',
      initScript: undefined,
    };
    // The script has content, but the scan kept no body for it (only its probes).
    const facts = layerFacts(
      { entries: [...baseSystem, script('/opt/platform/start.sh', '#!/bin/sh\nexec "$@"\n')] },
      1,
    );
    delete facts.bodies['/opt/platform/start.sh'];
    const entry = facts.entries.find((item) => item.path === '/opt/platform/start.sh')!;
    entry.probes = { shebang: '#!/bin/sh' };
    const evidence = evidenceFor({});
    evidence.fs = FileSystemView.fromLayers([facts], { probes: ['shebang', 'elf'] });
    const result = check(start003, evidence, profile);
    expect(result.status).toBe('skip');
    expect(result.message).toContain('/opt/platform/start.sh');
  });
});

describe('IVC-START-004 type-specific executables', () => {
  const notebook = { Labels: { [ivoa('type')]: 'notebook' } };

  it('passes a notebook with jupyter on the image PATH', () => {
    const result = check(
      start004,
      image({ ...notebook, Env: ['PATH=/opt/conda/bin:/usr/bin'] }, [bin('/opt/conda/bin/jupyter')]),
    );
    expect(result.status).toBe('pass');
    expect(result.evidence?.found).toEqual({ jupyter: '/opt/conda/bin/jupyter' });
  });

  it('fails a notebook whose jupyter is in a virtual environment not on PATH', () => {
    const result = check(start004, image(notebook, [bin('/opt/venv/bin/jupyter')]));
    expect(result.status).toBe('fail');
    expect(result.message).toContain("type 'notebook' needs jupyter");
    expect(result.message).toContain('/opt/venv/bin/jupyter');
    expect(result.findings?.[0]?.key).toBe('Env.PATH');
  });

  it('fails a canfar desktop-app without xterm; passes with it', () => {
    const desktop = { Labels: { [ivoa('type')]: 'desktop-app' } };
    expect(check(start004, image(desktop, [bin('/usr/bin/topcat')]), canfarProfile()).status).toBe('fail');
    expect(check(start004, image(desktop, [bin('/usr/bin/xterm')]), canfarProfile()).status).toBe('pass');
    // The ivoa profile requires nothing of a desktop app.
    expect(check(start004, image(desktop, [bin('/usr/bin/topcat')])).status).toBe('pass');
  });

  it('skips without a type or with a type the profile does not know', () => {
    expect(check(start004, image({}, baseSystem)).status).toBe('skip');
    const unknown = check(start004, image({ Labels: { [ivoa('type')]: 'carta' } }, baseSystem));
    expect(unknown.status).toBe('skip');
    expect(unknown.message).toContain("'carta'");
  });
});

describe('through the real layer scan (the capture declared in meta is what the rules read)', () => {
  it('IVC-START-003 reads /skaha scripts; IVC-START-002 uses the probes', async () => {
    const evidence = await scannedEvidence([start002, start003], { Cmd: ['run'] }, [
      { name: 'bin/sh', mode: 0o755, body: Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]) },
      { name: 'skaha/startup.sh', mode: 0o755, body: '#!/bin/sh\n. /opt/env.sh\n"$@"\n' },
      { name: 'skaha/init.sh', mode: 0o755, body: '#!/bin/sh\nmkdir -p "$HOME"\n' },
      { name: 'usr/local/bin/run', mode: 0o755, body: '#!/usr/bin/env python3\n' },
    ]);
    const script = check(start003, evidence, canfarProfile());
    expect(script.status).toBe('fail');
    expect(script.message).toContain('/skaha/startup.sh ends with `"$@"` without exec');
    const program = check(start002, evidence);
    expect(program.status).toBe('fail');
    expect(program.message).toContain('/usr/bin/env does not exist');
    const sh = check(start002, evidenceFor({ config: { Cmd: ['/bin/sh', '-c', 'true'] } }));
    expect(sh.status).toBe('skip');
  });
});
