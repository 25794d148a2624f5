import { posix } from 'node:path';
import type { Finding } from '../report/types.js';
import type { Rule } from './types.js';

/**
 * VOLUME against the platform's mounts. Paths are compared normalised
 * (`/home/`, `//home`, `/home/./` are `/home`); a relative VOLUME is read
 * from `/`. Three conflicts, one finding per VOLUME: the same path, a path
 * inside a mount (`/home/jovyan/work` under `/home`), and a path containing
 * a mount (`/home` when `/home/jovyan` is mounted, `/` always).
 */

export function normalisePath(path: string): string {
  const normal = posix.normalize(path.startsWith('/') ? path : `/${path}`);
  return normal.length > 1 && normal.endsWith('/') ? normal.slice(0, -1) : normal;
}

function contains(parent: string, child: string): boolean {
  return parent === '/' ? child !== '/' : child.startsWith(`${parent}/`);
}

type Conflict = { mount: string; how: 'is' | 'inside' | 'contains' };

function conflictOf(volume: string, mounts: readonly string[]): Conflict | undefined {
  for (const mount of mounts) if (volume === mount) return { mount, how: 'is' };
  for (const mount of mounts) if (contains(mount, volume)) return { mount, how: 'inside' };
  const inner = mounts.filter((mount) => contains(volume, mount));
  return inner.length > 0 ? { mount: inner.join(', '), how: 'contains' } : undefined;
}

export default {
  meta: {
    id: 'IVC-VOL-001',
    level: 'error',
    evidence: ['config'],
    title: 'No VOLUME on a platform mount',
    description:
      "The image declares no VOLUME on a path the platform mounts (the profile's list; ivoa: /arc, /scratch, /home), nor inside or above one.",
    rationale:
      "The platform mounts users' storage on these paths; a VOLUME there makes the engine create an anonymous volume that hides, or is hidden by, the user's data, and files the image put there disappear.",
    help: 'Drop the VOLUME line for that path (the platform provides the storage), or move the data to another path such as /opt/data',
    specAnchor: 'ivc-vol-001',
  },
  check({ evidence, profile }) {
    const mounts = [...new Set(profile.parameters.platformMounts.map(normalisePath))];
    const volumes = Object.keys(evidence.config?.config?.Volumes ?? {});
    const facts = { volumes, platformMounts: mounts };
    if (volumes.length === 0) return { status: 'pass', message: 'no VOLUME declared', evidence: facts };
    const findings: Finding[] = [];
    for (const volume of volumes) {
      const conflict = conflictOf(normalisePath(volume), mounts);
      if (!conflict) continue;
      const message =
        conflict.how === 'is'
          ? `VOLUME ${volume} is the platform mount ${conflict.mount}`
          : conflict.how === 'inside'
            ? `VOLUME ${volume} lies inside the platform mount ${conflict.mount}`
            : `VOLUME ${volume} contains the platform mount${conflict.mount.includes(',') ? 's' : ''} ${conflict.mount}`;
      findings.push({ message, key: `Volumes.${volume}` });
    }
    if (findings.length === 0) {
      return {
        status: 'pass',
        message: `VOLUME ${volumes.join(', ')} clear${volumes.length === 1 ? 's' : ''} the platform mounts ${mounts.join(', ')}`,
        evidence: facts,
      };
    }
    return {
      status: 'fail',
      message: `${findings.map((finding) => finding.message).join('; ')} (profile '${profile.name}' mounts ${mounts.join(', ')})`,
      evidence: facts,
      findings,
    };
  },
} satisfies Rule;
