import { writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { IvocError } from '../errors.js';

/** Writes command output to stdout, or to a file atomically (never a half-written report). */
export async function writeOutput(text: string, file?: string): Promise<void> {
  if (file === undefined || file === '-') {
    await writeStdout(text);
    return;
  }
  // A name unique to this process and moment; 'wx' never takes over another writer's file.
  const unique = `${process.pid}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 10)}`;
  const temp = join(dirname(file), `.${unique}.ivoc-tmp`);
  // Loaded here, not with the module: node:fs/promises costs ~2 ms of every command's start-up.
  const { rename, rm, writeFile } = process.getBuiltinModule('node:fs/promises');
  try {
    await writeFile(temp, text, { flag: 'wx' });
    await rename(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') await rm(temp, { force: true });
    // Named by the output file the user gave, not by our temporary one.
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new IvocError('ERR_IO', `cannot write the output file ${file}: ${code}`, { cause: error });
  }
}

export function useColor(flag: boolean | undefined): boolean {
  if (flag === false) return false;
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  // Not process.stdout.isTTY: that makes the stream writeStdout() does without.
  return process.getBuiltinModule('node:tty').isatty(1);
}

export function humanBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/**
 * Whether stderr is a terminal, without making process.stderr (a stream, and
 * on a pipe a socket: ~1 ms of a metadata-only command's start).
 */
function stderrIsTerminal(): boolean {
  return process.getBuiltinModule('node:tty').isatty(2);
}

/** One self-rewriting line on stderr while layers stream; only on a terminal. */
export function progressLine(quiet: boolean): {
  update?: (p: { bytes: number; totalBytes: number; layersDone: number; layers: number }) => void;
  done: () => void;
} {
  if (quiet || !stderrIsTerminal()) return { done: () => {} };
  let last = 0;
  return {
    update: (p) => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      process.stderr.write(
        `\r\x1b[Kreading layers ${p.layersDone}/${p.layers}  ${humanBytes(p.bytes)} of ${humanBytes(p.totalBytes)}`,
      );
    },
    done: () => process.stderr.write('\r\x1b[K'),
  };
}

/**
 * Publish's progress on stderr while the image's blobs (layers and configs)
 * go to DEST, only on a terminal: one self-rewriting line, advanced as each
 * is found present, mounted or uploaded (executePublish's onBlob).
 */
export function pushProgressLine(
  quiet: boolean,
  total: { blobs: number; bytes: number },
  stream: NodeJS.WriteStream = process.stderr,
): { onBlob?: (result: { descriptor: { size: number } }) => void; done: () => void } {
  if (quiet || !stream.isTTY || total.blobs === 0) return { done: () => {} };
  let blobs = 0;
  let bytes = 0;
  return {
    onBlob: (result) => {
      blobs++;
      bytes += result.descriptor.size;
      stream.write(
        `\r\x1b[Kpushing blobs ${blobs}/${total.blobs}  ${humanBytes(bytes)} of ${humanBytes(total.bytes)}`,
      );
    },
    done: () => {
      if (blobs > 0) stream.write('\r\x1b[K');
    },
  };
}

export interface LayerProgress {
  bytes: number;
  totalBytes: number;
  layersDone: number;
  layers: number;
}

/** The progress of several images read at once (`lint -j`), and the messages written meanwhile. */
export interface ProgressBoard {
  /** A progress source for one image; `done` takes it off the line. */
  track(): { update?: (p: LayerProgress) => void; done: () => void };
  /** Writes TEXT to stderr without tearing the progress line (it is drawn again below). */
  write(text: string): void;
}

/**
 * One self-rewriting line on stderr for all the images being read, only on a
 * terminal: with one image it reads as `progressLine`'s; with several, their
 * layers and bytes are summed. Messages go above it, never into it.
 */
export function progressBoard(quiet: boolean, stream: NodeJS.WriteStream = process.stderr): ProgressBoard {
  const write = (text: string) => {
    stream.write(text);
  };
  if (quiet || !stream.isTTY) return { track: () => ({ done: () => {} }), write };
  const active = new Map<number, LayerProgress | undefined>();
  let shown = false;
  let last = 0;
  let nextId = 0;
  const render = () => {
    const all = [...active.values()].filter((p): p is LayerProgress => p !== undefined);
    if (all.length === 0) {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
      return;
    }
    const sum = (key: keyof LayerProgress) => all.reduce((total, p) => total + p[key], 0);
    const images = all.length > 1 ? ` (${all.length} images)` : '';
    stream.write(
      `\r\x1b[Kreading layers ${sum('layersDone')}/${sum('layers')}  ${humanBytes(sum('bytes'))} of ${humanBytes(sum('totalBytes'))}${images}`,
    );
    shown = true;
  };
  return {
    track: () => {
      const id = nextId++;
      active.set(id, undefined);
      return {
        update: (p) => {
          active.set(id, p);
          const now = Date.now();
          if (now - last < 100) return;
          last = now;
          render();
        },
        done: () => {
          active.delete(id);
          render();
        },
      };
    },
    write: (text) => {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
      stream.write(text);
      render();
    },
  };
}

/**
 * A failed write to stdout. The reader went away before the output was all
 * written (`ivoc lint IMAGE | head`: EPIPE) is ERR_STDOUT_CLOSED, on which
 * main() exits 3 without a word, as a program killed by SIGPIPE would (Node
 * ignores SIGPIPE): never 0 or 1 for a report cut short.
 */
function stdoutError(error: unknown): IvocError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EPIPE')
    return new IvocError('ERR_STDOUT_CLOSED', 'stdout was closed before the output was written', {
      cause: error,
    });
  return new IvocError('ERR_IO', `cannot write to stdout: ${code ?? String(error)}`, { cause: error });
}

/**
 * Writes TEXT to stdout (fd 1) with write(2) itself. process.stdout is a
 * stream made on first use (on a pipe, a socket: ~0.5-1 ms of a short
 * command on the bench machine), and its errors come as events. A stdout
 * that whoever started us left non-blocking takes the rest, once its pipe is
 * full (EAGAIN), through process.stdout, which waits for the reader.
 */
export function writeStdout(text: string): Promise<void> {
  const bytes = Buffer.from(text, 'utf8');
  let written = 0;
  try {
    while (written < bytes.length) written += writeSync(1, bytes, written, bytes.length - written);
    return Promise.resolve();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EAGAIN')
      return writeThroughStream(bytes.subarray(written));
    return Promise.reject(stdoutError(error));
  }
}

function writeThroughStream(bytes: Uint8Array): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const stdout = process.stdout;
    // A failed write goes to its callback and then, a tick later, to an 'error' event, which
    // crashes the process unless something listens: the callback tells, the listener stays.
    if (stdout.listenerCount('error') === 0) stdout.on('error', () => {});
    stdout.write(bytes, (error) => (error ? reject(stdoutError(error)) : resolve()));
  });
}
