/**
 * The two-tier cache: L1 (in-process LRU of deserialized values) in front of L2 (a shared `CacheStore`, Redis in
 * production), kept coherent by a key-only invalidation bus.
 *
 * Rules that shape this file:
 * - Redis trouble never reaches the caller. Every L2/bus failure is caught, reported on the diagnostics channel,
 *   and trips a breaker that bypasses L2 for `breakerCooldown` ms, so a dead Redis costs no latency per call.
 *   Loader errors do reach the caller (they are the caller's), except during a stale-while-revalidate refresh.
 * - Single-flight twice: in-process (`SingleFlight`) and across instances (a short L2 lock; losers wait for the
 *   winner's value, woken by its bus message or by polling, and load themselves after `lock.wait`).
 * - The L1 hit path is synchronous up to one `Promise.resolve`: no JSON, no async frames.
 */
import { randomUUID } from 'node:crypto';
import { OnionscaleError } from '../../errors.js';
import { cacheChannel, emit, type CacheTier } from './channels.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import { internalKey, queryKey, validateTag, validateTags } from './keys.js';
import { L1, type L1Entry } from './l1.js';
import { entryDuration, type ResolvedCacheOptions } from './options.js';
import { SingleFlight } from './single-flight.js';
import type {
  CacheBus,
  CacheStore,
  EntryOptions,
  GetOrLockResult,
  GetOrSetOptions,
  InvalidationMessage,
  KeyOptions,
} from './types.js';

export type Loader<T> = () => T | Promise<T>;

export interface CacheParts {
  store?: CacheStore | undefined;
  bus?: CacheBus | undefined;
  /** Whether close()/destroy() also close the store and bus (true when createCache built them). */
  ownsParts: boolean;
}

/** Pending L2 invalidations that failed while Redis was away, replayed when it is back. */
const MAX_PENDING = 10_000;

export class Cache {
  /** Unique per cache object: bus messages carry it so a cache ignores its own. */
  readonly instanceId = randomUUID();
  readonly #o: ResolvedCacheOptions;
  readonly #l1: L1 | undefined;
  readonly #store: CacheStore | undefined;
  readonly #bus: CacheBus | undefined;
  readonly #ownsParts: boolean;
  readonly #flights = new SingleFlight<unknown>();
  readonly #refreshes = new SingleFlight<void>();
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #pendingKeys = new Set<string>();
  readonly #pendingTags = new Set<string>();
  #breakerUntil = 0;
  #l2Up: boolean;
  #closed = false;

  constructor(options: ResolvedCacheOptions, parts: CacheParts) {
    this.#o = options;
    this.#l1 = options.l1 === false ? undefined : new L1(options.l1.maxEntries, options.l1.maxBytes);
    this.#store = parts.store;
    this.#bus = parts.bus;
    this.#ownsParts = parts.ownsParts;
    this.#l2Up = this.#store?.available ?? false;
    this.#store?.onAvailability((up) => this.#onStoreAvailability(up));
    if (this.#bus) {
      this.#bus.subscribe((m) => this.#onMessage(m));
      this.#bus.onConnection((connected) => this.#onBusConnection(connected));
      this.#bus.onError((error) => this.#report('bus', undefined, error));
    }
  }

  get name(): string {
    return this.#o.name;
  }

  // ---------------------------------------------------------------- public API

  /** The fresh value, or `undefined`. Stale values (inside grace) are served only by `getOrSet`. */
  get<T = unknown>(key: string, options?: KeyOptions): Promise<T | undefined> {
    let k: string;
    try {
      k = this.#key(key, options);
    } catch (err) {
      return rejected(err);
    }
    const now = this.#o.now();
    const entry = this.#servableL1(k, now);
    if (entry !== undefined && now < entry.expiresAt) {
      this.#emitHit(k, 'l1');
      return Promise.resolve(entry.value as T);
    }
    return this.#getFromL2<T>(k);
  }

  /**
   * The cached value, or the loader's (stored in L1 and L2 for `ttl`). Past `ttl` but inside `grace`, the stale value
   * is served at once while one refresh runs (per key, across instances); a failing refresh keeps the stale value.
   */
  getOrSet<T>(key: string, loader: Loader<T>, options?: GetOrSetOptions & KeyOptions): Promise<T> {
    let k: string;
    try {
      k = this.#key(key, options);
      if (typeof loader !== 'function') throw new OnionscaleError('OSC_ERR_CACHE_OPTIONS', 'loader must be a function');
    } catch (err) {
      return rejected(err);
    }
    const now = this.#o.now();
    const entry = this.#servableL1(k, now);
    if (entry !== undefined) {
      if (now < entry.expiresAt) {
        this.#emitHit(k, 'l1');
        return Promise.resolve(entry.value as T);
      }
      this.#emitStale(k, 'l1');
      this.#refresh(k, entry, loader, options);
      return Promise.resolve(entry.value as T);
    }
    return this.#flights.run(k, () => this.#cold(k, loader, options)) as Promise<T>;
  }

  /** `getOrSet` keyed by `query:<sha256 of sql + params>`. */
  query<T>(sql: string, params: readonly unknown[], loader: Loader<T>, options?: GetOrSetOptions): Promise<T> {
    let key: string;
    try {
      key = queryKey(sql, params);
    } catch (err) {
      return rejected(err);
    }
    return this.getOrSet(key, loader, options);
  }

  /** Stores `value` in L1 and L2 and tells other instances to drop their L1 copy. */
  async set(key: string, value: unknown, options?: EntryOptions & KeyOptions): Promise<void> {
    const k = this.#key(key, options);
    this.#assertOpen();
    await this.#write(k, value, options, true);
  }

  /** Removes the key from L1, L2 and every other instance's L1. */
  async delete(key: string, options?: KeyOptions): Promise<void> {
    const k = this.#key(key, options);
    this.#assertOpen();
    this.#l1?.delete(k);
    emit(() => ({ event: 'delete', cache: this.#o.name, keys: [k], remote: false }));
    if (this.#store === undefined) return this.#publish([k]);
    if (!this.#l2Usable()) return this.#defer(k, undefined);
    try {
      await this.#store.delete([k]);
    } catch (err) {
      this.#l2Failed('delete', k, err);
      return this.#defer(k, undefined);
    }
    this.#publish([k]);
  }

  /** Removes every entry tagged `tag`, here, in L2, and in every other instance's L1. */
  async deleteByTag(tag: string): Promise<void> {
    const t = validateTag(tag);
    this.#assertOpen();
    const local = this.#l1?.deleteTag(t) ?? [];
    let keys = local;
    if (this.#store !== undefined) {
      if (!this.#l2Usable()) {
        this.#defer(undefined, t);
      } else {
        try {
          const remote = await this.#store.deleteByTag(t);
          for (const k of remote) this.#l1?.delete(k);
          keys = [...new Set([...local, ...remote])];
        } catch (err) {
          this.#l2Failed('deleteByTag', undefined, err);
          this.#defer(undefined, t);
        }
      }
    }
    emit(() => ({ event: 'delete', cache: this.#o.name, keys, tag: t, remote: false }));
    this.#publish(keys, t);
  }

  /** Drops this instance's L1 only (L2 and other instances are untouched). */
  clearLocal(): void {
    this.#l1?.clear();
    emit(() => ({ event: 'l1-clear', cache: this.#o.name, reason: 'manual' }));
  }

  /** Whether L2 and the bus (when configured) are connected; waits up to `timeoutMs` for it. */
  async ready(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = (this.#store?.available ?? true) && (this.#bus?.connected ?? true);
      if (ok || this.#closed) return ok && !this.#closed;
      if (Date.now() >= deadline) return false;
      await sleep(10);
    }
  }

  /** A snapshot for health checks and tests. */
  stats(): { l1Entries: number; l1Bytes: number; l2Available: boolean; busConnected: boolean; inFlight: number } {
    return {
      l1Entries: this.#l1?.size ?? 0,
      l1Bytes: this.#l1?.bytes ?? 0,
      l2Available: this.#l2Usable(),
      busConnected: this.#bus?.connected ?? false,
      inFlight: this.#flights.size + this.#refreshes.size,
    };
  }

  /** Drains: waits for loads and refreshes in flight, then closes what the cache created. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeAll();
    await this.#flights.drain();
    await this.#refreshes.drain();
    if (this.#ownsParts) {
      await this.#bus?.close();
      await this.#store?.close();
    }
    this.#l1?.clear();
  }

  /** Aborts: closes what the cache created at once; loads in flight still resolve for their callers. Idempotent. */
  destroy(): void {
    this.#closed = true;
    this.#wakeAll();
    if (this.#ownsParts) {
      this.#bus?.destroy();
      this.#store?.destroy();
    }
    this.#l1?.clear();
  }

  // ---------------------------------------------------------------- reads

  #key(key: string, options: KeyOptions | undefined): string {
    return internalKey(key, options?.hashKey ?? this.#o.hashKeys);
  }

  /** The L1 entry for `k` while it is fresh or inside grace; an entry past grace is dropped. */
  #servableL1(k: string, now: number): L1Entry | undefined {
    const entry = this.#l1?.get(k);
    if (entry === undefined || now < entry.staleUntil || now < entry.expiresAt) return entry;
    this.#l1!.delete(k);
    return undefined;
  }

  async #getFromL2<T>(k: string): Promise<T | undefined> {
    this.#assertOpen();
    const entry = await this.#readL2(k);
    if (entry !== undefined && this.#o.now() < entry.expiresAt) {
      this.#emitHit(k, 'l2');
      return entry.value as T;
    }
    emit(() => ({ event: 'miss', cache: this.#o.name, key: k }));
    return undefined;
  }

  /** The L2 entry (fresh or stale), copied into L1; `undefined` when absent, expired, unreadable or L2 is away. */
  async #readL2(k: string, fillL1 = true): Promise<L1Entry | undefined> {
    if (!this.#l2Usable()) return undefined;
    let raw: string | undefined;
    try {
      raw = await this.#store!.get(k);
    } catch (err) {
      this.#l2Failed('get', k, err);
      return undefined;
    }
    return raw === undefined ? undefined : this.#decode(k, raw, fillL1);
  }

  /** An L2 string as an L1 entry; `undefined` for a foreign, corrupt or expired one. */
  #decode(k: string, raw: string, fillL1: boolean): L1Entry | undefined {
    const envelope = decodeEnvelope(raw);
    if (envelope === undefined || this.#o.now() >= envelope.staleUntil) return undefined;
    let value: unknown;
    try {
      value = this.#o.serializer.deserialize(envelope.payload);
    } catch (err) {
      this.#report('deserialize', k, err);
      return undefined;
    }
    const entry: L1Entry = {
      value,
      expiresAt: envelope.expiresAt,
      staleUntil: envelope.staleUntil,
      size: Math.max(1, envelope.payload.length),
      tags: undefined,
      retryAt: 0,
    };
    if (fillL1) this.#l1?.set(k, entry);
    return entry;
  }

  /**
   * An L1 miss. One round trip (`getOrLock`) either finds the value in L2 or takes the cross-instance lock, so the
   * common miss costs what it costs without a lock: this read, then the write that also releases the lock.
   */
  async #cold(k: string, loader: Loader<unknown>, options: GetOrSetOptions | undefined): Promise<unknown> {
    this.#assertOpen();
    const first = await this.#getOrLock(k);
    let token: string | undefined | null;
    if (first !== null && first.value !== undefined) {
      const entry = this.#decode(k, first.value, true);
      if (entry !== undefined) return this.#serveL2(k, entry, loader, options);
      token = null; // unreadable or expired by its envelope: load and overwrite it, no lock
    } else {
      token = first === null ? null : first.token;
    }
    emit(() => ({ event: 'miss', cache: this.#o.name, key: k }));
    if (token === null) return (await this.#load(k, loader, options)).value; // L2 away: in-process only
    if (token === undefined) {
      const waited = await this.#waitForOther(k, loader, options);
      if ('value' in waited) return waited.value;
      token = waited.token;
      if (token === undefined) return (await this.#load(k, loader, options)).value; // gave up waiting
    }
    let released = false;
    try {
      const loaded = await this.#load(k, loader, options);
      released = loaded.stored; // writing the key ended the getOrLock lock
      return loaded.value;
    } finally {
      if (!released) this.#unlock(k, token);
    }
  }

  #serveL2(k: string, entry: L1Entry, loader: Loader<unknown>, options: GetOrSetOptions | undefined): unknown {
    if (this.#o.now() < entry.expiresAt) {
      this.#emitHit(k, 'l2');
      return entry.value;
    }
    this.#emitStale(k, 'l2');
    this.#refresh(k, entry, loader, options);
    return entry.value;
  }

  // ---------------------------------------------------------------- loading

  /** `getOrLock`, or `null` when L2 cannot be asked. */
  async #getOrLock(k: string): Promise<GetOrLockResult | null> {
    if (!this.#l2Usable()) return null;
    try {
      return await this.#store!.getOrLock(k, this.#o.lockTtl);
    } catch (err) {
      this.#l2Failed('getOrLock', k, err);
      return null;
    }
  }

  /** A lock token; `undefined` when another instance holds the lock; `null` when L2 cannot be asked. */
  async #tryLock(k: string): Promise<string | undefined | null> {
    if (!this.#l2Usable()) return null;
    try {
      return await this.#store!.acquireLock(k, this.#o.lockTtl);
    } catch (err) {
      this.#l2Failed('lock', k, err);
      return null;
    }
  }

  #unlock(k: string, token: string): void {
    if (!this.#l2Usable()) return; // the lock expires by itself
    this.#store!.releaseLock(k, token).catch((err: unknown) => this.#l2Failed('unlock', k, err));
  }

  /**
   * Waits for the lock holder's value: woken by its bus message, polling L2 as a fallback (messages are
   * best-effort). Resolves to the value, to our own lock token if the holder gave up (its loader failed), or to
   * `{ token: undefined }` after `lock.wait` ms or when L2 went away, after which the caller loads by itself.
   */
  async #waitForOther(
    k: string,
    loader: Loader<unknown>,
    options: GetOrSetOptions | undefined,
  ): Promise<{ value: unknown } | { token: string | undefined }> {
    const started = performance.now();
    const deadline = started + this.#o.lockWait;
    let pause = 5;
    const done = (outcome: 'value' | 'lock' | 'timeout') =>
      emit(() => ({ event: 'wait', cache: this.#o.name, key: k, durationMs: performance.now() - started, outcome }));
    while (!this.#closed) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      await this.#wake(k, Math.min(pause, left));
      pause = Math.min(pause * 2, 100);
      const r = await this.#getOrLock(k);
      if (r === null) break;
      if (r.value !== undefined) {
        const entry = this.#decode(k, r.value, true);
        if (entry !== undefined) {
          done('value');
          return { value: this.#serveL2(k, entry, loader, options) };
        }
        continue;
      }
      if (r.token !== undefined) {
        done('lock');
        return { token: r.token };
      }
    }
    done('timeout');
    return { token: undefined };
  }

  /** Resolves after `ms`, or earlier when a bus message names `k`. */
  #wake(k: string, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let set = this.#waiters.get(k);
      if (set === undefined) this.#waiters.set(k, (set = new Set()));
      const waiters = set;
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(finish);
        if (waiters.size === 0 && this.#waiters.get(k) === waiters) this.#waiters.delete(k);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      waiters.add(finish);
    });
  }

  #wakeAll(): void {
    for (const set of [...this.#waiters.values()]) for (const finish of [...set]) finish();
  }

  /** Runs the loader (with its timeout) and stores the result; `stored` says whether it reached L2. */
  async #load(k: string, loader: Loader<unknown>, options: GetOrSetOptions | undefined): Promise<{ value: unknown; stored: boolean }> {
    const started = performance.now();
    let value: unknown;
    try {
      value = await withTimeout(loader, entryDuration('timeout', options?.timeout, this.#o.loaderTimeout), k);
    } catch (err) {
      emit(() => ({ event: 'load', cache: this.#o.name, key: k, durationMs: performance.now() - started, ok: false }));
      throw err;
    }
    emit(() => ({ event: 'load', cache: this.#o.name, key: k, durationMs: performance.now() - started, ok: true }));
    let stored = false;
    try {
      stored = await this.#write(k, value, options, false);
    } catch (err) {
      // A value too large to cache is still the right answer for this caller; undefined or unserializable is a bug.
      if (err instanceof OnionscaleError && err.code === 'OSC_ERR_CACHE_VALUE_TOO_LARGE') this.#report('set', k, err);
      else throw err;
    }
    return { value, stored };
  }

  /** Stale-while-revalidate: one background refresh per key here, and per key across instances via the lock. */
  #refresh(k: string, entry: L1Entry, loader: Loader<unknown>, options: GetOrSetOptions | undefined): void {
    if (this.#closed || this.#refreshes.has(k) || this.#o.now() < entry.retryAt) return;
    void this.#refreshes.run(k, async () => {
      let token: string | undefined | null = null;
      try {
        token = await this.#tryLock(k);
        if (token === undefined) {
          // Another instance refreshes; its bus message will evict our stale copy. Do not ask again at once.
          entry.retryAt = this.#o.now() + Math.min(this.#o.graceBackoff, 100);
          return;
        }
        // Someone may have refreshed already. Only a fresh copy replaces ours: our stale entry carries `retryAt`.
        const fresh = token === null ? undefined : await this.#readL2(k, false);
        if (fresh !== undefined && this.#o.now() < fresh.expiresAt) {
          this.#l1?.set(k, fresh);
          return;
        }
        await this.#load(k, loader, options);
      } catch (err) {
        entry.retryAt = this.#o.now() + this.#o.graceBackoff;
        this.#report('refresh', k, err);
      } finally {
        if (typeof token === 'string') this.#unlock(k, token);
      }
    });
  }

  // ---------------------------------------------------------------- writes

  /** Resolves to whether the value reached L2. */
  async #write(k: string, value: unknown, options: EntryOptions | undefined, explicit: boolean): Promise<boolean> {
    if (value === undefined) {
      throw new OnionscaleError('OSC_ERR_CACHE_VALUE_UNDEFINED', explicit ? 'cannot cache undefined' : 'the loader returned undefined', {
        details: { key: k },
      });
    }
    const ttl = entryDuration('ttl', options?.ttl, this.#o.ttl);
    const grace = entryDuration('grace', options?.grace, this.#o.grace);
    const tags = validateTags(options?.tags);
    let payload: string;
    try {
      payload = this.#o.serializer.serialize(value);
    } catch (cause) {
      throw new OnionscaleError('OSC_ERR_CACHE_SERIALIZE', 'the value cannot be serialized', { cause, details: { key: k } });
    }
    if (typeof payload !== 'string') {
      throw new OnionscaleError('OSC_ERR_CACHE_SERIALIZE', 'the serializer did not return a string', { details: { key: k } });
    }
    const max = this.#o.maxValueBytes;
    if (payload.length > max || (payload.length * 3 > max && Buffer.byteLength(payload) > max)) {
      throw new OnionscaleError('OSC_ERR_CACHE_VALUE_TOO_LARGE', `the serialized value is larger than ${max} bytes`, {
        details: { key: k, maxValueBytes: max },
      });
    }
    const now = this.#o.now();
    const expiresAt = now + ttl;
    const staleUntil = expiresAt + grace;
    this.#l1?.set(k, { value, expiresAt, staleUntil, size: Math.max(1, payload.length), tags, retryAt: 0 });
    emit(() => ({ event: 'set', cache: this.#o.name, key: k }));
    if (this.#store !== undefined) {
      // L2 may still hold an older copy that others would read once it is back: delete it then.
      if (!this.#l2Usable()) {
        this.#defer(k, undefined);
        return false;
      }
      try {
        await this.#store.set(k, encodeEnvelope(expiresAt, staleUntil, payload), ttl + grace, tags);
      } catch (err) {
        this.#l2Failed('set', k, err);
        // Others may hold an older L2 copy in L1; the replay deletes the L2 copy once Redis is back.
        this.#defer(k, undefined);
        return false;
      }
    }
    this.#publish([k]);
    return this.#store !== undefined;
  }

  #publish(keys: readonly string[], tag?: string): void {
    if (this.#bus === undefined || (keys.length === 0 && tag === undefined)) return;
    this.#bus.publish(tag === undefined ? { origin: this.instanceId, keys } : { origin: this.instanceId, keys, tag });
  }

  /** Remembers an invalidation L2 could not take; replayed (delete + publish) when L2 is back. */
  #defer(key: string | undefined, tag: string | undefined): void {
    if (this.#store === undefined) return;
    if (this.#pendingKeys.size + this.#pendingTags.size >= MAX_PENDING) {
      this.#report('defer', key, new Error(`more than ${MAX_PENDING} invalidations pending while L2 is away; dropping`));
      return;
    }
    if (key !== undefined) this.#pendingKeys.add(key);
    if (tag !== undefined) this.#pendingTags.add(tag);
    // The bus may still work (e.g. only a command timed out): tell the others now, and again after the replay.
    if (key !== undefined) this.#publish([key]);
    if (tag !== undefined) this.#publish([], tag);
  }

  async #replay(): Promise<void> {
    const store = this.#store;
    if (store === undefined) return;
    const keys = [...this.#pendingKeys];
    const tags = [...this.#pendingTags];
    this.#pendingKeys.clear();
    this.#pendingTags.clear();
    try {
      if (keys.length > 0) await store.delete(keys);
      const tagged: string[] = [];
      for (const tag of tags) tagged.push(...(await store.deleteByTag(tag)));
      if (keys.length > 0) this.#publish(keys);
      for (const tag of tags) this.#publish(tagged, tag);
    } catch (err) {
      for (const k of keys) this.#pendingKeys.add(k);
      for (const t of tags) this.#pendingTags.add(t);
      this.#l2Failed('replay', undefined, err);
    }
  }

  // ---------------------------------------------------------------- L2 state, bus

  #l2Usable(): boolean {
    return this.#store !== undefined && !this.#closed && this.#store.available && Date.now() >= this.#breakerUntil;
  }

  #l2Failed(op: string, key: string | undefined, error: unknown): void {
    this.#breakerUntil = Date.now() + this.#o.breakerCooldown;
    this.#report(op, key, error);
    if (this.#l2Up) {
      this.#l2Up = false;
      emit(() => ({ event: 'l2-state', cache: this.#o.name, up: false }));
      // Half-open after the cooldown: the next call tries L2 again; note the recovery then.
      setTimeout(() => this.#probe(), this.#o.breakerCooldown + 1).unref();
    }
  }

  #probe(): void {
    if (this.#closed || this.#l2Up || this.#store === undefined) return;
    if (this.#store.available) this.#onStoreAvailability(true);
    else setTimeout(() => this.#probe(), this.#o.breakerCooldown + 1).unref();
  }

  #onStoreAvailability(up: boolean): void {
    if (this.#closed) return;
    if (up) this.#breakerUntil = 0;
    if (up === this.#l2Up) return;
    this.#l2Up = up;
    emit(() => ({ event: 'l2-state', cache: this.#o.name, up }));
    if (up && (this.#pendingKeys.size > 0 || this.#pendingTags.size > 0)) void this.#replay();
  }

  #onMessage(message: InvalidationMessage): void {
    if (message.origin === this.instanceId || this.#closed) return;
    for (const k of message.keys) {
      this.#l1?.delete(k);
      const waiters = this.#waiters.get(k);
      if (waiters !== undefined) for (const finish of [...waiters]) finish();
    }
    if (message.tag !== undefined) this.#l1?.deleteTag(message.tag);
    emit(() => ({
      event: 'delete',
      cache: this.#o.name,
      keys: message.keys,
      ...(message.tag === undefined ? {} : { tag: message.tag }),
      remote: true,
    }));
  }

  #onBusConnection(connected: boolean): void {
    emit(() => ({ event: 'bus-state', cache: this.#o.name, up: connected }));
    if (!connected || this.#closed) return;
    // Messages sent while we were not subscribed are lost for good: whatever L1 holds may be stale.
    this.#l1?.clear();
    emit(() => ({ event: 'l1-clear', cache: this.#o.name, reason: 'bus-reconnect' }));
  }

  // ---------------------------------------------------------------- helpers

  #assertOpen(): void {
    if (this.#closed) throw new OnionscaleError('OSC_ERR_CACHE_CLOSED', `cache "${this.#o.name}" is closed`);
  }

  #emitHit(k: string, tier: CacheTier): void {
    if (cacheChannel.hasSubscribers) cacheChannel.publish({ event: 'hit', cache: this.#o.name, key: k, tier });
  }

  #emitStale(k: string, tier: CacheTier): void {
    if (cacheChannel.hasSubscribers) cacheChannel.publish({ event: 'stale', cache: this.#o.name, key: k, tier });
  }

  #report(op: string, key: string | undefined, error: unknown): void {
    emit(() => (key === undefined ? { event: 'error', cache: this.#o.name, op, error } : { event: 'error', cache: this.#o.name, op, key, error }));
  }
}

/** Validation errors of the synchronous fast paths, as the rejection an async API owes its caller. */
function rejected(err: unknown): Promise<never> {
  return Promise.reject(err instanceof Error ? err : new Error(String(err)));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(loader: Loader<T>, ms: number, key: string): Promise<T> {
  if (ms <= 0) return await loader();
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      Promise.resolve().then(loader),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new OnionscaleError('OSC_ERR_CACHE_LOADER_TIMEOUT', `loader took longer than ${ms} ms`, { details: { key } })),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
