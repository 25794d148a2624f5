import type { Finding } from '../report/types.js';
import type { Rule } from './types.js';
import { executablesNamed, imagePath, lookUp, notFoundMessage } from './util/command.js';
import { fileFinding } from './util/layer-of.js';
import { sessionOf, typeLabel } from './util/session.js';

/**
 * The executables the profile requires for the image's session type
 * (`types.<name>.requiredExecutables`: notebook -> jupyter; canfar
 * desktop-app -> xterm), each found on the image's PATH as IVC-START-002
 * resolves programs (execvp rules, WorkingDir for relative entries). No or
 * an unknown type: skipped, IVC-META-003 reports it.
 */
export default {
  meta: {
    id: 'IVC-START-004',
    level: 'error',
    evidence: ['fs'],
    title: 'Type-specific executables are on PATH',
    description:
      "Every executable the profile requires for the image's session type is on the image PATH: `notebook` needs `jupyter`; under canfar, `desktop-app` needs `xterm`; a profile may demand more.",
    rationale:
      'Some platforms start the application themselves rather than through the recipe (CANFAR runs `jupyter lab` with its own base URL, and opens an xterm for desktop apps), so the program must be where the platform looks.',
    help: 'Install the program and put its directory on the image PATH, e.g. `ENV PATH=/opt/conda/bin:$PATH`',
    specAnchor: 'ivc-start-004',
  },
  check({ evidence, profile }) {
    const fs = evidence.fs!;
    const config = evidence.config?.config;
    const { name, type } = sessionOf(evidence, profile);
    if (name === undefined) {
      return {
        status: 'skip',
        message: `skipped: ${typeLabel} is not set, so no executables are known (IVC-META-003)`,
      };
    }
    if (type === undefined) {
      return {
        status: 'skip',
        message: `skipped: type '${name}' is not a type of profile '${profile.name}' (IVC-META-003)`,
      };
    }
    const required = type.requiredExecutables ?? [];
    if (required.length === 0) {
      return {
        status: 'pass',
        message: `profile '${profile.name}' requires no executables for type '${name}'`,
      };
    }
    const pathEnv = imagePath(config);
    const found: Record<string, string> = {};
    const findings: Finding[] = [];
    for (const executable of required) {
      const lookup = lookUp(fs, executable, config);
      if (lookup.result.found) {
        found[executable] = lookup.result.path;
        continue;
      }
      const elsewhere = executable.includes('/') ? [] : executablesNamed(fs, executable);
      const hint =
        elsewhere.length > 0 ? ` (the image has ${elsewhere.join(', ')}: add its directory to PATH)` : '';
      const message = `type '${name}' needs ${notFoundMessage(lookup, pathEnv)}${hint}`;
      const candidate = lookup.result.tried.find(
        (item) => item.reason !== 'absent' && item.reason !== 'not-dir',
      );
      findings.push(
        candidate
          ? { ...fileFinding(fs, candidate.path, fs.lstat(candidate.path), message), key: 'Env.PATH' }
          : { message, key: 'Env.PATH' },
      );
    }
    const facts = { type: name, required, found, path: pathEnv };
    if (findings.length > 0) {
      return {
        status: 'fail',
        message: findings.map((finding) => finding.message).join('; '),
        evidence: facts,
        findings,
      };
    }
    const list = Object.entries(found)
      .map(([executable, path]) => (executable === path ? path : `${executable} at ${path}`))
      .join(', ');
    return {
      status: 'pass',
      message: `type '${name}' needs ${required.join(', ')}: found ${list}`,
      evidence: facts,
    };
  },
} satisfies Rule;
