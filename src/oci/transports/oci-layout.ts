import type { Readable } from 'node:stream';
import { ImageError } from '../../errors.js';
import { type FetchOptions, type ImageSource, maxManifestBytes } from '../content.js';
import type { Descriptor, ImageIndex } from '../descriptor.js';
import { checkDescriptor, parseJson } from '../manifest.js';
import { formatImageReference, type ImageReference } from '../reference.js';
import { blobPath, DirectoryStore, type LayoutStore, TarStore, verified } from './layout-store.js';
import { TarIndex } from './tar-index.js';

/** `org.opencontainers.image.ref.name`: how a layout names its images (skopeo's `oci:PATH:TAG`). */
export const refNameAnnotation = 'org.opencontainers.image.ref.name';

/** An OCI image layout, in a directory (`oci:`) or a tar of one (`oci-archive:`). */
export class OciLayoutSource implements ImageSource {
  readonly reference: ImageReference;
  private readonly store: LayoutStore;
  private readonly tag: string | undefined;
  private readonly name: string;
  private index: ImageIndex | undefined;

  constructor(reference: ImageReference, store: LayoutStore, tag: string | undefined) {
    this.reference = reference;
    this.store = store;
    this.tag = tag;
    this.name = formatImageReference(reference);
  }

  private async loadIndex(): Promise<ImageIndex> {
    if (this.index) return this.index;
    const where = { image: this.name };
    const marker = await this.store.read('oci-layout', 64 * 1024);
    if (!marker) {
      throw new ImageError(
        'ERR_NOT_FOUND',
        `'${this.store.location}' is not an OCI image layout (no oci-layout file)`,
        where,
      );
    }
    const layout = parseJson(marker, 'oci-layout', { ...where, blob: 'oci-layout' }) as {
      imageLayoutVersion?: unknown;
    };
    if (typeof layout?.imageLayoutVersion !== 'string' || !layout.imageLayoutVersion.startsWith('1.')) {
      throw new ImageError(
        'ERR_UNSUPPORTED',
        `unsupported OCI layout version '${String(layout?.imageLayoutVersion)}'`,
        where,
      );
    }
    const bytes = await this.store.read('index.json', maxManifestBytes);
    if (!bytes) throw new ImageError('ERR_NOT_FOUND', 'OCI layout has no index.json', where);
    const index = parseJson(bytes, 'index.json', { ...where, blob: 'index.json' }) as ImageIndex;
    if (typeof index !== 'object' || index === null || !Array.isArray(index.manifests)) {
      throw new ImageError('ERR_MANIFEST_INVALID', 'index.json has no manifests list', {
        ...where,
        blob: 'index.json',
      });
    }
    index.manifests.forEach((entry, i) => {
      checkDescriptor(entry, `index.json entry ${i}`, { ...where, blob: 'index.json' });
    });
    this.index = index;
    return index;
  }

  async resolve(): Promise<Descriptor> {
    const index = await this.loadIndex();
    const where = { image: this.name };
    if (this.tag !== undefined) {
      const found = index.manifests.find((entry) => entry.annotations?.[refNameAnnotation] === this.tag);
      if (!found) {
        const names = index.manifests.map((entry) => entry.annotations?.[refNameAnnotation]).filter(Boolean);
        throw new ImageError(
          'ERR_NOT_FOUND',
          `no image named '${this.tag}' in the layout${names.length ? ` (it has: ${names.join(', ')})` : ''}`,
          where,
        );
      }
      return found;
    }
    if (index.manifests.length === 1) return index.manifests[0]!;
    if (index.manifests.length === 0)
      throw new ImageError('ERR_NOT_FOUND', 'the OCI layout holds no image', where);
    const names = index.manifests.map((entry) => entry.annotations?.[refNameAnnotation] ?? entry.digest);
    throw new ImageError(
      'ERR_NOT_FOUND',
      `the OCI layout holds ${index.manifests.length} images; name one as ${this.reference.transport}:PATH:NAME (${names.join(', ')})`,
      where,
    );
  }

  async fetch(descriptor: Descriptor, options?: FetchOptions): Promise<Readable> {
    const path = blobPath(descriptor.digest, this.name);
    const opened = await this.store.open(path);
    if (!opened) {
      throw new ImageError('ERR_BLOB_NOT_FOUND', 'blob is missing from the OCI layout', {
        image: this.name,
        blob: descriptor.digest,
      });
    }
    return verified(opened.stream, descriptor, this.name, options?.verify);
  }

  async close(): Promise<void> {}
}

export async function openOciLayout(
  reference: Extract<ImageReference, { transport: 'oci' }>,
): Promise<OciLayoutSource> {
  return new OciLayoutSource(reference, new DirectoryStore(reference.path), reference.tag);
}

export async function openOciArchive(
  reference: Extract<ImageReference, { transport: 'oci-archive' }>,
): Promise<OciLayoutSource> {
  const index = await TarIndex.open(reference.path, { image: formatImageReference(reference) });
  return new OciLayoutSource(reference, new TarStore(index), reference.tag);
}
