/**
 * The Redis `CacheBus`: one pub/sub channel, JSON messages `{"o":origin,"k":[keys],"t":tag}`. Publishing goes through
 * the cache's command client; receiving needs a connection of its own in subscriber mode, a `duplicate()` of that
 * client which this bus creates and therefore closes. node-redis resubscribes by itself after a reconnect; the
 * 'ready' that follows is what the cache hears as "connected again, drop L1".
 */
import { SharedDeadline } from './deadline.js';
import { NO_CLIENT_TIMEOUT } from '../redis/client.js';
import { BusBase, encodeInvalidation } from './bus-base.js';
import type { InvalidationMessage, AnyRedisClient, CacheBus } from './types.js';

export interface RedisBusOptions {
  /** The command client (publishing); never closed by the bus. */
  client: AnyRedisClient;
  channel: string;
  /** Publish timeout in ms; default 1000. */
  commandTimeout?: number;
}

export class RedisBus extends BusBase implements CacheBus {
  readonly #client: AnyRedisClient;
  readonly #subscriber: AnyRedisClient;
  readonly #channel: string;
  readonly #deadline: SharedDeadline;
  #subscribed = false;

  constructor(options: RedisBusOptions) {
    super();
    this.#client = options.client;
    this.#channel = options.channel;
    this.#deadline = new SharedDeadline(options.commandTimeout ?? 1000);
    // Subscriber mode must not refuse the SUBSCRIBE sent while (re)connecting, so the offline queue stays on here.
    this.#subscriber = options.client.duplicate({ disableOfflineQueue: false });
    this.#subscriber.on('error', (err: unknown) => {
      this.setConnected(false);
      this.reportError(err);
    });
    this.#subscriber.on('end', () => this.setConnected(false));
    this.#subscriber.on('reconnecting', () => this.setConnected(false));
    this.#subscriber.on('ready', () => {
      if (this.#subscribed) this.setConnected(true);
    });
    this.#start().catch((err: unknown) => this.reportError(err));
  }

  async #start(): Promise<void> {
    await this.#subscriber.connect();
    if (this.closed) return;
    await this.#subscriber.subscribe(this.#channel, (raw: string) => this.receive(raw));
    this.#subscribed = true;
    if (this.#subscriber.isReady) this.setConnected(true);
  }

  publish(message: InvalidationMessage): void {
    if (this.closed) return;
    this.#deadline
      .race(this.#client.sendCommand(['PUBLISH', this.#channel, encodeInvalidation(message)], NO_CLIENT_TIMEOUT))
      .catch((err: unknown) => this.reportError(err));
  }

  async close(): Promise<void> {
    if (!this.markClosed()) return;
    if (!this.#subscriber.isOpen) return;
    try {
      await this.#subscriber.close();
    } catch {
      this.#subscriber.destroy();
    }
  }

  destroy(): void {
    this.markClosed();
    if (this.#subscriber.isOpen) this.#subscriber.destroy();
  }
}
