import type { Evidence, RuleOutcome } from '../types.js';

/**
 * Run rules read the outcome the run (ivoc lint --run) recorded for them.
 * Without run evidence the engine skips them before they are called.
 */
export function runOutcome(evidence: Evidence, ruleId: string): RuleOutcome {
  const outcomes = evidence.run?.outcomes as Record<string, RuleOutcome | undefined> | undefined;
  const outcome = outcomes?.[ruleId];
  if (!outcome) return { status: 'skip', message: 'skipped: the run gathered no evidence for this rule' };
  return outcome;
}
