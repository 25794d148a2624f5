/**
 * User rules over hand-built evidence: IVC-USER-001 (config), IVC-USER-002
 * (passwd and group), IVC-USER-003 (setuid/setgid-root files, whiteouts),
 * IVC-USER-004 (numeric user).
 */
import { describe, expect, it } from 'vitest';
import type { ImageConfigBody } from '../src/oci/descriptor.js';
import user001 from '../src/rules/ivc-user-001.js';
import user002 from '../src/rules/ivc-user-002.js';
import user003 from '../src/rules/ivc-user-003.js';
import user004 from '../src/rules/ivc-user-004.js';
import type { Rule } from '../src/rules/types.js';
import {
  check,
  type EntrySpec,
  evidenceFor,
  ivoaProfileForTests,
  type LayerSpec,
} from './support/rule-evidence.js';

const passwd = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'astro:x:1000:1000:Astro:/home/astro:/bin/bash',
  'toor:x:0:0:root again:/root:/bin/bash',
].join('\n');
const group = ['root:x:0:', 'staff:x:50:', 'astro:x:1000:', 'science:x:2000:astro'].join('\n');

function accounts(extra: EntrySpec[] = []): LayerSpec {
  return {
    entries: [
      { path: '/etc', type: 'dir' },
      { path: '/etc/passwd', body: passwd },
      { path: '/etc/group', body: group },
      ...extra,
    ],
  };
}

function withUser(user: string | undefined, layers?: LayerSpec[]) {
  const config: ImageConfigBody = user === undefined ? {} : { User: user };
  return layers ? evidenceFor({ config, layers }) : evidenceFor({ config });
}

describe('metadata', () => {
  const rules: [Rule, string, string[]][] = [
    [user001, 'error', ['config']],
    [user002, 'error', ['fs']],
    [user003, 'warning', ['fs']],
    [user004, 'warning', ['config']],
  ];
  it.each(rules)(
    '%# has the catalogue level and evidence, an anchor and one-line help',
    (rule, level, kinds) => {
      expect(rule.meta.level).toBe(level);
      expect(rule.meta.evidence).toEqual(kinds);
      expect(rule.meta.specAnchor).toBe(rule.meta.id.toLowerCase());
      expect(rule.meta.help).not.toContain('\n');
      expect(rule.meta.rationale.length).toBeGreaterThan(20);
    },
  );

  it('IVC-USER-002 captures the account files', () => {
    expect(user002.meta.capture?.paths).toEqual(['/etc/passwd', '/etc/group']);
  });
});

describe('IVC-USER-001 user is not root', () => {
  it.each(['1000', '1000:1000', 'astro', 'astro:astro', '1000:0', 'astro:root'])('passes %s', (user) => {
    const result = check(user001, withUser(user));
    expect(result.status).toBe('pass');
    expect(result.message).toContain(user);
  });

  it.each([
    [undefined, /not set/],
    ['', /not set/],
    ['root', /is root/],
    ['0', /UID 0/],
    ['00', /UID 0/],
    ['0:1000', /UID 0/],
    ['root:staff', /is root/],
    [':1000', /empty user part/],
  ])('fails %s', (user, message) => {
    const result = check(user001, withUser(user));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('error');
    expect(result.message).toMatch(message);
    expect(result.findings?.[0]?.key).toBe('User');
  });

  it('passes a name mapped to UID 0 on the config alone, noting it when the filesystem was read', () => {
    expect(check(user001, withUser('toor')).status).toBe('pass');
    const withFs = check(user001, withUser('toor', [accounts()]));
    expect(withFs.status).toBe('pass');
    expect(withFs.message).toContain('UID 0');
    expect(withFs.message).toContain('IVC-USER-002');
  });
});

describe('IVC-USER-002 named user and group exist', () => {
  it('skips without the filesystem', () => {
    expect(check(user002, withUser('astro')).status).toBe('skip');
  });

  it.each(['astro', 'astro:astro', 'astro:science', '1000', '1000:1000', '1000:science'])(
    'passes %s with the image accounts',
    (user) => {
      expect(check(user002, withUser(user, [accounts()])).status).toBe('pass');
    },
  );

  it('passes a numeric user without any passwd file: nothing to look up', () => {
    const result = check(user002, withUser('1000:1000', [{ entries: [{ path: '/bin/sh', mode: 0o755 }] }]));
    expect(result.status).toBe('pass');
    expect(result.message).toContain('needs no passwd entry');
  });

  it('fails a named user mapped to UID 0, with the passwd path and layer', () => {
    const result = check(user002, withUser('toor', [accounts()]));
    expect(result.status).toBe('fail');
    expect(result.message).toContain("'toor' has UID 0");
    expect(result.findings?.[0]).toMatchObject({ path: '/etc/passwd', key: 'User', layer: { index: 0 } });
  });

  it('fails root by name (UID 0)', () => {
    expect(check(user002, withUser('root', [accounts()])).status).toBe('fail');
  });

  it('fails a user missing from /etc/passwd', () => {
    const result = check(user002, withUser('nobody2', [accounts()]));
    expect(result.status).toBe('fail');
    expect(result.message).toContain("user 'nobody2' is not in /etc/passwd");
  });

  it('fails a named user when the image has no /etc/passwd', () => {
    const result = check(user002, withUser('astro', [{ entries: [{ path: '/bin/sh', mode: 0o755 }] }]));
    expect(result.status).toBe('fail');
    expect(result.message).toContain('the image has no /etc/passwd');
  });

  it('fails a named group missing from /etc/group, also with a numeric user', () => {
    for (const user of ['astro:physics', '1000:physics']) {
      const result = check(user002, withUser(user, [accounts()]));
      expect(result.status).toBe('fail');
      expect(result.message).toContain("group 'physics' is not in /etc/group");
      expect(result.findings?.[0]?.path).toBe('/etc/group');
    }
  });

  it('reads accounts through the merged view: a later layer adds the user', () => {
    const later: LayerSpec = {
      entries: [{ path: '/etc/passwd', body: `${passwd}\nlate:x:1500:1500::/home/late:/bin/sh` }],
    };
    expect(check(user002, withUser('late', [accounts()])).status).toBe('fail');
    expect(check(user002, withUser('late', [accounts(), later])).status).toBe('pass');
  });
});

describe('IVC-USER-003 setuid/setgid-root executables', () => {
  const base: EntrySpec[] = [
    { path: '/usr/bin/passwd', mode: 0o4755 },
    { path: '/usr/bin/su', mode: 0o4755 },
    { path: '/usr/bin/ls', mode: 0o755 },
  ];

  it('passes allow-listed programs', () => {
    const result = check(user003, evidenceFor({ layers: [{ entries: base }] }));
    expect(result.status).toBe('pass');
    expect(result.message).toContain('all on the allow-list');
    expect(result.evidence?.allowed).toEqual(['/usr/bin/passwd', '/usr/bin/su']);
  });

  it('fails a setuid-root vendor tool, with its path and layer, at warning', () => {
    const result = check(
      user003,
      evidenceFor({
        layers: [{ entries: base }, { entries: [{ path: '/opt/vendor/bin/helper', mode: 0o4755, uid: 0 }] }],
      }),
    );
    expect(result.status).toBe('fail');
    expect(result.level).toBe('warning');
    expect(result.findings).toHaveLength(1);
    expect(result.findings?.[0]).toMatchObject({
      path: '/opt/vendor/bin/helper',
      layer: { index: 1, digest: `sha256:${'2'.padStart(64, '0')}` },
    });
    expect(result.findings?.[0]?.message).toContain('setuid-root (mode 04755');
  });

  it('fails a setgid file owned by GID 0 and a copied setuid bash', () => {
    const result = check(
      user003,
      evidenceFor({
        layers: [
          {
            entries: [
              { path: '/usr/local/bin/tool', mode: 0o2755, uid: 1000, gid: 0 },
              { path: '/tmp/bash', mode: 0o4755 },
            ],
          },
        ],
      }),
    );
    expect(result.status).toBe('fail');
    expect(result.findings?.map((finding) => finding.path)).toEqual(['/tmp/bash', '/usr/local/bin/tool']);
    expect(result.findings?.[1]?.message).toContain('setgid-root');
  });

  it('ignores setuid files not owned by root, and setuid bits without an execute bit', () => {
    const result = check(
      user003,
      evidenceFor({
        layers: [
          {
            entries: [
              { path: '/opt/a', mode: 0o4755, uid: 1000, gid: 1000 },
              { path: '/opt/b', mode: 0o4644 },
              { path: '/opt/dir', type: 'dir', mode: 0o2775 },
            ],
          },
        ],
      }),
    );
    expect(result.status).toBe('pass');
  });

  it('passes when a later layer removes the offending file (whiteout) or its directory (opaque)', () => {
    const bad: LayerSpec = { entries: [...base, { path: '/opt/vendor/helper', mode: 0o4755 }] };
    expect(check(user003, evidenceFor({ layers: [bad] })).status).toBe('fail');
    expect(
      check(user003, evidenceFor({ layers: [bad, { entries: [], whiteouts: ['/opt/vendor/helper'] }] }))
        .status,
    ).toBe('pass');
    expect(
      check(
        user003,
        evidenceFor({
          layers: [bad, { entries: [{ path: '/opt/vendor', type: 'dir' }], opaqueDirs: ['/opt/vendor'] }],
        }),
      ).status,
    ).toBe('pass');
    // A later layer that drops the bits (chmod u-s) passes too.
    expect(
      check(
        user003,
        evidenceFor({ layers: [bad, { entries: [{ path: '/opt/vendor/helper', mode: 0o755 }] }] }),
      ).status,
    ).toBe('pass');
  });

  it('takes absolute paths on the allow-list only there', () => {
    const profile = ivoaProfileForTests();
    profile.parameters = { ...profile.parameters, setuidAllowList: ['/opt/vendor/helper'] };
    const layers: LayerSpec[] = [
      {
        entries: [
          { path: '/opt/vendor/helper', mode: 0o4755 },
          { path: '/opt/other/helper', mode: 0o4755 },
        ],
      },
    ];
    const result = check(user003, evidenceFor({ layers }), profile);
    expect(result.status).toBe('fail');
    expect(result.findings?.map((finding) => finding.path)).toEqual(['/opt/other/helper']);
  });

  it('counts a hard link to a setuid-root file under its own name', () => {
    const result = check(
      user003,
      evidenceFor({
        layers: [
          {
            entries: [
              { path: '/usr/bin/sudo', mode: 0o4755 },
              { path: '/usr/local/bin/elevate', type: 'hardlink', linkname: '/usr/bin/sudo' },
            ],
          },
        ],
      }),
    );
    expect(result.status).toBe('fail');
    expect(result.findings?.map((finding) => finding.path)).toEqual(['/usr/local/bin/elevate']);
  });
});

describe('IVC-USER-004 user is numeric', () => {
  it.each(['1000', '1000:100', '0'])('passes %s', (user) => {
    expect(check(user004, withUser(user)).status).toBe('pass');
  });

  it.each([
    ['astro', /names the user 'astro'/],
    ['astro:astro', /names the user 'astro'/],
    ['1000:astro', /names the group 'astro'/],
    [undefined, /not set/],
  ])('fails %s at warning', (user, message) => {
    const result = check(user004, withUser(user));
    expect(result.status).toBe('fail');
    expect(result.level).toBe('warning');
    expect(result.message).toMatch(message);
  });
});
