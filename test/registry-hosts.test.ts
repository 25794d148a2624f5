/**
 * Which registries are insecure, Docker Hub's API host, and the TLS probe
 * (an HTTPS registry with a self-signed certificate on loopback).
 */

import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mergeScopes } from '../src/oci/registry/auth.js';
import { nextLink, RegistryClient } from '../src/oci/registry/client.js';
import { apiHost, isInsecureRegistry, isLoopbackHost } from '../src/oci/registry/hosts.js';

const run = promisify(execFile);
const env = inject('testEnv');

describe('hosts', () => {
  it('sends Docker Hub to its API host', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('quay.io')).toBe('quay.io');
    expect(apiHost('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });

  it('treats loopback as insecure, as docker does', () => {
    for (const host of ['localhost:5000', 'localhost', '127.0.0.1:5100', '127.3.4.5', '[::1]:5000']) {
      expect(isLoopbackHost(host)).toBe(true);
      expect(isInsecureRegistry(host)).toBe(true);
    }
    for (const host of ['registry.example', '10.0.0.1:5000', '128.0.0.1']) {
      expect(isInsecureRegistry(host)).toBe(false);
    }
  });

  it('matches --insecure-registry by host, host:port and CIDR', () => {
    expect(isInsecureRegistry('reg.example:5000', ['reg.example'])).toBe(true);
    expect(isInsecureRegistry('reg.example:5000', ['reg.example:5000'])).toBe(true);
    expect(isInsecureRegistry('reg.example:5001', ['reg.example:5000'])).toBe(false);
    expect(isInsecureRegistry('other.example', ['reg.example'])).toBe(false);
    expect(isInsecureRegistry('10.1.2.3:5000', ['10.0.0.0/8'])).toBe(true);
    expect(isInsecureRegistry('11.1.2.3:5000', ['10.0.0.0/8'])).toBe(false);
    expect(isInsecureRegistry('REG.example', ['http://reg.example/'])).toBe(true);
  });

  it('merges token scopes per resource and reads Link headers', () => {
    expect(mergeScopes(['repository:a:push', 'repository:a:pull', 'repository:b:pull'])).toEqual([
      'repository:a:pull,push',
      'repository:b:pull',
    ]);
    expect(nextLink('</v2/x/tags/list?last=b&n=2>; rel="next"')).toBe('/v2/x/tags/list?last=b&n=2');
    expect(nextLink('<https://a/b>; rel="prev"')).toBeUndefined();
  });
});

describe('TLS probe', () => {
  let server: Server;
  let host: string;
  const agents: string[] = [];

  beforeAll(async () => {
    const dir = await mkdtemp(join(env.workDir, 'registry-tls-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-days',
      '1',
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    server = createServer({ key: await readFile(key), cert: await readFile(cert) }, (req, res) => {
      agents.push(req.headers['user-agent'] ?? '');
      res.writeHead(200, {
        'content-type': 'application/json',
        'docker-distribution-api-version': 'registry/2.0',
      });
      res.end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('uses HTTPS without verification for an insecure registry that speaks TLS', async () => {
    const client = new RegistryClient(host, { userAgent: 'ivoc-test-agent' });
    try {
      const result = await client.ping();
      expect(result.origin).toBe(`https://${host}`);
      expect(agents.at(-1)).toBe('ivoc-test-agent');
    } finally {
      await client.close();
    }
  });

  it('uses plain HTTP for one that does not', async () => {
    const client = new RegistryClient(env.registries.anonymous.host);
    try {
      expect((await client.ping()).origin).toBe(`http://${env.registries.anonymous.host}`);
    } finally {
      await client.close();
    }
  });
});
