/**
 * Per-command timeouts without a timer per command. node-redis's own `timeout` option creates an AbortSignal (and
 * a DOMException) for every command, which profiling showed at ~10% of the CPU of an L2 hit. Here commands issued
 * within one time slice share one timer: each races its reply against the slice's deadline, so a command waits at
 * most `timeoutMs` (and at least `timeoutMs - slice`). A Redis that hangs therefore still costs a caller at most
 * `timeoutMs`, after which the cache's breaker bypasses L2.
 *
 * The abandoned command stays in node-redis's queue until the reply or a disconnect; the breaker stops new ones.
 */
import { OnionscaleError } from '../../errors.js';

export class SharedDeadline {
  readonly #timeoutMs: number;
  readonly #sliceMs: number;
  #current: Promise<never> | undefined;
  #openedAt = 0;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    this.#sliceMs = Math.max(1, Math.min(50, Math.floor(timeoutMs / 10)));
  }

  /** `work` unless it takes longer than the timeout, in which case the result rejects (the work is not cancelled). */
  race<T>(work: Promise<T>): Promise<T> {
    if (this.#timeoutMs <= 0) return work;
    return Promise.race([work, this.#deadline()]);
  }

  #deadline(): Promise<never> {
    const now = performance.now();
    if (this.#current !== undefined && now - this.#openedAt < this.#sliceMs) return this.#current;
    this.#openedAt = now;
    const ms = this.#timeoutMs;
    const deadline = new Promise<never>((_, reject) => {
      setTimeout(() => reject(new OnionscaleError('OSC_ERR_CACHE_TIMEOUT', `Redis did not answer within ${ms} ms`)), ms).unref();
    });
    // Every race attaches a handler, but mark it handled anyway: a slice whose commands all finished must not
    // surface as an unhandled rejection.
    deadline.catch(() => {});
    this.#current = deadline;
    return deadline;
  }
}
