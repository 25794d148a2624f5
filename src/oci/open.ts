import { UsageError } from '../errors.js';
import type { ImageSource } from './content.js';
import { type ImageReference, parseImageReference } from './reference.js';

/** What every transport may need; each takes what applies to it. */
export interface SourceOptions {
  /** `--creds USER:PASS` for registries. */
  creds?: string;
  /** Hosts (host[:port]) reached over plain HTTP / without TLS verification. */
  insecureRegistries?: string[];
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
      return openRegistrySource(reference, options);
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

/** SourceOptions from the common command-line options (--creds, --insecure-registry). */
export function sourceOptionsFrom(args: {
  creds?: string | undefined;
  insecureRegistry?: string[] | undefined;
}): SourceOptions {
  const options: SourceOptions = {};
  if (args.creds !== undefined) options.creds = args.creds;
  if (args.insecureRegistry !== undefined) options.insecureRegistries = args.insecureRegistry;
  return options;
}
