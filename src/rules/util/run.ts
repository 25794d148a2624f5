import type { HttpProbe, RunObservations } from '../../run/observations.js';
import type { Evidence, RuleOutcome } from '../types.js';

/**
 * The run rules classify what `ivoc lint --run` observed (src/run/observations.ts).
 * Pure: the runner does all the I/O; a rule reads `evidence.run` only.
 * Without run evidence the engine skips the run rules before they are called.
 */

export function observationsOf(evidence: Evidence): RunObservations | undefined {
  const run = evidence.run as Partial<RunObservations> | undefined;
  return run && run.version === 1 ? (run as RunObservations) : undefined;
}

type Judge = (run: RunObservations) => RuleOutcome;

/** Shared preamble: the run happened and its record is one we understand. */
export function judgeRun(evidence: Evidence, judge: Judge): RuleOutcome {
  const run = observationsOf(evidence);
  if (!run) return { status: 'skip', message: 'skipped: the run gathered no evidence for this rule' };
  if (run.notRun !== undefined) return { status: 'skip', message: `skipped: ${run.notRun}` };
  return judge(run);
}

function interactive(run: RunObservations): boolean {
  return run.behaviour === 'notebook' || run.behaviour === 'web';
}

function userText(run: RunObservations): string {
  return `UID:GID ${run.uid}:${run.gid}`;
}

function baseEvidence(run: RunObservations): Record<string, unknown> {
  const evidence: Record<string, unknown> = { uid: run.uid, gid: run.gid };
  if (run.home !== undefined) evidence.home = run.home;
  if (run.basePath) evidence.accessPath = run.basePath.accessPath;
  if (run.timings) evidence.timings = run.timings;
  return evidence;
}

function withLogs(run: RunObservations, evidence: Record<string, unknown>): Record<string, unknown> {
  if (run.logs && run.logs.length > 0) evidence.logs = run.logs;
  return evidence;
}

function exitText(run: RunObservations): string {
  const exit = run.exit;
  if (!exit) return 'it stopped';
  if (exit.oomKilled) return `it was killed for exceeding the memory limit (${run.limits?.memory ?? '?'})`;
  return exit.exitCode === undefined ? 'it stopped' : `it exited with status ${exit.exitCode}`;
}

function lastLogLine(run: RunObservations): string {
  const line = run.logs?.filter((l) => l.trim() !== '').at(-1);
  return line ? `; last output: ${line.trim()}` : '';
}

/** IVC-RUN-001: stays up (interactive, desktop-app) or the smoke command exits 0 (headless). */
export function judgeStartsAsArbitraryUser(run: RunObservations): RuleOutcome {
  const evidence = baseEvidence(run);
  if (run.behaviour === 'headless') {
    const smoke = run.smoke;
    evidence.command = run.command;
    if (!smoke) return { status: 'skip', message: 'skipped: the smoke command did not run', evidence };
    if (smoke.timedOut) {
      return {
        status: 'fail',
        message: `the smoke command did not exit within ${run.timeoutSeconds} s as ${userText(run)}`,
        evidence: withLogs(run, evidence),
      };
    }
    if (smoke.exitCode !== 0) {
      return {
        status: 'fail',
        message: `the smoke command exited with status ${smoke.exitCode} as ${userText(run)}${lastLogLine(run)}`,
        evidence: withLogs(run, { ...evidence, exitCode: smoke.exitCode }),
      };
    }
    return {
      status: 'pass',
      message: `the smoke command exited 0 as ${userText(run)} with HOME on an empty mount`,
      evidence,
    };
  }
  if (run.exit && !run.exit.running) {
    return {
      status: 'fail',
      message: `started as ${userText(run)} with HOME=${run.home}, ${exitText(run)}${lastLogLine(run)}`,
      evidence: withLogs(run, { ...evidence, exitCode: run.exit.exitCode }),
    };
  }
  const note = run.behaviour === 'desktop-app' ? ' (without a display: the platform provides one)' : '';
  return {
    status: 'pass',
    message: `stayed up as ${userText(run)} with HOME on an empty writable mount${note}`,
    evidence,
  };
}

/** IVC-RUN-002: something accepts TCP on the well-known port. */
export function judgeListens(run: RunObservations): RuleOutcome {
  if (!interactive(run)) return notInteractive(run);
  const evidence: Record<string, unknown> = { port: run.port, hostPort: run.hostPort };
  if (run.tcp?.accepted) {
    return {
      status: 'pass',
      message: `accepted TCP on port ${run.port} ${run.tcp.atMs} ms after start`,
      evidence: { ...evidence, atMs: run.tcp.atMs },
    };
  }
  const why =
    run.exit && !run.exit.running
      ? `${exitText(run)} before anything accepted TCP on port ${run.port}`
      : `nothing accepted TCP on port ${run.port} within ${run.timeoutSeconds} s`;
  return { status: 'fail', message: `${why}${lastLogLine(run)}`, evidence: withLogs(run, evidence) };
}

const loginPage =
  /(^|[/_.-])(login|log-in|signin|sign-in|sign_in|token|hub|oauth2?|auth|authorize|password)([/_.?#-]|$)/i;

/** The path of a redirect target, resolved against the request URL. */
function locationUrl(probe: HttpProbe): URL | undefined {
  if (probe.location === undefined) return undefined;
  try {
    return new URL(probe.location, probe.url);
  } catch {
    return undefined;
  }
}

function insidePath(target: URL, from: string, accessPath: string): boolean {
  const origin = new URL(from);
  return target.host === origin.host && target.pathname.startsWith(accessPath);
}

function chainText(probes: readonly HttpProbe[]): string {
  return probes
    .map((p) => {
      const path = new URL(p.url).pathname;
      if (p.status === undefined) return `GET ${path}: ${p.error ?? 'no answer'}`;
      return p.location !== undefined
        ? `GET ${path} → ${p.status} Location: ${p.location}`
        : `GET ${path} → ${p.status}`;
    })
    .join(', ');
}

function httpEvidence(run: RunObservations): Record<string, unknown> {
  return {
    accessPath: run.basePath?.accessPath,
    basePath: run.basePath?.form,
    probes: run.http?.probes ?? [],
  };
}

function notInteractive(run: RunObservations): RuleOutcome {
  return { status: 'pass', message: `type '${run.sessionType}' is not interactive: the rule does not apply` };
}

/** The last answered probe of the chain, if any. */
function finalAnswer(run: RunObservations): HttpProbe | undefined {
  return run.http?.probes.filter((p) => p.status !== undefined).at(-1);
}

function noAnswer(run: RunObservations): RuleOutcome | undefined {
  if (run.http?.answered) return undefined;
  if (!run.tcp?.accepted) {
    return { status: 'skip', message: `skipped: nothing listened on port ${run.port} (IVC-RUN-002)` };
  }
  return {
    status: 'fail',
    message: `no HTTP answer at ${run.basePath?.accessPath} within ${run.timeoutSeconds} s${
      run.http && run.http.probes.length > 0 ? ` (${chainText(run.http.probes)})` : ''
    }`,
    evidence: withLogs(run, httpEvidence(run)),
  };
}

/** IVC-RUN-003: 2xx/3xx inside the access path; no 404, no redirect outside. */
export function judgeServesUnderPath(run: RunObservations): RuleOutcome {
  if (!interactive(run)) return notInteractive(run);
  const missing = noAnswer(run);
  if (missing) return missing;
  const probes = run.http!.probes;
  const accessPath = run.basePath!.accessPath;
  const evidence = httpEvidence(run);
  const how = run.basePath?.form
    ? `handed over as ${run.basePath.form}`
    : 'not handed over: no base-path declared';
  for (const probe of probes) {
    const target = locationUrl(probe);
    if (probe.status !== undefined && probe.status >= 300 && probe.status < 400 && target) {
      if (!insidePath(target, probe.url, accessPath)) {
        return {
          status: 'fail',
          message: `redirects outside the access path ${accessPath} (${how}): ${chainText(probes)}`,
          evidence,
        };
      }
    }
  }
  const last = finalAnswer(run)!;
  const status = last.status!;
  if (status >= 200 && status < 400) {
    return {
      status: 'pass',
      message: `answered under ${accessPath} (${how}): ${chainText(probes)}`,
      evidence,
    };
  }
  if (status === 404) {
    return {
      status: 'fail',
      message: `404 at the access path ${accessPath} (${how}): the path was not honoured`,
      evidence,
    };
  }
  return {
    status: 'fail',
    message: `answered ${status} at the access path ${accessPath}, not 2xx/3xx: ${chainText(probes)}`,
    evidence,
  };
}

/** IVC-RUN-004: no 401/403, no redirect to a login, token or hub page. */
export function judgeNoLogin(run: RunObservations): RuleOutcome {
  if (!interactive(run)) return notInteractive(run);
  const missing = noAnswer(run);
  if (missing) return missing;
  const probes = run.http!.probes;
  const evidence = httpEvidence(run);
  for (const probe of probes) {
    if (probe.status === 401 || probe.status === 403) {
      const challenge = probe.challenge ? ` (WWW-Authenticate: ${probe.challenge})` : '';
      return {
        status: 'fail',
        message: `asks for a login: ${probe.status} at ${new URL(probe.url).pathname}${challenge}`,
        evidence,
      };
    }
    const target = locationUrl(probe);
    if (target && loginPage.test(target.pathname)) {
      return {
        status: 'fail',
        message: `redirects to a login page: ${chainText(probes)}`,
        evidence,
      };
    }
  }
  return { status: 'pass', message: `no authentication challenge: ${chainText(probes)}`, evidence };
}

const hubProcess = /(^|[\s/])(jupyterhub(-singleuser)?|configurable-http-proxy|oauth2-proxy|authelia)(\s|$)/;

/** IVC-RUN-005: no hub or authenticating proxy in the process list. */
export function judgeNoHub(run: RunObservations): RuleOutcome {
  if (!run.processes) {
    return {
      status: 'skip',
      message: 'skipped: the process list could not be read (the container was not running)',
    };
  }
  const found = run.processes.filter((command) => hubProcess.test(command));
  if (found.length > 0) {
    return {
      status: 'fail',
      message: `a hub or proxy is running: ${found.join('; ')}`,
      evidence: { processes: run.processes },
    };
  }
  return {
    status: 'pass',
    message: `no hub or proxy among ${run.processes.length} process${run.processes.length === 1 ? '' : 'es'}`,
    evidence: { processes: run.processes },
  };
}

/** Kept for callers of the first version: the outcome for a rule ID. */
export function runOutcome(evidence: Evidence, ruleId: string): RuleOutcome {
  const judge = judges[ruleId];
  if (!judge) return { status: 'skip', message: 'skipped: the run gathered no evidence for this rule' };
  return judgeRun(evidence, judge);
}

const judges: Record<string, Judge> = {
  'IVC-RUN-001': judgeStartsAsArbitraryUser,
  'IVC-RUN-002': judgeListens,
  'IVC-RUN-003': judgeServesUnderPath,
  'IVC-RUN-004': judgeNoLogin,
  'IVC-RUN-005': judgeNoHub,
};
