import { ExitCode } from '../errors.js';
import { formatPlatform } from '../oci/descriptor.js';
import { loadImage } from '../oci/image.js';
import { openImageSource, sourceOptionsFrom } from '../oci/open.js';
import { parsePlatform } from '../oci/platform.js';
import { formatImageReference, parseImageReference } from '../oci/reference.js';
import { redactEnvEntry, redactValue } from '../secrets.js';
import { buildId } from '../version.js';
import { humanBytes, progressLine, writeOutput } from './output.js';

export interface InspectArgs {
  format?: string;
  output?: string;
  platform?: string;
  creds?: string;
  insecureRegistry?: string[];
  raw?: boolean;
  config?: boolean;
  /** Read every layer (verified, inflated, merged) and summarise the filesystem. */
  scan?: boolean;
  /** Paths to look up in the merged filesystem (implies --scan). */
  path?: string[];
  cache?: boolean;
  quiet?: boolean;
}

interface PathInfo {
  path: string;
  exists: boolean;
  type?: string;
  mode?: string;
  uid?: number;
  gid?: number;
  size?: number;
  realpath?: string;
  symlinkTarget?: string;
  layer?: number;
}

interface FilesystemSummary {
  files: number;
  uncompressedSize: number;
  layers: Array<{ digest: string; entries: number; uncompressedSize: number }>;
  paths?: PathInfo[];
}

/**
 * `ivoc inspect IMAGE`: metadata only (the manifest(s) and the config, no
 * layer); with --scan, every layer too, streamed, verified and merged.
 */
export async function inspectCommand(image: string, args: InspectArgs): Promise<number> {
  const reference = parseImageReference(image);
  const platform = parsePlatform(args.platform ?? 'linux/amd64');
  const source = await openImageSource(reference, sourceOptionsFrom(args));
  try {
    const loaded = await loadImage(source, { platform });
    const config = loaded.config.config ?? {};
    const labels: Record<string, string> = {};
    for (const [key, value] of Object.entries(config.Labels ?? {})) labels[key] = redactValue(key, value);
    const totalSize = loaded.manifest.layers.reduce((sum, layer) => sum + layer.size, 0);
    const summary = {
      reference: formatImageReference(reference),
      digest: loaded.root.digest,
      mediaType: loaded.root.mediaType,
      manifestDigest: loaded.descriptor.digest,
      platform: loaded.platform,
      platforms: loaded.platforms,
      configDigest: loaded.configDescriptor.digest,
      created: loaded.config.created,
      config: {
        user: config.User ?? '',
        entrypoint: config.Entrypoint ?? null,
        cmd: config.Cmd ?? null,
        workingDir: config.WorkingDir ?? '',
        env: (config.Env ?? []).map(redactEnvEntry),
        exposedPorts: Object.keys(config.ExposedPorts ?? {}),
        volumes: Object.keys(config.Volumes ?? {}),
        labels,
      },
      annotations: loaded.manifest.annotations ?? {},
      layers: loaded.manifest.layers.map((layer, i) => ({
        digest: layer.digest,
        diffId: loaded.config.rootfs.diff_ids[i],
        size: layer.size,
        mediaType: layer.mediaType,
      })),
      totalSize,
    };
    const filesystem =
      args.scan || args.path?.length ? await scanFilesystem(source, loaded, args) : undefined;
    let text: string;
    if (args.raw || args.config) {
      // As stored: re-read through the verified path and print the bytes untouched.
      const { readAll, maxManifestBytes, maxConfigBytes } = await import('../oci/content.js');
      const descriptor = args.config ? loaded.configDescriptor : loaded.root;
      const bytes = await readAll(source, descriptor, args.config ? maxConfigBytes : maxManifestBytes, {
        image: loaded.name,
      });
      text = `${bytes.toString('utf8')}\n`;
    } else if (args.format === 'json') {
      text = `${JSON.stringify(filesystem ? { ...summary, filesystem } : summary, null, 2)}\n`;
    } else {
      text = formatText(summary) + (filesystem ? formatFilesystem(filesystem) : '');
    }
    await writeOutput(text, args.output);
    return ExitCode.ok;
  } finally {
    await source.close();
  }
}

/**
 * The filesystem summary: from the image-level cache when this chain of
 * layers was summarised before (one small file; no layer facts loaded, no
 * merged view built), else by scanning (layer facts from their own cache
 * where they are) and merging, and then kept. `--path` needs the merged view
 * itself, so it always takes the second way. The record is keyed by the
 * chain of (layer digest, diff_id) pairs and the build (src/oci/layer/cache.ts);
 * --no-cache / IVOC_NO_CACHE=1 skip it like every other cache.
 */
async function scanFilesystem(
  source: Awaited<ReturnType<typeof openImageSource>>,
  loaded: Awaited<ReturnType<typeof loadImage>>,
  args: InspectArgs,
): Promise<FilesystemSummary> {
  const { chainKey, openCache } = await import('../oci/layer/cache.js');
  const cache = openCache(args.cache === false ? false : {});
  const layers = loaded.manifest.layers;
  const chain = cache.enabled ? chainKey(layers, loaded.config.rootfs.diff_ids) : undefined;
  const recordName = `scan-summary-${buildId}`;
  if (chain && !args.path?.length) {
    const hit = await cache.getRecord(chain, recordName, (value) => isSummaryOf(value, layers));
    if (hit) return hit;
  }

  const [{ scanImageLayers }, { FileSystemView }] = await Promise.all([
    import('../oci/layer/scan.js'),
    import('../oci/layer/filesystem.js'),
  ]);
  const progress = progressLine(args.quiet === true);
  let facts: Awaited<ReturnType<typeof scanImageLayers>>;
  try {
    facts = await scanImageLayers(
      source,
      layers,
      { paths: [], globs: [], probes: [], maxBodyBytes: 0 },
      {
        image: loaded.name,
        diffIds: loaded.config.rootfs.diff_ids,
        cache,
        onProgress: progress.update,
      },
    );
  } finally {
    progress.done();
  }
  const view = FileSystemView.fromLayers(facts, { image: loaded.name });
  const summary: FilesystemSummary = {
    files: view.count,
    uncompressedSize: facts.reduce((sum, layer) => sum + layer.uncompressedSize, 0),
    layers: facts.map((layer) => ({
      digest: layer.digest,
      entries: layer.entries.length,
      uncompressedSize: layer.uncompressedSize,
    })),
  };
  if (chain) await cache.putRecord(chain, recordName, summary);
  if (args.path?.length) {
    summary.paths = args.path.map((path) => {
      const node = view.lstat(path);
      if (!node) return { path, exists: false };
      const info: PathInfo = {
        path,
        exists: true,
        type: node.type,
        mode: node.mode.toString(8).padStart(4, '0'),
        uid: node.uid,
        gid: node.gid,
        size: node.size,
        layer: node.layer,
      };
      if (node.symlinkTarget !== undefined) {
        info.symlinkTarget = node.symlinkTarget;
        // Resolving may meet a loop or an escape: a clear error, exit 3.
        const real = view.realpath(path);
        if (real !== undefined) info.realpath = real;
      }
      return info;
    });
  }
  return summary;
}

/** A cached summary for exactly these layers (in order), with nothing missing or extra. */
function isSummaryOf(value: unknown, layers: readonly { digest: string }[]): value is FilesystemSummary {
  if (typeof value !== 'object' || value === null) return false;
  const summary = value as Partial<FilesystemSummary>;
  return (
    Object.keys(summary).length === 3 &&
    typeof summary.files === 'number' &&
    typeof summary.uncompressedSize === 'number' &&
    Array.isArray(summary.layers) &&
    summary.layers.length === layers.length &&
    summary.layers.every(
      (layer, i) =>
        typeof layer === 'object' &&
        layer !== null &&
        Object.keys(layer).length === 3 &&
        layer.digest === layers[i]?.digest &&
        typeof layer.entries === 'number' &&
        typeof layer.uncompressedSize === 'number',
    )
  );
}

function formatFilesystem(fs: FilesystemSummary): string {
  const lines = [`Filesystem:  ${fs.files} paths, ${humanBytes(fs.uncompressedSize)} uncompressed`];
  for (const info of fs.paths ?? []) {
    if (!info.exists) {
      lines.push(`  ${info.path}: absent`);
      continue;
    }
    const link =
      info.symlinkTarget === undefined
        ? ''
        : ` -> ${info.symlinkTarget}${info.realpath ? ` (${info.realpath})` : ' (dangling)'}`;
    lines.push(
      `  ${info.path}: ${info.type} ${info.mode} ${info.uid}:${info.gid} ${info.size} B, layer ${info.layer}${link}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

type Summary = {
  reference: string;
  digest: string;
  mediaType: string;
  manifestDigest: string;
  platform: { os: string; architecture: string; variant?: string };
  platforms: Array<{ os: string; architecture: string; variant?: string }>;
  configDigest: string;
  created: string | undefined;
  config: {
    user: string;
    entrypoint: string[] | null;
    cmd: string[] | null;
    workingDir: string;
    env: string[];
    exposedPorts: string[];
    volumes: string[];
    labels: Record<string, string>;
  };
  annotations: Record<string, string>;
  layers: Array<{ digest: string; diffId: string | undefined; size: number; mediaType: string }>;
  totalSize: number;
};

function formatText(summary: Summary): string {
  const lines: string[] = [];
  const row = (key: string, value: string) => lines.push(`${`${key}:`.padEnd(13)}${value}`);
  row('Image', summary.reference);
  row('Digest', summary.digest);
  row('Media type', summary.mediaType);
  if (summary.manifestDigest !== summary.digest) row('Manifest', summary.manifestDigest);
  row('Platform', formatPlatform(summary.platform));
  if (summary.platforms.length > 1) row('Platforms', summary.platforms.map(formatPlatform).join(', '));
  row('Config', summary.configDigest);
  if (summary.created) row('Created', summary.created);
  row('User', summary.config.user === '' ? '(not set: root)' : summary.config.user);
  row('Entrypoint', summary.config.entrypoint ? JSON.stringify(summary.config.entrypoint) : '(none)');
  row('Cmd', summary.config.cmd ? JSON.stringify(summary.config.cmd) : '(none)');
  if (summary.config.workingDir) row('WorkingDir', summary.config.workingDir);
  row('Ports', summary.config.exposedPorts.join(', ') || '(none)');
  if (summary.config.volumes.length) row('Volumes', summary.config.volumes.join(', '));
  if (summary.config.env.length) {
    lines.push('Env:');
    for (const entry of summary.config.env) lines.push(`  ${entry}`);
  }
  const labels = Object.entries(summary.config.labels);
  if (labels.length) {
    lines.push('Labels:');
    for (const [key, value] of labels.sort(([a], [b]) => a.localeCompare(b))) lines.push(`  ${key}=${value}`);
  }
  const annotations = Object.entries(summary.annotations);
  if (annotations.length) {
    lines.push('Annotations:');
    for (const [key, value] of annotations) lines.push(`  ${key}=${value}`);
  }
  lines.push(`Layers (${summary.layers.length}, ${humanBytes(summary.totalSize)}):`);
  for (const layer of summary.layers) {
    lines.push(`  ${layer.digest}  ${humanBytes(layer.size).padStart(9)}  ${layer.mediaType}`);
  }
  return `${lines.join('\n')}\n`;
}
