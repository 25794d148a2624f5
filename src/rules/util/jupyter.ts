/**
 * Jupyter's authentication settings (IVC-AUTH-001): where its config files
 * live, and the token/password settings in .py and .json configs and on a
 * command line. A setting is 'set' (a non-empty value), 'empty' (the
 * explicit empty string or None: how an image complies) or 'computed' (an
 * expression the linter cannot evaluate). Values are never kept.
 */

/** Trait names that carry a login secret, for any configurable class (ServerApp, NotebookApp, IdentityProvider, ...). */
const secretTraits = new Set(['token', 'password', 'hashed_password']);

/**
 * Config directories read for the image: Jupyter's system paths
 * (/etc/jupyter, /usr/local/etc/jupyter, /usr/etc/jupyter), environment
 * prefixes under /opt (/opt/conda/etc/jupyter), and user directories
 * (~/.jupyter) under /home and /root. The image user's home is only known
 * from the image's passwd, so every /home/NAME is captured and the rule
 * picks the right one. One glob per directory (everything below it: config
 * files are small), since the scan tests every tar entry against every glob.
 */
export const jupyterSystemDirs = ['/etc/jupyter', '/usr/local/etc/jupyter', '/usr/etc/jupyter'];
const jupyterDirGlobs = [...jupyterSystemDirs, '/opt/*/etc/jupyter', '/home/*/.jupyter', '/root/.jupyter'];

export const jupyterCaptureGlobs = jupyterDirGlobs.map((dir) => `${dir}/**`);

/** jupyter_config, jupyter_server_config, jupyter_notebook_config, jupyter_lab_config, ... */
export const configFileName = /^jupyter_[A-Za-z0-9_]*config\.(py|json)$/;
export const configDirName = /^jupyter_[A-Za-z0-9_]*config\.d$/;

export type SettingState = 'set' | 'empty' | 'computed';

export interface AuthSetting {
  /** 'ServerApp.token', 'IdentityProvider.token', 'NotebookApp.password', ... */
  setting: string;
  state: SettingState;
  /** 1-based line, for config files. */
  line?: number;
  /** Index of the word, for command lines. */
  index?: number;
}

/** What a Python right-hand side is: a string literal (empty or not), None, or anything else. */
function pythonValue(rhs: string): SettingState {
  const text = rhs.trim();
  if (/^None\s*(#.*)?$/.test(text)) return 'empty';
  const match = /^([rRuUbBfF]{0,2})('''|"""|'|")/.exec(text);
  if (!match) return 'computed';
  const prefix = match[1]!.toLowerCase();
  const quote = match[2]!;
  let i = match[0].length;
  let content = '';
  let closed = false;
  while (i < text.length) {
    if (text.startsWith(quote, i)) {
      closed = true;
      i += quote.length;
      break;
    }
    if (text[i] === '\\' && !prefix.includes('r')) {
      content += text.slice(i, i + 2);
      i += 2;
      continue;
    }
    content += text[i];
    i++;
  }
  // An unclosed triple-quoted string goes on over the next lines: not empty.
  if (!closed) return 'set';
  const rest = text.slice(i).trim();
  if (rest !== '' && !rest.startsWith('#')) return 'computed';
  if (prefix.includes('f') && content.includes('{')) return 'computed';
  return content === '' ? 'empty' : 'set';
}

const pyAssignment = /^\s*c\.([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)(.*)$/;

/** Token and password settings of a Python config file; the last assignment of each setting wins. */
export function pyConfigSettings(text: string): AuthSetting[] {
  const settings = new Map<string, AuthSetting>();
  text.split('\n').forEach((line, index) => {
    const match = pyAssignment.exec(line);
    if (!match || !secretTraits.has(match[2]!)) return;
    const setting = `${match[1]}.${match[2]}`;
    settings.delete(setting);
    settings.set(setting, { setting, state: pythonValue(match[3]!), line: index + 1 });
  });
  return [...settings.values()];
}

/** Token and password settings of a JSON config file; undefined when it is not a JSON object. */
export function jsonConfigSettings(text: string): AuthSetting[] | undefined {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return undefined;
  const settings: AuthSetting[] = [];
  for (const [section, values] of Object.entries(data as Record<string, unknown>)) {
    if (values === null || typeof values !== 'object' || Array.isArray(values)) continue;
    for (const [trait, value] of Object.entries(values as Record<string, unknown>)) {
      if (!secretTraits.has(trait)) continue;
      const state: SettingState =
        value === null || value === '' ? 'empty' : typeof value === 'string' ? 'set' : 'computed';
      settings.push({ setting: `${section}.${trait}`, state });
    }
  }
  return settings;
}

const argOption = /^--([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)(?:=([\s\S]*))?$/;

/** A command-line value: `''` and `""` (quotes kept by an exec-form argv) are the empty string. */
function argValue(value: string): SettingState {
  const trimmed = value.trim();
  if (trimmed === '' || trimmed === "''" || trimmed === '""') return 'empty';
  if (/^\$\{?[A-Za-z_]/.test(trimmed)) return 'computed';
  return 'set';
}

/** `--ServerApp.token=VALUE`, `--IdentityProvider.token VALUE`, `--NotebookApp.password=...` in a word list. */
export function argSettings(words: readonly string[]): AuthSetting[] {
  const settings: AuthSetting[] = [];
  words.forEach((word, i) => {
    const match = argOption.exec(word);
    if (!match || !secretTraits.has(match[2]!)) return;
    const setting = `${match[1]}.${match[2]}`;
    if (match[3] !== undefined) settings.push({ setting, state: argValue(match[3]), index: i });
    else {
      const next = words[i + 1];
      const state = next === undefined || next.startsWith('--') ? 'empty' : argValue(next);
      settings.push({ setting, state, index: i });
    }
  });
  return settings;
}

/** The explanation of a non-compliant setting, for a message (never the value). */
export function settingProblem(setting: AuthSetting): string {
  const what = setting.setting.endsWith('token') ? 'a token' : 'a password';
  return setting.state === 'set'
    ? `sets ${what} (${setting.setting})`
    : `sets ${setting.setting} from an expression that may not be empty`;
}
