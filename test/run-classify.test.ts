import { describe, expect, it } from 'vitest';
import {
  judgeListens,
  judgeNoHub,
  judgeNoLogin,
  judgeServesUnderPath,
  judgeStartsAsArbitraryUser,
} from '../src/rules/util/run.js';
import type { RunObservations } from '../src/run/observations.js';
import { logText, parseMemory, redactLine } from '../src/run/runner.js';

/** The pure half of --run: classification of observations, no engine. */

const accessPath = '/session/ivoc-abc/';
const origin = 'http://127.0.0.1:40000';

function web(probes: Array<{ path: string; status?: number; location?: string }>): RunObservations {
  return {
    version: 1,
    sessionType: 'web',
    behaviour: 'web',
    uid: 123456,
    gid: 154321,
    home: '/home/ivoc-abc',
    basePath: { form: 'env:BASE_PATH', accessPath },
    port: 8888,
    hostPort: 40000,
    timeoutSeconds: 60,
    tcp: { accepted: true, atMs: 100, attempts: 1 },
    http: {
      answered: probes.some((p) => p.status !== undefined),
      attempts: 1,
      probes: probes.map((p) => ({ url: `${origin}${p.path}`, atMs: 0, ms: 1, ...p })),
    },
    exit: { running: true },
    processes: ['httpd -f -p 8888'],
  };
}

describe('run rule classification', () => {
  it('2xx under the path, and redirects inside it, pass RUN-003 and RUN-004', () => {
    const run = web([
      { path: accessPath, status: 302, location: `${accessPath}lab` },
      { path: `${accessPath}lab`, status: 200 },
    ]);
    expect(judgeServesUnderPath(run).status).toBe('pass');
    expect(judgeNoLogin(run).status).toBe('pass');
    expect(judgeListens(run).status).toBe('pass');
    expect(judgeStartsAsArbitraryUser(run).status).toBe('pass');
    expect(judgeNoHub(run).status).toBe('pass');
  });

  it('a redirect to localhost or to the root fails RUN-003', () => {
    expect(
      judgeServesUnderPath(web([{ path: accessPath, status: 302, location: 'http://localhost:8888/' }]))
        .status,
    ).toBe('fail');
    expect(judgeServesUnderPath(web([{ path: accessPath, status: 302, location: '/lab' }])).status).toBe(
      'fail',
    );
  });

  it('a login page inside the path fails RUN-004 only', () => {
    const run = web([
      { path: accessPath, status: 302, location: `${accessPath}login?next=%2F` },
      { path: `${accessPath}login`, status: 200 },
    ]);
    expect(judgeServesUnderPath(run).status).toBe('pass');
    expect(judgeNoLogin(run).status).toBe('fail');
  });

  it('403 fails RUN-004; no HTTP answer fails RUN-003; nothing listening skips it', () => {
    expect(judgeNoLogin(web([{ path: accessPath, status: 403 }])).status).toBe('fail');
    const silent = web([{ path: accessPath }]);
    expect(judgeServesUnderPath(silent).status).toBe('fail');
    silent.tcp = { accepted: false, attempts: 9 };
    expect(judgeServesUnderPath(silent).status).toBe('skip');
    expect(judgeListens(silent).status).toBe('fail');
  });

  it('hubs in the process list fail RUN-005; headless smoke status decides RUN-001', () => {
    const run = web([{ path: accessPath, status: 200 }]);
    run.processes = [
      '/usr/bin/python3 /usr/local/bin/jupyterhub --port 8000',
      'node configurable-http-proxy',
    ];
    expect(judgeNoHub(run).status).toBe('fail');
    const job: RunObservations = {
      version: 1,
      behaviour: 'headless',
      sessionType: 'headless',
      uid: 1,
      gid: 2,
    };
    job.smoke = { timedOut: false, exitCode: 0 };
    expect(judgeStartsAsArbitraryUser(job).status).toBe('pass');
    job.smoke = { timedOut: true };
    expect(judgeStartsAsArbitraryUser(job).status).toBe('fail');
    expect(judgeListens(job).status).toBe('pass');
  });

  it('helpers: memory syntax, log frames, redaction', () => {
    expect(parseMemory('2g')).toBe(2 * 1024 ** 3);
    expect(parseMemory('512m')).toBe(512 * 1024 ** 2);
    const frame = (stream: number, text: string) => {
      const body = Buffer.from(text);
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(body.length, 4);
      return Buffer.concat([header, body]);
    };
    expect(logText(Buffer.concat([frame(1, 'one\n'), frame(2, 'two\n')]))).toEqual(['one', 'two']);
    expect(redactLine('DB_PASSWORD=hunter2 started')).toBe('DB_PASSWORD=<redacted> started');
    expect(redactLine('HOME=/home/x')).toBe('HOME=/home/x');
  });
});
