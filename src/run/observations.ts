/**
 * What `ivoc lint --run` saw when it started the container: plain data, no
 * verdicts. The runner (src/run/runner.ts) gathers it; the run rules
 * (src/rules/ivc-run-00N.ts, through src/rules/util/run.ts) classify it, purely.
 * It becomes `evidence.run` and, in part, each run rule's report evidence.
 */

export type RunBehaviour = 'notebook' | 'web' | 'desktop-app' | 'headless';

/** One HTTP request of the probe chain (redirects are followed while they stay inside the access path). */
export interface HttpProbe {
  url: string;
  /** HTTP status; absent when the request failed (error). */
  status?: number;
  /** The Location header of a redirect, as sent. */
  location?: string;
  /** `WWW-Authenticate` of a 401, as sent. */
  challenge?: string;
  error?: string;
  /** Milliseconds since the container started. */
  atMs: number;
  /** How long the request took. */
  ms: number;
}

export interface RunObservations {
  /** Shape version of this record. */
  version: 1;
  /** Set when the run was not attempted; the run rules skip with this reason. */
  notRun?: string;
  /** The run identifier (container name `ivoc-run-<id>`, label `ivoc.run=<id>`). */
  id?: string;
  /** The image as the engine knows it (ID). */
  image?: string;
  sessionType?: string;
  behaviour?: RunBehaviour;
  uid?: number;
  gid?: number;
  home?: string;
  /** Names of the environment variables the platform set (values of the profile's env are not recorded). */
  env?: string[];
  /** How the access path was handed over: `env:NAME`, `arg`, or none declared. */
  basePath?: { form: string | undefined; accessPath: string };
  /** The well-known port inside the container, and the loopback port it was published on. */
  port?: number;
  hostPort?: number;
  /** The profile's start-up time-out. */
  timeoutSeconds?: number;
  limits?: { memory: string; cpus: number; readOnlyRootfs: boolean };
  /** The command that replaced Cmd (base path `arg`, or the headless smoke command). */
  command?: string[];
  tcp?: { accepted: boolean; atMs?: number; attempts: number };
  /** The probe chain of the final attempt, plus earlier failed attempts summarised in `attempts`. */
  http?: { probes: HttpProbe[]; attempts: number; answered: boolean };
  /** Headless: the smoke command's end. */
  smoke?: { exitCode?: number; timedOut: boolean; ms?: number };
  /** State of the container when the checks ended. */
  exit?: { running: boolean; exitCode?: number; oomKilled?: boolean; error?: string };
  /** Commands of the processes running in the container (docker top), when it could be read. */
  processes?: string[];
  /** Last lines of the container's output, credentials redacted. */
  logs?: string[];
  timings?: {
    loadMs?: number;
    createMs?: number;
    startMs?: number;
    firstAnswerMs?: number;
    totalMs?: number;
  };
  /** The run hit its overall time bound. */
  timedOut?: boolean;
}
