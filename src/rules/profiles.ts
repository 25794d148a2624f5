import { dirname, resolve as resolvePath } from 'node:path';
import canfar from '../../spec/profiles/canfar.json' with { type: 'json' };
import ivoa from '../../spec/profiles/ivoa.json' with { type: 'json' };
import kubeflow from '../../spec/profiles/kubeflow.json' with { type: 'json' };
import { UsageError } from '../errors.js';
import { describeSchemaErrors } from '../schemas.js';
import type { ResolvedProfile } from './types.js';

/**
 * Profiles: the built-ins are data (spec/profiles/*.json); a user profile is a
 * YAML or JSON file that `extends` one (default: ivoa) and is applied to it as
 * a JSON Merge Patch (RFC 7396: null removes, arrays replace). Every file is
 * validated against spec/schemas/profile.schema.json; a bad one is a usage
 * error (exit 2) that says what is wrong.
 */

type ProfileData = Record<string, unknown>;

export const builtInProfiles: Readonly<Record<string, ProfileData>> = { ivoa, canfar, kubeflow };
export const defaultProfileName = 'ivoa';

const maxExtendsDepth = 8;

export async function loadProfile(
  nameOrFile: string,
  knownRules?: ReadonlySet<string>,
): Promise<ResolvedProfile> {
  const chain: string[] = [];
  const merged = await resolveData(nameOrFile, process.cwd(), chain, 0);
  const { extends: _drop, $schema: _schema, ...complete } = merged;
  // Built-ins are validated by test/spec.test.ts; checking them again would
  // load and compile the schemas on every lint (~100 ms of start-up).
  const builtIn = builtInProfiles[nameOrFile] !== undefined;
  // User files only: their validators are loaded on demand.
  const validate = builtIn ? undefined : (await import('../generated/profile-validators.js')).completeProfile;
  if (validate && !validate(complete)) {
    throw new UsageError(
      `profile '${nameOrFile}' is incomplete after extending ${chain.slice(1).join(' → ') || 'nothing'}: ${describeSchemaErrors(validate.errors).join('; ')}`,
      'ERR_PROFILE',
    );
  }
  const profile = complete as unknown as Omit<ResolvedProfile, 'source' | 'extends'>;
  if (knownRules) {
    const unknown = Object.keys(profile.rules).filter((id) => !knownRules.has(id));
    if (unknown.length > 0) {
      throw new UsageError(
        `profile '${nameOrFile}' names unknown rules: ${unknown.join(', ')} (see ivoc rules)`,
        'ERR_PROFILE',
      );
    }
  }
  return {
    ...profile,
    source: builtInProfiles[nameOrFile] ? 'built-in' : resolvePath(nameOrFile),
    extends: chain.slice(1),
  };
}

async function resolveData(
  nameOrFile: string,
  baseDir: string,
  chain: string[],
  depth: number,
): Promise<ProfileData> {
  if (depth > maxExtendsDepth) {
    throw new UsageError(`profile '${chain[0]}' extends too deeply (${chain.join(' → ')})`, 'ERR_PROFILE');
  }
  const builtIn = builtInProfiles[nameOrFile];
  if (builtIn) {
    chain.push(nameOrFile);
    return structuredClone(builtIn);
  }
  const path = resolvePath(baseDir, nameOrFile);
  if (chain.includes(path))
    throw new UsageError(`profile '${path}' extends itself (${chain.join(' → ')})`, 'ERR_PROFILE');
  chain.push(path);
  const data = await readProfileFile(path, nameOrFile);
  const parent = typeof data.extends === 'string' ? data.extends : defaultProfileName;
  const base = await resolveData(parent, dirname(path), chain, depth + 1);
  const patched = mergePatch(base, data) as ProfileData;
  if (typeof data.name !== 'string') patched.name = nameFromPath(path);
  return patched;
}

async function readProfileFile(path: string, asGiven: string): Promise<ProfileData> {
  let text: string;
  try {
    // Loaded here: node:fs/promises costs ~2 ms of every lint's start-up, and built-in profiles need no file.
    text = await process.getBuiltinModule('node:fs/promises').readFile(path, 'utf8');
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') {
      throw new UsageError(
        `unknown profile '${asGiven}': not a built-in (${Object.keys(builtInProfiles).join(', ')}) and no such file`,
        'ERR_PROFILE',
      );
    }
    throw new UsageError(`cannot read profile '${path}': ${(error as Error).message}`, 'ERR_PROFILE');
  }
  let data: unknown;
  try {
    if (/\.json$/i.test(path)) {
      data = JSON.parse(text);
    } else {
      // Loaded only for YAML files; a CommonJS module, so its API may sit on `default` once bundled.
      const yaml = (await import('yaml')) as typeof import('yaml') & { default?: typeof import('yaml') };
      data = (yaml.default ?? yaml).parse(text);
    }
  } catch (error) {
    throw new UsageError(
      `profile '${path}' is not valid YAML or JSON: ${firstLine((error as Error).message)}`,
      'ERR_PROFILE',
    );
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new UsageError(
      `profile '${path}' must be a mapping of keys (extends, rules, parameters, ...)`,
      'ERR_PROFILE',
    );
  }
  const validate = (await import('../generated/profile-validators.js')).profile;
  if (!validate(data)) {
    throw new UsageError(
      `profile '${path}' is invalid: ${describeSchemaErrors(validate.errors).join('; ')}`,
      'ERR_PROFILE',
    );
  }
  return data as ProfileData;
}

/** RFC 7396 JSON Merge Patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return structuredClone(patch);
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

function nameFromPath(path: string): string {
  const base = path.split('/').pop() ?? path;
  return base.replace(/\.(ya?ml|json)$/i, '');
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
