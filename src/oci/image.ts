import { ImageError } from '../errors.js';
import { type FetchOptions, type ImageSource, maxConfigBytes, maxManifestBytes, readAll } from './content.js';
import {
  type Descriptor,
  formatPlatform,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from './descriptor.js';
import { parseConfig, parseManifest } from './manifest.js';
import { defaultPlatform, isRunnableEntry, selectPlatform } from './platform.js';
import { formatImageReference } from './reference.js';

/** An image resolved to one platform: the manifest and config, parsed and verified. */
export interface LoadedImage {
  /** The reference in transport syntax, for reports and errors. */
  name: string;
  /** What the reference resolved to: an index or a manifest. */
  root: Descriptor;
  /** The index, when the reference named one. */
  index?: ImageIndex;
  /** The platform manifest chosen. */
  descriptor: Descriptor;
  manifest: ImageManifest;
  configDescriptor: Descriptor;
  config: ImageConfig;
  /** The platform of the chosen manifest (from the config). */
  platform: Platform;
  /** Every runnable platform the reference offers. */
  platforms: Platform[];
  /** False when the index had no entry for the wanted platform (only with `anyPlatform`). */
  wantedPlatformFound: boolean;
}

export interface LoadOptions extends FetchOptions {
  platform?: Platform;
  /**
   * When an index has no entry for `platform`, take its first runnable one
   * instead of failing (lint reports the missing platform as a rule result).
   */
  anyPlatform?: boolean;
}

/** Index nesting deeper than this is refused (an index of indexes of ...). */
const maxIndexDepth = 4;

export async function loadImage(source: ImageSource, options: LoadOptions = {}): Promise<LoadedImage> {
  const name = formatImageReference(source.reference);
  const wanted = options.platform ?? defaultPlatform;
  const root = await source.resolve(options);
  let descriptor = root;
  let index: ImageIndex | undefined;
  let platforms: Platform[] | undefined;
  let wantedPlatformFound = true;
  for (let depth = 0; ; depth++) {
    const bytes = await readAll(
      source,
      descriptor,
      maxManifestBytes,
      { image: name, what: 'manifest' },
      options,
    );
    const parsed = parseManifest(bytes, descriptor, { image: name });
    if (parsed.kind === 'manifest') {
      const { manifest } = parsed;
      const configBytes = await readAll(
        source,
        manifest.config,
        maxConfigBytes,
        { image: name, what: 'config' },
        options,
      );
      const config = parseConfig(configBytes, manifest.config, manifest, { image: name });
      const platform: Platform = { os: config.os, architecture: config.architecture };
      if (config.variant) platform.variant = config.variant;
      const loaded: LoadedImage = {
        name,
        root,
        descriptor,
        manifest,
        configDescriptor: manifest.config,
        config,
        platform,
        platforms: platforms ?? [platform],
        wantedPlatformFound,
      };
      if (index) loaded.index = index;
      return loaded;
    }
    if (depth >= maxIndexDepth) {
      throw new ImageError('ERR_MANIFEST_INVALID', 'indexes nested too deeply', {
        image: name,
        blob: descriptor.digest,
      });
    }
    index ??= parsed.index;
    const entries = parsed.index.manifests;
    platforms ??= entries
      .filter(isRunnableEntry)
      .flatMap((entry) => (entry.platform ? [entry.platform] : []));
    let chosen = selectPlatform(entries, wanted);
    if (!chosen && options.anyPlatform) {
      chosen = entries.find(isRunnableEntry);
      wantedPlatformFound = false;
    }
    if (!chosen) {
      const offered = entries.filter(isRunnableEntry).map((entry) => formatPlatform(entry.platform));
      throw new ImageError(
        'ERR_PLATFORM',
        `no ${formatPlatform(wanted)} image in the index${offered.length ? ` (it offers: ${offered.join(', ')})` : ''}`,
        { image: name, blob: descriptor.digest },
      );
    }
    descriptor = chosen;
  }
}
