/**
 * The Redis `CacheBus`: one pub/sub channel, JSON messages `{"o":origin,"k":[keys],"t":tag}`. Publishing goes through
 * the cache's command client; receiving needs a connection of its own in subscriber mode, a `duplicate()` of that
 * client which this bus creates and therefore closes. node-redis resubscribes by itself after a reconnect; the
 * 'ready' that follows is what the cache hears as "connected again, drop L1".
 */
import { SharedDeadline } from './deadline.js';
import { NO_CLIENT_TIMEOUT } from '../redis/client.js';
import type { InvalidationMessage, AnyRedisClient, CacheBus } from './types.js';

export interface RedisBusOptions {
  /** The command client (publishing); never closed by the bus. */
  client: AnyRedisClient;
  channel: string;
  /** Publish timeout in ms; default 1000. */
  commandTimeout?: number;
}

interface Wire {
  o: string;
  k: string[];
  t?: string;
}

function decode(raw: string): InvalidationMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const w = parsed as Partial<Wire>;
  if (typeof w.o !== 'string' || !Array.isArray(w.k) || !w.k.every((k) => typeof k === 'string')) return undefined;
  if (w.t !== undefined && typeof w.t !== 'string') return undefined;
  return w.t === undefined ? { origin: w.o, keys: w.k } : { origin: w.o, keys: w.k, tag: w.t };
}

export class RedisBus implements CacheBus {
  readonly #client: AnyRedisClient;
  readonly #subscriber: AnyRedisClient;
  readonly #channel: string;
  readonly #deadline: SharedDeadline;
  readonly #handlers: ((message: InvalidationMessage) => void)[] = [];
  readonly #connectionListeners: ((connected: boolean) => void)[] = [];
  readonly #errorListeners: ((error: unknown) => void)[] = [];
  #connected = false;
  #subscribed = false;
  #closed = false;

  constructor(options: RedisBusOptions) {
    this.#client = options.client;
    this.#channel = options.channel;
    this.#deadline = new SharedDeadline(options.commandTimeout ?? 1000);
    // Subscriber mode must not refuse the SUBSCRIBE sent while (re)connecting, so the offline queue stays on here.
    this.#subscriber = options.client.duplicate({ disableOfflineQueue: false });
    this.#subscriber.on('error', (err: unknown) => {
      this.#setConnected(false);
      this.#reportError(err);
    });
    this.#subscriber.on('end', () => this.#setConnected(false));
    this.#subscriber.on('reconnecting', () => this.#setConnected(false));
    this.#subscriber.on('ready', () => {
      if (this.#subscribed) this.#setConnected(true);
    });
    this.#start().catch((err: unknown) => this.#reportError(err));
  }

  async #start(): Promise<void> {
    await this.#subscriber.connect();
    if (this.#closed) return;
    await this.#subscriber.subscribe(this.#channel, (raw: string) => this.#receive(raw));
    this.#subscribed = true;
    if (this.#subscriber.isReady) this.#setConnected(true);
  }

  #receive(raw: string): void {
    const message = decode(raw);
    if (message === undefined) {
      this.#reportError(new Error('malformed invalidation message ignored'));
      return;
    }
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
    this.#deadline
      .race(this.#client.sendCommand(['PUBLISH', this.#channel, JSON.stringify(wire)], NO_CLIENT_TIMEOUT))
      .catch((err: unknown) => this.#reportError(err));
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

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    if (!this.#subscriber.isOpen) return;
    try {
      await this.#subscriber.close();
    } catch {
      this.#subscriber.destroy();
    }
  }

  destroy(): void {
    if (this.#closed && !this.#subscriber.isOpen) return;
    this.#closed = true;
    this.#connected = false;
    if (this.#subscriber.isOpen) this.#subscriber.destroy();
  }
}
