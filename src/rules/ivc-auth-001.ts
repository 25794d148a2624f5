import { parse as parseYaml } from 'yaml';
import type { FileSystemView } from '../oci/layer/filesystem.js';
import type { Finding, Level } from '../report/types.js';
import type { Rule } from './types.js';
import {
  argvKey,
  baseNameOf,
  type CommandSite,
  envOf,
  programIndex,
  recipeCommandSites,
  recipeOf,
  recipeScriptGlobs,
} from './util/command.js';
import {
  type AuthSetting,
  argSettings,
  configDirName,
  configFileName,
  jsonConfigSettings,
  jupyterCaptureGlobs,
  jupyterSystemDirs,
  pyConfigSettings,
  settingProblem,
} from './util/jupyter.js';
import { fileFinding } from './util/layer-of.js';
import { imageUserEntry, parseUser } from './util/user.js';

/**
 * No login of the application's own.
 *
 * Jupyter: token/password settings (`c.<Class>.token|password|hashed_password`)
 * in the config files of /etc/jupyter, /usr/local/etc/jupyter,
 * /usr/etc/jupyter, /opt/NAME/etc/jupyter (environment prefixes) and the
 * image user's ~/.jupyter (home from passwd, Env HOME, the profile's user),
 * each file on its own (in a file, the last assignment wins); the same
 * options on the recipe's command lines, in its `sh -c` string and in the
 * shell scripts it runs; `JUPYTER_TOKEN`/`JUPYTER_PASSWORD` in Env or
 * exported by those scripts. The explicit empty string (or None) complies.
 * A value the linter cannot evaluate (an expression, `$VAR`) is a finding at
 * warning.
 *
 * code-server: `--auth password` in a command that runs code-server,
 * `auth: password` in the user's ~/.config/code-server/config.yaml, and
 * PASSWORD/HASHED_PASSWORD in Env when code-server is installed or started.
 * (code-server's own default is a password: the run rules see that.)
 *
 * RStudio Server: when the recipe starts rserver (directly, or rocker's
 * /init with an s6 rstudio service), `auth-none=1` must be in
 * /etc/rstudio/rserver.conf or on its command line; rocker's
 * `DISABLE_AUTH=true` counts. rserver installed but not started (e.g. for
 * jupyter-rsession-proxy, which passes --auth-none itself) is not a finding.
 */

const codeServerPaths = ['/usr/bin/code-server', '/usr/lib/code-server', '/usr/local/bin/code-server'];
const rserverPaths = ['/usr/lib/rstudio-server/bin/rserver', '/usr/sbin/rserver'];

interface Collected {
  findings: Finding[];
  notRead: string[];
  checked: string[];
}

function homes(evidence: Parameters<Rule['check']>[0]['evidence'], fs: FileSystemView, profileHome?: string) {
  const config = evidence.config?.config;
  const set = new Set<string>();
  const parsed = parseUser(config?.User);
  const entry = imageUserEntry(fs, parsed);
  if (entry?.home) set.add(entry.home);
  if (parsed.raw.trim() === '' || parsed.user === 'root' || /^0+$/.test(parsed.user)) set.add('/root');
  const home = envOf(config).get('HOME');
  if (home) set.add(home);
  if (profileHome) set.add(profileHome);
  return [...set].map((dir) => (dir.length > 1 ? dir.replace(/\/+$/, '') : dir));
}

function addSetting(fs: FileSystemView, out: Collected, path: string, setting: AuthSetting): void {
  if (setting.state === 'empty') return;
  const line = setting.line === undefined ? '' : ` line ${setting.line}`;
  const level: Level | undefined = setting.state === 'computed' ? 'warning' : undefined;
  out.findings.push(fileFinding(fs, path, fs.stat(path), `${path}${line} ${settingProblem(setting)}`, level));
}

function checkJupyterFile(fs: FileSystemView, path: string, out: Collected): void {
  const read = fs.read(path);
  if (read.status !== 'ok' && read.status !== 'truncated') {
    if (read.status === 'not-captured') out.notRead.push(path);
    return;
  }
  out.checked.push(path);
  const text = read.data.toString('utf8');
  if (path.endsWith('.py')) {
    for (const setting of pyConfigSettings(text)) addSetting(fs, out, path, setting);
    return;
  }
  const settings = jsonConfigSettings(text);
  if (settings === undefined) {
    out.notRead.push(`${path} (not a JSON object)`);
    return;
  }
  for (const setting of settings) addSetting(fs, out, path, setting);
}

function checkJupyterDir(fs: FileSystemView, dir: string, out: Collected): void {
  const names = fs.readdir(dir);
  if (names === undefined) return;
  for (const name of names) {
    const path = `${dir}/${name}`;
    if (configFileName.test(name)) checkJupyterFile(fs, path, out);
    else if (configDirName.test(name)) {
      for (const inner of fs.readdir(path) ?? []) {
        if (inner.endsWith('.json')) checkJupyterFile(fs, `${path}/${inner}`, out);
      }
    }
  }
}

function siteFinding(fs: FileSystemView, site: CommandSite, message: string, level?: Level): Finding {
  if (site.origin === 'script' && site.script) {
    const line = site.line === undefined ? '' : ` line ${site.line}`;
    return fileFinding(
      fs,
      site.script.path,
      site.script.node,
      `${site.script.path}${line}: ${message}`,
      level,
    );
  }
  const finding: Finding = { message, key: site.key ?? 'Cmd' };
  if (level !== undefined) finding.level = level;
  return finding;
}

function runs(site: CommandSite, name: string): boolean {
  return site.words.some((word) => baseNameOf(word) === name);
}

export default {
  meta: {
    id: 'IVC-AUTH-001',
    level: 'error',
    evidence: ['config', 'fs'],
    title: 'No built-in authentication',
    description:
      'The application asks for no login of its own: no Jupyter token or password in its config files, command line or JUPYTER_TOKEN/JUPYTER_PASSWORD; code-server not set to `--auth password`/`auth: password`/PASSWORD; RStudio Server started with auth-none=1.',
    rationale:
      'The platform authenticates the user before any request reaches the session; a second login breaks single sign-on, and a password baked into the image is shared by everyone who runs it.',
    help: "Disable the app's own login: `c.IdentityProvider.token = ''` in /etc/jupyter/jupyter_server_config.py (or `--IdentityProvider.token=''`), `--auth none`, `auth-none=1`",
    specAnchor: 'ivc-auth-001',
    capture: {
      paths: ['/etc/passwd', '/etc/rstudio/rserver.conf'],
      globs: [
        ...jupyterCaptureGlobs,
        '/home/*/.config/code-server/config.yaml',
        '/root/.config/code-server/config.yaml',
        ...recipeScriptGlobs,
      ],
      probes: ['shebang', 'elf'],
    },
  },
  check({ evidence, profile }) {
    const fs = evidence.fs!;
    const config = evidence.config?.config;
    const env = envOf(config);
    const recipe = recipeOf(config);
    const out: Collected = { findings: [], notRead: [], checked: [] };
    const userHomes = homes(evidence, fs, profile.parameters.user?.home);

    // Jupyter config files.
    const dirs = [...jupyterSystemDirs];
    for (const name of fs.readdir('/opt') ?? []) dirs.push(`/opt/${name}/etc/jupyter`);
    for (const home of userHomes) dirs.push(`${home === '/' ? '' : home}/.jupyter`);
    for (const dir of dirs) checkJupyterDir(fs, dir, out);

    // Env.
    for (const name of ['JUPYTER_TOKEN', 'JUPYTER_PASSWORD']) {
      const value = env.get(name);
      if (value !== undefined && value !== '') {
        out.findings.push({
          message: `Env ${name} sets a Jupyter ${name.endsWith('TOKEN') ? 'token' : 'password'}`,
          key: `Env.${name}`,
        });
      }
    }

    // Command lines: argv, sh -c, scripts.
    const { sites, scripts } = recipeCommandSites(fs, config, profile);
    for (const script of scripts) if (script.kind === 'not-read') out.notRead.push(script.path);
    for (const site of sites) {
      for (const setting of argSettings(site.words)) {
        if (setting.state === 'empty') continue;
        const key = site.origin === 'argv' ? argvKey(recipe, setting.index ?? 0) : undefined;
        const finding = siteFinding(
          fs,
          key ? { ...site, key } : site,
          `the command line ${settingProblem(setting)}`,
          setting.state === 'computed' ? 'warning' : undefined,
        );
        out.findings.push(finding);
      }
      if (site.origin === 'script') {
        for (const word of site.words) {
          const match = /^(JUPYTER_TOKEN|JUPYTER_PASSWORD)=(.*)$/.exec(word);
          if (match && match[2] !== '' && match[2] !== "''" && match[2] !== '""') {
            // `JUPYTER_TOKEN=$TOKEN`: from a variable the linter cannot see, a warning.
            const computed = match[2]!.startsWith('$');
            const what = computed
              ? `sets ${match[1]} from a variable that may not be empty`
              : `sets ${match[1]}`;
            out.findings.push(siteFinding(fs, site, what, computed ? 'warning' : undefined));
          }
        }
      }
    }

    // code-server.
    const codeServerStarted = sites.some((site) => runs(site, 'code-server'));
    const codeServerInstalled = codeServerPaths.some((path) => fs.exists(path));
    let codeServerAuthNone = false;
    for (const site of sites) {
      if (!runs(site, 'code-server')) continue;
      site.words.forEach((word, i) => {
        if (word === '--auth=none' || (word === '--auth' && site.words[i + 1] === 'none'))
          codeServerAuthNone = true;
        if (word === '--auth=password' || (word === '--auth' && site.words[i + 1] === 'password')) {
          const key = site.origin === 'argv' ? argvKey(recipe, i) : undefined;
          out.findings.push(
            siteFinding(fs, key ? { ...site, key } : site, 'code-server is started with --auth password'),
          );
        }
      });
    }
    for (const home of userHomes) {
      const path = `${home === '/' ? '' : home}/.config/code-server/config.yaml`;
      const read = fs.read(path);
      if (read.status === 'not-captured') out.notRead.push(path);
      if (read.status !== 'ok') continue;
      out.checked.push(path);
      let data: unknown;
      try {
        data = parseYaml(read.data.toString('utf8'));
      } catch {
        out.notRead.push(`${path} (not valid YAML)`);
        continue;
      }
      const auth =
        data !== null && typeof data === 'object' ? (data as Record<string, unknown>).auth : undefined;
      if (auth === 'none') codeServerAuthNone = true;
      if (auth === 'password') {
        out.findings.push(fileFinding(fs, path, read.node, `${path} sets code-server's auth: password`));
      }
    }
    if (codeServerStarted || codeServerInstalled) {
      for (const name of ['PASSWORD', 'HASHED_PASSWORD']) {
        const value = env.get(name);
        if (value !== undefined && value !== '') {
          out.findings.push({
            message: `Env ${name} gives code-server a login password`,
            key: `Env.${name}`,
          });
        }
      }
    }

    // RStudio Server.
    const rockerInit =
      recipe.argv.length > 0 &&
      recipe.argv[programIndex(recipe.argv) ?? 0] === '/init' &&
      fs.exists('/etc/services.d/rstudio');
    const rserverSites = sites.filter((site) => runs(site, 'rserver'));
    const rserverInstalled = rserverPaths.some((path) => fs.exists(path));
    let rstudio: string | undefined;
    if (rserverSites.length > 0 || rockerInit) {
      const conf = fs.read('/etc/rstudio/rserver.conf');
      const confText = conf.status === 'ok' || conf.status === 'truncated' ? conf.data.toString('utf8') : '';
      const inConf = confText
        .split('\n')
        .some((line) => /^\s*auth-none\s*=\s*1\s*$/.test(line.replace(/#.*$/, '')));
      const onCommandLine = rserverSites.some((site) =>
        site.words.some(
          (word, i) => word === '--auth-none=1' || (word === '--auth-none' && site.words[i + 1] === '1'),
        ),
      );
      const rockerDisabled = /^(true|1|yes)$/i.test(env.get('DISABLE_AUTH') ?? '');
      if (inConf || onCommandLine || rockerDisabled) {
        rstudio = inConf
          ? 'auth-none=1 in rserver.conf'
          : onCommandLine
            ? '--auth-none=1'
            : 'DISABLE_AUTH=true';
      } else {
        const message =
          'RStudio Server is started without auth-none=1 (not in /etc/rstudio/rserver.conf, not on its command line): it asks for a login';
        const node = conf.status === 'ok' || conf.status === 'truncated' ? conf.node : undefined;
        const site = rserverSites[0];
        out.findings.push(
          node
            ? { ...fileFinding(fs, '/etc/rstudio/rserver.conf', node, message), key: recipe.programKey }
            : site
              ? siteFinding(fs, site, message)
              : { message, key: recipe.programKey },
        );
      }
    }

    const facts: Record<string, unknown> = { checked: out.checked };
    if (out.notRead.length > 0) facts.notRead = out.notRead;
    if (codeServerStarted || codeServerInstalled)
      facts.codeServer = codeServerStarted ? 'started' : 'installed';
    if (rserverInstalled || rserverSites.length > 0 || rockerInit) {
      facts.rstudio = rserverSites.length > 0 || rockerInit ? 'started' : 'installed';
    }
    if (out.findings.length === 0) {
      const parts = [
        out.checked.length === 0
          ? 'no Jupyter or code-server config file sets a login'
          : `no login set in ${out.checked.length} config file${out.checked.length === 1 ? '' : 's'}`,
        'none on the command line or in Env',
      ];
      if (rstudio) parts.push(`RStudio Server runs with ${rstudio}`);
      if (codeServerStarted && !codeServerAuthNone) {
        parts.push("note: code-server's default is a password unless started with --auth none");
      }
      return { status: 'pass', message: parts.join('; '), evidence: facts };
    }
    const errors = out.findings.filter((finding) => (finding.level ?? 'error') === 'error').length;
    const message = `the image sets up its own login: ${out.findings.map((finding) => finding.message).join('; ')}`;
    const result = { status: 'fail' as const, message, evidence: facts, findings: out.findings };
    return errors === 0 ? { ...result, level: 'warning' as const } : result;
  },
} satisfies Rule;
