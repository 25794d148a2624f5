import type { Finding } from '../report/types.js';
import { ivoaPrefix } from './labels.js';
import type { Rule } from './types.js';
import { describeType, interactiveSession } from './util/interactive.js';
import { labelFindingKey, labelValue, quoted } from './util/label-values.js';
import { exposedPortKeys, exposesTcp, parseExposedPort, parsePortNumber } from './util/ports.js';

/**
 * The well-known port of an interactive type (spec/standard.md, IVC-PORT-001).
 * `8888` and `8888/tcp` are the same exposure; `8888/udp` is not one (the
 * platform's proxy speaks TCP). The port label is required for interactive
 * types and must agree. Where the profile gives the type no port, the label's
 * port is the one checked. A port below 1024 fails even when the profile names
 * it: a non-root user cannot bind it. Non-interactive types pass (the rule does
 * not apply); without a known type the rule skips, since IVC-META-003 reports
 * the type and nothing here can be judged.
 */

const portLabel = `${ivoaPrefix}port`;

export default {
  meta: {
    id: 'IVC-PORT-001',
    level: 'error',
    evidence: ['config'],
    title: "Interactive images expose the profile's port",
    description:
      "Interactive session types (notebook, web and the profile types that behave as them) EXPOSE the profile's well-known TCP port for their type, declare it in net.ivoa.container.port, and it is 1024 or above.",
    rationale:
      'The platform proxies the session to one fixed port per type and checks the declaration before launch; the application runs as a non-root user, which cannot bind ports below 1024.',
    help: 'Listen on the profile\'s port and declare it, e.g. EXPOSE 8888 and LABEL net.ivoa.container.port="8888"',
    specAnchor: 'ivc-port-001',
  },
  check({ evidence, profile }) {
    const session = interactiveSession(evidence, profile);
    if (session.kind === 'unknown') return { status: 'skip', message: `skipped: ${session.reason}` };
    if (session.kind === 'not-interactive') {
      return {
        status: 'pass',
        message: `${session.message}: no well-known port required, the rule does not apply`,
      };
    }
    const { name, type } = session;
    const typeText = describeType(name, type);
    const keys = exposedPortKeys(evidence.config?.config?.ExposedPorts);
    const parsed = keys.map(parseExposedPort);
    const findings: Finding[] = [];
    const problem = (message: string, key: string) => findings.push({ message, key });

    const raw = labelValue(evidence, portLabel);
    const labelKey = labelFindingKey(evidence, portLabel);
    const value = raw?.trim();
    const declared = value ? parsePortNumber(value) : undefined;
    // The profile's port, or the label's when the profile gives the type none.
    const port = type.port ?? declared;
    const whose =
      type.port !== undefined ? `the profile's port for ${typeText}` : `the port the label declares`;
    const should = port === undefined ? '' : ` (should be "${port}")`;

    const tcpKey = port === undefined ? undefined : keys.find((_, i) => exposesTcp(parsed[i], port));
    if (port !== undefined && tcpKey === undefined) {
      const sameNumber = keys.filter((_, i) => parsed[i]?.port === port);
      const what =
        sameNumber.length > 0
          ? `EXPOSE ${sameNumber.join(', ')} is not TCP`
          : keys.length > 0
            ? `EXPOSE ${keys.join(', ')}`
            : 'no port is exposed';
      problem(`${what}, but ${whose} is ${port}/tcp`, 'ExposedPorts');
    }
    if (port !== undefined && port < 1024) {
      problem(
        `port ${port}, ${whose}, is below 1024, which only root can bind`,
        tcpKey === undefined ? 'ExposedPorts' : `ExposedPorts.${tcpKey}`,
      );
    }

    if (raw === undefined || !value) {
      const none =
        type.port === undefined ? `; profile '${profile.name}' gives ${typeText} no port either` : '';
      problem(`${portLabel} is ${raw === undefined ? 'not set' : 'empty'}${should}${none}`, labelKey);
    } else if (declared === undefined) {
      problem(`${portLabel} ${quoted(portLabel, value)} is not a port number${should}`, labelKey);
    } else if (declared !== port) {
      problem(`${portLabel} is ${declared}, but ${whose} is ${port}`, labelKey);
    }

    const facts = {
      type: name,
      port: port ?? null,
      profilePort: type.port ?? null,
      exposed: keys,
      label: declared ?? null,
    };
    if (findings.length === 0) {
      return {
        status: 'pass',
        message: `EXPOSE ${tcpKey} and ${portLabel}="${port}" match ${whose}`,
        evidence: facts,
      };
    }
    return {
      status: 'fail',
      message: findings.map((finding) => finding.message).join('; '),
      evidence: facts,
      findings,
    };
  },
} satisfies Rule;
