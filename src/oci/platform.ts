import { UsageError } from '../errors.js';
import type { Descriptor, Platform } from './descriptor.js';

/** Platform strings and matching, as docker and containerd read them. */

export const defaultPlatform: Platform = { os: 'linux', architecture: 'amd64' };

export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || !os || !architecture || (parts.length === 3 && !variant)) {
    throw new UsageError(`invalid platform '${text}': expected os/arch[/variant], e.g. linux/amd64`);
  }
  const platform: Platform = {
    os: os.toLowerCase(),
    architecture: normaliseArch(architecture.toLowerCase()),
  };
  if (variant) platform.variant = variant.toLowerCase();
  return platform;
}

function normaliseArch(architecture: string): string {
  switch (architecture) {
    case 'x86_64':
    case 'x86-64':
      return 'amd64';
    case 'aarch64':
      return 'arm64';
    default:
      return architecture;
  }
}

/** Default variant, so 'linux/arm64' matches 'linux/arm64/v8' as containerd does. */
function variantOf(platform: Platform): string | undefined {
  if (platform.variant) return platform.variant;
  if (platform.architecture === 'arm64') return 'v8';
  if (platform.architecture === 'arm') return 'v7';
  return undefined;
}

export function platformMatches(candidate: Platform | undefined, wanted: Platform): boolean {
  if (!candidate) return false;
  if (candidate.os !== wanted.os) return false;
  if (normaliseArch(candidate.architecture) !== wanted.architecture) return false;
  const wantedVariant = variantOf(wanted);
  const candidateVariant = variantOf(candidate);
  return wantedVariant === undefined || candidateVariant === undefined || wantedVariant === candidateVariant;
}

/** Attestation and other non-runnable entries that BuildKit puts into indexes. */
export function isRunnableEntry(entry: Descriptor): boolean {
  if (entry.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest') return false;
  return entry.platform?.os !== 'unknown';
}

/** The index entry for `wanted`, preferring an exact variant match. */
export function selectPlatform(entries: readonly Descriptor[], wanted: Platform): Descriptor | undefined {
  const runnable = entries.filter(isRunnableEntry);
  const matches = runnable.filter((entry) => platformMatches(entry.platform, wanted));
  const exact = matches.find(
    (entry) => (entry.platform?.variant ?? undefined) === (wanted.variant ?? undefined),
  );
  return exact ?? matches[0];
}
