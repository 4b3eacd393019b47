/** Told about every batch run (metrics): its size, how long it took, whether it succeeded. */
export type BatchObserver = (batch: { size: number; seconds: number; ok: boolean }) => void;

export type MicroBatcherOptions = {
  /** Enough to amortise a round trip or a commit, small enough to keep one statement cheap. */
  maxBatch: number;
  /**
   * Batches running at once. Items that arrive while that many run wait and form the next batch
   * (larger under load, instead of more batches queueing on a lock or a single connection).
   */
  maxInFlight: number;
  observe?: BatchObserver;
};

/**
 * Gathers the calls made in one event-loop turn (and those made while earlier batches are still
 * running) and hands them to `run` together: one round trip and one commit for many requests. Each
 * caller gets its own item's result, and waits until the batch that holds it has finished. `run`
 * answers one result per item, in order; if it throws, every caller in that batch sees the error.
 */
export function createMicroBatcher<I, O>(run: (items: readonly I[]) => Promise<readonly O[]>, options: MicroBatcherOptions): (item: I) => Promise<O> {
  const { maxBatch, maxInFlight, observe } = options;
  const pending: Array<{ item: I; resolve: (result: O) => void; reject: (error: unknown) => void }> = [];
  let scheduled = false;
  let running = 0;

  function flush(): void {
    scheduled = false;
    while (running < maxInFlight && pending.length > 0) start(pending.splice(0, maxBatch));
  }

  function start(batch: typeof pending): void {
    running++;
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    run(batch.map((p) => p.item)).then(
      (results) => {
        observe?.({ size: batch.length, seconds: seconds(), ok: true });
        batch.forEach((p, i) => p.resolve(results[i] as O));
      },
      (error: unknown) => {
        observe?.({ size: batch.length, seconds: seconds(), ok: false });
        batch.forEach((p) => p.reject(error));
      },
    ).finally(() => {
      running--;
      flush();
    });
  }

  return (item) => new Promise<O>((resolve, reject) => {
    pending.push({ item, resolve, reject });
    if (!scheduled && running < maxInFlight) {
      scheduled = true;
      // After the I/O callbacks of this turn, so requests that arrived together share the batch.
      setImmediate(flush);
    }
  });
}
