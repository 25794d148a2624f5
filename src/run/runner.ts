import { randomBytes, randomInt } from 'node:crypto';
import { finished, type Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import tarStream from 'tar-stream';
import { registerCleanup } from '../cleanup.js';
import { IvocError } from '../errors.js';
import type { ImageSource } from '../oci/content.js';
import type { LoadedImage } from '../oci/image.js';
import { mergedLabels } from '../rules/labels.js';
import type { ResolvedProfile } from '../rules/types.js';
import { isInteractive } from '../rules/util/session.js';
import { redactEnvEntry, redacted, secretValueKind } from '../secrets.js';
import { ensureImageInEngine } from './engine.js';
import type { HttpProbe, RunBehaviour, RunObservations } from './observations.js';
import { probeChain, tcpAccepts } from './probe.js';

/**
 * Starts an image as a platform would (spec/standard.md 4.9) and records what
 * happened (RunObservations). It judges nothing: the run rules do. The
 * container is always removed, with its anonymous volumes, whatever happens.
 */

export const runLabel = 'ivoc.run';
const basePathLabel = 'net.ivoa.container.base-path';
const typeLabelKey = 'net.ivoa.container.type';
const logLines = 20;
/** Readiness probes: every 50 ms for the first 2 s after start (most apps are up by then), then every 250 ms. */
const fastPollMs = 50;
const fastPollForMs = 2_000;
const pollMs = 250;

/** What a run needs of the image. */
export interface RunImage {
  /** The reference in transport syntax, for errors. */
  name: string;
  /** Config labels over manifest annotations (mergedLabels). */
  labels: Record<string, string>;
  /** The config's Cmd (a headless type without a smoke command runs it). */
  cmd: string[] | undefined;
  /** Makes the image available in the engine and returns its ID (loadMs is its time). */
  ensure: (signal?: AbortSignal) => Promise<string>;
}

/** A RunImage of an image read from SOURCE (streamed into the engine unless it is a docker-daemon: one). */
export function runImageOf(docker: Dockerode, source: ImageSource, loaded: LoadedImage): RunImage {
  return {
    name: loaded.name,
    labels: mergedLabels(loaded.config, loaded.manifest),
    cmd: loaded.config.config?.Cmd ?? undefined,
    ensure: (signal) => ensureImageInEngine(docker, source, loaded, signal),
  };
}

export interface RunOptions {
  docker: Dockerode;
  image: RunImage;
  profile: ResolvedProfile;
  signal?: AbortSignal;
  /** Extra time on top of the profile's start-up time-out before the run is cut (load, process list, logs). */
  graceSeconds?: number;
}

/** Resolves after MS, or at once when SIGNAL aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Docker's memory syntax ('2g', '512m', '1073741824') in bytes. */
export function parseMemory(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(value.trim());
  if (!match) throw new Error(`bad memory value '${value}'`);
  const scale = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    match[2]!.toLowerCase() as '' | 'b' | 'k' | 'm' | 'g'
  ];
  return Math.round(Number(match[1]) * scale);
}

/** The numeric IDs of passwd (UID and GID fields) or group (GID field) text. */
function idsOf(file: 'passwd' | 'group', text: string, into: Set<number>): void {
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    for (const field of file === 'passwd' ? [fields[2], fields[3]] : [fields[2]]) {
      if (field !== undefined && /^\d+$/.test(field)) into.add(Number(field));
    }
  }
}

/** Bytes of /etc read before giving up on the one-archive read (then each file is asked for). */
const maxEtcBytes = 32 * 1024 * 1024;

/**
 * Reads the archive of PATH from the container, handing each regular file's
 * text to VISIT; VISIT returns true when it has all it wants (the rest is not read).
 */
async function readArchive(
  container: Dockerode.Container,
  path: string,
  visit: (name: string, text: string) => boolean,
): Promise<void> {
  const archive = (await container.getArchive({ path })) as NodeJS.ReadableStream & {
    pipe: (d: unknown) => void;
    destroy?: () => void;
  };
  const extract = tarStream.extract();
  archive.pipe(extract);
  // pipe() passes on neither an error nor a response cut short: the extract would wait
  // for its next entry for ever (and with it the run, its containers left running).
  finished(archive as unknown as Readable, (error) => {
    if (error) extract.destroy(error);
  });
  let bytes = 0;
  try {
    for await (const entry of extract) {
      const wanted = entry.header.type === 'file';
      const chunks: Buffer[] = [];
      for await (const chunk of entry) {
        bytes += (chunk as Buffer).length;
        if (bytes > maxEtcBytes) throw new Error('too large');
        if (wanted) chunks.push(chunk as Buffer);
      }
      if (wanted && visit(entry.header.name, Buffer.concat(chunks).toString('utf8'))) return;
    }
  } finally {
    archive.destroy?.();
    extract.destroy();
  }
}

/**
 * IDs (UIDs and GIDs) in the image's /etc/passwd and /etc/group, read from a
 * created container: one archive of /etc (each archive read costs the engine
 * a helper process), else each file on its own.
 */
async function imageIds(container: Dockerode.Container): Promise<Set<number>> {
  const ids = new Set<number>();
  const seen = new Set<string>();
  try {
    await readArchive(container, '/etc', (name, text) => {
      const file = name === 'etc/passwd' ? 'passwd' : name === 'etc/group' ? 'group' : undefined;
      if (file) {
        idsOf(file, text, ids);
        seen.add(file);
      }
      return seen.size === 2;
    });
  } catch {
    // No /etc, /etc a link, or too large: each file on its own below.
  }
  await Promise.all(
    (['passwd', 'group'] as const)
      .filter((file) => !seen.has(file))
      .map((file) =>
        readArchive(container, `/etc/${file}`, (_name, text) => {
          idsOf(file, text, ids);
          return true;
        }).catch(() => undefined),
      ),
  );
  return ids;
}

/** Demultiplexes the engine's log stream (8-byte frame headers, no TTY) into lines. */
export function logText(buffer: Buffer): string[] {
  const parts: Buffer[] = [];
  let offset = 0;
  const framed =
    buffer.length >= 8 && buffer[0]! <= 2 && buffer[1] === 0 && buffer[2] === 0 && buffer[3] === 0;
  if (!framed) parts.push(buffer);
  while (framed && offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts)
    .toString('utf8')
    .split('\n')
    .filter((line, i, all) => line !== '' || i < all.length - 1);
}

/** A log line with credentials hidden: NAME=value pairs by name or value, and any value that looks like one. */
export function redactLine(line: string): string {
  const named = line.replace(/\b([A-Za-z_][A-Za-z0-9_]*)=(\S+)/g, (pair) => redactEnvEntry(pair));
  const kind = secretValueKind(named);
  return kind === undefined ? named : `${redacted} (a line with a ${kind})`;
}

async function lastLogs(container: Dockerode.Container): Promise<string[]> {
  try {
    const buffer = (await container.logs({
      stdout: true,
      stderr: true,
      tail: logLines,
      follow: false,
    })) as Buffer;
    return logText(buffer).slice(-logLines).map(redactLine);
  } catch {
    return [];
  }
}

async function processList(container: Dockerode.Container): Promise<string[] | undefined> {
  try {
    const top = (await container.top({ ps_args: '-o pid,args' })) as {
      Titles: string[];
      Processes: string[][];
    };
    const column = top.Titles.findIndex((title) => title === 'COMMAND' || title === 'CMD');
    return top.Processes.map((row) => (column >= 0 ? row.slice(column).join(' ') : row.join(' ')));
  } catch {
    return undefined;
  }
}

function pickId(taken: Set<number>): number {
  for (;;) {
    const id = randomInt(100_000, 200_000);
    if (!taken.has(id)) return id;
  }
}

/** The container's settings as the platform would make them, for one UID:GID. */
interface Plan {
  name: string;
  id: string;
  imageId: string;
  env: Record<string, string>;
  command: string[] | undefined;
  port: number | undefined;
  home: string;
  run: ResolvedProfile['parameters']['run'];
}

function containerOptions(plan: Plan, uid: number, gid: number): Dockerode.ContainerCreateOptions {
  const { run, port, home } = plan;
  const tmpfs: Record<string, string> = {
    [home]: `rw,exec,nosuid,size=1g,uid=${uid},gid=${gid},mode=0700`,
  };
  if (run.readOnlyRootfs) tmpfs['/tmp'] = 'rw,exec,nosuid,size=1g,mode=1777';
  return {
    name: plan.name,
    Image: plan.imageId,
    User: `${uid}:${gid}`,
    Env: Object.entries(plan.env).map(([key, value]) => `${key}=${value}`),
    ...(plan.command ? { Cmd: plan.command } : {}),
    Labels: { [runLabel]: plan.id },
    ...(port !== undefined ? { ExposedPorts: { [`${port}/tcp`]: {} } } : {}),
    HostConfig: {
      ...(port !== undefined
        ? { PortBindings: { [`${port}/tcp`]: [{ HostIp: '127.0.0.1', HostPort: '' }] } }
        : {}),
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Memory: parseMemory(run.memory),
      NanoCpus: Math.round(run.cpus * 1e9),
      ReadonlyRootfs: run.readOnlyRootfs,
      Tmpfs: tmpfs,
      NetworkMode: 'bridge',
    },
  };
}

/**
 * The UIDs and GIDs of the image's /etc/passwd and /etc/group, read from a
 * second container of the image that is created, never started, and removed:
 * the files as the image has them (an entrypoint may append its user once
 * started), read while the run's own container starts.
 */
async function imageIdsAside(docker: Dockerode, plan: Plan, creating: InFlight): Promise<Set<number>> {
  let container: Dockerode.Container;
  try {
    container = await creating.track(() =>
      docker.createContainer({
        name: `${plan.name}-ids`,
        Image: plan.imageId,
        // Never started: any command will do, and the image may declare none.
        Entrypoint: ['/ivoc-never-started'],
        Labels: { [runLabel]: plan.id, [`${runLabel}.role`]: 'ids' },
        HostConfig: { NetworkMode: 'none' },
      }),
    );
  } catch {
    // As an unreadable passwd or group: no IDs known, the run goes on (a clash is rare).
    return new Set();
  }
  try {
    return await imageIds(container);
  } finally {
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}

/**
 * Engine requests in flight (container creation), so a clean-up can wait for
 * their answer. Once the clean-up has begun, no new request is made: a
 * container created after its removal would be left behind.
 */
class InFlight {
  private readonly requests = new Set<Promise<unknown>>();
  private closed = false;

  track<T>(make: () => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(new IvocError('ERR_INTERRUPTED', 'interrupted: no container made'));
    const request = make();
    this.requests.add(request);
    request.then(
      () => this.requests.delete(request),
      () => this.requests.delete(request),
    );
    return request;
  }

  async settled(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.requests]);
  }
}

/** Runs the image once under the profile and returns what was observed. */
export async function runImage(options: RunOptions): Promise<RunObservations> {
  const { docker, image, profile } = options;
  const began = Date.now();
  const labels = image.labels;
  const sessionType = labels[typeLabelKey]?.trim() || undefined;
  const type = sessionType === undefined ? undefined : profile.types[sessionType];
  if (!type) {
    const why =
      sessionType === undefined
        ? `the run needs a session type: ${typeLabelKey} is not set (IVC-META-003)`
        : `the run needs a session type the profile knows: '${sessionType}' is not a type of profile '${profile.name}' (IVC-META-003)`;
    return { version: 1, notRun: why };
  }
  const behaviour = type.behavesAs;
  const interactive = isInteractive(behaviour);
  if (interactive && type.port === undefined) {
    return { version: 1, notRun: `the profile gives type '${sessionType}' no well-known port` };
  }
  const run = profile.parameters.run;
  const obs: RunObservations = {
    version: 1,
    sessionType,
    behaviour,
    timeoutSeconds: run.startupTimeoutSeconds,
    limits: { memory: run.memory, cpus: run.cpus, readOnlyRootfs: run.readOnlyRootfs },
    timings: {},
  };
  const timings = obs.timings!;

  let t = Date.now();
  const imageId = await image.ensure(options.signal);
  obs.image = imageId;
  timings.loadMs = Date.now() - t;

  const id = randomBytes(6).toString('hex');
  obs.id = id;
  const name = `ivoc-run-${id}`;
  const accessPath = `/session/ivoc-${id}/`;
  const form = (type.basePath ?? labels[basePathLabel])?.trim() || undefined;
  obs.basePath = { form: interactive ? form : undefined, accessPath };
  const home = `/home/ivoc-${id}`;
  obs.home = home;

  const env: Record<string, string> = { ...run.env, HOME: home };
  let command: string[] | undefined;
  if (interactive && form?.startsWith('env:')) env[form.slice(4)] = accessPath;
  if (interactive && form === 'arg') command = [accessPath];
  if (behaviour === 'headless') command = run.smokeCommand ?? image.cmd;
  if (command) obs.command = command;
  obs.env = Object.keys(env).sort();
  const port = interactive ? type.port! : undefined;
  if (port !== undefined) obs.port = port;
  const plan: Plan = { name, id, imageId, env, command, port, home, run };

  // Removal by name works even when the create call's answer is lost (a signal
  // mid-request); a create still in flight is waited for first, or the engine
  // could make the container after its removal.
  const creating = new InFlight();
  const cleanup = registerCleanup(async () => {
    await creating.settled();
    await Promise.all(
      [name, `${name}-ids`].map((each) =>
        docker
          .getContainer(each)
          .remove({ force: true, v: true })
          .catch(() => undefined),
      ),
    );
  }, "the run's containers");
  const deadline = began + (run.startupTimeoutSeconds + (options.graceSeconds ?? 30)) * 1000;
  const fixedUid = profile.parameters.user?.uid;
  try {
    // The platform's user: the profile's (kubeflow: its UID, GID 100), else
    // a UID and a GID the image does not know. The image's IDs are read
    // aside while the container runs; on a clash (the range is
    // 100000-199999, so rarely) the run is done again with other IDs.
    let known: Promise<Set<number>> | undefined;
    const taken = new Set<number>([0]);
    for (let attempt = 0; ; attempt++) {
      const uid = fixedUid ?? pickId(taken);
      const gid = fixedUid === undefined ? pickId(taken) : 100;
      obs.uid = uid;
      obs.gid = gid;
      t = Date.now();
      const container = await creating.track(() => docker.createContainer(containerOptions(plan, uid, gid)));
      timings.createMs = Date.now() - t;
      if (attempt === 0 && fixedUid === undefined) {
        // Once the container exists (not to slow its creation), during its start.
        known = imageIdsAside(docker, plan, creating);
        known.catch(() => undefined);
      }
      t = Date.now();
      await container.start();
      const startedAt = Date.now();
      timings.startMs = startedAt - t;
      const watched = watch(
        container,
        behaviour,
        obs,
        startedAt,
        deadline,
        run.startupTimeoutSeconds,
        options,
      );
      watched.catch(() => undefined);
      const ids = await known;
      if (ids && (ids.has(uid) || ids.has(gid)) && attempt < 2) {
        await container.remove({ force: true, v: true }).catch(() => undefined);
        await watched.catch(() => undefined);
        for (const each of ids) taken.add(each);
        resetObservations(obs);
        continue;
      }
      if (ids && (ids.has(uid) || ids.has(gid)))
        throw new Error('could not find a UID/GID absent from the image');
      await watched;
      break;
    }
    obs.timedOut = options.signal?.aborted === true || Date.now() > deadline;
  } finally {
    await cleanup.run();
    timings.totalMs = Date.now() - began;
  }
  return obs;
}

/** Forgets what a discarded attempt observed (its IDs clashed with the image's). */
function resetObservations(obs: RunObservations): void {
  for (const key of ['hostPort', 'tcp', 'http', 'smoke', 'exit', 'processes', 'logs'] as const)
    delete obs[key];
  delete obs.timings?.firstAnswerMs;
}

/** Watches the started container as its session type asks, then records its state, processes and logs. */
async function watch(
  container: Dockerode.Container,
  behaviour: RunBehaviour,
  obs: RunObservations,
  startedAt: number,
  deadline: number,
  timeoutSeconds: number,
  options: RunOptions,
): Promise<void> {
  const logs = async () => {
    obs.logs = await lastLogs(container);
  };
  if (behaviour === 'headless') {
    await watchHeadless(container, obs, startedAt, timeoutSeconds * 1000, options.signal);
    await logs();
    return;
  }
  if (isInteractive(behaviour)) {
    await watchInteractive(
      container,
      obs,
      startedAt,
      Math.min(deadline, startedAt + timeoutSeconds * 1000),
      options.signal,
    );
  } else {
    // desktop-app: no display here; it must at least stay up a moment as the platform's user.
    await sleep(Math.min(3_000, timeoutSeconds * 1000), options.signal);
  }
  // The process list, the state and the logs, all at once.
  const [processes, info] = await Promise.all([processList(container), container.inspect(), logs()]);
  obs.processes = processes;
  const state = info.State;
  obs.exit = {
    running: state.Running,
    exitCode: state.Running ? undefined : state.ExitCode,
    oomKilled: state.OOMKilled,
  };
  if (obs.exit.exitCode === undefined) delete obs.exit.exitCode;
}

/** Pause between readiness probes: short while an app typically comes up, then the old 250 ms. */
function pollPause(sinceStartMs: number): number {
  return sinceStartMs < fastPollForMs ? fastPollMs : pollMs;
}

async function watchInteractive(
  container: Dockerode.Container,
  obs: RunObservations,
  startedAt: number,
  until: number,
  signal?: AbortSignal,
): Promise<void> {
  const info = await container.inspect();
  const binding = info.NetworkSettings.Ports?.[`${obs.port}/tcp`]?.[0];
  obs.hostPort = binding ? Number(binding.HostPort) : undefined;
  obs.tcp = { accepted: false, attempts: 0 };
  obs.http = { probes: [], attempts: 0, answered: false };
  if (!obs.hostPort) return;
  const hostPort = obs.hostPort;
  const origin = `http://127.0.0.1:${hostPort}`;
  const stillRunning = async () => (await container.inspect()).State.Running;
  const pause = () => sleep(pollPause(Date.now() - startedAt), signal);
  while (Date.now() < until && !signal?.aborted) {
    let chain: HttpProbe[];
    if (obs.tcp.accepted) {
      chain = await probeChain(origin, obs.basePath!.accessPath, startedAt);
    } else {
      obs.tcp.attempts++;
      // An HTTP answer proves a listener at once. Without one, a connection
      // must stay open a while to count (tcpAccepts: the engine's proxy
      // accepts every connection, and closes it when nothing listens inside).
      // Both start together: no hold when HTTP answers, no wait for HTTP's
      // time-out when something holds the connection without answering.
      const tcp = obs.tcp;
      const tried = Date.now() - startedAt;
      const held = tcpAccepts('127.0.0.1', hostPort).then((ok) => {
        if (ok && !tcp.accepted) {
          tcp.accepted = true;
          tcp.atMs = Date.now() - startedAt;
        }
        return ok;
      });
      chain = await probeChain(origin, obs.basePath!.accessPath, startedAt);
      if (chain[0]!.status !== undefined) {
        if (!tcp.accepted) {
          tcp.accepted = true;
          tcp.atMs = tried;
        }
      } else if (!(await held)) {
        if (!(await stillRunning())) break;
        await pause();
        continue;
      }
    }
    obs.http.attempts++;
    obs.http.probes = chain;
    const last = chain.at(-1)!;
    // Retry while the app is still coming up: no answer, or a server error.
    if (last.status !== undefined && last.status < 500) {
      obs.http.answered = true;
      obs.timings!.firstAnswerMs = Date.now() - startedAt;
      break;
    }
    if (!(await stillRunning())) break;
    await pause();
  }
}

async function watchHeadless(
  container: Dockerode.Container,
  obs: RunObservations,
  startedAt: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<void> {
  // The process list while the smoke command runs, when it is still running.
  const early = processList(container);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    onAbort = () => resolve('timeout');
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  const waited = await Promise.race([container.wait() as Promise<{ StatusCode: number }>, timeout]);
  clearTimeout(timer);
  if (onAbort) signal?.removeEventListener('abort', onAbort);
  const processes = await early;
  if (processes) obs.processes = processes;
  if (waited === 'timeout') {
    obs.smoke = { timedOut: true, ms: Date.now() - startedAt };
    await container.kill().catch(() => undefined);
  } else {
    obs.smoke = { timedOut: false, exitCode: waited.StatusCode, ms: Date.now() - startedAt };
  }
}
