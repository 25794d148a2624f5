import { IvocError } from '../errors.js';
import type { FailOn, Level, RuleResult } from '../report/types.js';
import type { Evidence, EvidenceKind, ResolvedProfile, Rule, RuleOutcome } from './types.js';

/** A rule with the level the profile gives it. */
export interface ActiveRule {
  rule: Rule;
  level: Level;
}

function skipReason(kinds: readonly EvidenceKind[], evidence: Evidence): string | undefined {
  for (const kind of kinds) {
    if (kind === 'fs' && !evidence.fs) return 'needs the image filesystem, which was not read';
    if (kind === 'run' && !evidence.run) return 'run rules need --run (a Docker engine starts the container)';
  }
  return undefined;
}

export function runRule(
  { rule, level }: ActiveRule,
  evidence: Evidence,
  profile: ResolvedProfile,
): RuleResult {
  const base = { rule: rule.meta.id, level, help: rule.meta.help };
  const reason = skipReason(rule.meta.evidence, evidence);
  if (reason) return { ...base, status: 'skip', message: `skipped: ${reason}` };
  let outcome: RuleOutcome;
  try {
    outcome = rule.check({ evidence, profile });
  } catch (error) {
    // A broken image (a symlink loop on the entrypoint's path, say) fails the rule that met it.
    if (!(error instanceof IvocError)) throw error;
    outcome = { status: 'fail', message: error.message, evidence: { error: error.code } };
  }
  const result: RuleResult = { ...base, status: outcome.status, message: outcome.message };
  // A rule may lower its level for a named case; it never raises it above the profile's.
  if (outcome.level && rank(outcome.level) < rank(level)) result.level = outcome.level;
  if (outcome.evidence) result.evidence = outcome.evidence;
  if (outcome.findings && outcome.findings.length > 0) result.findings = outcome.findings;
  return result;
}

function rank(level: Level): number {
  return level === 'error' ? 2 : level === 'warning' ? 1 : 0;
}

/**
 * fail when a result fails at level error, or at warning too with
 * --fail-on warning. --fail-on never changes only the exit code: the verdict
 * still says whether the image complies (spec/standard.md, "Report").
 */
export function verdictOf(results: readonly RuleResult[], failOn: FailOn = 'error'): 'pass' | 'fail' {
  const threshold = failOn === 'warning' ? 1 : 2;
  return results.some((result) => result.status === 'fail' && rank(result.level) >= threshold)
    ? 'fail'
    : 'pass';
}
