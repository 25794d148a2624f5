import type { FileSystemView, FsNode } from '../../oci/layer/filesystem.js';
import { normalizePath } from '../../oci/layer/fs-path.js';
import { looksLikeSecretName, secretValueKind } from '../../secrets.js';

/**
 * Heuristics of IVC-SEC-001 beyond src/secrets.ts: which config values are
 * credentials, which files hold them, and which files a package database
 * lists (public, so reported at info). Nothing here returns a value.
 */

// ---------------------------------------------------------------- config values

/**
 * Values that are not a credential even under a credential-looking name:
 * booleans and switches (PASSWORD_REQUIRED=false, DISABLE_AUTH=true),
 * well-known placeholders (changeme, <token>, ${TOKEN}, xxxx, ****), file
 * paths (GIT_ASKPASS=/usr/bin/helper) and URLs without a password.
 */
const placeholder =
  /^(true|false|yes|no|on|off|none|null|nil|undefined|unset|disabled?|enabled?|required|optional|[01]|-|changeme|change[-_]me|placeholder|dummy|example|redacted|secret|password|token|your[-_a-z]*|x{3,}|\*{3,}|\.{3}|<[^<>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)$/i;

export function isPlaceholder(value: string): boolean {
  const trimmed = value.trim();
  if (placeholder.test(trimmed)) return true;
  if (/^\/\S*$/.test(trimmed)) return true;
  return /^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(trimmed) && secretValueKind(trimmed) === undefined;
}

/** Why a NAME=value pair is a credential ('by its name', 'a GitHub token'), or undefined. */
export function credentialReason(name: string, value: string): string | undefined {
  if (value.trim() === '') return undefined;
  const kind = secretValueKind(value);
  if (kind !== undefined) return `its value looks like ${article(kind)} ${kind}`;
  if (looksLikeSecretName(name) && !isPlaceholder(value))
    return 'its name says it is a credential and it has a value';
  return undefined;
}

function article(kind: string): string {
  // 'an AWS access key id', 'a URL ...', 'a JSON web token': by sound, not by letter.
  return /^(AWS|[aeio])/.test(kind) ? 'an' : 'a';
}

// ---------------------------------------------------------------- files

/**
 * Bodies kept for credential files: dotfiles directly in /root and
 * /home/NAME (.netrc, .git-credentials, .pgpass, .pypirc, .npmrc, ...) and
 * the Docker and AWS files below them. A credential file elsewhere is still
 * found by name in the merged view; without its content it is reported as
 * what it usually is (see credentialFile). Few globs, no leading '**': the
 * scan tests every tar entry against every glob of every rule.
 */
export const credentialFileGlobs = [
  '/root/.*',
  '/home/*/.*',
  '/root/.docker/config.json',
  '/home/*/.docker/config.json',
  '/root/.aws/credentials',
  '/home/*/.aws/credentials',
];

export interface FileVerdict {
  /** What the file holds, for the message. */
  what: string;
  /** Below error when the file could not be read and only may hold a credential. */
  level?: 'warning';
}

interface ContentTest {
  what: string;
  test: (text: string) => boolean;
  /**
   * Unread (outside the captured homes): 'error' for files that exist only
   * to hold credentials (.netrc, .git-credentials, .pgpass), 'warning' for
   * files that often hold none (.npmrc with only a registry, a Docker config
   * with only credHelpers).
   */
  unread: 'error' | 'warning';
}

const netrcPassword = (text: string) => /(^|\s)(password|account)\s+\S/.test(text);

const contentTests: Record<string, ContentTest> = {
  '.netrc': { what: 'a .netrc with a password', test: netrcPassword, unread: 'error' },
  _netrc: { what: 'a _netrc with a password', test: netrcPassword, unread: 'error' },
  '.git-credentials': {
    what: 'git credentials (URLs with a password)',
    test: (text) => /[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@/i.test(text),
    unread: 'error',
  },
  'config.json': { what: 'registry credentials (Docker config auths)', test: dockerAuths, unread: 'warning' },
  credentials: {
    what: 'AWS credentials',
    test: (text) => /^\s*(aws_secret_access_key|aws_session_token)\s*=\s*\S/im.test(text),
    unread: 'warning',
  },
  '.pgpass': {
    what: 'PostgreSQL passwords',
    test: (text) => text.split('\n').some((line) => line.trim() !== '' && !line.trim().startsWith('#')),
    unread: 'error',
  },
  '.pypirc': {
    what: 'a PyPI password',
    test: (text) => /^\s*password\s*[=:]\s*\S/im.test(text),
    unread: 'warning',
  },
  '.npmrc': {
    what: 'an npm registry token',
    test: (text) => /(_authToken|_auth|_password)\s*=\s*\S/.test(text),
    unread: 'warning',
  },
};

/** First characters (char codes) of the names in contentTests. */
const contentTestInitials = new Set(Object.keys(contentTests).map((name) => name.charCodeAt(0)));

/** A Docker config.json with an `auths` entry holding `auth`, `identitytoken`, `password` or `registrytoken`. */
function dockerAuths(text: string): boolean {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return false;
  }
  const auths = (data as { auths?: unknown } | null)?.auths;
  if (auths === null || typeof auths !== 'object') return false;
  return Object.values(auths as Record<string, unknown>).some((entry) => {
    if (entry === null || typeof entry !== 'object') return false;
    const record = entry as Record<string, unknown>;
    return ['auth', 'identitytoken', 'password', 'registrytoken'].some(
      (field) => typeof record[field] === 'string' && record[field] !== '',
    );
  });
}

/** The kind of credential file `node` is by its path, or undefined. */
function credentialFileKind(path: string): string | undefined {
  const slash = path.lastIndexOf('/');
  // Every name of contentTests starts with '.', '_' or 'c': most files are ruled out here,
  // without a string allocated (IVC-SEC-001 asks this of every file in the image).
  const first = path.charCodeAt(slash + 1);
  if (!contentTestInitials.has(first)) return undefined;
  const name = path.slice(slash + 1);
  const parent = path.slice(path.lastIndexOf('/', slash - 1) + 1, slash);
  if (name === 'config.json') return parent === '.docker' ? name : undefined;
  if (name === 'credentials') return parent === '.aws' ? name : undefined;
  return Object.hasOwn(contentTests, name) ? name : undefined;
}

/** What a credential file holds (by its path and content), or undefined when it holds nothing. */
export function credentialFile(fs: FileSystemView, node: FsNode): FileVerdict | undefined {
  const kind = credentialFileKind(node.path);
  if (kind === undefined || node.size === 0) return undefined;
  const test = contentTests[kind]!;
  const read = fs.read(node.path);
  if (read.status === 'ok' || read.status === 'truncated') {
    return test.test(read.data.toString('utf8')) ? { what: test.what } : undefined;
  }
  const what = `${test.what} (probably: the scan keeps the content of such files only in /root and /home/NAME)`;
  return test.unread === 'warning' ? { what, level: 'warning' } : { what };
}

/** An SSH private key by name: `.ssh/id_*`, not `*.pub`. */
export function isSshPrivateKeyName(path: string): boolean {
  return /\/\.ssh\/id_[^/]*$/.test(path) && !path.endsWith('.pub');
}

// ---------------------------------------------------------------- package databases

export const packageDbPaths = ['/lib/apk/db/installed', '/usr/lib/apk/db/installed'];
/**
 * Package databases kept by the scan: dpkg's file lists; pip's RECORD files
 * in the usual interpreter locations (/usr/lib/python3/dist-packages,
 * /usr/local/lib/pythonX/site-packages, environments in /opt/NAME and
 * /opt/NAME/envs/ENV, ~/.local); conda-meta of prefixes in /opt. Python
 * packages elsewhere (a venv in /app) are not known as packaged.
 */
export const packageDbGlobs = [
  '/var/lib/dpkg/info/*.list',
  '/usr/lib/*/*-packages/*.dist-info/RECORD',
  '/usr/local/lib/*/*-packages/*.dist-info/RECORD',
  '/opt/*/lib/*/site-packages/*.dist-info/RECORD',
  '/opt/*/envs/*/lib/*/site-packages/*.dist-info/RECORD',
  '/home/*/.local/lib/*/site-packages/*.dist-info/RECORD',
  '/opt/*/conda-meta/*.json',
  '/opt/*/envs/*/conda-meta/*.json',
];

/** /lib/x and /usr/lib/x are one file on a merged-/usr system: compare paths in their /usr form. */
function usrForm(path: string): string {
  return /^\/(bin|sbin|lib|lib32|lib64|libx32)(\/|$)/.test(path) ? `/usr${path}` : path;
}

export interface PackageOwners {
  /** Owner of each candidate path listed by a package database: 'dpkg package x', 'pip distribution y', ... */
  owners: Map<string, string>;
  /** Databases found (dpkg, apk, pip, conda), and rpm when present but not readable. */
  databases: string[];
  /** A database that exists but cannot be read (rpm's is binary). */
  unread: string[];
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * Which of `candidates` (canonical paths) a package database lists:
 * dpkg's /var/lib/dpkg/info/*.list (absolute paths, one a line), apk's
 * installed database (`P:` package, `F:` directory, `R:` file), pip's
 * `*.dist-info/RECORD` (paths relative to site-packages; only for
 * candidates inside that site-packages) and conda's
 * `conda-meta/*.json` (paths relative to the prefix). rpm's database is
 * binary (Berkeley DB or SQLite) and is not read: its presence is noted.
 */
export function packageOwners(fs: FileSystemView, candidates: readonly string[]): PackageOwners {
  const owners = new Map<string, string>();
  const databases: string[] = [];
  const unread: string[] = [];
  const wanted = new Map<string, string>();
  for (const path of candidates) wanted.set(usrForm(path), path);
  const claim = (listed: string, owner: string) => {
    const path = wanted.get(usrForm(listed));
    if (path !== undefined && !owners.has(path)) owners.set(path, owner);
  };
  const text = (node: FsNode): string | undefined => {
    const read = fs.read(node.path);
    return read.status === 'ok' || read.status === 'truncated' ? read.data.toString('utf8') : undefined;
  };

  const isFile = (node: FsNode) => node.type === 'file';
  const dpkg = fs.glob('/var/lib/dpkg/info/*.list', isFile);
  if (dpkg.length > 0) databases.push('dpkg');
  for (const node of dpkg) {
    const body = text(node);
    if (body === undefined) continue;
    const name = basename(node.path)
      .replace(/\.list$/, '')
      .replace(/:[^:]+$/, '');
    for (const line of body.split('\n'))
      if (line.startsWith('/')) claim(line.trimEnd(), `dpkg package '${name}'`);
  }

  for (const dbPath of packageDbPaths) {
    const node = fs.lstat(dbPath);
    if (node?.type !== 'file') continue;
    databases.push('apk');
    const body = text(node);
    if (body === undefined) continue;
    let pkg = '';
    let dir = '';
    for (const line of body.split('\n')) {
      if (line.startsWith('P:')) pkg = line.slice(2).trim();
      else if (line.startsWith('F:')) dir = line.slice(2).trim();
      else if (line.startsWith('R:'))
        claim(normalizePath(`/${dir}/${line.slice(2).trim()}`), `apk package '${pkg}'`);
      else if (line.trim() === '') {
        pkg = '';
        dir = '';
      }
    }
  }

  const records = packageDbGlobs
    .filter((glob) => glob.endsWith('/RECORD'))
    .flatMap((glob) => fs.glob(glob, isFile));
  if (records.length > 0) databases.push('pip');
  for (const node of records) {
    const distInfo = node.path.slice(0, node.path.lastIndexOf('/'));
    const sitePackages = distInfo.slice(0, distInfo.lastIndexOf('/'));
    if (!candidates.some((path) => path.startsWith(`${sitePackages}/`))) continue;
    const body = text(node);
    if (body === undefined) continue;
    const dist = basename(distInfo).replace(/-[^-]*\.dist-info$/, '');
    for (const line of body.split('\n')) {
      const field = line.startsWith('"') ? line.slice(1, line.indexOf('"', 1)) : line.split(',')[0]!;
      if (field === '') continue;
      claim(normalizePath(field, sitePackages), `pip distribution '${dist}'`);
    }
  }

  const conda = packageDbGlobs
    .filter((glob) => glob.endsWith('.json'))
    .flatMap((glob) => fs.glob(glob, isFile));
  if (conda.length > 0) databases.push('conda');
  for (const node of conda) {
    const meta = node.path.slice(0, node.path.lastIndexOf('/'));
    const prefix = meta.slice(0, meta.lastIndexOf('/'));
    const inside = candidates.filter((path) => path.startsWith(`${prefix}/`) && !owners.has(path));
    if (inside.length === 0) continue;
    const body = text(node);
    if (body === undefined) continue;
    const pkg = basename(node.path).replace(/(-[^-]+){2}\.json$/, '');
    for (const path of inside) {
      if (body.includes(JSON.stringify(path.slice(prefix.length + 1))))
        owners.set(path, `conda package '${pkg}'`);
    }
  }

  if (fs.exists('/var/lib/rpm') || fs.exists('/usr/lib/sysimage/rpm')) {
    databases.push('rpm');
    unread.push(
      "rpm (a binary database, not read: files from rpm packages are reported as the image author's)",
    );
  }
  return { owners, databases, unread };
}
