import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Dockerode from 'dockerode';
import tarStream from 'tar-stream';
import { ImageError, TransportError } from '../../errors.js';
import {
  type FetchOptions,
  type ImageSource,
  maxConfigBytes,
  maxManifestBytes,
  type StreamedLayer,
} from '../content.js';
import type { Descriptor } from '../descriptor.js';
import type { Digest } from '../digest.js';
import { MediaType } from '../media-types.js';
import { formatImageReference, formatRegistryReference, type ImageReference } from '../reference.js';
import {
  diffIdsOf,
  parseSaveManifest,
  type SynthesizedImage,
  selectSaveEntry,
  synthesizeManifest,
} from './docker-save.js';
import { verified } from './layout-store.js';
import { linkTarget, maxLinkHops, normaliseMemberName } from './tar-index.js';

type DaemonReference = Extract<ImageReference, { transport: 'docker-daemon' }>;

interface DaemonImage extends SynthesizedImage {
  configBytes: Buffer;
}

/**
 * An image in the local Docker engine. The engine only hands out whole images
 * (`docker save` as a stream), so reads are passes over that stream through
 * tar-stream, never a temp copy: one pass learns the config and layer sizes,
 * and a whole-image scan takes the layers in a second pass (streamLayers).
 */
export class DockerDaemonSource implements ImageSource {
  readonly reference: ImageReference;
  private readonly docker: Dockerode;
  private readonly name: string;
  private readonly engineName: string;
  private image: DaemonImage | undefined;

  constructor(reference: DaemonReference, docker: Dockerode) {
    this.reference = reference;
    this.docker = docker;
    this.name = formatImageReference(reference);
    this.engineName = reference.id ?? formatRegistryReference(reference.ref!);
  }

  private engineError(error: unknown): Error {
    const status = (error as { statusCode?: number }).statusCode;
    if (status === 404) {
      return new ImageError('ERR_NOT_FOUND', 'no such image in the Docker engine', {
        image: this.name,
        cause: error,
      });
    }
    const code = (error as { code?: string }).code;
    if (code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'EACCES' || code === 'ECONNRESET') {
      return new TransportError(
        'ERR_ENGINE',
        `cannot reach the Docker engine at ${process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'} (${code})`,
        { image: this.name, cause: error },
      );
    }
    if (error instanceof ImageError || error instanceof TransportError) return error;
    return new TransportError('ERR_ENGINE', `Docker engine error: ${(error as Error).message}`, {
      image: this.name,
      cause: error,
      ...(status === undefined ? {} : { status }),
    });
  }

  private async exportStream(): Promise<Readable> {
    try {
      const stream = (await this.docker.getImage(this.engineName).get()) as Readable;
      return stream;
    } catch (error) {
      throw this.engineError(error);
    }
  }

  /**
   * One pass over the export. Small metadata files are kept; layer members go
   * to `onLayer` when it wants them, else are drained (only their size is kept).
   */
  private async pass(
    onLayer?: (path: string, size: number, body: Readable) => Promise<boolean>,
    signal?: AbortSignal,
  ): Promise<{ files: Map<string, Buffer>; sizes: Map<string, number>; links: Map<string, string> }> {
    const exported = await this.exportStream();
    const extract = tarStream.extract();
    const files = new Map<string, Buffer>();
    const sizes = new Map<string, number>();
    // The legacy `docker save` writes a layer that repeats an earlier one (the same
    // diff_id, e.g. an empty layer) as a symlink to the first one's layer.tar.
    const links = new Map<string, string>();
    const abort = () => {
      exported.destroy(new ImageError('ERR_IO', 'aborted', { image: this.name }));
    };
    signal?.addEventListener('abort', abort, { once: true });
    exported.on('error', (error) => extract.destroy(this.engineError(error)));
    exported.pipe(extract);
    try {
      for await (const entry of extract) {
        const path = normaliseMemberName(entry.header.name);
        const size = entry.header.size ?? 0;
        sizes.set(path, size);
        const { type, linkname } = entry.header;
        if ((type === 'symlink' || type === 'link') && linkname) {
          links.set(path, linkTarget(path, type === 'link' ? 'hardlink' : 'symlink', linkname));
        }
        const small =
          size <= maxConfigBytes &&
          (path.endsWith('.json') || path.startsWith('blobs/') || !path.includes('/'));
        if (onLayer && (await onLayer(path, size, entry as unknown as Readable))) continue;
        if (small && !path.endsWith('/layer.tar')) {
          const chunks: Buffer[] = [];
          for await (const chunk of entry) chunks.push(chunk as Buffer);
          files.set(path, Buffer.concat(chunks));
        } else {
          entry.resume();
          await new Promise<void>((resolve, reject) => {
            entry.on('end', resolve);
            entry.on('error', reject);
          });
        }
      }
    } catch (error) {
      throw error instanceof ImageError || error instanceof TransportError
        ? error
        : new ImageError(
            'ERR_ARCHIVE',
            `the engine's export is not a valid tar: ${(error as Error).message}`,
            {
              image: this.name,
              cause: error,
            },
          );
    } finally {
      signal?.removeEventListener('abort', abort);
      exported.destroy();
    }
    return { files, sizes, links };
  }

  private loading: Promise<DaemonImage> | undefined;

  /** The image's metadata: one pass over the export, shared by concurrent callers (a run reads meanwhile). */
  private load(signal?: AbortSignal): Promise<DaemonImage> {
    if (this.image) return Promise.resolve(this.image);
    if (!this.loading) {
      const loading = this.readMetadata(signal);
      this.loading = loading;
      loading.catch(() => {
        if (this.loading === loading) this.loading = undefined;
      });
    }
    return this.loading;
  }

  private async readMetadata(signal?: AbortSignal): Promise<DaemonImage> {
    const where = { image: this.name };
    const { files, sizes, links } = await this.pass(undefined, signal);
    /** A member's path with links followed, as TarIndex follows them. */
    const resolve = (path: string): string => {
      let resolved = path;
      for (let hops = 0; hops < maxLinkHops && links.has(resolved); hops++) {
        resolved = links.get(resolved) as string;
      }
      return resolved;
    };
    const manifestBytes = files.get('manifest.json');
    if (!manifestBytes || manifestBytes.length > maxManifestBytes) {
      throw new ImageError('ERR_ARCHIVE', "the engine's export has no manifest.json", where);
    }
    const entries = parseSaveManifest(manifestBytes, where);
    const entry = entries.length === 1 ? entries[0]! : selectSaveEntry(entries, {}, where);
    const configPath = normaliseMemberName(entry.Config);
    const configBytes = files.get(configPath);
    if (!configBytes)
      throw new ImageError('ERR_BLOB_NOT_FOUND', 'the image config is missing from the export', where);
    const diffIds = diffIdsOf(configBytes, { ...where, blob: configPath });
    if (diffIds.length !== entry.Layers.length) {
      throw new ImageError(
        'ERR_MANIFEST_INVALID',
        'the export lists a different number of layers than the config',
        where,
      );
    }
    const layers = entry.Layers.map((path, i) => {
      const member = resolve(normaliseMemberName(path));
      const size = links.has(member) ? undefined : sizes.get(member);
      if (size === undefined)
        throw new ImageError('ERR_BLOB_NOT_FOUND', 'a layer is missing from the export', {
          ...where,
          blob: member,
        });
      // The engine always saves layers as plain tars, so the blob digest is the diff_id.
      return { path: member, size, digest: diffIds[i] as Digest, mediaType: MediaType.dockerLayer };
    });
    this.image = { ...synthesizeManifest(configBytes, layers), configBytes };
    return this.image;
  }

  async resolve(options?: FetchOptions): Promise<Descriptor> {
    return (await this.load(options?.signal)).manifestDescriptor;
  }

  async fetch(descriptor: Descriptor, options?: FetchOptions): Promise<Readable> {
    const image = await this.load(options?.signal);
    if (descriptor.digest === image.manifestDescriptor.digest) {
      return verified(Readable.from([image.manifestBytes]), descriptor, this.name);
    }
    if (descriptor.digest === image.configDescriptor.digest) {
      return verified(Readable.from([image.configBytes]), descriptor, this.name);
    }
    // A single layer: a whole pass that pipes the one member out as it streams.
    // Whole-image work uses streamLayers instead.
    return new Promise<Readable>((resolve, reject) => {
      let handed = false;
      const pass = this.streamLayers(
        [descriptor],
        async (layer) => {
          const out = new PassThrough();
          // The caller may read later (a push awaits its upload session): a failure meanwhile
          // stays on the stream (pipeline and async iteration see it) instead of crashing.
          out.on('error', () => undefined);
          handed = true;
          resolve(out);
          layer.stream.on('error', (error) => out.destroy(error));
          await pipeline(layer.stream, out).catch(() => undefined);
        },
        options,
      );
      pass.catch((error: unknown) => {
        if (!handed) reject(error);
      });
    });
  }

  async streamLayers(
    layers: readonly Descriptor[],
    visit: (layer: StreamedLayer) => Promise<void>,
    options?: FetchOptions,
  ): Promise<void> {
    const image = await this.load(options?.signal);
    const wanted = new Map<string, Descriptor>();
    for (const layer of layers) {
      const path = image.layerPaths.get(layer.digest);
      if (path === undefined) {
        throw new ImageError('ERR_BLOB_NOT_FOUND', 'blob is not in the image', {
          image: this.name,
          blob: layer.digest,
        });
      }
      wanted.set(path, layer);
    }
    const done = new Set<string>();
    await this.pass(async (path, _size, body) => {
      const descriptor = wanted.get(path);
      if (!descriptor || done.has(path)) return false;
      done.add(path);
      await visit({ descriptor, stream: verified(body, descriptor, this.name) });
      return true;
    }, options?.signal);
    for (const [path, descriptor] of wanted) {
      if (!done.has(path)) {
        throw new ImageError('ERR_BLOB_NOT_FOUND', 'layer is missing from the export', {
          image: this.name,
          blob: descriptor.digest,
        });
      }
    }
  }

  async close(): Promise<void> {}
}

export async function openDockerDaemon(reference: DaemonReference): Promise<DockerDaemonSource> {
  const { loadDockerode } = await import('../../dockerode.js');
  const Docker = await loadDockerode();
  return new DockerDaemonSource(reference, new Docker());
}
