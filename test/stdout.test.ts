import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The built CLI writes its output to fd 1 itself (src/cli/output.ts): a
 * reader that goes away, and a stdout left non-blocking, as a parent may.
 */

const bin = fileURLToPath(new URL('../bin/ivoc.cjs', import.meta.url));
const example = `oci-archive:${fileURLToPath(new URL('../examples/hello-notebook.oci.tar', import.meta.url))}`;
const work = mkdtempSync(join(tmpdir(), 'ivoc-stdout-'));

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Runs ivoc with its stdout a pipe whose reader is gone before it writes. */
function withReaderGone(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, NO_COLOR: '1', IVOC_CACHE_DIR: join(work, 'cache') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // Node takes tens of milliseconds to start: the pipe is closed long before the first write.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('stdout', () => {
  it('exits 3 without a word (no stack trace) when its reader has gone, as `| head` does', async () => {
    for (const args of [
      ['--help'],
      ['--version'],
      ['inspect', example],
      ['lint', example, '--format', 'json'],
    ]) {
      const result = await withReaderGone(args);
      expect(result, args.join(' ')).toEqual({ code: 3, stderr: '' });
    }
  });

  /**
   * ivoc's SARIF for the example twice (~66 KB) into a FIFO that is its stdout,
   * made non-blocking and shrunk to one page (4 KiB); read once ivoc has had
   * time to fill it and meet EAGAIN, either to the end or for `readBytes` only.
   * With the pipe's default 64 KiB, the ~1 KB left after the first write fitted
   * in what the reader's first read freed, and ivoc sometimes finished before
   * the reader left: with one page, most of the output is still unwritten then.
   */
  async function throughNonBlockingPipe(readBytes?: number) {
    const fifo = join(work, `out-${readBytes ?? 'all'}.fifo`);
    execFileSync('mkfifo', [fifo]);
    // The reader's end is non-blocking, so that this test can wait on it.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY);
    // libuv makes a child's stdio blocking: perl (Essential in Debian) sets O_NONBLOCK on it again,
    // sets the pipe's size to a page (F_SETPIPE_SZ, 1031 on Linux), then runs ivoc.
    const nonBlocking = [
      'use Fcntl;',
      'fcntl(STDOUT, F_SETFL, fcntl(STDOUT, F_GETFL, 0) | O_NONBLOCK) or die $!;',
      'fcntl(STDOUT, 1031, 4096) or die $!;',
      'exec @ARGV or die $!',
    ].join(' ');
    const lint = ['lint', example, example, '--format', 'sarif', '--fail-on', 'never'];
    const child = spawn('perl', ['-e', nonBlocking, process.execPath, bin, ...lint], {
      env: { ...process.env, NO_COLOR: '1', IVOC_CACHE_DIR: join(work, 'cache') },
      stdio: ['ignore', writer, 'pipe'],
    });
    closeSync(writer);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await sleep(1500);
    const chunks: Buffer[] = [];
    let total = 0;
    const buffer = Buffer.alloc(1 << 16);
    while (readBytes === undefined || total < readBytes) {
      let read: number;
      try {
        read = readSync(reader, buffer, 0, Math.min(buffer.length, (readBytes ?? Infinity) - total), null);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
        await sleep(5);
        continue;
      }
      if (read === 0) break; // every writer has closed it: ivoc is done
      chunks.push(Buffer.from(buffer.subarray(0, read)));
      total += read;
    }
    closeSync(reader);
    return { code: await exited, stderr, output: Buffer.concat(chunks) };
  }

  it('writes all of a large output to a non-blocking stdout whose pipe fills up', async () => {
    const { code, stderr, output } = await throughNonBlockingPipe();
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(output.length).toBeGreaterThan(1 << 16); // the pipe's size sixteen times over
    const sarif = JSON.parse(output.toString('utf8')) as { runs: unknown[] };
    expect(sarif.runs.length).toBeGreaterThan(0);
  });

  it('exits 3 without a word when the reader of a non-blocking stdout leaves halfway', async () => {
    const { code, stderr, output } = await throughNonBlockingPipe(10_000);
    expect(output.length).toBe(10_000);
    expect({ code, stderr }).toEqual({ code: 3, stderr: '' });
  });
});
