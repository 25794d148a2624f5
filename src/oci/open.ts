import { UsageError } from '../errors.js';
import { openBlobCache, withBlobCache } from './blob-cache.js';
import type { ImageSource } from './content.js';
import { type ImageReference, parseImageReference } from './reference.js';

/** What every transport may need; each takes what applies to it. */
export interface SourceOptions {
  /** `--creds USER:PASS` for registries. */
  creds?: string;
  /** Hosts (host[:port]) reached over plain HTTP / without TLS verification. */
  insecureRegistries?: string[];
  /** False: no blob cache for registry images (--no-cache); IVOC_NO_CACHE=1 turns it off too. */
  cache?: boolean;
}

/**
 * Opens an image wherever it lives. Transports are imported lazily so a
 * command pays only for the one it uses (the engine client is heavy).
 */
export async function openImageSource(
  input: string | ImageReference,
  options: SourceOptions = {},
): Promise<ImageSource> {
  const reference = typeof input === 'string' ? parseImageReference(input) : input;
  switch (reference.transport) {
    case 'docker': {
      const { openRegistrySource } = await import('./registry/index.js');
      const source = openRegistrySource(reference, options);
      // Configs and manifests by digest from the disk, where another look at the image left them.
      const blobCache = options.cache === false ? undefined : openBlobCache();
      return blobCache ? withBlobCache(source, blobCache) : source;
    }
    case 'oci': {
      const { openOciLayout } = await import('./transports/oci-layout.js');
      return openOciLayout(reference);
    }
    case 'oci-archive': {
      const { openOciArchive } = await import('./transports/oci-layout.js');
      return openOciArchive(reference);
    }
    case 'docker-archive': {
      const { openDockerArchive } = await import('./transports/docker-archive.js');
      return openDockerArchive(reference);
    }
    case 'docker-daemon': {
      const { openDockerDaemon } = await import('./transports/docker-daemon.js');
      return openDockerDaemon(reference);
    }
    default:
      throw new UsageError('unknown transport', 'ERR_REFERENCE');
  }
}

/** SourceOptions from the common command-line options (--creds, --insecure-registry, --no-cache). */
export function sourceOptionsFrom(args: {
  creds?: string | undefined;
  insecureRegistry?: string[] | undefined;
  cache?: boolean | undefined;
}): SourceOptions {
  const options: SourceOptions = {};
  if (args.cache === false) options.cache = false;
  if (args.creds !== undefined) options.creds = args.creds;
  if (args.insecureRegistry !== undefined) options.insecureRegistries = args.insecureRegistry;
  return options;
}
