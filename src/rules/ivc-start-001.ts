import type { Rule } from './types.js';
import { displayArgv, recipeOf } from './util/command.js';

/**
 * A startup recipe: a non-empty Entrypoint or Cmd, or the profile's startup
 * script in the image.
 *
 * Evidence: declared as config only, on purpose. The filesystem matters in
 * one case, no Entrypoint/Cmd under a profile with a startup script; the
 * engine skips a rule when a declared kind is missing, and declaring fs
 * would skip every config-only lint of an image whose Cmd settles the
 * question. So the rule reads evidence.fs when the engine happened to scan
 * the layers, and reports `skip` itself when it needs them and they were not
 * read (spec/standard.md, IVC-START-001).
 */
export default {
  meta: {
    id: 'IVC-START-001',
    level: 'error',
    evidence: ['config'],
    title: 'A startup recipe exists',
    description:
      "The image has a startup recipe: a non-empty Entrypoint or Cmd (an element that is not the empty string), or the profile's startup script (e.g. /skaha/startup.sh) in the image.",
    rationale:
      'The platform starts the image the way the image says; an image with nothing to run starts a container that exits at once.',
    help: 'Say what to run, e.g. `CMD ["jupyter", "lab"]` or `ENTRYPOINT ["/usr/local/bin/start-session"]`',
    specAnchor: 'ivc-start-001',
  },
  check({ evidence, profile }) {
    const recipe = recipeOf(evidence.config?.config);
    const script = profile.parameters.startupScript;
    if (recipe.argv.some((word) => word !== '')) {
      const parts = [];
      if (recipe.entrypoint.length > 0) parts.push(`Entrypoint ${displayArgv(recipe.entrypoint)}`);
      if (recipe.cmd.length > 0) parts.push(`Cmd ${displayArgv(recipe.cmd)}`);
      return {
        status: 'pass',
        message: `the image starts with ${parts.join(' and ')}`,
        evidence: { program: recipe.programKey },
      };
    }
    const config = evidence.config?.config;
    const written = [...(config?.Entrypoint ?? []), ...(config?.Cmd ?? [])].length > 0;
    const empty = written
      ? 'Entrypoint and Cmd hold only empty strings'
      : 'neither Entrypoint nor Cmd is set';
    if (script === undefined) {
      const message = `${empty}, and profile '${profile.name}' has no startup script: nothing to run`;
      return { status: 'fail', message, findings: [{ message, key: 'Cmd' }] };
    }
    const fs = evidence.fs;
    if (!fs) {
      return {
        status: 'skip',
        message: `skipped: ${empty}; whether the image ships ${script} needs the image filesystem, which was not read`,
      };
    }
    const node = fs.stat(script);
    if (node?.type === 'file') {
      return {
        status: 'pass',
        message: `${empty}, but the image ships the profile's startup script ${script}`,
        evidence: { startupScript: script },
      };
    }
    const message = `${empty}, and the image does not ship the startup script ${script} of profile '${profile.name}'`;
    return {
      status: 'fail',
      message,
      findings: [{ message, key: 'Cmd' }],
      evidence: { startupScript: script },
    };
  },
} satisfies Rule;
