import { ivoaPrefix } from './labels.js';
import type { Rule } from './types.js';
import { describeType, interactiveSession } from './util/interactive.js';
import { presentLabel } from './util/label-values.js';
import { exposedPortKeys, exposesTcp, parseExposedPort, parsePortNumber } from './util/ports.js';

/**
 * Other exposed ports (spec/standard.md, IVC-PORT-002). For an interactive
 * type, anything but the well-known TCP port (the profile's, or the label's
 * where the profile gives none): the same number over UDP, a range around it
 * and keys that are not ports at all count as other. A non-interactive type
 * should expose none. Without a known type, or an interactive type whose port
 * nobody names, the rule skips (IVC-META-003 / IVC-PORT-001 report those).
 */

export default {
  meta: {
    id: 'IVC-PORT-002',
    level: 'warning',
    evidence: ['config'],
    title: 'No other ports are exposed',
    description:
      "An image exposes no port but the profile's well-known port for its type; an image of a non-interactive type exposes none.",
    rationale:
      'Only the well-known port is reachable through the platform; other exposed ports mislead users and tools into thinking a second service is reachable.',
    help: "Remove the other EXPOSE lines; a base image's EXPOSE cannot be undone, so pick a base without it or accept the warning",
    specAnchor: 'ivc-port-002',
  },
  check({ evidence, profile }) {
    const session = interactiveSession(evidence, profile);
    const keys = exposedPortKeys(evidence.config?.config?.ExposedPorts);
    if (session.kind === 'unknown') return { status: 'skip', message: `skipped: ${session.reason}` };
    const findingFor = (key: string, routed: string) => {
      const parsed = parseExposedPort(key);
      const why =
        parsed === undefined
          ? 'is not a port'
          : parsed.last > parsed.port
            ? `exposes a range; ${routed}`
            : `is not routed by the platform`;
      return { message: `EXPOSE ${key} ${why}`, key: `ExposedPorts.${key}` };
    };
    if (session.kind === 'not-interactive') {
      const facts = { type: session.name, exposed: keys, others: keys };
      if (keys.length === 0)
        return { status: 'pass', message: `${session.message} and exposes no port`, evidence: facts };
      return {
        status: 'fail',
        message: `${session.message}, yet it exposes ${keys.join(', ')}; the platform routes no port to it`,
        evidence: facts,
        findings: keys.map((key) => findingFor(key, 'the platform routes no port')),
      };
    }
    const { name, type } = session;
    const labelled = presentLabel(evidence, `${ivoaPrefix}port`);
    const port = type.port ?? (labelled === undefined ? undefined : parsePortNumber(labelled));
    if (port === undefined) {
      return {
        status: 'skip',
        message: `skipped: profile '${profile.name}' gives type '${name}' no port and net.ivoa.container.port names none (IVC-PORT-001)`,
      };
    }
    const typeText = describeType(name, type);
    const others = keys.filter((key) => {
      const parsed = parseExposedPort(key);
      // A range that includes the port still exposes others.
      return !(exposesTcp(parsed, port) && parsed?.port === parsed?.last);
    });
    const facts = { type: name, port, exposed: keys, others };
    if (others.length === 0) {
      return {
        status: 'pass',
        message:
          keys.length === 0 ? 'no port is exposed' : `only the port ${port}/tcp for ${typeText} is exposed`,
        evidence: facts,
      };
    }
    return {
      status: 'fail',
      message: `EXPOSE ${others.join(', ')} besides the port ${port}/tcp for ${typeText}; the platform routes only ${port}`,
      evidence: facts,
      findings: others.map((key) => findingFor(key, `the platform routes only ${port}`)),
    };
  },
} satisfies Rule;
