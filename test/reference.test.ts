import { describe, expect, it } from 'vitest';
import { IvocError } from '../src/errors.js';
import {
  familiarName,
  formatImageReference,
  formatRegistryReference,
  parseImageReference,
  parseRegistryReference,
} from '../src/oci/reference.js';

const digest = `sha256:${'a'.repeat(64)}`;

describe('registry references are normalised as docker does', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['team/app', 'docker.io/team/app:latest'],
    ['docker.io/alpine', 'docker.io/library/alpine:latest'],
    ['index.docker.io/team/app:1', 'docker.io/team/app:1'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:1.2.0', 'localhost:5000/app:1.2.0'],
    ['127.0.0.1:5100/team/app:1.2.0', '127.0.0.1:5100/team/app:1.2.0'],
    ['images.canfar.net/skaha/notebook:24.1', 'images.canfar.net/skaha/notebook:24.1'],
    [`app@${digest}`, `docker.io/library/app@${digest}`],
    [`reg.example.org/a/b/c:tag@${digest}`, `reg.example.org/a/b/c:tag@${digest}`],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
  ])('%s → %s', (input, expected) => {
    expect(formatRegistryReference(parseRegistryReference(input))).toBe(expected);
  });

  it('keeps a first component without a dot or port as part of the repository', () => {
    expect(parseRegistryReference('myhost/app')).toEqual({
      registry: 'docker.io',
      repository: 'myhost/app',
      tag: 'latest',
    });
  });

  it('prints the familiar short name', () => {
    expect(familiarName(parseRegistryReference('alpine'))).toBe('alpine:latest');
    expect(familiarName(parseRegistryReference('127.0.0.1:5100/x/y:1'))).toBe('127.0.0.1:5100/x/y:1');
  });

  it.each([
    ['', 'empty'],
    ['UPPER/app', 'lowercase'],
    ['app:bad tag', 'not a valid tag'],
    ['app@sha256:1234', 'not a valid digest'],
    ['app//x', 'empty path component'],
    ['app:-bad', 'not a valid tag'],
  ])('refuses %j as a usage error (exit 2)', (input, why) => {
    let error: unknown;
    try {
      parseRegistryReference(input);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(IvocError);
    expect((error as IvocError).exitCode).toBe(2);
    expect((error as IvocError).code).toBe('ERR_REFERENCE');
    expect((error as IvocError).message).toContain(why);
  });
});

describe('transport syntax as skopeo names it', () => {
  it.each([
    ['docker://alpine', 'docker://docker.io/library/alpine:latest'],
    ['127.0.0.1:5100/a/b:1', 'docker://127.0.0.1:5100/a/b:1'],
    ['oci:/tmp/layout', 'oci:/tmp/layout'],
    ['oci:/tmp/layout:v1', 'oci:/tmp/layout:v1'],
    ['oci-archive:img.tar:latest', 'oci-archive:img.tar:latest'],
    ['docker-archive:img.tar', 'docker-archive:img.tar'],
    ['docker-archive:img.tar:team/app:1', 'docker-archive:img.tar:docker.io/team/app:1'],
    ['docker-archive:img.tar:@1', 'docker-archive:img.tar:@1'],
    ['docker-daemon:app:1', 'docker-daemon:docker.io/library/app:1'],
    [`docker-daemon:${digest}`, `docker-daemon:${digest}`],
  ])('%s', (input, expected) => {
    expect(formatImageReference(parseImageReference(input))).toBe(expected);
  });

  it('refuses unknown transports and empty paths', () => {
    expect(() => parseImageReference('ftp://x/y')).toThrow(/unknown transport 'ftp'/);
    expect(() => parseImageReference('oci:')).toThrow(/empty path/);
    expect(() => parseImageReference('docker-archive:x.tar:@-1')).toThrow(/source index/);
  });
});
