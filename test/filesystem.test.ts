import { describe, expect, it } from 'vitest';
import { ImageError } from '../src/errors.js';
import type { CapturedBody, LayerEntry, LayerFacts } from '../src/oci/layer/facts.js';
import { factsVersion } from '../src/oci/layer/facts.js';
import {
  defaultPath,
  FileSystemView,
  type FsContext,
  type FsNode,
  pathFromEnv,
} from '../src/oci/layer/filesystem.js';
import { parseGroup, parsePasswd } from '../src/oci/layer/fs-accounts.js';
import { compileGlob, globBase, normalizePath } from '../src/oci/layer/fs-path.js';
import { parseShebang } from '../src/oci/layer/fs-script.js';
import { scanLayer } from '../src/oci/layer/scan-layer.js';
import { MediaType } from '../src/oci/media-types.js';
import { descriptorOf, packTar, verifiedStream } from './layer-helpers.js';

// ------------------------------------------------------------------ helpers

type EntryInit = Partial<LayerEntry> & { path: string };

const dir = (path: string, extra: Partial<LayerEntry> = {}): LayerEntry => ({
  path,
  type: 'dir',
  mode: 0o755,
  uid: 0,
  gid: 0,
  size: 0,
  ...extra,
});
const file = (path: string, extra: Partial<LayerEntry> = {}): LayerEntry => ({
  path,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 1,
  ...extra,
});
const exe = (path: string, extra: Partial<LayerEntry> = {}): LayerEntry =>
  file(path, { mode: 0o755, ...extra });
const symlink = (path: string, linkname: string): LayerEntry => ({
  path,
  type: 'symlink',
  mode: 0o777,
  uid: 0,
  gid: 0,
  size: 0,
  linkname,
});
const hardlink = (path: string, linkname: string): LayerEntry => ({
  path,
  type: 'hardlink',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size: 0,
  linkname,
});

interface LayerInit {
  entries?: (LayerEntry | EntryInit)[];
  whiteouts?: string[];
  opaqueDirs?: string[];
  /** Captured bodies as text; a `{ text, truncated }` for a truncated capture. */
  bodies?: Record<string, string | { text: string; truncated: boolean }>;
}

let layerCounter = 0;
function layer(init: LayerInit = {}): LayerFacts {
  layerCounter++;
  const bodies: Record<string, CapturedBody> = {};
  for (const [path, body] of Object.entries(init.bodies ?? {})) {
    const text = typeof body === 'string' ? body : body.text;
    bodies[path] = {
      base64: Buffer.from(text).toString('base64'),
      truncated: typeof body === 'string' ? false : body.truncated,
    };
  }
  const entries = (init.entries ?? []).map((entry) =>
    'type' in entry ? (entry as LayerEntry) : file(entry.path, entry),
  );
  return {
    factsVersion,
    digest: `sha256:${layerCounter.toString(16).padStart(64, '0')}`,
    diffId: `sha256:${(layerCounter + 1000).toString(16).padStart(64, '0')}`,
    uncompressedSize: 0,
    entries,
    whiteouts: init.whiteouts ?? [],
    opaqueDirs: init.opaqueDirs ?? [],
    bodies,
  };
}

const build = (layers: LayerFacts[], context: FsContext = { image: 'test/image:1' }) =>
  FileSystemView.fromLayers(layers, context);

function catchError(fn: () => unknown): ImageError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ImageError);
    return error as ImageError;
  }
  throw new Error('expected an ImageError');
}

const paths = (nodes: Iterable<FsNode>) => [...nodes].map((node) => node.path).sort();

// ------------------------------------------------------------------ layering

describe('applying layers', () => {
  it('lets an upper entry replace the same path and remembers its layer', () => {
    const base = layer({
      entries: [dir('/etc'), file('/etc/motd', { size: 4 })],
      bodies: { '/etc/motd': 'old\n' },
    });
    const top = layer({
      entries: [file('/etc/motd', { size: 4, uid: 7 })],
      bodies: { '/etc/motd': 'new\n' },
    });
    const fs = build([base, top]);
    const motd = fs.lstat('/etc/motd')!;
    expect(motd.layer).toBe(1);
    expect(motd.uid).toBe(7);
    expect(fs.origin(motd)).toEqual({ index: 1, digest: top.digest, diffId: top.diffId });
    expect(fs.readText('/etc/motd')).toBe('new\n');
    expect(fs.lstat('/etc')!.layer).toBe(0);
    expect(fs.count).toBe(2);
  });

  it('removes a whited-out file', () => {
    const fs = build([
      layer({ entries: [dir('/etc'), file('/etc/secret'), file('/etc/keep')] }),
      layer({ whiteouts: ['/etc/secret'] }),
    ]);
    expect(fs.lstat('/etc/secret')).toBeUndefined();
    expect(fs.exists('/etc/keep')).toBe(true);
    expect(fs.readdir('/etc')).toEqual(['keep']);
  });

  it('removes a whited-out directory with everything below it', () => {
    const fs = build([
      layer({
        entries: [dir('/opt'), dir('/opt/app'), dir('/opt/app/lib'), file('/opt/app/lib/x'), file('/opt/y')],
      }),
      layer({ whiteouts: ['/opt/app'] }),
    ]);
    expect(paths(fs.walk())).toEqual(['/opt', '/opt/y']);
    expect(fs.lstat('/opt/app/lib/x')).toBeUndefined();
    expect(fs.readdir('/opt')).toEqual(['y']);
  });

  it('ignores a whiteout of a path that does not exist', () => {
    const fs = build([layer({ entries: [file('/a')] }), layer({ whiteouts: ['/nope', '/a/b'] })]);
    expect(paths(fs.walk())).toEqual(['/a']);
  });

  it('makes an opaque directory hide lower children but keep itself and its own layer', () => {
    const fs = build([
      layer({ entries: [dir('/a'), dir('/a/b'), dir('/a/b/c'), file('/a/b/c/bar'), file('/a/top')] }),
      // The image-spec example: the opaque marker applies first, wherever it sits in the tar.
      layer({
        entries: [dir('/a', { mode: 0o750 }), dir('/a/b'), dir('/a/b/c'), file('/a/b/c/foo')],
        opaqueDirs: ['/a'],
      }),
    ]);
    expect(paths(fs.walk())).toEqual(['/a', '/a/b', '/a/b/c', '/a/b/c/foo']);
    expect(fs.lstat('/a')!.mode).toBe(0o750);
  });

  it('keeps an opaque directory whose layer adds nothing to it', () => {
    const fs = build([
      layer({ entries: [dir('/bin'), file('/bin/one'), dir('/bin/tools'), file('/bin/tools/t')] }),
      layer({ entries: [dir('/bin')], opaqueDirs: ['/bin'] }),
    ]);
    expect(fs.readdir('/bin')).toEqual([]);
    expect(fs.count).toBe(1);
  });

  it('never hides entries of the same layer as a whiteout (image-spec rule)', () => {
    const fs = build([
      layer({ entries: [file('/app.cfg', { uid: 1 })] }),
      layer({ entries: [file('/app.cfg', { uid: 2 })], whiteouts: ['/app.cfg'] }),
    ]);
    expect(fs.lstat('/app.cfg')!.uid).toBe(2);
    expect(fs.lstat('/app.cfg')!.layer).toBe(1);
  });

  it('lets a higher layer re-add a whited-out path, without the old children', () => {
    const fs = build([
      layer({ entries: [dir('/d'), file('/d/old')] }),
      layer({ whiteouts: ['/d'] }),
      layer({ entries: [dir('/d'), file('/d/new')] }),
    ]);
    expect(fs.readdir('/d')).toEqual(['new']);
    expect(fs.lstat('/d')!.layer).toBe(2);
  });

  it('replaces a directory by a file, dropping its children', () => {
    const fs = build([
      layer({ entries: [dir('/srv'), dir('/srv/www'), file('/srv/www/index.html')] }),
      layer({ entries: [file('/srv/www')] }),
    ]);
    expect(fs.lstat('/srv/www')!.type).toBe('file');
    expect(fs.lstat('/srv/www/index.html')).toBeUndefined();
    expect(paths(fs.walk())).toEqual(['/srv', '/srv/www']);
  });

  it('merges a directory over a directory: new attributes, children kept', () => {
    const fs = build([
      layer({ entries: [dir('/home', { mode: 0o700 }), file('/home/a')] }),
      layer({ entries: [dir('/home', { mode: 0o755, uid: 3 }), file('/home/b')] }),
    ]);
    expect(fs.readdir('/home')).toEqual(['a', 'b']);
    expect(fs.lstat('/home')!.uid).toBe(3);
  });

  it('replaces a file by a directory', () => {
    const fs = build([layer({ entries: [file('/x')] }), layer({ entries: [dir('/x'), file('/x/y')] })]);
    expect(fs.lstat('/x')!.type).toBe('dir');
    expect(fs.readdir('/x')).toEqual(['y']);
    expect(fs.anomalies).toEqual([]);
  });

  it('creates implicit parent directories', () => {
    const fs = build([layer({ entries: [file('/usr/local/bin/tool', { mode: 0o755 })] })]);
    for (const path of ['/usr', '/usr/local', '/usr/local/bin']) {
      const node = fs.lstat(path)!;
      expect(node.type).toBe('dir');
      expect(node.implicit).toBe(true);
      expect(node.mode).toBe(0o755);
      expect(node.uid).toBe(0);
      expect(node.layer).toBe(0);
    }
    expect(fs.readdir('/')).toEqual(['usr']);
    expect(fs.count).toBe(4);
    expect(fs.lstat('/')!.layer).toBe(-1);
  });

  it('gives an implicit directory the attributes of a later explicit entry', () => {
    const fs = build([layer({ entries: [file('/var/log/x'), dir('/var/log', { mode: 0o750 })] })]);
    expect(fs.lstat('/var/log')!.implicit).toBe(false);
    expect(fs.lstat('/var/log')!.mode).toBe(0o750);
    expect(fs.readdir('/var/log')).toEqual(['x']);
  });

  it('replaces a non-directory parent by an implicit directory and records the anomaly', () => {
    const fs = build([
      layer({ entries: [dir('/usr/lib'), file('/usr/lib/libc.so'), symlink('/lib', 'usr/lib')] }),
      layer({ entries: [file('/lib/extra.so')] }),
    ]);
    expect(fs.lstat('/lib')!.type).toBe('dir');
    expect(fs.readdir('/lib')).toEqual(['extra.so']);
    expect(fs.anomalies).toEqual([
      { kind: 'non-dir-parent', path: '/lib', was: 'symlink', entry: '/lib/extra.so', layer: 1 },
    ]);
  });

  it('refuses a non-directory entry at the root', () => {
    const error = catchError(() => build([layer({ entries: [file('/')] })]));
    expect(error.code).toBe('ERR_LAYER_UNSAFE');
  });

  it('builds an empty image', () => {
    const fs = build([]);
    expect(fs.count).toBe(0);
    expect(fs.readdir('/')).toEqual([]);
    expect(fs.exists('/')).toBe(true);
  });
});

// ------------------------------------------------------------------ hard links

describe('hard links', () => {
  it('resolve to a target in the same layer, sharing metadata, probes and body', () => {
    const fs = build([
      layer({
        entries: [
          exe('/usr/bin/python3.11', { size: 20, probes: { elf: 'elf' }, mode: 0o4755 }),
          hardlink('/usr/bin/python3', '/usr/bin/python3.11'),
        ],
        bodies: { '/usr/bin/python3.11': 'ELF-ish body bytes..' },
      }),
    ]);
    const link = fs.lstat('/usr/bin/python3')!;
    expect(link.type).toBe('file');
    expect(link.isHardlink).toBe(true);
    expect(link.linkedTo!.path).toBe('/usr/bin/python3.11');
    expect(link.mode).toBe(0o4755);
    expect(link.size).toBe(20);
    expect(link.probes).toEqual({ elf: 'elf' });
    expect(fs.readText('/usr/bin/python3')).toBe('ELF-ish body bytes..');
    expect(link.entry.type).toBe('hardlink');
  });

  it('resolve to a target in a lower layer and survive its removal', () => {
    const fs = build([
      layer({ entries: [file('/etc/a', { size: 3, uid: 5 })], bodies: { '/etc/a': 'abc' } }),
      layer({ entries: [hardlink('/etc/b', '/etc/a')] }),
      layer({ whiteouts: ['/etc/a'] }),
    ]);
    expect(fs.lstat('/etc/a')).toBeUndefined();
    const b = fs.lstat('/etc/b')!;
    expect(b.layer).toBe(1);
    expect(b.uid).toBe(5);
    expect(fs.readText('/etc/b')).toBe('abc');
  });

  it('flatten chains of hard links to the inode', () => {
    const fs = build([layer({ entries: [file('/a'), hardlink('/b', '/a'), hardlink('/c', '/b')] })]);
    expect(fs.lstat('/c')!.linkedTo!.path).toBe('/a');
  });

  it('may link to a symbolic link', () => {
    const fs = build([layer({ entries: [file('/t'), symlink('/s', 't'), hardlink('/h', '/s')] })]);
    expect(fs.lstat('/h')!.type).toBe('symlink');
    expect(fs.realpath('/h')).toBe('/t');
  });

  it('to a missing target fail construction with ERR_HARDLINK_TARGET', () => {
    const bad = layer({ entries: [hardlink('/usr/bin/vi', '/usr/bin/vim')] });
    const error = catchError(() => build([layer({ entries: [file('/x')] }), bad]));
    expect(error.code).toBe('ERR_HARDLINK_TARGET');
    expect(error.image).toBe('test/image:1');
    expect(error.blob).toBe(bad.digest);
    expect(error.message).toContain('/usr/bin/vi');
    expect(error.message).toContain('/usr/bin/vim');
    expect(error.describe()).toContain(bad.digest);
  });

  it('to a target that comes later in the same layer fail', () => {
    const error = catchError(() => build([layer({ entries: [hardlink('/b', '/a'), file('/a')] })]));
    expect(error.code).toBe('ERR_HARDLINK_TARGET');
  });

  it('to a target whited out by the same layer fail (whiteouts act first)', () => {
    const error = catchError(() =>
      build([
        layer({ entries: [file('/a')] }),
        layer({ entries: [hardlink('/b', '/a')], whiteouts: ['/a'] }),
      ]),
    );
    expect(error.code).toBe('ERR_HARDLINK_TARGET');
  });

  it('to a directory or with no target fail', () => {
    expect(catchError(() => build([layer({ entries: [dir('/d'), hardlink('/h', '/d')] })])).code).toBe(
      'ERR_HARDLINK_TARGET',
    );
    expect(
      catchError(() => build([layer({ entries: [{ ...hardlink('/h', ''), linkname: undefined }] })])).code,
    ).toBe('ERR_HARDLINK_TARGET');
  });
});

// ------------------------------------------------------------------ symbolic links

describe('symbolic links', () => {
  const fs = build([
    layer({
      entries: [
        dir('/usr/bin'),
        exe('/usr/bin/busybox', { size: 2 }),
        symlink('/bin', 'usr/bin'),
        symlink('/usr/bin/sh', 'busybox'),
        symlink('/usr/bin/abs', '/usr/bin/busybox'),
        symlink('/usr/bin/chain', '../../bin/sh'),
        symlink('/usr/bin/dotdot', '../bin/./busybox'),
        symlink('/etc/alt', '/usr/bin'),
        symlink('/dangling', '/nowhere'),
        symlink('/empty', ''),
        symlink('/root-up', '/../usr/bin/busybox'),
        file('/plain'),
      ],
      bodies: { '/usr/bin/busybox': 'bb' },
    }),
  ]);

  it('lstat does not follow the last component but follows intermediate ones', () => {
    expect(fs.lstat('/bin')!.type).toBe('symlink');
    expect(fs.lstat('/bin/sh')!.type).toBe('symlink');
    expect(fs.lstat('/bin/sh')!.path).toBe('/usr/bin/sh');
    expect(fs.lstat('/bin/busybox')!.path).toBe('/usr/bin/busybox');
  });

  it('stat and realpath follow relative and absolute chains', () => {
    expect(fs.stat('/bin/sh')!.path).toBe('/usr/bin/busybox');
    expect(fs.realpath('/bin/sh')).toBe('/usr/bin/busybox');
    expect(fs.realpath('/usr/bin/abs')).toBe('/usr/bin/busybox');
    expect(fs.realpath('/usr/bin/chain')).toBe('/usr/bin/busybox');
    expect(fs.realpath('/usr/bin/dotdot')).toBe('/usr/bin/busybox');
    expect(fs.realpath('/etc/alt/sh')).toBe('/usr/bin/busybox');
    expect(fs.realpath('/bin')).toBe('/usr/bin');
    expect(fs.realpath('/')).toBe('/');
    expect(fs.readText('/etc/alt/sh')).toBe('bb');
  });

  it('applies .. after a link to the link target, not lexically', () => {
    expect(fs.realpath('/bin/../bin/sh')).toBe('/usr/bin/busybox');
    expect(fs.realpath('/etc/alt/..')).toBe('/usr');
    expect(fs.realpath('/../../plain')).toBe('/plain');
    expect(fs.realpath('//usr/./bin/')).toBe('/usr/bin');
  });

  it('clamps .. at the root inside an absolute target, as the kernel does', () => {
    expect(fs.realpath('/root-up')).toBe('/usr/bin/busybox');
  });

  it('reports dangling and empty links and non-directories as absent', () => {
    expect(fs.stat('/dangling')).toBeUndefined();
    expect(fs.lstat('/dangling')!.symlinkTarget).toBe('/nowhere');
    expect(fs.exists('/dangling')).toBe(false);
    expect(fs.realpath('/empty')).toBeUndefined();
    expect(fs.resolve('/plain/x', true)).toEqual({ ok: false, reason: 'not-dir', at: '/plain' });
    expect(fs.resolve('/dangling', true)).toMatchObject({ ok: false, reason: 'absent', at: '/nowhere' });
  });

  it('detects loops with ERR_SYMLINK_LOOP naming image and path', () => {
    const loop = build([
      layer({ entries: [symlink('/a', 'b'), symlink('/b', '/a'), symlink('/self', 'self')] }),
    ]);
    for (const path of ['/a', '/self', '/a/x']) {
      const error = catchError(() => loop.stat(path));
      expect(error.code).toBe('ERR_SYMLINK_LOOP');
      expect(error.image).toBe('test/image:1');
      expect(error.message).toContain(path);
    }
    expect(loop.lstat('/a')!.type).toBe('symlink');
    expect(catchError(() => loop.exists('/a/x')).code).toBe('ERR_SYMLINK_LOOP');
  });

  it('follows up to 40 links and no more', () => {
    const chain = (n: number) => {
      const entries: LayerEntry[] = [file('/target')];
      for (let i = 0; i < n; i++) entries.push(symlink(`/l${i}`, i === n - 1 ? '/target' : `l${i + 1}`));
      return build([layer({ entries })]);
    };
    expect(chain(40).realpath('/l0')).toBe('/target');
    expect(catchError(() => chain(41).realpath('/l0')).code).toBe('ERR_SYMLINK_LOOP');
  });

  it('refuses a relative link climbing above the root with ERR_PATH_ESCAPE', () => {
    const bad = layer({
      entries: [dir('/opt/app'), symlink('/opt/app/etc', '../../../etc'), file('/etc/hosts')],
    });
    const escaping = build([bad]);
    const error = catchError(() => escaping.stat('/opt/app/etc/hosts'));
    expect(error.code).toBe('ERR_PATH_ESCAPE');
    expect(error.image).toBe('test/image:1');
    expect(error.blob).toBe(bad.digest);
    expect(error.message).toContain('/opt/app/etc');
    expect(error.message).toContain('../../../etc');
    // lstat of the link itself does not resolve it.
    expect(escaping.lstat('/opt/app/etc')!.type).toBe('symlink');
    // The kernel's reading, on request.
    expect(build([bad], { image: 'x', escapes: 'clamp' }).realpath('/opt/app/etc/hosts')).toBe('/etc/hosts');
  });
});

// ------------------------------------------------------------------ content

describe('reading files', () => {
  const fs = build([
    layer({
      entries: [
        file('/etc/passwd', { size: 5 }),
        file('/etc/big', { size: 1_000_000 }),
        file('/etc/uncaptured', { size: 10 }),
        file('/etc/empty', { size: 0 }),
        symlink('/etc/link', 'passwd'),
        dir('/etc/dir'),
      ],
      bodies: { '/etc/passwd': 'hello', '/etc/big': { text: 'head', truncated: true } },
    }),
  ]);

  it('tells ok, truncated, absent, not-captured and not-file apart', () => {
    expect(fs.read('/etc/passwd')).toMatchObject({ status: 'ok', path: '/etc/passwd' });
    expect(fs.read('/etc/link')).toMatchObject({ status: 'ok', path: '/etc/passwd' });
    const big = fs.read('/etc/big');
    expect(big.status).toBe('truncated');
    expect(big.status === 'truncated' && big.data.toString()).toBe('head');
    expect(fs.read('/etc/nope')).toEqual({ status: 'absent' });
    expect(fs.read('/etc/uncaptured').status).toBe('not-captured');
    expect(fs.read('/etc/dir').status).toBe('not-file');
    expect(fs.read('/etc/empty').status).toBe('ok');
  });

  it('readFile and readText return complete bodies only', () => {
    expect(fs.readText('/etc/link')).toBe('hello');
    expect(fs.readFile('/etc/big')).toBeUndefined();
    expect(fs.readFile('/etc/uncaptured')).toBeUndefined();
    expect(fs.readFile('/etc/nope')).toBeUndefined();
    expect(fs.readFile('/etc/empty')!.length).toBe(0);
  });
});

// ------------------------------------------------------------------ which

describe('which', () => {
  const fs = build([
    layer({
      entries: [
        dir('/bin'),
        exe('/bin/busybox'),
        symlink('/bin/sh', 'busybox'),
        symlink('/bin/ls', '/bin/busybox'),
        file('/usr/local/bin/python3'), // not executable
        exe('/usr/bin/python3'),
        symlink('/usr/local/bin/jupyter', '/opt/conda/bin/jupyter'), // dangling
        dir('/opt/tools'),
        exe('/app/run.sh'),
        exe('/app/bin/helper'),
      ],
    }),
  ]);

  it('searches the PATH from the image Env, following links', () => {
    const path = pathFromEnv(['HOME=/root', 'PATH=/opt/tools:/bin']);
    expect(path).toBe('/opt/tools:/bin');
    expect(fs.which('sh', path)).toBe('/bin/sh');
    const found = fs.whichExplain('sh', path);
    expect(found).toMatchObject({ found: true, path: '/bin/sh', realpath: '/bin/busybox' });
    expect(found.tried.map((c) => [c.path, c.reason])).toEqual([
      ['/opt/tools/sh', 'absent'],
      ['/bin/sh', undefined],
    ]);
  });

  it('uses the default PATH when Env has none', () => {
    expect(pathFromEnv(['HOME=/root'])).toBe(defaultPath);
    expect(pathFromEnv(undefined)).toBe(defaultPath);
    expect(fs.which('ls')).toBe('/bin/ls');
  });

  it('skips a non-executable file for a later one, as execvp does', () => {
    const result = fs.whichExplain('python3');
    expect(result).toMatchObject({ found: true, path: '/usr/bin/python3' });
    expect(result.tried.find((c) => c.path === '/usr/local/bin/python3')!.reason).toBe('not-executable');
  });

  it('says why a command was not found', () => {
    const result = fs.whichExplain('jupyter', '/usr/local/bin:/opt/tools:/bin');
    expect(result.found).toBe(false);
    expect(result.tried).toEqual([
      { path: '/usr/local/bin/jupyter', reason: 'dangling-link', linkTarget: '/opt/conda/bin/jupyter' },
      { path: '/opt/tools/jupyter', reason: 'absent' },
      { path: '/bin/jupyter', reason: 'absent' },
    ]);
    expect(fs.which('python3', '/usr/local/bin')).toBeUndefined();
    expect(fs.whichExplain('tools', '/opt').tried[0]!.reason).toBe('not-regular-file');
    expect(fs.which('', '/bin')).toBeUndefined();
  });

  it('takes a name with a slash as a path, relative to cwd', () => {
    expect(fs.which('/app/run.sh', '/nowhere')).toBe('/app/run.sh');
    expect(fs.which('./run.sh', '/nowhere', { cwd: '/app' })).toBe('/app/run.sh');
    expect(fs.which('bin/helper', '/nowhere', { cwd: '/app' })).toBe('/app/bin/helper');
    expect(fs.which('run.sh', '/nowhere', { cwd: '/app' })).toBeUndefined();
    // Empty and relative PATH entries are taken from cwd.
    expect(fs.which('run.sh', '/nowhere:', { cwd: '/app' })).toBe('/app/run.sh');
    expect(fs.which('helper', 'bin', { cwd: '/app' })).toBe('/app/bin/helper');
  });
});

// ------------------------------------------------------------------ scripts

describe('interpreters', () => {
  it('parses shebang lines as Linux does', () => {
    expect(parseShebang('#!/usr/bin/env python3\nprint()')).toEqual({
      path: '/usr/bin/env',
      arg: 'python3',
      envCommand: 'python3',
      line: '/usr/bin/env python3',
    });
    expect(parseShebang('#! /bin/bash -e \r\n')).toEqual({
      path: '/bin/bash',
      arg: '-e',
      line: ' /bin/bash -e ',
    });
    expect(parseShebang('#!/bin/sh')).toEqual({ path: '/bin/sh', line: '/bin/sh' });
    expect(parseShebang('#!/usr/bin/env python3 -u')!.envCommand).toBe('python3 -u');
    expect(parseShebang('#!/usr/bin/env -S python3 -u')!.envCommand).toBe('python3');
    expect(parseShebang('#!/usr/bin/env -S -i PYTHONPATH=/x -u HOME python3')!.envCommand).toBe('python3');
    expect(parseShebang('#!/usr/bin/env -i')!.envCommand).toBeUndefined();
    expect(parseShebang('#!')).toBeUndefined();
    expect(parseShebang('echo hi')).toBeUndefined();
    expect(parseShebang('/bin/sh', true)).toEqual({ path: '/bin/sh', line: '/bin/sh' });
  });

  it('reads the interpreter from the probe, the captured body, or says why not', () => {
    const fs = build(
      [
        layer({
          entries: [
            exe('/probed', { probes: { shebang: '#!/usr/bin/env python3' } }),
            exe('/captured', { size: 20 }),
            exe('/elf', { probes: { elf: 'elf' } }),
            exe('/unprobed-exe', { size: 9 }),
            file('/unknown', { size: 9 }),
            symlink('/link', 'captured'),
          ],
          bodies: { '/captured': '#!/bin/bash -e\nexec "$@"\n' },
        }),
      ],
      { image: 'x', probes: ['shebang', 'elf'] },
    );
    expect(fs.interpreter('/probed')).toMatchObject({ path: '/usr/bin/env', arg: 'python3' });
    expect(fs.interpreter('/link')).toMatchObject({ path: '/bin/bash', arg: '-e' });
    expect(fs.scriptInfo('/elf')).toEqual({ status: 'binary' });
    expect(fs.scriptInfo('/unprobed-exe')).toEqual({ status: 'no-shebang' });
    expect(fs.scriptInfo('/unknown')).toEqual({ status: 'unknown' });
    expect(fs.scriptInfo('/nope')).toEqual({ status: 'absent' });
    expect(fs.scriptInfo('/')).toEqual({ status: 'not-file' });
    expect(fs.interpreter('/elf')).toBeUndefined();
  });
});

// ------------------------------------------------------------------ accounts

describe('passwd and group', () => {
  it('parses with comments, blank lines, CRLF, short and bad lines', () => {
    const passwd = parsePasswd(
      [
        '# users',
        'root:x:0:0:root:/root:/bin/bash',
        '',
        '   ',
        'astro:x:1000:1000:Astro,,,:/home/astro:/bin/bash\r',
        'short:x:1001',
        'nouid:x::100:::',
        'baduid:x:abc:100::/:/bin/sh',
        '+nisuser::::::',
        'root:x:999:999::/other:/bin/sh',
        'toor:x:0:0::/:',
      ].join('\n'),
    );
    expect(passwd.status).toBe('ok');
    expect(passwd.byName('root')).toMatchObject({
      uid: 0,
      gid: 0,
      home: '/root',
      shell: '/bin/bash',
      line: 2,
    });
    expect(passwd.byName('astro')).toMatchObject({
      uid: 1000,
      gid: 1000,
      home: '/home/astro',
      shell: '/bin/bash',
    });
    expect(passwd.byName('short')).toEqual({ name: 'short', uid: 1001, line: 6 });
    expect(passwd.byName('nouid')).toBeUndefined();
    expect(passwd.byName('baduid')).toBeUndefined();
    expect(passwd.byName('+nisuser')).toBeUndefined();
    expect(passwd.byId(0)!.name).toBe('root');
    expect(passwd.byName('toor')!.shell).toBeUndefined();
    expect(passwd.badLines).toEqual([7, 8, 9]);
    expect(passwd.entries.map((e) => e.name)).toEqual(['root', 'astro', 'short', 'root', 'toor']);
  });

  it('parses groups and their members', () => {
    const group = parseGroup('root:x:0:\nastro:x:1000:astro, jovyan ,\n#x\nusers:x:100\nbroken\n');
    expect(group.byName('astro')).toEqual({
      name: 'astro',
      gid: 1000,
      members: ['astro', 'jovyan'],
      line: 2,
    });
    expect(group.byName('users')).toEqual({ name: 'users', gid: 100, members: [], line: 4 });
    expect(group.byId(0)!.name).toBe('root');
    expect(group.badLines).toEqual([5]);
  });

  it('reads them from the image, saying when they are absent or not captured', () => {
    const fs = build([
      layer({
        entries: [file('/etc/passwd', { size: 40 }), file('/etc/group', { size: 40 })],
        bodies: {
          '/etc/passwd': {
            text: 'root:x:0:0::/root:/bin/sh\nastro:x:1000:1000::/home/astro:/bin/sh\nbob:x:10',
            truncated: true,
          },
        },
      }),
    ]);
    const passwd = fs.passwd();
    expect(passwd.status).toBe('truncated');
    expect(passwd.readable).toBe(true);
    expect(passwd.entries.map((e) => e.name)).toEqual(['root', 'astro']);
    expect(fs.passwd()).toBe(passwd);
    expect(fs.group().status).toBe('not-captured');
    expect(fs.group().readable).toBe(false);
    expect(build([]).passwd().status).toBe('absent');
    expect(build([]).passwd().byName('root')).toBeUndefined();
  });
});

// ------------------------------------------------------------------ queries

describe('finding nodes', () => {
  const fs = build([
    layer({
      entries: [
        exe('/usr/bin/su', { mode: 0o4755 }),
        exe('/usr/bin/sudo', { mode: 0o4111 }),
        exe('/usr/bin/wall', { mode: 0o2755, gid: 5 }),
        exe('/usr/bin/mine', { mode: 0o4755, uid: 1000 }),
        file('/usr/bin/not-exe', { mode: 0o4644 }),
        dir('/tmp', { mode: 0o1777 }),
        file('/home/astro/.ssh/id_rsa', { uid: 1000 }),
        file('/home/astro/.ssh/id_rsa.pub'),
        file('/root/.netrc'),
      ],
    }),
    layer({ entries: [hardlink('/usr/local/bin/escalate', '/usr/bin/su')], whiteouts: ['/usr/bin/sudo'] }),
  ]);

  it('finds setuid/setgid-root executables, hard links included and whiteouts applied', () => {
    const found = fs.find((node) => fs.isExecutable(node) && node.uid === 0 && (node.setuid || node.setgid));
    expect(paths(found)).toEqual(['/usr/bin/su', '/usr/bin/wall', '/usr/local/bin/escalate']);
    expect(found.find((node) => node.path === '/usr/local/bin/escalate')!.layer).toBe(1);
  });

  it('walks a subtree and matches globs on literal paths', () => {
    expect(paths(fs.walk('/home'))).toEqual([
      '/home/astro',
      '/home/astro/.ssh',
      '/home/astro/.ssh/id_rsa',
      '/home/astro/.ssh/id_rsa.pub',
    ]);
    expect(paths(fs.glob('/home/*/.ssh/id_*'))).toEqual([
      '/home/astro/.ssh/id_rsa',
      '/home/astro/.ssh/id_rsa.pub',
    ]);
    expect(paths(fs.glob('/**/.netrc'))).toEqual(['/root/.netrc']);
    expect(paths(fs.glob('/**/id_rsa?pub'))).toEqual(['/home/astro/.ssh/id_rsa.pub']);
    expect(paths(fs.glob('/home/**', (node) => node.type === 'dir'))).toEqual([
      '/home/astro',
      '/home/astro/.ssh',
    ]);
    expect(fs.glob('/nowhere/*')).toEqual([]);
    expect(fs.walk('/nowhere').next().done).toBe(true);
  });

  it('lists directories sorted and says when a path is not one', () => {
    expect(fs.readdir('/usr/bin')).toEqual(['mine', 'not-exe', 'su', 'wall']);
    expect(fs.readdir('/usr/bin/su')).toBeUndefined();
    expect(fs.readdir('/nowhere')).toBeUndefined();
  });
});

describe('path helpers', () => {
  it('compiles globs', () => {
    expect(compileGlob('/etc/*.conf').test('/etc/a.conf')).toBe(true);
    expect(compileGlob('/etc/*.conf').test('/etc/x/a.conf')).toBe(false);
    expect(compileGlob('/etc/**/*.conf').test('/etc/a.conf')).toBe(true);
    expect(compileGlob('/etc/**/*.conf').test('/etc/x/y/a.conf')).toBe(true);
    expect(compileGlob('/home/**').test('/home')).toBe(false);
    expect(compileGlob('/home/**').test('/home/a/b')).toBe(true);
    expect(compileGlob('/**').test('/x')).toBe(true);
    expect(compileGlob('/a+b(c)/[x]').test('/a+b(c)/[x]')).toBe(true);
    expect(globBase('/usr/*/bin/**')).toBe('/usr');
    expect(globBase('/etc/jupyter/*.py')).toBe('/etc/jupyter');
    expect(normalizePath('a/../../b/./c/', '/x/y')).toBe('/x/b/c');
  });
});

// ------------------------------------------------------------------ scale

describe('scale', () => {
  it('builds a 200k-entry image', () => {
    const dirs = 200;
    const perDir = 1000;
    const entries: LayerEntry[] = [];
    for (let d = 0; d < dirs; d++) {
      entries.push(dir(`/data/d${d}`));
      for (let f = 0; f < perDir; f++) entries.push(file(`/data/d${d}/file-${f}.fits`, { size: 2880 }));
    }
    const upper = layer({
      whiteouts: ['/data/d0'],
      opaqueDirs: ['/data/d1'],
      entries: [file('/data/d1/new')],
    });
    const fs = build([layer({ entries }), upper]);
    // 200k files + 200 dirs + /data, minus d0 (1001 paths) and d1's 1000 children, plus d1/new.
    expect(fs.count).toBe(dirs * perDir + dirs + 1 - (perDir + 1) - perDir + 1);
    expect(fs.readdir('/data/d1')).toEqual(['new']);
    expect(fs.readdir('/data')!.length).toBe(dirs - 1);
    expect(fs.find((node) => node.size === 2880).length).toBe((dirs - 2) * perDir);
    expect(fs.stat('/data/d199/file-999.fits')!.layer).toBe(0);
  });
});

describe('walking a scanned image', () => {
  it('lists every live path once, the same on every walk, as readdir reaches them', async () => {
    const lower = await packTar([
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', body: 'root:x:0:0::/root:/bin/sh\n' },
      { name: 'usr/bin/tool', body: '#!/bin/sh\n', mode: 0o4755 },
      { name: 'usr/bin/gone', body: 'x' },
      { name: 'opt/app/', type: 'directory' },
      { name: 'opt/app/old', body: 'old' },
      { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
    ]);
    const upper = await packTar([
      { name: 'usr/bin/.wh.gone' },
      { name: 'opt/app/.wh..wh..opq' },
      { name: 'opt/app/new', body: 'new' },
      { name: 'usr/bin/su', type: 'link', linkname: 'usr/bin/tool' },
    ]);
    const facts = [];
    for (const tar of [lower, upper]) {
      const descriptor = descriptorOf(tar, MediaType.ociLayer);
      facts.push(
        await scanLayer(verifiedStream(tar, descriptor, 100), descriptor, {
          paths: [],
          globs: [],
          probes: [],
          maxBodyBytes: 0,
        }),
      );
    }
    const fs = FileSystemView.fromLayers(facts);
    // Oracle: a walk down readdir (which does not follow the /bin link: lstat says what it is).
    const reached: string[] = [];
    const down = (dir: string) => {
      for (const name of fs.readdir(dir) ?? []) {
        const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
        reached.push(path);
        if (fs.lstat(path)?.type === 'dir') down(path);
      }
    };
    down('/');
    const expected = [...reached].sort();
    expect(expected).toEqual([
      '/bin',
      '/etc',
      '/etc/passwd',
      '/opt',
      '/opt/app',
      '/opt/app/new',
      '/usr',
      '/usr/bin',
      '/usr/bin/su',
      '/usr/bin/tool',
    ]);
    expect(paths(fs.walk())).toEqual(expected);
    // A walk left early does not disturb the next ones.
    for (const node of fs.walk()) if (node.path.startsWith('/etc')) break;
    expect(paths(fs.walk())).toEqual(expected);
    expect(fs.find(() => true).length).toBe(fs.count);
    expect(fs.walk().next().value).toBe(fs.walk().next().value);
    expect(fs.lstat('/usr/bin/su')?.isHardlink).toBe(true);
  });
});
