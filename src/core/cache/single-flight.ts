/**
 * In-process single-flight: concurrent callers for one key share one promise. The cross-instance half (a short
 * Redis lock plus waiting for the winner's value) lives in `cache.ts`, because it needs the store and the bus.
 */
export class SingleFlight<T> {
  readonly #flights = new Map<string, Promise<T>>();

  /** Runs `work` unless a flight for `key` is already in the air, in which case its promise is shared. */
  run(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.#flights.get(key);
    if (running !== undefined) return running;
    let started: Promise<T>;
    try {
      started = work();
    } catch (err) {
      started = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    const flight = started.finally(() => {
      // Only remove our own flight: a later one may already occupy the slot.
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    });
    this.#flights.set(key, flight);
    return flight;
  }

  has(key: string): boolean {
    return this.#flights.has(key);
  }

  get size(): number {
    return this.#flights.size;
  }

  /** Resolves when every flight in the air has settled (used by `close()` to drain). */
  async drain(): Promise<void> {
    while (this.#flights.size > 0) await Promise.allSettled([...this.#flights.values()]);
  }
}
