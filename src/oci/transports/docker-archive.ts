import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ImageError } from '../../errors.js';
import { type FetchOptions, type ImageSource, maxConfigBytes, maxManifestBytes } from '../content.js';
import type { Descriptor } from '../descriptor.js';
import type { Digest } from '../digest.js';
import { MediaType } from '../media-types.js';
import { formatImageReference, type ImageReference } from '../reference.js';
import {
  diffIdsOf,
  parseSaveManifest,
  type SavedLayer,
  type SynthesizedImage,
  selectSaveEntry,
  synthesizeManifest,
} from './docker-save.js';
import { type LayoutStore, TarStore, verified } from './layout-store.js';
import { TarIndex } from './tar-index.js';

type DockerArchiveReference = Extract<ImageReference, { transport: 'docker-archive' }>;

/** A `docker save` tarball, read in place. */
export class DockerArchiveSource implements ImageSource {
  readonly reference: ImageReference;
  private readonly store: LayoutStore;
  private readonly name: string;
  private image: (SynthesizedImage & { configBytes: Buffer }) | undefined;

  constructor(reference: DockerArchiveReference, store: LayoutStore) {
    this.reference = reference;
    this.store = store;
    this.name = formatImageReference(reference);
  }

  private async load(): Promise<SynthesizedImage & { configBytes: Buffer }> {
    if (this.image) return this.image;
    const where = { image: this.name };
    const manifestBytes = await this.store.read('manifest.json', maxManifestBytes);
    if (!manifestBytes) {
      throw new ImageError(
        'ERR_NOT_FOUND',
        `'${this.store.location}' is not a docker save archive (no manifest.json)`,
        where,
      );
    }
    const reference = this.reference as DockerArchiveReference;
    const entry = selectSaveEntry(parseSaveManifest(manifestBytes, where), reference, where);
    const configBytes = await this.store.read(entry.Config, maxConfigBytes);
    if (!configBytes)
      throw new ImageError('ERR_BLOB_NOT_FOUND', 'the image config is missing', {
        ...where,
        blob: entry.Config,
      });
    const diffIds = diffIdsOf(configBytes, { ...where, blob: entry.Config });
    if (diffIds.length !== entry.Layers.length) {
      throw new ImageError(
        'ERR_MANIFEST_INVALID',
        `manifest.json lists ${entry.Layers.length} layers but the config has ${diffIds.length} diff_ids`,
        where,
      );
    }
    const layers: SavedLayer[] = [];
    for (const [i, path] of entry.Layers.entries()) {
      layers.push(await this.describeLayer(path, diffIds[i] as Digest));
    }
    this.image = { ...synthesizeManifest(configBytes, layers), configBytes };
    return this.image;
  }

  /** Saved layers are plain tars (digest = diff_id); a compressed one is hashed as stored. */
  private async describeLayer(path: string, diffId: Digest): Promise<SavedLayer> {
    const opened = await this.store.open(path);
    if (!opened)
      throw new ImageError('ERR_BLOB_NOT_FOUND', 'layer is missing from the archive', {
        image: this.name,
        blob: path,
      });
    const { stream, size } = opened;
    let magic: Buffer | undefined;
    const hash = createHash('sha256');
    let compressed: boolean | undefined;
    for await (const chunk of stream) {
      const buffer = chunk as Buffer;
      if (compressed === undefined) {
        magic = buffer.subarray(0, 4);
        compressed = isGzip(magic) || isZstd(magic);
        if (!compressed) {
          stream.destroy();
          break;
        }
      }
      hash.update(buffer);
    }
    if (!compressed) return { path, size, digest: diffId, mediaType: MediaType.dockerLayer };
    return {
      path,
      size,
      digest: `sha256:${hash.digest('hex')}`,
      mediaType: isGzip(magic!) ? MediaType.dockerLayerGzip : MediaType.ociLayerZstd,
    };
  }

  async resolve(): Promise<Descriptor> {
    return (await this.load()).manifestDescriptor;
  }

  async fetch(descriptor: Descriptor, options?: FetchOptions): Promise<Readable> {
    const image = await this.load();
    if (descriptor.digest === image.manifestDescriptor.digest) {
      return verified(Readable.from([image.manifestBytes]), descriptor, this.name);
    }
    if (descriptor.digest === image.configDescriptor.digest) {
      return verified(Readable.from([image.configBytes]), descriptor, this.name);
    }
    const path = image.layerPaths.get(descriptor.digest);
    const opened = path === undefined ? undefined : await this.store.open(path);
    if (!opened) {
      throw new ImageError('ERR_BLOB_NOT_FOUND', 'blob is not in the archive', {
        image: this.name,
        blob: descriptor.digest,
      });
    }
    return verified(opened.stream, descriptor, this.name, options?.verify);
  }

  async close(): Promise<void> {}
}

function isGzip(magic: Buffer): boolean {
  return magic[0] === 0x1f && magic[1] === 0x8b;
}

function isZstd(magic: Buffer): boolean {
  return magic[0] === 0x28 && magic[1] === 0xb5 && magic[2] === 0x2f && magic[3] === 0xfd;
}

export async function openDockerArchive(reference: DockerArchiveReference): Promise<DockerArchiveSource> {
  const index = await TarIndex.open(reference.path, { image: formatImageReference(reference) });
  return new DockerArchiveSource(reference, new TarStore(index));
}
