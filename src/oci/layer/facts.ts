/**
 * Facts about one layer, gathered in a single streaming pass and cached by the
 * layer's digest. Everything the merged view and the rules need, and no more:
 * the entry list, whiteouts, and the bodies (or content probes) asked for.
 */

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface LayerEntry {
  /** Normalised absolute path inside the image: '/etc/passwd', '/' never appears. */
  path: string;
  type: EntryType;
  /** Permission bits including setuid (0o4000), setgid (0o2000) and sticky (0o1000). */
  mode: number;
  uid: number;
  gid: number;
  /** Body size for regular files, 0 otherwise. */
  size: number;
  /** Symlink target as stored (may be relative); hardlink target as a normalised absolute path. */
  linkname?: string;
  /**
   * Probe results for this file's content, by probe name (see ContentProbe).
   * Only regular files carry them: a hard link's results are its target's.
   */
  probes?: Partial<Record<ContentProbe, string>>;
}

/**
 * Named content probes. Each reads a bounded prefix of matching regular files
 * and records a small string, so rules can ask about every file without the
 * scan keeping bodies:
 * - 'shebang': for files with an exec bit, the '#!' line (at most 256 bytes), if any.
 * - 'elf': for files with an exec bit, 'elf' when the file starts with the ELF magic.
 * - 'private-key': for files up to 1 MiB, the PEM type when the body holds
 *   '-----BEGIN ... PRIVATE KEY-----' (the name of the block, never the key).
 */
export type ContentProbe = 'shebang' | 'elf' | 'private-key';

/** What a scan keeps besides the entry list. Part of the cache key. */
export interface CaptureSpec {
  /** Exact absolute paths whose bodies are kept (e.g. '/etc/passwd'). */
  paths: string[];
  /** Glob patterns over absolute paths ('*' within a component, '**' across): bodies kept. */
  globs: string[];
  /** Content probes to run over every regular file they apply to. */
  probes: ContentProbe[];
  /** Largest body kept, bytes; a larger file is recorded with `truncated` and its first bytes. */
  maxBodyBytes: number;
}

export interface CapturedBody {
  /** Base64 of the (possibly truncated) body: JSON-serialisable for the cache. */
  base64: string;
  truncated: boolean;
}

export interface LayerFacts {
  /** Bump when the shape or meaning of facts changes: old cache entries are ignored. */
  factsVersion: number;
  /** Digest of the layer blob as stored (the descriptor digest). */
  digest: string;
  /**
   * Digest of the uncompressed tar (the config's diff_id): the blob digest for
   * an uncompressed sha256 layer; for a compressed one, hashed during the pass
   * only when diff_ids are verified (IVOC_VERIFY_DIFF_IDS=1), else undefined.
   */
  diffId?: string | undefined;
  /** Bytes of uncompressed tar. */
  uncompressedSize: number;
  /** Every entry except whiteout markers, in tar order. */
  entries: LayerEntry[];
  /** Paths removed by '.wh.NAME' markers (the path of NAME). */
  whiteouts: string[];
  /** Directories made opaque by '.wh..wh..opq' markers. */
  opaqueDirs: string[];
  /**
   * Bodies captured according to the CaptureSpec, by path (regular files only,
   * including empty ones; for a path written twice in a layer, the last one).
   */
  bodies: Record<string, CapturedBody>;
}

/*
 * Notes for readers of LayerFacts (scan.ts, scan-layer.ts produce them):
 * - Facts come from the cache as often as from a scan: treat them as
 *   read-only. scanImageLayers returns the same object for every position of
 *   a layer that appears twice in a manifest.
 * - A hard link's `linkname` may name no earlier entry of its layer: it is
 *   recorded as stored; only the merged view can tell whether a lower layer
 *   provides the target (ERR_HARDLINK_TARGET there).
 * - Entry names are refused, not rewritten, when absolute or climbing out of
 *   the root (ERR_LAYER_UNSAFE); './', '//' and '.' are normalised away.
 */

export const factsVersion = 1;

/**
 * Whether a compressed layer's uncompressed tar is hashed and checked
 * against the config's diff_id: only with IVOC_VERIFY_DIFF_IDS=1.
 *
 * Off by default because it adds nothing to the integrity of what is read:
 * the blob digest is verified, and decompression is a function of those
 * bytes, so the tar is exactly the one the digest names. What the hash would add is whether the config
 * describes these layers, which an engine checks when it unpacks (containerd
 * refuses a wrong diff_id); skopeo and crane do not check it either. It
 * costs a second SHA-256 over every uncompressed byte: on the 1.5 GB bench
 * image 1.9 GB, ~20% of a cold scan's CPU. An uncompressed sha256 layer's
 * diffId is its blob digest, checked for free whatever this says.
 */
export function verifyDiffIdsFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.IVOC_VERIFY_DIFF_IDS === '1';
}
