import { describe, expect, it } from 'vitest';
import { progressBoard, pushProgressLine } from '../src/cli/output.js';

/** `lint -j`'s progress line on a terminal: one line for all jobs, messages above it, never inside. */

function terminal(isTTY = true): { stream: NodeJS.WriteStream; text: () => string } {
  const written: string[] = [];
  const stream = { isTTY, write: (chunk: string) => written.push(chunk) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => written.join('') };
}

const later = () => new Promise((resolve) => setTimeout(resolve, 110));

describe('progressBoard', () => {
  it('sums the images being read on one line, and writes messages above it', async () => {
    const { stream, text } = terminal();
    const board = progressBoard(false, stream);
    const a = board.track();
    const b = board.track();
    a.update!({ bytes: 1000, totalBytes: 4000, layersDone: 1, layers: 3 });
    expect(text()).toBe('\r\x1b[Kreading layers 1/3  1.00 kB of 4.00 kB');
    await later();
    b.update!({ bytes: 2000, totalBytes: 6000, layersDone: 2, layers: 5 });
    expect(text().endsWith('\r\x1b[Kreading layers 3/8  3.00 kB of 10.0 kB (2 images)')).toBe(true);
    const before = text().length;
    board.write('ivoc: image x: not found\n');
    // The line is cleared, the message written, the line drawn again below it.
    expect(text().slice(before)).toBe(
      '\r\x1b[Kivoc: image x: not found\n\r\x1b[Kreading layers 3/8  3.00 kB of 10.0 kB (2 images)',
    );
    a.done();
    expect(text().endsWith('\r\x1b[Kreading layers 2/5  2.00 kB of 6.00 kB')).toBe(true);
    b.done();
    expect(text().endsWith('\r\x1b[K')).toBe(true);
    board.write('done\n');
    expect(text().endsWith('\r\x1b[Kdone\n')).toBe(true);
  });

  it('off a terminal, or quiet: messages only, no progress', () => {
    for (const [isTTY, quiet] of [
      [false, false],
      [true, true],
    ] as const) {
      const { stream, text } = terminal(isTTY);
      const board = progressBoard(quiet, stream);
      const job = board.track();
      expect(job.update).toBeUndefined();
      board.write('message\n');
      job.done();
      expect(text()).toBe('message\n');
    }
  });
});

describe('pushProgressLine (publish, blobs going to DEST)', () => {
  it('advances one line per blob on a terminal and clears it at the end', () => {
    const { stream, text } = terminal();
    const line = pushProgressLine(false, { blobs: 2, bytes: 3000 }, stream);
    line.onBlob!({ descriptor: { size: 1000 } });
    expect(text()).toBe('\r\x1b[Kpushing blobs 1/2  1.00 kB of 3.00 kB');
    line.onBlob!({ descriptor: { size: 2000 } });
    expect(text().endsWith('\r\x1b[Kpushing blobs 2/2  3.00 kB of 3.00 kB')).toBe(true);
    line.done();
    expect(text().endsWith('\r\x1b[K')).toBe(true);
  });

  it('off a terminal, quiet, or with no blob: nothing', () => {
    for (const [isTTY, quiet, blobs] of [
      [false, false, 2],
      [true, true, 2],
      [true, false, 0],
    ] as const) {
      const { stream, text } = terminal(isTTY);
      const line = pushProgressLine(quiet, { blobs, bytes: 10 }, stream);
      expect(line.onBlob).toBeUndefined();
      line.done();
      expect(text()).toBe('');
    }
  });
});
