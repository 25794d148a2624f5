import { UsageError } from '../errors.js';
import { allRules, ruleMetadata } from '../rules/index.js';
import { builtInProfiles, loadProfile } from '../rules/profiles.js';
import { specBaseUrl } from './lint.js';
import { writeOutput } from './output.js';

/** `ivoc rules [ID]`: the list, or one rule explained (requirement, rationale, fix, link). */
export async function rulesCommand(
  id: string | undefined,
  args: { format?: string; output?: string },
): Promise<number> {
  if (id === undefined) {
    if (args.format === 'json') {
      await writeOutput(
        `${JSON.stringify(
          allRules.map((rule) => rule.meta),
          null,
          2,
        )}\n`,
        args.output,
      );
      return 0;
    }
    const lines = allRules.map(
      ({ meta }) =>
        `${meta.id.padEnd(13)} ${meta.level.padEnd(8)} ${meta.evidence.join('+').padEnd(16)} ${meta.title}`,
    );
    await writeOutput(
      `${'RULE'.padEnd(13)} ${'LEVEL'.padEnd(8)} ${'EVIDENCE'.padEnd(16)} TITLE\n${lines.join('\n')}\n`,
      args.output,
    );
    return 0;
  }
  const meta = ruleMetadata.get(id.toUpperCase());
  if (!meta) throw new UsageError(`unknown rule '${id}' (see ivoc rules)`);
  if (args.format === 'json') {
    await writeOutput(`${JSON.stringify(meta, null, 2)}\n`, args.output);
    return 0;
  }
  const text = [
    `${meta.id}: ${meta.title}`,
    `level: ${meta.level}    evidence: ${meta.evidence.join(', ')}`,
    '',
    meta.description,
    '',
    `Why: ${meta.rationale}`,
    '',
    `Fix: ${meta.help}`,
    '',
    `See: ${specBaseUrl}#${meta.specAnchor}`,
  ].join('\n');
  await writeOutput(`${text}\n`, args.output);
  return 0;
}

/** `ivoc profiles [NAME|FILE]`: the built-ins, or one profile resolved (extends applied), as JSON. */
export async function profilesCommand(name: string | undefined, args: { output?: string }): Promise<number> {
  if (name === undefined) {
    const lines = Object.entries(builtInProfiles).map(
      ([key, data]) => `${key.padEnd(10)} ${String((data as { description?: string }).description ?? '')}`,
    );
    await writeOutput(`${lines.join('\n')}\n`, args.output);
    return 0;
  }
  const profile = await loadProfile(name, new Set(ruleMetadata.keys()));
  await writeOutput(`${JSON.stringify(profile, null, 2)}\n`, args.output);
  return 0;
}
