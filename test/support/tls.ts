import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SelfSigned {
  keyPath: string;
  certPath: string;
  key: Buffer;
  cert: Buffer;
}

/**
 * A self-signed certificate and its key, made by openssl in DIR (valid one
 * day): EC P-256 by default, or RSA 2048. `altName` adds a subjectAltName
 * (e.g. 'IP:127.0.0.1', which Go's TLS clients need for an address).
 */
export async function selfSignedCertificate(
  dir: string,
  options: { commonName: string; rsa?: boolean; altName?: string },
): Promise<SelfSigned> {
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  const keyType = options.rsa
    ? ['-newkey', 'rsa:2048']
    : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  const altName = options.altName ? ['-addext', `subjectAltName=${options.altName}`] : [];
  await run('openssl', [
    'req',
    '-x509',
    ...keyType,
    '-nodes',
    '-subj',
    `/CN=${options.commonName}`,
    ...altName,
    '-days',
    '1',
    '-keyout',
    keyPath,
    '-out',
    certPath,
  ]);
  const [key, cert] = await Promise.all([readFile(keyPath), readFile(certPath)]);
  return { keyPath, certPath, key, cert };
}
