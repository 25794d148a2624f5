import type { Evidence, ResolvedProfile, SessionType } from '../types.js';
import { quoted } from './label-values.js';
import { isInteractive, sessionOf, typeLabel } from './session.js';

/**
 * What the interactive-only rules (IVC-PORT-001/002, IVC-PATH-001) make of an
 * image's session type: not known (IVC-META-003 reports that; these rules
 * skip), known but not interactive (nothing to check), or interactive.
 */
export type InteractiveSession =
  | { kind: 'unknown'; reason: string }
  | { kind: 'not-interactive'; name: string; type: SessionType; message: string }
  | { kind: 'interactive'; name: string; type: SessionType };

export function interactiveSession(evidence: Evidence, profile: ResolvedProfile): InteractiveSession {
  const { name, type } = sessionOf(evidence, profile);
  if (name === undefined) {
    return { kind: 'unknown', reason: `no known session type: ${typeLabel} is not set (IVC-META-003)` };
  }
  if (!type) {
    return {
      kind: 'unknown',
      reason: `no known session type: ${quoted(typeLabel, name)} is not a type of profile '${profile.name}' (IVC-META-003)`,
    };
  }
  if (!isInteractive(type.behavesAs)) {
    return { kind: 'not-interactive', name, type, message: `${describeType(name, type)} is not interactive` };
  }
  return { kind: 'interactive', name, type };
}

/** `type 'carta' (behaves as web)` or `type 'notebook'`. */
export function describeType(name: string, type: SessionType): string {
  return type.behavesAs === name ? `type '${name}'` : `type '${name}' (behaves as ${type.behavesAs})`;
}
