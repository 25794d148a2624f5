/**
 * Registry auth against the real Basic and token-auth registries of the test
 * environment: challenges, credentials, token scopes, reuse and expiry.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ExitCode } from '../src/errors.js';
import { parseWwwAuthenticate } from '../src/oci/registry/auth.js';
import { RegistryClient } from '../src/oci/registry/client.js';
import { type FaultProxy, startFaultProxy } from './env/fault-proxy.js';
import { issuedTokens, resetTokenLifetime, setTokenLifetime } from './env/token-server.js';
import { failure, type PushedImage, pushImage, readStream, uniqueRepo } from './registry-support.js';

const env = inject('testEnv');
const basic = env.registries.basic;
const token = env.registries.token;
const basicCreds = `${basic.username}:${basic.password}`;
const tokenCreds = `${token.username}:${token.password}`;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

describe('WWW-Authenticate parsing', () => {
  it('reads Bearer parameters, quoted strings with escapes and commas', () => {
    const [challenge, ...rest] = parseWwwAuthenticate(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push",error="insufficient_scope"',
    );
    expect(rest).toEqual([]);
    expect(challenge).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.example/token',
        service: 'registry.example',
        scope: 'repository:a/b:pull,push',
        error: 'insufficient_scope',
      },
    });
    const [quoted] = parseWwwAuthenticate('Basic realm="say \\"hi\\", then go" , charset=UTF-8');
    expect(quoted?.params).toEqual({ realm: 'say "hi", then go', charset: 'UTF-8' });
  });

  it('splits several challenges, in one header or several, and keeps token68', () => {
    const challenges = parseWwwAuthenticate([
      'Negotiate abc123==, BASIC Realm=plain',
      'Bearer realm="r", service=s',
    ]);
    expect(challenges.map((c) => c.scheme)).toEqual(['negotiate', 'basic', 'bearer']);
    expect(challenges[0]?.token68).toBe('abc123==');
    expect(challenges[1]?.params).toEqual({ realm: 'plain' });
    expect(challenges[2]?.params).toEqual({ realm: 'r', service: 's' });
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
  });
});

describe('Basic auth (htpasswd registry)', () => {
  let proxy: FaultProxy;
  let image: PushedImage;
  const repo = uniqueRepo('basic');

  beforeAll(async () => {
    proxy = await startFaultProxy(basic.host);
    const client = new RegistryClient(basic.host, { creds: basicCreds });
    try {
      image = await pushImage(client, repo, 'v1');
    } finally {
      await client.close();
    }
  });
  afterAll(async () => {
    await proxy.close();
  });

  it('authenticates with credentials, and sends them up front once challenged', async () => {
    const client = new RegistryClient(proxy.host, { creds: basicCreds });
    try {
      expect((await client.ping()).auth).toBe('basic');
      for (let i = 0; i < 3; i++) {
        expect((await client.getManifest(repo, 'v1')).descriptor).toEqual(image.manifest.descriptor);
      }
      expect(await client.blobExists(repo, image.layers[0]!.descriptor.digest)).toBe(true);
      // Only the very first request met a 401.
      expect(proxy.requests.map((r) => r.status)).toEqual([401, 200, 200, 200, 200, 200]);
    } finally {
      await client.close();
      proxy.clearLog();
    }
  });

  it('without credentials: ERR_AUTH "authentication required", exit 3', async () => {
    const client = new RegistryClient(basic.host, { credentials: async () => undefined });
    try {
      const error = await failure(client.getManifest(repo, 'v1'));
      expect(error.code).toBe('ERR_AUTH');
      expect(error.exitCode).toBe(ExitCode.failure);
      expect(error.message).toContain(`authentication required for ${basic.host}`);
      expect(error.image).toBe(`docker://${basic.host}/${repo}:v1`);
    } finally {
      await client.close();
    }
  });

  it('with a wrong password: ERR_AUTH "authentication failed", never printing the password', async () => {
    const secret = 'not-the-password-4711';
    const client = new RegistryClient(basic.host, { creds: `${basic.username}:${secret}` });
    try {
      const error = await failure(client.getManifest(repo, 'v1'));
      expect(error.code).toBe('ERR_AUTH');
      expect(error.message).toContain(`authentication failed for ${basic.host}`);
      expect(error.message).toContain('--creds');
      expect(JSON.stringify({ ...error, message: error.message, describe: error.describe() })).not.toContain(
        secret,
      );
    } finally {
      await client.close();
    }
  });
});

describe('Bearer token auth (token registry and issuer)', () => {
  let image: PushedImage;
  const repo = uniqueRepo('token');
  const repoPattern = `^${escapeRegExp(repo)}$`;

  beforeAll(async () => {
    const client = new RegistryClient(token.host, { creds: tokenCreds });
    try {
      image = await pushImage(client, repo, 'v1');
      // One push-scoped token served the whole push (blobs, manifest).
      expect(client.tokenRequests).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('asks for repository:NAME:pull,push to push and reuses one token for the whole push', async () => {
    const tokens = await issuedTokens(token.realm, repoPattern);
    expect(tokens.length).toBeGreaterThanOrEqual(1);
    expect(tokens[0]!.scopes).toEqual([`repository:${repo}:pull,push`]);
    expect(tokens[0]!.user).toBe(token.username);
  });

  it('asks for pull only to read, and caches the token per scope', async () => {
    const client = new RegistryClient(token.host, { creds: tokenCreds });
    const other = uniqueRepo('token-other');
    try {
      const before = (await issuedTokens(token.realm, repoPattern)).length;
      for (let i = 0; i < 4; i++) await client.getManifest(repo, 'v1');
      await client.fetchBlob(repo, image.config.descriptor).then((s) => s.resume());
      expect(client.tokenRequests).toBe(1);
      const after = await issuedTokens(token.realm, repoPattern);
      expect(after.length - before).toBe(1);
      expect(after.at(-1)!.scopes).toEqual([`repository:${repo}:pull`]);
      // Another repository is another scope: a new token.
      await failure(client.getManifest(other, 'v1'));
      expect(client.tokenRequests).toBe(2);
    } finally {
      await client.close();
    }
  });

  it('shares one token request among requests running side by side', async () => {
    const client = new RegistryClient(token.host, { creds: tokenCreds });
    try {
      const blobs = [image.config, ...image.layers];
      await Promise.all([
        ...blobs.map((b) => client.fetchBlob(repo, b.descriptor).then(readStream)),
        client.getManifest(repo, 'v1'),
        client.headManifest(repo, 'v1'),
      ]);
      expect(client.tokenRequests).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('asks for both repositories when mounting across them', async () => {
    const client = new RegistryClient(token.host, { creds: tokenCreds });
    const dest = uniqueRepo('token-mount');
    try {
      expect(await client.mountBlob(dest, image.layers[0]!.descriptor.digest, repo)).toBe(true);
      const tokens = await issuedTokens(token.realm, `^${escapeRegExp(dest)}$`);
      expect(tokens.at(-1)!.scopes.sort()).toEqual(
        [`repository:${dest}:pull,push`, `repository:${repo}:pull`].sort(),
      );
    } finally {
      await client.close();
    }
  });

  it('anonymous: the issuer grants nothing, so ERR_AUTH "authentication required"', async () => {
    const client = new RegistryClient(token.host, { credentials: async () => undefined });
    try {
      const error = await failure(client.getManifest(repo, 'v1'));
      expect(error.code).toBe('ERR_AUTH');
      expect(error.message).toContain('authentication required');
      expect(client.tokenRequests).toBe(1);
    } finally {
      await client.close();
    }
  });

  it('wrong password: the token service refuses, ERR_AUTH "authentication failed"', async () => {
    const client = new RegistryClient(token.host, { creds: `${token.username}:wrong-password-0815` });
    try {
      const error = await failure(client.getManifest(repo, 'v1'));
      expect(error.code).toBe('ERR_AUTH');
      expect(error.message).toMatch(/authentication failed .*token service/);
      expect(error.message).not.toContain('wrong-password-0815');
    } finally {
      await client.close();
    }
  });

  it('a pull-only user can read but not push (insufficient scope)', async () => {
    const client = new RegistryClient(token.host, { creds: `ivoc-reader:${token.password}` });
    try {
      expect((await client.getManifest(repo, 'v1')).descriptor).toEqual(image.manifest.descriptor);
      const error = await failure(
        client.putManifest(repo, 'v2', image.manifest.descriptor.mediaType, image.manifest.bytes),
      );
      expect(error.code).toBe('ERR_AUTH');
      expect(error.message).toContain('do not grant access');
    } finally {
      await client.close();
    }
  });

  it('uses an identity token (refresh token) with the OAuth2 POST form', async () => {
    const form = new URLSearchParams({
      grant_type: 'password',
      username: token.username!,
      password: token.password!,
      service: token.service,
      client_id: 'ivoc-test',
      access_type: 'offline',
      scope: `repository:${repo}:pull`,
    });
    const answer = (await (await fetch(token.realm, { method: 'POST', body: form })).json()) as {
      refresh_token?: string;
    };
    expect(answer.refresh_token).toBeTruthy();
    const client = new RegistryClient(token.host, {
      credentials: async () => ({ identityToken: answer.refresh_token!, source: 'test identity token' }),
    });
    try {
      expect((await client.getManifest(repo, 'v1')).descriptor).toEqual(image.manifest.descriptor);
      const tokens = await issuedTokens(token.realm, repoPattern);
      expect(tokens.at(-1)!.grant).toBe('refresh_token');
    } finally {
      await client.close();
    }
  });

  it('refreshes a token when its expires_in has passed (clock)', async () => {
    let now = Date.now();
    const client = new RegistryClient(token.host, { creds: tokenCreds, now: () => now });
    try {
      await client.getManifest(repo, 'v1');
      now += 200_000;
      await client.getManifest(repo, 'v1');
      expect(client.tokenRequests).toBe(1);
      // Lifetime is 300 s: past it (less the skew), a new token is fetched up front.
      now += 100_000;
      await client.getManifest(repo, 'v1');
      expect(client.tokenRequests).toBe(2);
    } finally {
      await client.close();
    }
  });

  describe('short-lived tokens', () => {
    const shortRepo = uniqueRepo('token-short');
    const shortPattern = `^${escapeRegExp(shortRepo)}$`;
    let proxy: FaultProxy;

    beforeAll(async () => {
      const client = new RegistryClient(token.host, { creds: tokenCreds });
      try {
        await pushImage(client, shortRepo, 'v1');
      } finally {
        await client.close();
      }
      await setTokenLifetime(token.realm, 2, shortPattern);
      proxy = await startFaultProxy(token.host);
    });
    afterAll(async () => {
      await resetTokenLifetime(token.realm, shortPattern);
      await proxy.close();
    });

    it('re-authenticates once when the registry refuses a cached token that expired mid-operation', async () => {
      // A frozen clock: the cache believes the token is fresh, the registry knows better.
      const frozen = Date.now();
      const client = new RegistryClient(proxy.host, { creds: tokenCreds, now: () => frozen });
      try {
        await client.getManifest(shortRepo, 'v1');
        expect(client.tokenRequests).toBe(1);
        await sleep(2600);
        await client.getManifest(shortRepo, 'v1');
        expect(client.tokenRequests).toBe(2);
        expect(proxy.requests.map((r) => r.status)).toEqual([401, 200, 401, 200]);
      } finally {
        await client.close();
        proxy.clearLog();
      }
    });

    it('fetches a new token up front when expires_in says the old one is stale', async () => {
      const client = new RegistryClient(proxy.host, { creds: tokenCreds });
      try {
        await client.getManifest(shortRepo, 'v1');
        await sleep(2200);
        await client.getManifest(shortRepo, 'v1');
        expect(client.tokenRequests).toBe(2);
        // No second 401: the client knew the token had expired.
        expect(proxy.requests.map((r) => r.status)).toEqual([401, 200, 200]);
        const tokens = await issuedTokens(token.realm, shortPattern);
        expect(tokens.at(-1)!.expiresIn).toBe(2);
      } finally {
        await client.close();
        proxy.clearLog();
      }
    });
  });
});
