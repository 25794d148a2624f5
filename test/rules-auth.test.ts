/**
 * Authentication rules over hand-built evidence: IVC-AUTH-001 (no login of
 * the application's own: Jupyter configs in .py and .json forms, command
 * lines, env, code-server, RStudio Server) and IVC-AUTH-002 (no hub or proxy
 * started; an unused installation at warning).
 */
import { describe, expect, it } from 'vitest';
import type { ImageConfigBody } from '../src/oci/descriptor.js';
import auth001 from '../src/rules/ivc-auth-001.js';
import auth002 from '../src/rules/ivc-auth-002.js';
import type { Rule } from '../src/rules/types.js';
import { argSettings, jsonConfigSettings, pyConfigSettings } from '../src/rules/util/jupyter.js';
import type { TestEntry } from './layer-helpers.js';
import { check, type EntrySpec, evidenceFor, scannedEvidence } from './support/rule-evidence.js';

const bin = (path: string, mode = 0o755): EntrySpec => ({ path, mode, probes: { elf: 'elf' } });
const file = (path: string, body: string, mode = 0o644): EntrySpec => ({ path, mode, body });

const secret = 'tok3n-Value-d0-not-leak';
const passwd = 'root:x:0:0:root:/root:/bin/bash\nastro:x:1000:1000::/home/astro:/bin/bash\n';
const system: EntrySpec[] = [
  bin('/bin/sh'),
  bin('/bin/bash'),
  bin('/usr/local/bin/jupyter'),
  file('/etc/passwd', passwd),
];

function image(config: ImageConfigBody, entries: EntrySpec[] = []) {
  return evidenceFor({
    config: { User: '1000', Cmd: ['jupyter', 'lab'], ...config },
    layers: [{ entries: [...system, ...entries] }],
  });
}

describe('metadata', () => {
  it.each([auth001, auth002] as Rule[])('%# is an error rule on config and fs with its captures', (rule) => {
    expect(rule.meta.level).toBe('error');
    expect(rule.meta.evidence).toEqual(['config', 'fs']);
    expect(rule.meta.specAnchor).toBe(rule.meta.id.toLowerCase());
    expect(rule.meta.capture?.globs).toContain('/usr/local/bin/*.sh');
  });

  it('IVC-AUTH-001 captures the Jupyter, code-server and RStudio config locations', () => {
    const globs = auth001.meta.capture?.globs ?? [];
    expect(globs).toEqual(
      expect.arrayContaining([
        '/etc/jupyter/**',
        '/usr/local/etc/jupyter/**',
        '/opt/*/etc/jupyter/**',
        '/home/*/.jupyter/**',
        '/root/.jupyter/**',
      ]),
    );
    expect(globs).toContain('/home/*/.config/code-server/config.yaml');
    expect(auth001.meta.capture?.paths).toContain('/etc/rstudio/rserver.conf');
  });
});

describe('Jupyter settings parsers', () => {
  it('reads .py assignments: literal, empty, None, expression; the last one wins', () => {
    const text = [
      "# c.ServerApp.token = '<generated>'",
      "c.ServerApp.token = 'abc'",
      "c.ServerApp.token = ''  # disabled",
      'c.IdentityProvider.token = u""',
      'c.NotebookApp.password = passwd("x")',
      'c.PasswordIdentityProvider.hashed_password = None',
      "c.ServerApp.ip = '0.0.0.0'",
      'c.ServerApp.password_required = False',
    ].join('\n');
    expect(pyConfigSettings(text)).toEqual([
      { setting: 'ServerApp.token', state: 'empty', line: 3 },
      { setting: 'IdentityProvider.token', state: 'empty', line: 4 },
      { setting: 'NotebookApp.password', state: 'computed', line: 5 },
      { setting: 'PasswordIdentityProvider.hashed_password', state: 'empty', line: 6 },
    ]);
  });

  it('reads .json sections', () => {
    expect(
      jsonConfigSettings('{"ServerApp": {"token": "x", "ip": "0.0.0.0"}, "IdentityProvider": {"token": ""}}'),
    ).toEqual([
      { setting: 'ServerApp.token', state: 'set' },
      { setting: 'IdentityProvider.token', state: 'empty' },
    ]);
    expect(jsonConfigSettings('not json')).toBeUndefined();
  });

  it('reads command-line options in both forms', () => {
    expect(
      argSettings([
        'jupyter',
        'lab',
        '--NotebookApp.token=xyz',
        "--IdentityProvider.token=''",
        '--ServerApp.password',
        'p',
      ]),
    ).toEqual([
      { setting: 'NotebookApp.token', state: 'set', index: 2 },
      { setting: 'IdentityProvider.token', state: 'empty', index: 3 },
      { setting: 'ServerApp.password', state: 'set', index: 4 },
    ]);
  });
});

describe('IVC-AUTH-001 no built-in authentication', () => {
  it('passes a notebook that disables the token explicitly', () => {
    const result = check(
      auth001,
      image({}, [
        file(
          '/etc/jupyter/jupyter_server_config.py',
          "c.IdentityProvider.token = ''\nc.ServerApp.ip = '0.0.0.0'\n",
        ),
      ]),
    );
    expect(result.status).toBe('pass');
    expect(result.evidence?.checked).toEqual(['/etc/jupyter/jupyter_server_config.py']);
  });

  it('fails a token set in a .py config, naming the file, line and layer, not the value', () => {
    const result = check(
      auth001,
      image({}, [
        file(
          '/etc/jupyter/jupyter_server_config.py',
          `c.ServerApp.ip = '*'\nc.ServerApp.token = '${secret}'\n`,
        ),
      ]),
    );
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.findings?.[0]).toMatchObject({
      path: '/etc/jupyter/jupyter_server_config.py',
      layer: { index: 0 },
    });
    expect(result.findings?.[0]?.message).toContain('line 2 sets a token (ServerApp.token)');
  });

  it('fails a password in a .json config under /usr/local/etc/jupyter; passes an empty token there', () => {
    const bad = check(
      auth001,
      image({}, [
        file(
          '/usr/local/etc/jupyter/jupyter_notebook_config.json',
          `{"NotebookApp": {"password": "sha1:${secret}"}}`,
        ),
      ]),
    );
    expect(bad.status).toBe('fail');
    expect(bad.message).toContain('sets a password (NotebookApp.password)');
    const good = check(
      auth001,
      image({}, [file('/usr/local/etc/jupyter/jupyter_server_config.json', '{"ServerApp": {"token": ""}}')]),
    );
    expect(good.status).toBe('pass');
  });

  it("reads the image user's ~/.jupyter (home from passwd), and conf.d JSON files", () => {
    const home = check(
      auth001,
      image({ User: 'astro' }, [
        file('/home/astro/.jupyter/jupyter_server_config.json', `{"ServerApp": {"token": "${secret}"}}`),
      ]),
    );
    expect(home.status).toBe('fail');
    expect(home.findings?.[0]?.path).toBe('/home/astro/.jupyter/jupyter_server_config.json');
    const confd = check(
      auth001,
      image({}, [
        file(
          '/etc/jupyter/jupyter_server_config.d/auth.json',
          `{"IdentityProvider": {"token": "${secret}"}}`,
        ),
      ]),
    );
    expect(confd.status).toBe('fail');
    // Another user's ~/.jupyter is not the session's.
    const other = check(
      auth001,
      image({ User: 'astro' }, [
        file('/home/bob/.jupyter/jupyter_server_config.py', `c.ServerApp.token = '${secret}'`),
      ]),
    );
    expect(other.status).toBe('pass');
  });

  it('reports a value computed by an expression at warning', () => {
    const result = check(
      auth001,
      image({}, [
        file(
          '/etc/jupyter/jupyter_server_config.py',
          "import os\nc.ServerApp.token = os.environ.get('NB_TOKEN', '')\n",
        ),
      ]),
    );
    expect(result.status).toBe('fail');
    expect(result.level).toBe('warning');
  });

  it.each([
    [{ Cmd: ['jupyter', 'lab', `--NotebookApp.token=${secret}`] }, 'Cmd'],
    [{ Entrypoint: ['jupyter', `--ServerApp.password=${secret}`], Cmd: [] }, 'Entrypoint'],
    [{ Cmd: ['jupyter', 'lab', '--IdentityProvider.token', secret] }, 'Cmd'],
    [{ Cmd: ['/bin/sh', '-c', `exec jupyter lab --IdentityProvider.token=${secret}`] }, 'Cmd'],
  ])('fails a token or password on the command line %#', (config, key) => {
    const result = check(auth001, image(config));
    expect(result.status).toBe('fail');
    expect(result.findings?.[0]?.key).toBe(key);
    expect(result.message).toContain('the command line sets');
  });

  it('passes an explicitly empty token on the command line', () => {
    expect(check(auth001, image({ Cmd: ['jupyter', 'lab', "--IdentityProvider.token=''"] })).status).toBe(
      'pass',
    );
    expect(check(auth001, image({ Cmd: ['jupyter', 'lab', '--ServerApp.token='] })).status).toBe('pass');
  });

  it('fails a token in a startup script the recipe runs', () => {
    const result = check(
      auth001,
      image({ Cmd: ['start.sh'] }, [
        file(
          '/usr/local/bin/start.sh',
          `#!/bin/bash\nset -e\nexport JUPYTER_TOKEN=${secret}\nexec jupyter lab --ServerApp.token=${secret}\n`,
          0o755,
        ),
      ]),
    );
    expect(result.status).toBe('fail');
    expect(result.findings?.map((finding) => finding.path)).toEqual([
      '/usr/local/bin/start.sh',
      '/usr/local/bin/start.sh',
    ]);
    expect(result.findings?.[0]?.message).toMatch(/line 3: sets JUPYTER_TOKEN/);
    expect(result.findings?.[1]?.message).toMatch(/line 4: the command line sets a token/);
  });

  it('fails JUPYTER_TOKEN or JUPYTER_PASSWORD in Env; passes them empty', () => {
    for (const name of ['JUPYTER_TOKEN', 'JUPYTER_PASSWORD']) {
      const result = check(auth001, image({ Env: [`${name}=${secret}`] }));
      expect(result.status).toBe('fail');
      expect(result.findings?.[0]?.key).toBe(`Env.${name}`);
      expect(check(auth001, image({ Env: [`${name}=`] })).status).toBe('pass');
    }
  });

  it('fails code-server with --auth password, auth: password in its config, or PASSWORD in Env', () => {
    const started = check(
      auth001,
      image({ Cmd: ['code-server', '--bind-addr', '0.0.0.0:8888', '--auth', 'password'] }, [
        bin('/usr/bin/code-server'),
      ]),
    );
    expect(started.status).toBe('fail');
    expect(started.message).toContain('--auth password');
    const configured = check(
      auth001,
      image({ User: 'astro', Cmd: ['code-server'] }, [
        bin('/usr/bin/code-server'),
        file(
          '/home/astro/.config/code-server/config.yaml',
          `bind-addr: 0.0.0.0:8888\nauth: password\npassword: ${secret}\n`,
        ),
      ]),
    );
    expect(configured.status).toBe('fail');
    expect(configured.findings?.[0]?.path).toBe('/home/astro/.config/code-server/config.yaml');
    const env = check(
      auth001,
      image({ Cmd: ['code-server'], Env: [`PASSWORD=${secret}`] }, [bin('/usr/bin/code-server')]),
    );
    expect(env.status).toBe('fail');
    expect(env.findings?.[0]?.key).toBe('Env.PASSWORD');
    const none = check(
      auth001,
      image({ Cmd: ['code-server', '--auth', 'none'] }, [bin('/usr/bin/code-server')]),
    );
    expect(none.status).toBe('pass');
  });

  it('fails RStudio Server started without auth-none=1; passes with it in rserver.conf or on the command line', () => {
    const rserver = bin('/usr/lib/rstudio-server/bin/rserver');
    const cmd = { Cmd: ['/usr/lib/rstudio-server/bin/rserver', '--server-daemonize=0'] };
    const bad = check(auth001, image(cmd, [rserver, file('/etc/rstudio/rserver.conf', 'www-port=8888\n')]));
    expect(bad.status).toBe('fail');
    expect(bad.message).toContain('auth-none=1');
    expect(bad.findings?.[0]?.path).toBe('/etc/rstudio/rserver.conf');
    expect(
      check(auth001, image(cmd, [rserver, file('/etc/rstudio/rserver.conf', 'www-port=8888\nauth-none=1\n')]))
        .status,
    ).toBe('pass');
    expect(check(auth001, image({ Cmd: [...cmd.Cmd, '--auth-none=1'] }, [rserver])).status).toBe('pass');
    // Installed for jupyter-rsession-proxy (which passes --auth-none itself), not started: nothing to say.
    expect(check(auth001, image({}, [rserver])).status).toBe('pass');
  });

  it('skips without the filesystem', () => {
    expect(check(auth001, evidenceFor({ config: { Cmd: ['jupyter', 'lab'] } })).status).toBe('skip');
  });
});

describe('IVC-AUTH-002 no hub or proxy', () => {
  it('passes a plain jupyter lab', () => {
    const result = check(auth002, image({}));
    expect(result.status).toBe('pass');
  });

  it.each([
    [['jupyterhub-singleuser'], 'Cmd'],
    [['tini', '--', '/opt/conda/bin/jupyterhub-singleuser', '--ip=0.0.0.0'], 'Cmd'],
    [['python3', '-m', 'jupyterhub.singleuser'], 'Cmd'],
    [['configurable-http-proxy', '--port', '8888'], 'Cmd'],
    [['/bin/sh', '-c', 'cd /srv && exec jupyterhub -f /etc/jupyterhub/config.py'], 'Cmd'],
  ])('fails a recipe that starts a hub: %j', (cmd, key) => {
    const result = check(auth002, image({ Cmd: cmd }));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.findings?.[0]?.key).toBe(key);
  });

  it('fails an entrypoint script that ends in exec jupyterhub, naming the script and layer', () => {
    const result = check(
      auth002,
      image({ Entrypoint: ['/usr/local/bin/entrypoint.sh'], Cmd: [] }, [
        file(
          '/usr/local/bin/entrypoint.sh',
          '#!/bin/bash\nset -e\n. /opt/env\nexec jupyterhub --ip 0.0.0.0\n',
          0o755,
        ),
      ]),
    );
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.findings?.[0]).toMatchObject({ path: '/usr/local/bin/entrypoint.sh', layer: { index: 0 } });
    expect(result.message).toContain('line 4 ends by starting jupyterhub');
  });

  it('follows a script that hands over to another script', () => {
    const result = check(
      auth002,
      image({ Cmd: ['/start.sh'] }, [
        file('/start.sh', '#!/bin/sh\nexec /usr/local/bin/start-singleuser.sh "$@"\n', 0o755),
        file('/usr/local/bin/start-singleuser.sh', '#!/bin/bash\nexec jupyterhub-singleuser "$@"\n', 0o755),
      ]),
    );
    expect(result.status).toBe('fail');
    expect(result.findings?.[0]?.path).toBe('/usr/local/bin/start-singleuser.sh');
  });

  it('finds a script relative to WorkingDir', () => {
    const result = check(
      auth002,
      image({ WorkingDir: '/app', Cmd: ['./start.sh'] }, [
        file('/app/start.sh', '#!/bin/sh\nexec jupyterhub\n', 0o755),
      ]),
    );
    expect(result.status).toBe('fail');
    expect(result.findings?.[0]?.path).toBe('/app/start.sh');
    expect(auth002.meta.capture?.globs).toContain('/app/*.sh');
  });

  it('does not judge a conditional hand-over before the last command', () => {
    const result = check(
      auth002,
      image({ Cmd: ['start.sh'] }, [
        file(
          '/usr/local/bin/start.sh',
          '#!/bin/bash\nif [ -n "$JUPYTERHUB_API_TOKEN" ]; then exec jupyterhub-singleuser; fi\nexec jupyter lab "$@"\n',
          0o755,
        ),
      ]),
    );
    expect(result.status).toBe('pass');
  });

  it('reports a jupyterhub installation that is present but not started at warning', () => {
    const result = check(
      auth002,
      image({}, [
        { path: '/opt/conda/lib/python3.12/site-packages/jupyterhub', type: 'dir' },
        bin('/opt/conda/bin/jupyterhub-singleuser'),
      ]),
    );
    expect(result.status).toBe('fail');
    expect(result.level).toBe('warning');
    expect(result.findings?.map((finding) => finding.path)).toEqual([
      '/opt/conda/bin/jupyterhub-singleuser',
      '/opt/conda/lib/python3.12/site-packages/jupyterhub',
    ]);
  });

  it('skips without the filesystem', () => {
    expect(check(auth002, evidenceFor({ config: { Cmd: ['jupyterhub'] } })).status).toBe('skip');
  });
});

describe('no secret value in any AUTH result', () => {
  const cases: [string, ReturnType<typeof image>][] = [
    ['py', image({}, [file('/etc/jupyter/jupyter_server_config.py', `c.ServerApp.token = '${secret}'`)])],
    [
      'json',
      image({}, [
        file('/etc/jupyter/jupyter_server_config.json', `{"ServerApp": {"password": "${secret}"}}`),
      ]),
    ],
    ['argv', image({ Cmd: ['jupyter', 'lab', `--ServerApp.token=${secret}`] })],
    ['argv two words', image({ Cmd: ['jupyter', 'lab', '--ServerApp.token', secret] })],
    ['sh -c', image({ Cmd: ['/bin/sh', '-c', `jupyter lab --ServerApp.token=${secret}`] })],
    ['env', image({ Env: [`JUPYTER_TOKEN=${secret}`] })],
    [
      'code-server',
      image({ Cmd: ['code-server'], Env: [`HASHED_PASSWORD=${secret}`] }, [bin('/usr/bin/code-server')]),
    ],
  ];
  it.each(cases)('%s', (_name, evidence) => {
    for (const rule of [auth001, auth002] as Rule[]) {
      const result = check(rule, evidence);
      expect(JSON.stringify(result)).not.toContain(secret);
    }
    expect(check(auth001, evidence).status).toBe('fail');
  });
});

describe('through the real layer scan (the capture declared in meta is what the rules read)', () => {
  const scanned = (config: ImageConfigBody, entries: TestEntry[]) =>
    scannedEvidence([auth001, auth002], config, entries);

  it('reads Jupyter configs of the system, an /opt prefix and the user, and the entrypoint script', async () => {
    const evidence = await scanned(
      { User: 'astro', Entrypoint: ['/usr/local/bin/start.sh'], Cmd: ['jupyter', 'lab'] },
      [
        { name: 'bin/sh', mode: 0o755, body: '\x7fELF' },
        { name: 'etc/passwd', body: passwd },
        { name: 'etc/jupyter/jupyter_server_config.py', body: "c.ServerApp.token = ''\n" },
        {
          name: 'opt/conda/etc/jupyter/jupyter_server_config.d/auth.json',
          body: `{"IdentityProvider": {"token": "${secret}"}}`,
        },
        {
          name: 'home/astro/.jupyter/jupyter_notebook_config.py',
          body: `c.NotebookApp.password = '${secret}'\n`,
        },
        {
          name: 'usr/local/bin/start.sh',
          mode: 0o755,
          body: '#!/bin/sh\n. /opt/conda/bin/activate\nexec jupyterhub-singleuser "$@"\n',
        },
      ],
    );
    const auth = check(auth001, evidence);
    expect(auth.status).toBe('fail');
    expect(auth.findings?.map((finding) => finding.path)).toEqual([
      '/opt/conda/etc/jupyter/jupyter_server_config.d/auth.json',
      '/home/astro/.jupyter/jupyter_notebook_config.py',
    ]);
    expect(auth.evidence?.checked).toContain('/etc/jupyter/jupyter_server_config.py');
    expect(JSON.stringify(auth)).not.toContain(secret);
    const hub = check(auth002, evidence);
    expect(hub.status).toBe('fail');
    expect(hub.level).toBe('error');
    expect(hub.findings?.[0]?.path).toBe('/usr/local/bin/start.sh');
  });
});
