import type { FsNode } from '../oci/layer/filesystem.js';
import type { Finding } from '../report/types.js';
import type { Rule } from './types.js';
import {
  argvKey,
  baseNameOf,
  type CommandSite,
  programIndex,
  recipeCommandSites,
  recipeOf,
  recipeScriptGlobs,
} from './util/command.js';
import { fileFinding } from './util/layer-of.js';

/**
 * No hub or authenticating proxy in the session.
 *
 * Started (error): a word of the exec-form recipe whose base name is a known
 * hub or proxy (so `tini -- jupyterhub-singleuser` counts), `python -m
 * jupyterhub[.singleuser]`, `jupyter labhub`; in a `sh -c` string, the
 * program of each command (past wrappers such as exec, env, tini, gosu);
 * in the shell scripts the recipe runs (those the layer scan keeps, see
 * recipeScriptGlobs), the program of the LAST command: the hand-over the
 * spec names ("an entrypoint script that ends in exec jupyterhub"); earlier
 * commands are often conditional (docker-stacks starts the single-user
 * server only under a hub) and are not judged. Scripts in other languages
 * are not read.
 *
 * Installed but not started (warning): a hub or proxy program in a bin
 * directory, or a jupyterhub / configurable-http-proxy package directory
 * (site-packages, dist-packages, node_modules).
 */

const hubs = new Set([
  'jupyterhub',
  'jupyterhub-singleuser',
  'jupyter-labhub',
  'configurable-http-proxy',
  'oauth2-proxy',
  'oauth2_proxy',
  'vouch-proxy',
  'binderhub',
]);

const hubPackage = /\/(?:site-packages|dist-packages)\/jupyterhub$|\/node_modules\/configurable-http-proxy$/;

/** The hub a word list starts, looking at every word (exec-form argv). */
function hubInWords(words: readonly string[]): string | undefined {
  for (let i = 0; i < words.length; i++) {
    const name = baseNameOf(words[i]!);
    if (hubs.has(name)) return name;
    if (name === 'jupyter' && words[i + 1] === 'labhub') return 'jupyter labhub';
    if (words[i] === '-m' && /^jupyterhub(\.|$)/.test(words[i + 1] ?? '')) return `-m ${words[i + 1]}`;
  }
  return undefined;
}

/** The hub a shell command starts, looking at its program (past wrappers) and `python -m`. */
function hubInCommand(words: readonly string[]): string | undefined {
  const index = programIndex(words);
  if (index === undefined) return undefined;
  const name = baseNameOf(words[index]!);
  if (hubs.has(name)) return name;
  if (name === 'jupyter' && words[index + 1] === 'labhub') return 'jupyter labhub';
  if (/^python[0-9.]*$/.test(name)) {
    const module = words.indexOf('-m', index);
    if (module > 0 && /^jupyterhub(\.|$)/.test(words[module + 1] ?? ''))
      return `python -m ${words[module + 1]}`;
  }
  return undefined;
}

function startedBy(site: CommandSite): string | undefined {
  if (site.origin === 'argv') return hubInWords(site.words);
  if (site.origin === 'script' && !site.last) return undefined;
  return hubInCommand(site.words);
}

export default {
  meta: {
    id: 'IVC-AUTH-002',
    level: 'error',
    evidence: ['config', 'fs'],
    title: 'No hub or proxy is started',
    description:
      'The startup recipe does not start jupyterhub, jupyterhub-singleuser, configurable-http-proxy or another known hub or authenticating proxy; a JupyterHub installation present but not started is reported at warning.',
    rationale:
      'The platform is the hub: it spawns, authenticates and proxies sessions. A hub inside a session expects a hub outside (API tokens, OAuth callbacks) that is not there, and the session fails or loops on a login page.',
    help: 'Start the single-user application itself, e.g. `CMD ["jupyter", "lab"]`, and drop jupyterhub from the image (`pip uninstall -y jupyterhub`)',
    specAnchor: 'ivc-auth-002',
    capture: { globs: [...recipeScriptGlobs], probes: ['shebang', 'elf'] },
  },
  check({ evidence, profile }) {
    const fs = evidence.fs!;
    const config = evidence.config?.config;
    const recipe = recipeOf(config);
    const { sites, scripts } = recipeCommandSites(fs, config, profile);
    const findings: Finding[] = [];
    for (const site of sites) {
      const hub = startedBy(site);
      if (hub === undefined) continue;
      if (site.origin === 'script' && site.script) {
        const message = `${site.script.path} line ${site.line} ends by starting ${hub}`;
        findings.push(fileFinding(fs, site.script.path, site.script.node, message));
      } else {
        const index =
          site.origin === 'argv' ? site.words.findIndex((word) => hubInWords([word]) !== undefined) : -1;
        const key =
          site.origin === 'argv' && index >= 0 ? argvKey(recipe, index) : (site.key ?? recipe.programKey);
        const where = site.origin === 'argv' ? key : `the ${key} shell command`;
        findings.push({ message: `${where} starts ${hub}`, key });
      }
    }
    const notRead = scripts.filter((script) => script.kind === 'not-read').map((script) => script.path);
    const facts: Record<string, unknown> = {
      scripts: scripts.filter((script) => script.kind === 'shell').map((script) => script.path),
    };
    if (notRead.length > 0) facts.notRead = notRead;
    if (findings.length > 0) {
      const unique = [...new Set(findings.map((finding) => finding.message))];
      return {
        status: 'fail',
        message: `the session starts a hub or proxy: ${unique.join('; ')}`,
        evidence: facts,
        findings,
      };
    }
    const installed: FsNode[] = [];
    for (const node of fs.walk()) {
      if (node.type === 'dir') {
        if (hubPackage.test(node.path)) installed.push(node);
      } else if (node.executable) {
        const name = node.path.slice(node.path.lastIndexOf('/') + 1);
        if (hubs.has(name) && /\/bin\/[^/]+$/.test(node.path)) installed.push(node);
      }
    }
    installed.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    if (installed.length > 0) {
      facts.installed = installed.map((node) => node.path);
      const shown = installed.slice(0, 3).map((node) => node.path);
      const more = installed.length > 3 ? ` and ${installed.length - 3} more` : '';
      return {
        status: 'fail',
        level: 'warning',
        message: `a hub is installed but not started: ${shown.join(', ')}${more}; the image may carry JupyterHub's assumptions`,
        evidence: facts,
        findings: installed.map((node) =>
          fileFinding(fs, node.path, node, `${node.path} is part of a hub installation`, 'warning'),
        ),
      };
    }
    return {
      status: 'pass',
      message: 'the recipe starts no hub or proxy, and none is installed',
      evidence: facts,
    };
  },
} satisfies Rule;
