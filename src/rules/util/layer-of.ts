import type { FileSystemView, FsNode } from '../../oci/layer/filesystem.js';
import type { Finding } from '../../report/types.js';

/** The layer a node came from, as a finding carries it; undefined for the root. */
export function layerOf(fs: FileSystemView, node: FsNode | undefined): Finding['layer'] {
  if (node === undefined) return undefined;
  const origin = fs.origin(node);
  return origin === undefined ? undefined : { index: origin.index, digest: origin.digest };
}

/** A finding about a file: its path and, when known, its layer. */
export function fileFinding(
  fs: FileSystemView,
  path: string,
  node: FsNode | undefined,
  message: string,
  level?: Finding['level'],
): Finding {
  const finding: Finding = { message, path };
  const layer = layerOf(fs, node);
  if (layer !== undefined) finding.layer = layer;
  if (level !== undefined) finding.level = level;
  return finding;
}

/** Permission bits as `0755` (setuid/setgid/sticky included when set). */
export function octalMode(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}
