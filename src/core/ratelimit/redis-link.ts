/**
 * The Redis side shared by the limiter and the progressive delay: which client (given, created from options, or
 * from `ONIONSCALE_REDIS`), per-command timeouts (SharedDeadline), and a breaker like the cache's. A failed call
 * keeps decisions off Redis for `breakerCooldown`; a client that is not ready is never sent to. So a dead Redis
 * costs no latency, and when the (self-reconnecting) client is ready again the next decision uses it.
 */
import type { RedisArgument } from 'redis';
import { SharedDeadline } from '../cache/deadline.js';
import { NO_CLIENT_TIMEOUT, createOwnedClient, whenReady, type AnyRedisClient } from '../redis/client.js';
import { redisOptionsFromEnv } from '../redis/env.js';
import { evalScript, type Script } from '../redis/script.js';
import { emit } from './channels.js';
import type { RedisOption } from './types.js';


export class RedisLink {
  readonly client: AnyRedisClient;
  readonly #owns: boolean;
  readonly #deadline: SharedDeadline;
  readonly #cooldown: number;
  readonly #name: string;
  #breakerUntil = 0;
  #up: boolean;
  #closed = false;

  constructor(client: AnyRedisClient, owns: boolean, options: { commandTimeout: number; breakerCooldown: number; name: string }) {
    this.client = client;
    this.#owns = owns;
    this.#deadline = new SharedDeadline(options.commandTimeout);
    this.#cooldown = options.breakerCooldown;
    this.#name = options.name;
    this.#up = client.isReady;
    client.on('ready', this.#onReady);
    client.on('end', this.#onDown);
    client.on('reconnecting', this.#onDown);
    client.on('error', this.#onError);
  }

  readonly #onReady = (): void => {
    this.#breakerUntil = 0;
    this.#state(true);
  };
  readonly #onDown = (): void => this.#state(false);
  readonly #onError = (): void => {
    if (!this.client.isReady) this.#state(false);
  };

  #state(up: boolean): void {
    if (this.#closed || up === this.#up) return;
    this.#up = up;
    emit(() => ({ event: 'redis-state', limiter: this.#name, up }));
  }

  /** Whether a call should go to Redis now (client ready, breaker closed). */
  get usable(): boolean {
    return !this.#closed && this.client.isReady && Date.now() >= this.#breakerUntil;
  }

  /** Trips the breaker after a failed call. */
  failed(): void {
    this.#breakerUntil = Date.now() + this.#cooldown;
    this.#state(false);
  }

  ready(timeoutMs: number): Promise<boolean> {
    return whenReady(this.client, timeoutMs).then(() => this.client.isReady);
  }

  send<T>(args: readonly RedisArgument[]): Promise<T> {
    return this.#deadline.race(this.client.sendCommand<T>(args, NO_CLIENT_TIMEOUT));
  }

  eval<T>(s: Script, keys: readonly string[], args: readonly string[]): Promise<T> {
    return evalScript<T>((a) => this.send(a), s, keys, args);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.client.off('ready', this.#onReady);
    this.client.off('end', this.#onDown);
    this.client.off('reconnecting', this.#onDown);
    if (!this.#owns) {
      this.client.off('error', this.#onError);
      return;
    }
    if (this.client.isOpen) {
      try {
        await this.client.close();
      } catch {
        this.client.destroy();
      }
    }
  }
}

/** The link for a `redis` option, or `undefined` for memory only. */
export function linkFor(option: RedisOption | undefined, settings: { commandTimeout: number; breakerCooldown: number; name: string }): RedisLink | undefined {
  const resolved = option === undefined ? envOption() : option;
  if (resolved === false) return undefined;
  if ('client' in resolved) {
    // A caller's client that nobody connected yet: connect it (still theirs to close).
    if (!resolved.client.isOpen) resolved.client.connect().catch(() => {});
    return new RedisLink(resolved.client, false, settings);
  }
  return new RedisLink(createOwnedClient(resolved.options), true, settings);
}

function envOption(): RedisOption {
  const options = redisOptionsFromEnv();
  return options === undefined ? false : { options };
}
