import { describe, expect, it } from 'vitest';
import { looksLikeSecretName, redactEnvEntry, redactValue, secretValueKind } from '../src/secrets.js';

// Built at run time, so that no scanner takes this file for one with credentials in it.
const repeat = (text: string, times: number) => text.repeat(times);

describe('secret heuristics', () => {
  it('names: credentials by word, in any case, but not paths, files or hosts', () => {
    for (const name of [
      'AWS_SECRET_ACCESS_KEY',
      'GITHUB_TOKEN',
      'DB_PASSWORD',
      'db_passwd',
      'Api-Key',
      'PRIVATE_KEY',
      'NPM_AUTH',
      'REGISTRY_CREDENTIAL',
      'pass',
    ]) {
      expect(looksLikeSecretName(name), name).toBe(true);
    }
    for (const name of [
      'PATH',
      'HOME',
      'BENCH_SIZE',
      'org.opencontainers.image.title',
      'PASSWORD_FILE',
      'TOKEN_URL',
      'AUTH_HOST',
      'KEYBOARD',
      'TOKENIZER',
      'author',
      'passport',
    ]) {
      expect(looksLikeSecretName(name), name).toBe(false);
    }
  });

  it('values: each kind of credential, wherever it sits in the value', () => {
    const samples: Record<string, string> = {
      'AWS access key id': `id=AKIA${repeat('A', 16)}`,
      'GitHub token': `token ghs_${repeat('a1', 18)} end`,
      'GitLab token': `glpat-${repeat('x', 20)}`,
      'Slack token': `xoxb-${repeat('1', 10)}`,
      'private key': `-----BEGIN RSA PRIVATE KEY-----\nMII...`,
      'JSON web token': `Bearer eyJ${repeat('a', 10)}.eyJ${repeat('b', 10)}.${repeat('c', 10)}`,
      'URL with a password': 'HTTPS://user:hunter2@example.org/x',
    };
    for (const [kind, value] of Object.entries(samples)) expect(secretValueKind(value), kind).toBe(kind);
    expect(secretValueKind(`github_pat_${repeat('a', 60)}`)).toBe('GitHub token');
    for (const value of [
      '/usr/local/bin:/usr/bin:/bin',
      'https://example.org/path',
      'ivoc bench large',
      `AKIA${repeat('a', 16)}`,
      `ghx_${repeat('a', 40)}`,
      '-----BEGIN CERTIFICATE-----',
    ]) {
      expect(secretValueKind(value), value).toBeUndefined();
    }
  });

  it('redacts by name or by value, and leaves the rest', () => {
    expect(redactEnvEntry('API_TOKEN=abc')).toBe('API_TOKEN=<redacted>');
    expect(redactEnvEntry(`NOTE=xoxp-${repeat('9', 12)}`)).toBe('NOTE=<redacted>');
    expect(redactEnvEntry('PATH=/usr/bin')).toBe('PATH=/usr/bin');
    expect(redactEnvEntry('NO_EQUALS')).toBe('NO_EQUALS');
    expect(redactValue('org.opencontainers.image.title', 'x')).toBe('x');
    expect(redactValue('maintainer.password', 'x')).toBe('<redacted>');
  });
});
