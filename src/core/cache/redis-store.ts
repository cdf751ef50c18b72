/**
 * The Redis `CacheStore` (node-redis). Layout under the prefix: `<prefix><internal key>` data,
 * `<prefix>t:<tag>` tag sets, `<prefix>l:<internal key>` locks (internal keys start with `k:` or `h:`, so the three
 * never collide).
 *
 * Every command races a (shared, see deadline.ts) timeout so a Redis that hangs costs at most `commandTimeout` once;
 * the cache's breaker then bypasses L2 altogether. Clients we create also get `disableOfflineQueue`, so a dead Redis rejects at once
 * instead of queueing.
 */
import { randomUUID } from 'node:crypto';
import type { RedisArgument } from 'redis';
import { SharedDeadline } from './deadline.js';
import { DELETE_BY_TAG, GET_OR_LOCK, RELEASE_LOCK, SET_TAGGED } from './lua.js';
import { evalScript, type Script } from '../redis/script.js';
import { NO_CLIENT_TIMEOUT } from '../redis/client.js';
import type { AnyRedisClient, CacheStore, GetOrLockResult } from './types.js';


/** Placeholder a cold `getOrLock` leaves in the data key; envelopes start with a digit, so never a value. */
const LOCK_MARKER = '\u0000lock:';

export interface RedisStoreOptions {
  client: AnyRedisClient;
  /** Key prefix, e.g. `osc:cache:`. */
  prefix: string;
  /** Per-command timeout in ms; 0 disables. Default 1000. */
  commandTimeout?: number;
  /** Whether `close()`/`destroy()` also close `client` (true only for clients the cache created). */
  ownsClient?: boolean;
}

export class RedisStore implements CacheStore {
  readonly #client: AnyRedisClient;
  readonly #prefix: string;
  readonly #deadline: SharedDeadline;
  readonly #owns: boolean;
  readonly #listeners: ((available: boolean) => void)[] = [];
  #available: boolean;
  #closed = false;
  #setNxGet = true;

  constructor(options: RedisStoreOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix;
    this.#deadline = new SharedDeadline(options.commandTimeout ?? 1000);
    this.#owns = options.ownsClient ?? false;
    this.#available = this.#client.isReady;
    // Listeners, never throwing handlers: an unhandled 'error' event would crash the process.
    this.#client.on('ready', this.#onReady);
    this.#client.on('end', this.#onDown);
    this.#client.on('reconnecting', this.#onDown);
    this.#client.on('error', this.#onError);
  }

  readonly #onReady = (): void => this.#setAvailable(true);
  readonly #onDown = (): void => this.#setAvailable(false);
  readonly #onError = (): void => {
    // The error itself reaches the cache through the rejected command; here it only means "maybe down".
    if (!this.#client.isReady) this.#setAvailable(false);
  };

  #setAvailable(available: boolean): void {
    if (this.#closed || available === this.#available) return;
    this.#available = available;
    for (const listener of this.#listeners) listener(available);
  }

  get available(): boolean {
    return this.#available && !this.#closed;
  }

  onAvailability(listener: (available: boolean) => void): void {
    this.#listeners.push(listener);
  }

  #send<T>(args: readonly RedisArgument[]): Promise<T> {
    return this.#deadline.race(this.#client.sendCommand<T>(args, NO_CLIENT_TIMEOUT));
  }

  #eval<T>(s: Script, keys: readonly string[], args: readonly string[]): Promise<T> {
    return evalScript<T>((a) => this.#send(a), s, keys, args);
  }

  async get(key: string): Promise<string | undefined> {
    const raw = await this.#send<string | Buffer | null>(['GET', this.#prefix + key]);
    if (raw === null || raw === undefined) return undefined;
    const value = typeof raw === 'string' ? raw : raw.toString('utf8');
    return value.startsWith(LOCK_MARKER) ? undefined : value;
  }

  async set(key: string, value: string, ttlMs: number, tags?: readonly string[]): Promise<void> {
    const ttl = String(Math.max(1, Math.ceil(ttlMs)));
    if (!tags || tags.length === 0) {
      await this.#send(['SET', this.#prefix + key, value, 'PX', ttl]);
      return;
    }
    const tagKeys = tags.map((t) => `${this.#prefix}t:${t}`);
    await this.#eval(SET_TAGGED, [this.#prefix + key, ...tagKeys], [value, ttl, key]);
  }

  /**
   * `SET key <marker> NX PX ttl GET`: one plain command (no Lua) that returns the value, or puts a lock marker in
   * its place. The loader's `set` then overwrites the marker, which is the release. Redis < 7.0 refuses NX with
   * GET; the first such refusal switches this store to the equivalent Lua script.
   */
  async getOrLock(key: string, lockTtlMs: number): Promise<GetOrLockResult> {
    const token = randomUUID();
    const marker = LOCK_MARKER + token;
    const ttl = String(Math.max(1, Math.ceil(lockTtlMs)));
    let raw: string | Buffer | null;
    if (this.#setNxGet) {
      try {
        raw = await this.#send<string | Buffer | null>(['SET', this.#prefix + key, marker, 'NX', 'PX', ttl, 'GET']);
      } catch (err) {
        if (!(err instanceof Error && /syntax error/i.test(err.message))) throw err;
        this.#setNxGet = false;
        return this.getOrLock(key, lockTtlMs);
      }
    } else {
      raw = await this.#eval<string | Buffer | null>(GET_OR_LOCK, [this.#prefix + key], [marker, ttl]);
    }
    if (raw === null || raw === undefined) return { token };
    const value = typeof raw === 'string' ? raw : raw.toString('utf8');
    return value.startsWith(LOCK_MARKER) ? { token: undefined } : { value };
  }

  #lockKey(key: string): string {
    return `${this.#prefix}l:${key}`;
  }

  async delete(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    return Number(await this.#send<number>(['DEL', ...keys.map((k) => this.#prefix + k)]));
  }

  async deleteByTag(tag: string): Promise<string[]> {
    const members = await this.#eval<(string | Buffer)[]>(DELETE_BY_TAG, [`${this.#prefix}t:${tag}`], [this.#prefix]);
    return members.map((m) => (typeof m === 'string' ? m : m.toString('utf8')));
  }

  async acquireLock(key: string, ttlMs: number): Promise<string | undefined> {
    const token = randomUUID();
    const reply = await this.#send<string | null>(['SET', this.#lockKey(key), token, 'NX', 'PX', String(Math.max(1, Math.ceil(ttlMs)))]);
    return reply === null ? undefined : token;
  }

  async releaseLock(key: string, token: string): Promise<boolean> {
    const keys = [this.#lockKey(key), this.#prefix + key];
    return Number(await this.#eval<number>(RELEASE_LOCK, keys, [token, LOCK_MARKER + token])) === 1;
  }

  #detach(): void {
    this.#client.off('ready', this.#onReady);
    this.#client.off('end', this.#onDown);
    this.#client.off('reconnecting', this.#onDown);
    // Our 'error' listener stays on owned clients until they are closed: node-redis may still emit during shutdown.
    if (!this.#owns) this.#client.off('error', this.#onError);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach();
    if (this.#owns && this.#client.isOpen) {
      try {
        await this.#client.close();
      } catch {
        this.#client.destroy();
      }
    }
  }

  destroy(): void {
    if (this.#closed && !this.#owns) return;
    this.#closed = true;
    this.#detach();
    if (this.#owns && this.#client.isOpen) this.#client.destroy();
  }
}
