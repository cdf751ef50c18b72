/**
 * The cache's invalidation bus (`CacheBus`, src/core/cache/types.ts) over an event bus: the same message format as
 * the cache's own RedisBus (`{"o":origin,"k":[keys],"t":tag}`), but carried on the event bus's one subscriber
 * connection instead of a second one per cache. The channel is internal: no SSE client may subscribe to it.
 */
import { BusBase, encodeInvalidation } from '../cache/bus-base.js';
import type { CacheBus, InvalidationMessage } from '../cache/types.js';

/** What the event bus lends a cache bus (bus.ts). */
export interface CacheBusHost {
  publish(channel: string, payload: string): Promise<unknown>;
  /** Registers `handler` for the channel's raw payloads and subscribes; returns the release function. */
  listen(channel: string, handler: (payload: string) => void): { ready: Promise<void>; release: () => void };
  readonly up: boolean;
  /** Returns the unregister function. */
  onState(listener: (up: boolean) => void): () => void;
}

export class EventCacheBus extends BusBase implements CacheBus {
  readonly #host: CacheBusHost;
  readonly #channel: string;
  readonly #release: () => void;
  readonly #offState: () => void;
  #subscribed = false;

  constructor(host: CacheBusHost, channel: string) {
    super();
    this.#host = host;
    this.#channel = channel;
    const { ready, release } = host.listen(channel, (raw) => this.receive(raw));
    this.#release = release;
    this.#offState = host.onState((up) => this.setConnected(up && this.#subscribed));
    ready.then(
      () => {
        this.#subscribed = true;
        this.setConnected(host.up);
      },
      (err: unknown) => this.reportError(err),
    );
  }

  publish(message: InvalidationMessage): void {
    if (this.closed) return;
    this.#host.publish(this.#channel, encodeInvalidation(message)).catch((err: unknown) => this.reportError(err));
  }

  /** Unsubscribes this channel; the event bus (and its connection) stays open. */
  close(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  destroy(): void {
    if (!this.markClosed()) return;
    this.#offState();
    this.#release();
  }
}
