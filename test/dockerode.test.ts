import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { types } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { loadDockerode } from '../src/dockerode.js';

/**
 * dockerode with its optional modules (ssh2, the BuildKit session, tar-fs,
 * dockerignore) deferred: the engine client works, and each stand-in still
 * turns into the real module when used.
 */

const env = inject('testEnv');
const requireHere = createRequire(import.meta.url);
/** require() as the file FILE of package PKG (dockerode or one of its dependencies) does it. */
const fromPackage = (pkg: string, file: string) => {
  const dockerode = requireHere.resolve('dockerode');
  const main = pkg === 'dockerode' ? dockerode : createRequire(dockerode).resolve(pkg);
  return createRequire(`${main.slice(0, main.lastIndexOf(`/${pkg}/`) + pkg.length + 2)}${file}`);
};

describe('loadDockerode', () => {
  it('talks to the engine', async () => {
    const Docker = await loadDockerode();
    expect(await loadDockerode()).toBe(Docker);
    const url = new URL(env.dockerHost);
    const docker = new Docker({ socketPath: url.pathname });
    expect(String(await docker.ping())).toBe('OK');
  });

  it('the deferred modules load when used', async () => {
    await loadDockerode();
    const fromModem = fromPackage('docker-modem', 'lib/ssh.js');
    const ssh2 = fromModem('ssh2') as { Client: new () => object };
    // Not loaded yet: a stand-in (this test file loads nothing else of dockerode's).
    expect(types.isProxy(ssh2.Client)).toBe(true);
    const client = new ssh2.Client();
    expect(typeof (client as { connect?: unknown }).connect).toBe('function');
    expect(types.isProxy((fromModem('ssh2') as { Client: unknown }).Client)).toBe(false);
    const tarFs = fromPackage('dockerode', 'lib/util.js')('tar-fs') as { pack: unknown };
    expect(typeof tarFs.pack).toBe('function');
    const ignore = fromPackage('dockerode', 'lib/util.js')('@balena/dockerignore') as (options: object) => {
      add: (text: string) => { ignores: (path: string) => boolean };
    };
    expect(ignore({}).add('*.log').ignores('x.log')).toBe(true);
    const Duplex = fromPackage('docker-modem', 'lib/modem.js')('./http_duplex') as new (
      req: unknown,
      res: unknown,
    ) => { req: unknown; write: unknown };
    const res = new EventEmitter();
    const duplex = new Duplex('req', res);
    expect(duplex.req).toBe('req');
    expect(typeof duplex.write).toBe('function');
    const session = fromPackage('dockerode', 'lib/docker.js')('./session') as unknown;
    expect(typeof session).toBe('function');
  });
});
