/**
 * Which registries are insecure, Docker Hub's API host, and the TLS probe
 * (an HTTPS registry with a self-signed certificate on loopback).
 */

import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { type AddressInfo, connect, createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mergeScopes } from '../src/oci/registry/auth.js';
import { nextLink, RegistryClient } from '../src/oci/registry/client.js';
import {
  apiHost,
  clientHello,
  isInsecureRegistry,
  isLoopbackHost,
  probeScheme,
} from '../src/oci/registry/hosts.js';
import { selfSignedCertificate } from './support/tls.js';

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
    const { key, cert } = await selfSignedCertificate(dir, { commonName: 'localhost' });
    server = createServer({ key, cert }, (req, res) => {
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

  it('recognises TLS 1.3-only and TLS 1.2-only RSA servers from the raw ClientHello', async () => {
    const dir = await mkdtemp(join(env.workDir, 'registry-tls-rsa-'));
    const material = await selfSignedCertificate(dir, { commonName: 'localhost', rsa: true });
    for (const versions of [
      { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' },
      { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' },
    ] as const) {
      const tlsServer = createServer({ key: material.key, cert: material.cert, ...versions }, (_req, res) =>
        res.end('{}'),
      );
      await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
      try {
        const tlsHost = `127.0.0.1:${(tlsServer.address() as AddressInfo).port}`;
        expect(await probeScheme(tlsHost, 5000), versions.minVersion).toBe('https');
        // The hello is well formed: the server answers with a handshake record (ServerHello or
        // HelloRetryRequest), not an alert.
        const answer = await new Promise<Buffer>((resolve, reject) => {
          const socket = connect(Number(tlsHost.split(':')[1]), '127.0.0.1', () =>
            socket.write(clientHello('localhost')),
          );
          socket.once('data', (chunk: Buffer) => {
            socket.destroy();
            resolve(chunk);
          });
          socket.once('error', reject);
        });
        expect(answer[0], versions.minVersion).toBe(0x16);
        // By name too: the hello then carries server_name.
        expect(await probeScheme(`localhost:${(tlsServer.address() as AddressInfo).port}`, 5000)).toBe(
          'https',
        );
      } finally {
        await new Promise((resolve) => tlsServer.close(resolve));
      }
    }
  });

  it('takes a server that closes on the hello, or answers in HTTP, for plain HTTP', async () => {
    const closing = createTcpServer((socket) => socket.destroy());
    const http = createTcpServer((socket) =>
      socket.once('data', () => socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')),
    );
    for (const server of [closing, http]) {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    }
    try {
      expect(await probeScheme(`127.0.0.1:${(closing.address() as AddressInfo).port}`, 5000)).toBe('http');
      expect(await probeScheme(`127.0.0.1:${(http.address() as AddressInfo).port}`, 5000)).toBe('http');
    } finally {
      for (const server of [closing, http]) await new Promise((resolve) => server.close(resolve));
    }
  });

  it('leaves an unreachable host to the real request (https, not remembered)', async () => {
    const server = createTcpServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise((resolve) => server.close(resolve));
    expect(await probeScheme(`127.0.0.1:${port}`, 5000)).toBe('https');
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
