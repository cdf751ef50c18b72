/**
 * The cache's invalidation bus (`CacheBus`, src/core/cache/types.ts) over an event bus: the same message format as
 * the cache's own RedisBus (`{"o":origin,"k":[keys],"t":tag}`), but carried on the event bus's one subscriber
 * connection instead of a second one per cache. The channel is internal: no SSE client may subscribe to it.
 */
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

interface Wire {
  o: string;
  k: string[];
  t?: string;
}

export function decodeInvalidation(raw: string): InvalidationMessage | undefined {
  let w: Partial<Wire>;
  try {
    w = JSON.parse(raw) as Partial<Wire>;
  } catch {
    return undefined;
  }
  if (typeof w !== 'object' || w === null || typeof w.o !== 'string' || !Array.isArray(w.k) || !w.k.every((k) => typeof k === 'string')) return undefined;
  if (w.t !== undefined && typeof w.t !== 'string') return undefined;
  return w.t === undefined ? { origin: w.o, keys: w.k } : { origin: w.o, keys: w.k, tag: w.t };
}

export class EventCacheBus implements CacheBus {
  readonly #host: CacheBusHost;
  readonly #channel: string;
  readonly #handlers: ((message: InvalidationMessage) => void)[] = [];
  readonly #connectionListeners: ((connected: boolean) => void)[] = [];
  readonly #errorListeners: ((error: unknown) => void)[] = [];
  readonly #release: () => void;
  readonly #offState: () => void;
  #subscribed = false;
  #connected = false;
  #closed = false;

  constructor(host: CacheBusHost, channel: string) {
    this.#host = host;
    this.#channel = channel;
    const { ready, release } = host.listen(channel, (raw) => this.#receive(raw));
    this.#release = release;
    this.#offState = host.onState((up) => this.#setConnected(up && this.#subscribed));
    ready.then(
      () => {
        this.#subscribed = true;
        this.#setConnected(host.up);
      },
      (err: unknown) => this.#reportError(err),
    );
  }

  #receive(raw: string): void {
    const message = decodeInvalidation(raw);
    if (message === undefined) return this.#reportError(new Error('malformed invalidation message ignored'));
    for (const handler of this.#handlers) handler(message);
  }

  #setConnected(connected: boolean): void {
    if (this.#closed || connected === this.#connected) return;
    this.#connected = connected;
    for (const listener of this.#connectionListeners) listener(connected);
  }

  #reportError(error: unknown): void {
    if (this.#closed) return;
    for (const listener of this.#errorListeners) listener(error);
  }

  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  publish(message: InvalidationMessage): void {
    if (this.#closed) return;
    const wire: Wire = message.tag === undefined ? { o: message.origin, k: [...message.keys] } : { o: message.origin, k: [...message.keys], t: message.tag };
    this.#host.publish(this.#channel, JSON.stringify(wire)).catch((err: unknown) => this.#reportError(err));
  }

  subscribe(handler: (message: InvalidationMessage) => void): void {
    this.#handlers.push(handler);
  }

  onConnection(listener: (connected: boolean) => void): void {
    this.#connectionListeners.push(listener);
  }

  onError(listener: (error: unknown) => void): void {
    this.#errorListeners.push(listener);
  }

  /** Unsubscribes this channel; the event bus (and its connection) stays open. */
  close(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    this.#offState();
    this.#release();
  }
}
