#!/usr/bin/env node
// `npm test`: installs what the real test environment needs (apt), runs vitest,
// prints `tests: N passed, N failed[, N skipped]` and exits with vitest's code.
//
//   npm test                         the whole suite
//   npm test -- test/env.test.ts     extra arguments go to `vitest run`
//   node scripts/test.mjs --env-stop stop the services the test environment started
//
// IVOC_TEST_NO_INSTALL=1 skips the apt step. See test/env/README.md.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const STATE_DIR = process.env.IVOC_TEST_STATE_DIR ?? '/tmp/ivoc-test';

/** apt package -> a command it provides (null: ask dpkg). A present command counts as installed. */
const PACKAGES = [
  ['docker.io', 'dockerd'],
  ['docker-registry', 'docker-registry'],
  ['skopeo', 'skopeo'],
  ['busybox-static', null],
  ['isal', 'igzip'],
  ['zstd', 'zstd'],
  ['pigz', 'pigz'],
  ['apache2-utils', 'htpasswd'],
  ['openssl', 'openssl'],
];

function commandExists(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function dpkgInstalled(pkg) {
  // dpkg-query's own format syntax, not a JS template.
  const format = ['-f=$', '{Status}'].join('');
  const r = spawnSync('dpkg-query', ['-W', format, pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

function ensurePackages() {
  if (process.env.IVOC_TEST_NO_INSTALL === '1') return;
  const missing = PACKAGES.filter(([pkg, cmd]) => (cmd ? !commandExists(cmd) : !dpkgInstalled(pkg))).map(
    ([pkg]) => pkg,
  );
  if (missing.length === 0) return;
  if (!commandExists('apt-get')) {
    console.error(`test: missing ${missing.join(' ')} and no apt-get here; install them yourself`);
    process.exit(1);
  }
  const isRoot = process.getuid?.() === 0;
  const sudo = isRoot ? [] : commandExists('sudo') ? ['sudo', '-n'] : null;
  if (!sudo) {
    console.error(`test: missing ${missing.join(' ')}; installing needs root (or sudo)`);
    process.exit(1);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => {
    const [cmd, ...rest] = [...sudo, ...args];
    console.error(`test: ${[cmd, ...rest].join(' ')}`);
    const r = spawnSync(cmd, rest, { stdio: 'inherit', env });
    if (r.status !== 0) {
      console.error(`test: '${args.join(' ')}' failed (exit ${r.status ?? r.signal})`);
      process.exit(1);
    }
  };
  console.error(`test: installing missing packages: ${missing.join(' ')}`);
  run(['apt-get', 'update']);
  run(['apt-get', 'install', '-y', '--no-install-recommends', ...missing]);
}

// --- --env-stop: the same rule as test/env/global-setup.ts (only recorded services, checked by command line)

function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

async function stopEnv() {
  const file = join(STATE_DIR, 'services.json');
  let services = {};
  try {
    services = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    console.log(`test environment: nothing recorded in ${file}`);
    return;
  }
  const leases = existsSync(join(STATE_DIR, 'leases'))
    ? readdirSync(join(STATE_DIR, 'leases')).filter((p) => alive(Number(p)))
    : [];
  if (leases.length > 0) console.warn(`test environment: test runs still using it: pids ${leases.join(' ')}`);
  const order = ['registry-anonymous', 'registry-basic', 'registry-token', 'token-issuer', 'dockerd'];
  for (const name of order) {
    const rec = services[name];
    if (!rec) continue;
    delete services[name];
    if (!alive(rec.pid) || !cmdline(rec.pid).includes(rec.signature)) continue;
    process.kill(rec.pid, 'SIGTERM');
    const deadline = Date.now() + (name === 'dockerd' ? 30_000 : 10_000);
    while (alive(rec.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (alive(rec.pid)) process.kill(rec.pid, 'SIGKILL');
    console.log(`test environment: stopped ${name} (pid ${rec.pid})`);
  }
  writeFileSync(file, `${JSON.stringify(services, null, 2)}\n`);
}

// --- vitest

function summarize(reportFile, exitCode) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  let report;
  try {
    report = JSON.parse(readFileSync(reportFile, 'utf8'));
  } catch {
    report = undefined;
  }
  if (report) {
    passed = report.numPassedTests ?? 0;
    failed = report.numFailedTests ?? 0;
    skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    // A test file that failed to load or run has no failed test of its own: count it once.
    for (const file of report.testResults ?? []) {
      const own = (file.assertionResults ?? []).some((a) => a.status === 'failed');
      if (file.status === 'failed' && !own) failed++;
    }
  }
  if (exitCode !== 0 && failed === 0) {
    console.error(
      report
        ? 'test: vitest failed outside any test (unhandled error, setup or teardown): counted as 1 failure'
        : 'test: vitest wrote no report (did the test environment start?): counted as 1 failure',
    );
    failed = 1;
  }
  return `tests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`;
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === '--env-stop') {
    await stopEnv();
    return 0;
  }
  ensurePackages();
  // The CLI tests run the built bin/ivoc.cjs, as users do.
  const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) {
    console.error('test: build failed');
    console.log('tests: 0 passed, 1 failed');
    return 1;
  }
  const reportFile = join(tmpdir(), `ivoc-vitest-${process.pid}.json`);
  rmSync(reportFile, { force: true });
  const vitestArgs = [
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${reportFile}`,
    ...args,
  ];
  const child = spawn('npx', ['--no-install', ...vitestArgs], { cwd: root, stdio: 'inherit' });
  // Ctrl-C reaches vitest too (same process group); stay alive to print the summary.
  const ignore = () => {};
  process.on('SIGINT', ignore);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  const code = await new Promise((resolve) => {
    child.on('error', (err) => {
      console.error(`test: cannot run vitest: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  console.log(summarize(reportFile, code));
  rmSync(reportFile, { force: true });
  return code;
}

process.exitCode = await main();
