/**
 * A bounded pool that keeps the order of a sequential loop: `ivoc lint -j N
 * A B C` works on up to N images at once, yet its reports, its messages and
 * its exit come out as `-j 1` would give them.
 */

export interface PoolTask {
  /** Position of the item. */
  index: number;
  /** Aborted when an earlier item failed (its result will not be used). */
  signal: AbortSignal;
  /** Writes TEXT (stderr messages) in item order: at once if every earlier item is done, else when they are. */
  log: (text: string) => void;
}

/**
 * Runs TASK over ITEMS, at most LIMIT at once, started in the items' order;
 * the results are in that order. Text a task logs reaches WRITE in item order.
 * A task that throws stops the pool as a loop would stop: no later item
 * starts, later items still running are aborted (and awaited), earlier ones
 * finish; then the error of the first item, in order, that threw is rethrown,
 * after the text of the items before it (later items' text is dropped).
 */
export async function orderedPool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, context: PoolTask) => Promise<R>,
  write: (text: string) => void,
): Promise<R[]> {
  const count = items.length;
  const results = new Array<R>(count);
  const ended = new Array<'done' | 'failed' | undefined>(count);
  const pending = items.map((): string[] => []);
  const controllers = items.map(() => new AbortController());
  const errors = new Map<number, unknown>();
  let next = 0;
  let failedAt = Number.POSITIVE_INFINITY;
  // Items before `flushed` have had all their text written; the text of item `flushed` goes out at once.
  let flushed = 0;
  let stopped = false;

  const log = (index: number, text: string) => {
    if (stopped || index > failedAt) return;
    if (index === flushed) write(text);
    else pending[index]!.push(text);
  };
  const flush = () => {
    while (!stopped && flushed < count && ended[flushed] !== undefined) {
      for (const text of pending[flushed]!) write(text);
      pending[flushed] = [];
      if (ended[flushed] === 'failed') stopped = true;
      flushed++;
      if (!stopped && flushed < count) {
        for (const text of pending[flushed]!) write(text);
        pending[flushed] = [];
      }
    }
  };

  const worker = async () => {
    for (;;) {
      const index = next;
      if (index >= count || index > failedAt) return;
      next++;
      const context: PoolTask = {
        index,
        signal: controllers[index]!.signal,
        log: (text) => log(index, text),
      };
      try {
        results[index] = await task(items[index]!, context);
        ended[index] = 'done';
      } catch (error) {
        ended[index] = 'failed';
        errors.set(index, error);
        if (index < failedAt) {
          failedAt = index;
          for (let later = index + 1; later < count; later++) {
            controllers[later]!.abort(new Error(`an earlier item (${index + 1}) failed`));
          }
        }
      }
      flush();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker));
  if (failedAt < count) throw errors.get(failedAt);
  return results;
}
