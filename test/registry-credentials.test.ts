/**
 * Where credentials come from: --creds, containers auth.json
 * (REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR), docker's config.json (auths,
 * credHelpers, credsStore with a real docker-credential-* program), and that
 * what is found works against the real registries.
 */

import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode, UsageError } from '../src/errors.js';
import { RegistryClient } from '../src/oci/registry/client.js';
import { dockerConfigPath, keyHostname, resolveCredentials } from '../src/oci/registry/credentials.js';
import { failure, type PushedImage, pushImage, uniqueRepo } from './registry-support.js';
import { runIvoc } from './support/cli.js';

const env = inject('testEnv');
const basic = env.registries.basic;
const token = env.registries.token;

function b64(text: string): string {
  return Buffer.from(text).toString('base64');
}

describe('docker config location', () => {
  it('is $DOCKER_CONFIG/config.json, else ~/.docker/config.json, and none without either', () => {
    expect(dockerConfigPath({ DOCKER_CONFIG: '/d' }, '/home/u')).toBe('/d/config.json');
    expect(dockerConfigPath({ DOCKER_CONFIG: '/d' }, undefined)).toBe('/d/config.json');
    expect(dockerConfigPath({}, '/home/u')).toBe('/home/u/.docker/config.json');
    expect(dockerConfigPath({ DOCKER_CONFIG: '' }, undefined)).toBeUndefined();
  });
});

describe('credential resolution', () => {
  let dir: string;
  let bin: string;
  let helperLog: string;
  let image: PushedImage;
  const repo = uniqueRepo('creds');

  /** An environment with only what a test gives it (and our helper on PATH). */
  function environment(extra: Record<string, string>): NodeJS.ProcessEnv {
    return { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, IVOCTEST_LOG: helperLog, ...extra };
  }

  async function dockerConfig(name: string, body: unknown): Promise<string> {
    const configDir = join(dir, name);
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'config.json'), typeof body === 'string' ? body : JSON.stringify(body));
    return configDir;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(env.workDir, 'registry-creds-'));
    bin = join(dir, 'bin');
    helperLog = join(dir, 'helper.log');
    await mkdir(bin);
    // A credential helper speaking the docker-credential-helpers protocol.
    const helper = join(bin, 'docker-credential-ivoctest');
    await writeFile(
      helper,
      `#!/bin/sh
read -r server
printf '%s %s\\n' "$1" "$server" >> "$IVOCTEST_LOG"
case "$server" in
  ${basic.host}) printf '{"ServerURL":"%s","Username":"${basic.username}","Secret":"${basic.password}"}' "$server" ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"<token>","Secret":"hub-refresh-token"}' "$server" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
    );
    await chmod(helper, 0o755);
    const client = new RegistryClient(basic.host, { creds: `${basic.username}:${basic.password}` });
    try {
      image = await pushImage(client, repo, 'v1');
    } finally {
      await client.close();
    }
  });
  afterAll(async () => {
    // workDir is removed by the environment at the end of the run.
  });

  it('--creds wins over everything, and must be USER:PASS', async () => {
    const configDir = await dockerConfig('creds-option', {
      auths: { [basic.host]: { auth: b64('other:x') } },
    });
    const creds = await resolveCredentials(basic.host, {
      creds: 'me:pa:ss',
      env: environment({ DOCKER_CONFIG: configDir }),
    });
    expect(creds).toEqual({ username: 'me', password: 'pa:ss', source: '--creds' });
    const error = await failure(resolveCredentials(basic.host, { creds: 'just-a-name' }));
    expect(error).toBeInstanceOf(UsageError);
    expect(error.exitCode).toBe(ExitCode.usage);
  });

  it('reads docker config auths: base64 auth, username/password, identitytoken, URL-shaped keys', async () => {
    const configDir = await dockerConfig('auths', {
      auths: {
        [`https://${basic.host}/v2/`]: { auth: b64('url-key:pw1') },
        'registry.example:5000': { username: 'plain', password: 'pw2' },
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpw') },
        'tokens.example': { identitytoken: 'refresh-me' },
      },
    });
    const options = { env: environment({ DOCKER_CONFIG: configDir }), home: dir };
    expect(await resolveCredentials(basic.host, options)).toMatchObject({
      username: 'url-key',
      password: 'pw1',
    });
    expect(await resolveCredentials('registry.example:5000', options)).toMatchObject({
      username: 'plain',
      password: 'pw2',
      source: join(configDir, 'config.json'),
    });
    expect(await resolveCredentials('docker.io', options)).toMatchObject({ username: 'hubuser' });
    expect(await resolveCredentials('tokens.example', options)).toMatchObject({
      identityToken: 'refresh-me',
    });
    expect(await resolveCredentials('nobody.example', options)).toBeUndefined();
  });

  it('finds ~/.docker/config.json when DOCKER_CONFIG is unset', async () => {
    const home = join(dir, 'home');
    await mkdir(join(home, '.docker'), { recursive: true });
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({ auths: { [basic.host]: { auth: b64('homeuser:pw') } } }),
    );
    expect(await resolveCredentials(basic.host, { env: environment({}), home })).toMatchObject({
      username: 'homeuser',
    });
  });

  it('runs credHelpers[host] with the host on stdin, and the Hub URL for docker.io', async () => {
    const configDir = await dockerConfig('helpers', {
      auths: { [basic.host]: { auth: b64('shadowed:by-helper') } },
      credHelpers: { [basic.host]: 'ivoctest', 'docker.io': 'ivoctest', 'missing.example': 'ivoctest' },
    });
    const options = { env: environment({ DOCKER_CONFIG: configDir }), home: dir };
    expect(await resolveCredentials(basic.host, options)).toEqual({
      username: basic.username,
      password: basic.password,
      source: 'credential helper docker-credential-ivoctest',
    });
    expect(await resolveCredentials('docker.io', options)).toEqual({
      identityToken: 'hub-refresh-token',
      source: 'credential helper docker-credential-ivoctest',
    });
    // "credentials not found" from a helper means none, not an error.
    expect(await resolveCredentials('missing.example', options)).toBeUndefined();
    const log = await readFile(helperLog, 'utf8');
    expect(log).toContain(`get ${basic.host}\n`);
    expect(log).toContain('get https://index.docker.io/v1/\n');
  });

  it('falls back to credsStore when auths has nothing for the host', async () => {
    const configDir = await dockerConfig('store', { auths: { [basic.host]: {} }, credsStore: 'ivoctest' });
    expect(
      await resolveCredentials(basic.host, { env: environment({ DOCKER_CONFIG: configDir }), home: dir }),
    ).toMatchObject({ username: basic.username, source: 'credential helper docker-credential-ivoctest' });
  });

  it('a helper that is not installed is a clear usage error', async () => {
    const configDir = await dockerConfig('nohelper', { credsStore: 'nosuchhelper' });
    const error = await failure(
      resolveCredentials(basic.host, { env: environment({ DOCKER_CONFIG: configDir }), home: dir }),
    );
    expect(error.exitCode).toBe(ExitCode.usage);
    expect(error.message).toContain('docker-credential-nosuchhelper');
    expect(error.message).toContain('not installed or not on PATH');
  });

  it('bad JSON in a config file is a usage error naming the file, not quoting it', async () => {
    const configDir = await dockerConfig('bad', '{"auths": {"x": {"auth": "c2VjcmV0LXZhbHVl"}');
    const error = await failure(
      resolveCredentials(basic.host, { env: environment({ DOCKER_CONFIG: configDir }), home: dir }),
    );
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toContain(join(configDir, 'config.json'));
    expect(error.message).not.toContain('c2VjcmV0LXZhbHVl');
  });

  it('REGISTRY_AUTH_FILE comes before docker config, and namespace keys are most specific first', async () => {
    const authFile = join(dir, 'auth.json');
    await writeFile(
      authFile,
      JSON.stringify({
        auths: {
          [basic.host]: { auth: b64('host-wide:pw') },
          [`${basic.host}/team`]: { auth: b64('team:pw') },
          [`${basic.host}/team/app`]: { auth: b64('team-app:pw') },
        },
      }),
    );
    const configDir = await dockerConfig('shadowed', { auths: { [basic.host]: { auth: b64('docker:pw') } } });
    const options = {
      env: environment({ REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: configDir }),
      home: dir,
    };
    expect(await resolveCredentials(basic.host, options)).toMatchObject({
      username: 'host-wide',
      source: authFile,
    });
    expect(await resolveCredentials(basic.host, options, 'team/app')).toMatchObject({ username: 'team-app' });
    expect(await resolveCredentials(basic.host, options, 'team/other')).toMatchObject({ username: 'team' });
    expect(await resolveCredentials(basic.host, options, 'elsewhere/x')).toMatchObject({
      username: 'host-wide',
    });
    // A host the auth file does not know: on to docker's config.
    const configOnly = await dockerConfig('second', {
      auths: { 'other.example': { auth: b64('docker2:pw') } },
    });
    expect(
      await resolveCredentials('other.example', {
        env: environment({ REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: configOnly }),
        home: dir,
      }),
    ).toMatchObject({ username: 'docker2' });
  });

  it('uses XDG_RUNTIME_DIR/containers/auth.json when REGISTRY_AUTH_FILE is unset', async () => {
    const runtime = join(dir, 'runtime');
    await mkdir(join(runtime, 'containers'), { recursive: true });
    await writeFile(
      join(runtime, 'containers', 'auth.json'),
      JSON.stringify({ auths: { [`http://${basic.host}`]: { auth: b64('xdg:pw') } } }),
    );
    expect(
      await resolveCredentials(basic.host, { env: environment({ XDG_RUNTIME_DIR: runtime }), home: dir }),
    ).toMatchObject({ username: 'xdg' });
  });

  it('normalises config keys to host names as docker does', () => {
    expect(keyHostname('https://index.docker.io/v1/')).toBe('index.docker.io');
    expect(keyHostname('http://Host.Example:5000')).toBe('host.example:5000');
    expect(keyHostname('host.example/ns/repo')).toBe('host.example');
  });

  it('credentials from a credential helper open the Basic registry', async () => {
    const configDir = await dockerConfig('e2e-basic', { credHelpers: { [basic.host]: 'ivoctest' } });
    const client = new RegistryClient(basic.host, {
      credentialOptions: { env: environment({ DOCKER_CONFIG: configDir }), home: dir },
    });
    try {
      expect((await client.getManifest(repo, 'v1')).descriptor).toEqual(image.manifest.descriptor);
    } finally {
      await client.close();
    }
  });

  it('the built CLI runs a helper with the environment it was given, UV_THREADPOOL_SIZE sized to the cores (2 to 4) unless set (src/cli/launch.ts)', async () => {
    // A helper that records the variable it saw, and answers for the Basic registry.
    const seen = join(dir, 'uv-threadpool.log');
    const helper = join(bin, 'docker-credential-ivocenv');
    await writeFile(
      helper,
      `#!/bin/sh
read -r server
printf '%s\\n' "\${UV_THREADPOOL_SIZE-unset} $IVOCTEST_MARK" >> "${seen}"
printf '{"ServerURL":"%s","Username":"${basic.username}","Secret":"${basic.password}"}' "$server"
`,
    );
    await chmod(helper, 0o755);
    const configDir = await dockerConfig('e2e-env', { credsStore: 'ivocenv' });
    const reference = `docker://${basic.host}/${repo}:v1`;
    const base = { ...environment({ DOCKER_CONFIG: configDir }), IVOC_NO_CACHE: '1' };
    const sized = await runIvoc(['inspect', reference, '--format', 'json'], {
      ...base,
      UV_THREADPOOL_SIZE: undefined,
      IVOCTEST_MARK: 'default',
    });
    expect(sized.code, sized.stderr).toBe(0);
    expect(JSON.parse(sized.stdout).digest).toBe(image.manifest.descriptor.digest);
    const chosen = await runIvoc(['inspect', reference, '--format', 'json'], {
      ...base,
      UV_THREADPOOL_SIZE: '7',
      IVOCTEST_MARK: 'chosen',
    });
    expect(chosen.code, chosen.stderr).toBe(0);
    const lines = (await readFile(seen, 'utf8')).trim().split('\n');
    expect(lines).toEqual([`${Math.min(4, Math.max(2, availableParallelism()))} default`, '7 chosen']);
  });

  it('credentials from REGISTRY_AUTH_FILE open the token registry, and are not even looked up for an open one', async () => {
    const tokenRepo = uniqueRepo('creds-token');
    const pusher = new RegistryClient(token.host, { creds: `${token.username}:${token.password}` });
    try {
      await pushImage(pusher, tokenRepo, 'v1');
    } finally {
      await pusher.close();
    }
    const authFile = join(dir, 'token-auth.json');
    await writeFile(
      authFile,
      JSON.stringify({ auths: { [token.host]: { auth: b64(`${token.username}:${token.password}`) } } }),
    );
    const client = new RegistryClient(token.host, {
      credentialOptions: { env: environment({ REGISTRY_AUTH_FILE: authFile }), home: dir },
    });
    try {
      await client.getManifest(tokenRepo, 'v1');
      expect(client.tokenRequests).toBe(1);
    } finally {
      await client.close();
    }
    // A broken config does not matter to a registry that never asks.
    const broken = await dockerConfig('broken-but-unused', '{nope');
    const open = new RegistryClient(env.registries.anonymous.host, {
      credentialOptions: { env: environment({ DOCKER_CONFIG: broken }), home: dir },
    });
    try {
      await open.ping();
    } finally {
      await open.close();
    }
  });
});
