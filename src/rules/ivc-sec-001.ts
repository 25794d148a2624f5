import type { FsNode } from '../oci/layer/filesystem.js';
import type { Finding, Level } from '../report/types.js';
import type { Rule } from './types.js';
import { fileFinding } from './util/layer-of.js';
import {
  credentialFile,
  credentialFileGlobs,
  credentialReason,
  isSshPrivateKeyName,
  packageDbGlobs,
  packageDbPaths,
  packageOwners,
} from './util/secrets-scan.js';

/**
 * No credentials in the image. Findings name the key or the path (and the
 * layer), never a value: messages say what KIND of credential it looks like.
 *
 * Config: every Env entry and every label (config Labels as `Labels.KEY`,
 * manifest annotations not also set as labels as `Annotations.KEY`) whose
 * value looks like a credential (src/secrets.ts secretValueKind: AWS key
 * ids, GitHub/GitLab/Slack tokens, JWTs, private-key blocks, URLs with a
 * password), or whose name does (looksLikeSecretName) with a value that is
 * not empty and not an obvious placeholder (booleans, `changeme`, `<token>`,
 * `${VAR}`, paths, URLs without a password; see isPlaceholder).
 *
 * Files: a PEM private-key block (the scan's 'private-key' probe, files up
 * to 1 MiB), `.ssh/id_*` other than `*.pub`, and credential files whose
 * content holds a credential (.netrc/_netrc with a password,
 * .git-credentials with a URL password, .docker/config.json with `auths`
 * entries holding `auth`/`identitytoken`, .aws/credentials, .pgpass, .pypirc,
 * .npmrc tokens); one that could not be read is a warning.
 *
 * A file a package database lists (dpkg, apk, pip RECORD, conda-meta) is an
 * info finding: public, not the author's secret. rpm's database is binary
 * and not read (noted in the evidence). The rule's level in the result is
 * that of its worst finding: error when any finding is an error, info when
 * every finding is a packaged file.
 */

const rank: Record<Level, number> = { info: 0, warning: 1, error: 2 };

export default {
  meta: {
    id: 'IVC-SEC-001',
    level: 'error',
    evidence: ['config', 'fs'],
    title: 'No secrets baked in',
    description:
      'No credentials in the image: no env vars or labels whose names or values look like credentials, no private keys, .ssh/id_* keys, .netrc, .git-credentials or .docker/config.json with auths. Files shipped by a distribution package are reported at info.',
    rationale:
      'Images are copied to registries, mirrors and caches and pulled by anyone with read access: whatever is inside is published, and a token in an image is a leaked token.',
    help: 'Remove the credential and rotate it; pass secrets at run time or use build secrets (`RUN --mount=type=secret,id=netrc ...`)',
    specAnchor: 'ivc-sec-001',
    capture: {
      paths: [...packageDbPaths],
      globs: [...credentialFileGlobs, ...packageDbGlobs],
      probes: ['private-key'],
    },
  },
  check({ evidence }) {
    const fs = evidence.fs!;
    const config = evidence.config?.config;
    const findings: Finding[] = [];
    const keys: string[] = [];

    for (const entry of config?.Env ?? []) {
      const equals = entry.indexOf('=');
      if (equals <= 0) continue;
      const name = entry.slice(0, equals);
      const reason = credentialReason(name, entry.slice(equals + 1));
      if (reason === undefined) continue;
      keys.push(`Env.${name}`);
      findings.push({ message: `Env ${name} looks like a credential: ${reason}`, key: `Env.${name}` });
    }
    const labels = config?.Labels ?? {};
    const annotations = evidence.manifest?.manifest.annotations ?? {};
    const labelSources: [string, Record<string, string>][] = [
      ['Labels', labels],
      [
        'Annotations',
        Object.fromEntries(Object.entries(annotations).filter(([key]) => !Object.hasOwn(labels, key))),
      ],
    ];
    for (const [source, record] of labelSources) {
      for (const [name, value] of Object.entries(record)) {
        const reason = credentialReason(name, value);
        if (reason === undefined) continue;
        const label = source === 'Labels' ? 'label' : 'manifest annotation';
        keys.push(`${source}.${name}`);
        findings.push({
          message: `${label} ${name} looks like a credential: ${reason}`,
          key: `${source}.${name}`,
        });
      }
    }

    const files: { node: FsNode; what: string; level?: Level }[] = [];
    for (const node of fs.walk()) {
      if (node.type !== 'file') continue;
      const label = node.probes?.['private-key'];
      if (label !== undefined) {
        files.push({ node, what: `a PEM '${label}' block` });
        continue;
      }
      if (isSshPrivateKeyName(node.path) && node.size > 0) {
        files.push({ node, what: 'an SSH private key (.ssh/id_*)' });
        continue;
      }
      const verdict = credentialFile(fs, node);
      if (verdict !== undefined)
        files.push({ node, what: verdict.what, ...(verdict.level ? { level: verdict.level } : {}) });
    }
    files.sort((a, b) => (a.node.path < b.node.path ? -1 : a.node.path > b.node.path ? 1 : 0));
    const packages =
      files.length > 0
        ? packageOwners(
            fs,
            files.map((file) => file.node.path),
          )
        : undefined;
    for (const file of files) {
      const owner = packages?.owners.get(file.node.path);
      const message =
        owner === undefined
          ? `${file.node.path} holds ${file.what}`
          : `${file.node.path} holds ${file.what}, shipped by ${owner}: public, not the image author's secret`;
      findings.push(fileFinding(fs, file.node.path, file.node, message, owner ? 'info' : file.level));
    }

    const facts: Record<string, unknown> = {
      keys,
      files: files.map((file) => file.node.path),
    };
    if (packages) {
      facts.packageDatabases = packages.databases;
      if (packages.unread.length > 0) facts.notRead = packages.unread;
    }
    if (findings.length === 0) {
      return { status: 'pass', message: 'no credentials found in Env, labels or files', evidence: facts };
    }
    const worst = findings.reduce<Level>(
      (level, finding) => (rank[finding.level ?? 'error'] > rank[level] ? (finding.level ?? 'error') : level),
      'info',
    );
    const counts = { error: 0, warning: 0, info: 0 };
    for (const finding of findings) counts[finding.level ?? 'error']++;
    const summary = [
      counts.error > 0 ? `${counts.error} credential${counts.error === 1 ? '' : 's'}` : '',
      counts.warning > 0
        ? `${counts.warning} unreadable credential file${counts.warning === 1 ? '' : 's'}`
        : '',
      counts.info > 0 ? `${counts.info} packaged key file${counts.info === 1 ? '' : 's'} (info)` : '',
    ]
      .filter(Boolean)
      .join(', ');
    const shown = findings
      .filter((finding) => (finding.level ?? 'error') === worst)
      .slice(0, 3)
      .map((finding) => finding.key ?? finding.path);
    const more = findings.length > shown.length ? ', ...' : '';
    const message = `${summary}: ${shown.join(', ')}${more}`;
    const result = { status: 'fail' as const, message, evidence: facts, findings };
    return worst === 'error' ? result : { ...result, level: worst };
  },
} satisfies Rule;
