// Named imports: `import * as fs` would copy node:fs's every export into a namespace
// object at load (esbuild's __toESM), ~0.3 ms of every start.
import {
  closeSync,
  constants,
  fstatSync,
  mkdir as mkdirCallback,
  openSync,
  readSync,
  rename as renameCallback,
  unlink as unlinkCallback,
  writeFile as writeFileCallback,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseDigest } from './digest.js';

/**
 * File operations of the on-disk caches (layer/cache.ts, blob-cache.ts).
 * node:fs's callback API, promisified: node:fs/promises (and the modules it
 * loads) cost ~2 ms of a short command's start, and these are a handful of
 * small files.
 */

export const unlink = promisify(unlinkCallback);
const writeFile = promisify(writeFileCallback);
const mkdir = promisify(mkdirCallback);
const rename = promisify(renameCallback);

/** `<dir>/<kind>/<algorithm>/<hex>`, a cache's place for a digest; undefined for an invalid digest. */
export function digestPath(dir: string, kind: string, digest: string): string | undefined {
  try {
    const { algorithm, hex } = parseDigest(digest);
    return join(dir, kind, algorithm, hex);
  } catch {
    return undefined;
  }
}

/**
 * Writes `file` whole or not at all: a temporary file of its own, created
 * exclusively (so it is never someone else's file or a symlink), renamed into
 * place, so that a reader, or a concurrent run, never sees half a file. The
 * name only has to be unique, not secret: Math.random, not node:crypto, whose
 * loading would cost a short command's first run ~2 ms.
 */
export async function writeAtomically(file: string, data: Uint8Array): Promise<void> {
  const dir = file.slice(0, file.lastIndexOf('/'));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 12)}`;
  let created = false;
  try {
    await writeFile(temp, data, { mode: 0o600, flag: 'wx' });
    created = true;
    await rename(temp, file);
  } catch (error) {
    // Only a file this call made: on EEXIST the name is another writer's (or anyone's).
    if (created) await unlink(temp).catch(() => {});
    throw error;
  }
}

/**
 * A small cache file read synchronously (the first asynchronous read of a
 * process starts libuv's thread pool: 3-6 ms of a short command here), or
 * undefined: missing, not a regular file (a FIFO would block the read, a
 * symlink is not followed), or larger than `maxBytes` (read whole only when
 * within it). `exactBytes`: the size the file must have.
 */
export function readCacheFileSync(
  file: string,
  limits: { maxBytes: number; exactBytes?: number },
): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile() || stats.size > limits.maxBytes) return undefined;
    if (limits.exactBytes !== undefined && stats.size !== limits.exactBytes) return undefined;
    const data = Buffer.allocUnsafe(stats.size);
    let filled = 0;
    while (filled < data.length) {
      const read = readSync(fd, data, filled, data.length - filled, null);
      if (read === 0) return undefined; // shrank under us
      filled += read;
    }
    return data;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
