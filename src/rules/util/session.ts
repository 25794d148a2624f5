import type { Evidence, ResolvedProfile, SessionBehaviour, SessionType } from '../types.js';

export const typeLabel = 'net.ivoa.container.type';

export interface ImageSession {
  /** The `net.ivoa.container.type` value, if any. */
  name: string | undefined;
  /** The profile's definition of that type, if the profile knows it. */
  type: SessionType | undefined;
}

export function sessionOf(evidence: Evidence, profile: ResolvedProfile): ImageSession {
  const name = evidence.labels?.[typeLabel]?.trim() || undefined;
  return { name, type: name === undefined ? undefined : profile.types[name] };
}

/** notebook and web are the interactive behaviours (catalogue.md, "Session types"). */
export function isInteractive(behaviour: SessionBehaviour | undefined): boolean {
  return behaviour === 'notebook' || behaviour === 'web';
}
