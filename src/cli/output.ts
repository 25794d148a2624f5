import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Writes command output to stdout, or to a file atomically (never a half-written report). */
export async function writeOutput(text: string, file?: string): Promise<void> {
  if (file === undefined || file === '-') {
    await new Promise<void>((resolve, reject) => {
      process.stdout.write(text, (error) => (error ? reject(error) : resolve()));
    });
    return;
  }
  // A name unique to this process and moment; 'wx' never takes over another writer's file.
  const unique = `${process.pid}.${Date.now().toString(36)}.${Math.random().toString(36).slice(2, 10)}`;
  const temp = join(dirname(file), `.${unique}.ivoc-tmp`);
  try {
    await writeFile(temp, text, { flag: 'wx' });
    await rename(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') await rm(temp, { force: true });
    throw error;
  }
}

export function useColor(flag: boolean | undefined): boolean {
  if (flag === false) return false;
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  return process.stdout.isTTY === true;
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

/** One self-rewriting line on stderr while layers stream; only on a terminal. */
export function progressLine(quiet: boolean): {
  update?: (p: { bytes: number; totalBytes: number; layersDone: number; layers: number }) => void;
  done: () => void;
} {
  if (quiet || !process.stderr.isTTY) return { done: () => {} };
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
