/**
 * Restart policy: exponential backoff between restarts of a crashed service, reset once the service has stayed up
 * for `resetAfterMs` (a crash loop slows down; a service that crashes once a day restarts at once).
 */
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  resetAfterMs?: number;
}

export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #factor: number;
  readonly #resetAfter: number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initial = options.initialMs ?? 500;
    this.#max = options.maxMs ?? 30_000;
    this.#factor = options.factor ?? 2;
    this.#resetAfter = options.resetAfterMs ?? 30_000;
  }

  /** Delay before the next restart, given how long the last run lasted. */
  next(uptimeMs: number): number {
    if (uptimeMs >= this.#resetAfter) this.#attempt = 0;
    const delay = Math.min(this.#max, this.#initial * this.#factor ** this.#attempt);
    this.#attempt++;
    return delay;
  }

  get attempts(): number {
    return this.#attempt;
  }
}
