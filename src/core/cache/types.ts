/**
 * The contracts of the two-tier cache: `CacheStore` is the L2 (shared) tier, `CacheBus` carries key-only
 * invalidations between instances. Redis and in-memory implementations exist for both; one contract suite
 * (`store-contract.ts`) runs against every store.
 */
import type { RedisClientOptions } from 'redis';
import type { AnyRedisClient } from '../redis/client.js';

/**
 * The L2 contract. Values are opaque serialized strings: the cache owns serialization and the entry envelope.
 *
 * - Every method may reject (network, timeout, store closed); the cache catches, reports on the diagnostics channel
 *   and degrades. A store never throws synchronously.
 * - `ttlMs` is the physical lifetime (TTL + grace): after it the store must not return the value.
 * - Tags are sets of keys. `deleteByTag` removes every key in the tag and the tag itself atomically: a concurrent
 *   `set` lands either before (and is deleted) or after (and survives with its new tag membership).
 * - Locks are advisory, owned by an opaque token, expire by themselves after `ttlMs`, and are released only by
 *   their owner (compare-and-delete), so a slow loader can never release a lock someone else took after expiry.
 */
import type { Duration } from '../../units.js';

export interface CacheStore {
  /** The raw value, or `undefined` when absent or expired. */
  get(key: string): Promise<string | undefined>;
  /**
   * Stores `value` for `ttlMs` milliseconds (> 0) and adds `key` to every tag in `tags`. Storing a key also ends a
   * lock taken on it by `getOrLock` (the loader's result and the release land together, in one command).
   */
  set(key: string, value: string, ttlMs: number, tags?: readonly string[]): Promise<void>;
  /**
   * One round trip for a cold read: the value if present; otherwise takes a lock on `key` for `lockTtlMs` and
   * resolves to its token, or to `token: undefined` when someone else holds it. Atomic, so no other instance can
   * store the value between our miss and our lock. The lock ends with a `set`/`delete` of the key, `releaseLock`,
   * or its expiry; while it is held `get` sees no value. (Values starting with NUL are reserved for this.)
   */
  getOrLock(key: string, lockTtlMs: number): Promise<GetOrLockResult>;
  /** Deletes the keys; resolves to how many existed. */
  delete(keys: readonly string[]): Promise<number>;
  /** Deletes every key carrying `tag`; resolves to the keys that were in the tag (deleted or already expired). */
  deleteByTag(tag: string): Promise<string[]>;
  /** Takes the lock for `ttlMs`; resolves to an owner token, or `undefined` when someone else holds it. */
  acquireLock(key: string, ttlMs: number): Promise<string | undefined>;
  /** Releases the lock (from `acquireLock` or `getOrLock`) if `token` still owns it; resolves to whether it did. */
  releaseLock(key: string, token: string): Promise<boolean>;
  /** Whether the store can serve commands right now (a dead Redis answers `false` at once). */
  readonly available: boolean;
  /** Calls `listener` whenever `available` changes. */
  onAvailability(listener: (available: boolean) => void): void;
  /** Drains: waits for commands in flight, then frees what the store created. Idempotent. */
  close(): Promise<void>;
  /** Aborts at once. Idempotent. */
  destroy(): void;
}

export type GetOrLockResult = { value: string; token?: undefined } | { value?: undefined; token: string | undefined };

/**
 * One invalidation. Keys are internal (namespaced) keys. `origin` is the sending cache's instance id so a cache can
 * ignore its own messages. `tag` lets receivers also drop L1 entries they indexed under that tag locally.
 */
export interface InvalidationMessage {
  origin: string;
  keys: readonly string[];
  tag?: string;
}

/**
 * The invalidation bus. Delivery is best-effort and at-most-once: a receiver that was disconnected may have missed
 * messages, which is why `onConnection(true)` after a disconnect tells the cache to drop its whole L1.
 */
export interface CacheBus {
  /** Sends without waiting; never throws (failures reach `onError`). */
  publish(message: InvalidationMessage): void;
  /** Registers the receiver of every message (own messages included; the cache filters by origin). */
  subscribe(handler: (message: InvalidationMessage) => void): void;
  /** `connected` is true once subscribed; `false` when the subscription dropped. */
  onConnection(listener: (connected: boolean) => void): void;
  onError(listener: (error: unknown) => void): void;
  readonly connected: boolean;
  close(): Promise<void>;
  destroy(): void;
}

/** Turns values into the strings L2 stores. JSON by default. */
export interface Serializer {
  serialize(value: unknown): string;
  deserialize(raw: string): unknown;
}

export interface EntryOptions {
  /** Milliseconds the value is fresh. Default: the cache's `ttl`. */
  ttl?: Duration;
  /** Milliseconds after `ttl` during which a stale value may still be served while it refreshes. Default: `grace`. */
  grace?: Duration;
  /** Tags for `deleteByTag`. */
  tags?: readonly string[];
}

export interface GetOrSetOptions extends EntryOptions {
  /** Hard timeout of the loader in ms (OSC_ERR_CACHE_LOADER_TIMEOUT); default: the cache's `loaderTimeout`. */
  timeout?: Duration;
}

export interface KeyOptions {
  /** Hash keys that are unsafe or longer than 1 KB instead of rejecting them. Default: the cache's `hashKeys`. */
  hashKey?: boolean;
}

/** A connected-or-connecting node-redis client owned by the caller (we never close it). */
export type { AnyRedisClient };

export interface CacheOptions {
  /** Name in diagnostics events (several caches may share a process). Default `'default'`. */
  name?: string;
  /** Prefix of every Redis key and of the bus channel. Default `'osc:cache:'`. */
  prefix?: string;
  /** Default freshness in ms. Default 60 s. */
  ttl?: Duration;
  /** Default grace period in ms. Default 0 (no stale serving). */
  grace?: Duration;
  /** After a refresh failed, how long to keep serving stale before trying the loader again (ms). Default 1 s. */
  graceBackoff?: Duration;
  /** Default hard loader timeout in ms; 0 disables. Default 0. */
  loaderTimeout?: Duration;
  /** Largest serialized value in bytes. Default 1 MiB. */
  maxValueBytes?: number;
  /** Default for `KeyOptions.hashKey`. Default false. */
  hashKeys?: boolean;
  serializer?: Serializer;
  /** L1 bounds; `false` disables L1. Defaults: 10 000 entries, 64 MiB. */
  l1?: false | { maxEntries?: number; maxBytes?: number };
  /**
   * L2 + bus. One of: an existing node-redis client (`client`, never closed by us), options for a client we create
   * (`options`, e.g. `redisOptionsFromEnv()`), explicit store/bus implementations, or `false` for L1 only.
   */
  l2?:
    | false
    | { client: AnyRedisClient; commandTimeout?: number }
    | { options: RedisClientOptions; commandTimeout?: number }
    | { store: CacheStore; bus?: CacheBus };
  /** Cross-instance single-flight: lock lifetime (ms), default 10 s; how long waiters wait before loading, default 3 s. */
  lock?: { ttl?: Duration; wait?: Duration };
  /** How long L2 stays bypassed after an error before it is tried again (ms). Default 1 s. */
  breakerCooldown?: Duration;
  /** The clock entries are dated with (ms since the epoch); tests inject one. Default `Date.now`. */
  now?: () => number;
}
