/**
 * The in-memory `CacheStore`: single-process mode and fast unit tests. Same contract as the Redis store (the
 * contract suite runs on both); expiry is lazy, checked on read, with an occasional sweep so dead entries do not pile
 * up in a long-running process.
 */
import { randomUUID } from 'node:crypto';
import { OnionscaleError } from '../../errors.js';
import type { CacheStore, GetOrLockResult } from './types.js';

interface Item {
  value: string;
  expiresAt: number;
}

export interface MemoryStoreOptions {
  /** Injected clock (ms), for tests. */
  now?: () => number;
}

export class MemoryStore implements CacheStore {
  readonly #items = new Map<string, Item>();
  readonly #tags = new Map<string, Set<string>>();
  readonly #locks = new Map<string, { token: string; expiresAt: number }>();
  /** Locks taken by `getOrLock`: they live "in the key", so writing or deleting the key ends them. */
  readonly #coldLocks = new Map<string, { token: string; expiresAt: number }>();
  readonly #now: () => number;
  #closed = false;
  #writes = 0;

  constructor(options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  get available(): boolean {
    return !this.#closed;
  }

  onAvailability(): void {
    // Always available until closed; nothing to report.
  }

  #check(): void {
    if (this.#closed) throw new OnionscaleError('OSC_ERR_CACHE_CLOSED', 'memory store is closed');
  }

  async get(key: string): Promise<string | undefined> {
    this.#check();
    const item = this.#items.get(key);
    if (item === undefined) return Promise.resolve(undefined);
    if (item.expiresAt <= this.#now()) {
      this.#items.delete(key);
      return Promise.resolve(undefined);
    }
    return Promise.resolve(item.value);
  }

  async set(key: string, value: string, ttlMs: number, tags?: readonly string[]): Promise<void> {
    this.#check();
    this.#coldLocks.delete(key);
    this.#items.set(key, { value, expiresAt: this.#now() + ttlMs });
    if (tags) {
      for (const tag of tags) {
        let set = this.#tags.get(tag);
        if (!set) this.#tags.set(tag, (set = new Set()));
        set.add(key);
      }
    }
    if (++this.#writes % 1024 === 0) this.#sweep();
    return Promise.resolve();
  }

  async delete(keys: readonly string[]): Promise<number> {
    this.#check();
    let n = 0;
    const now = this.#now();
    for (const key of keys) {
      const item = this.#items.get(key);
      if (item && item.expiresAt > now) n++;
      this.#items.delete(key);
      this.#coldLocks.delete(key);
    }
    return Promise.resolve(n);
  }

  async deleteByTag(tag: string): Promise<string[]> {
    this.#check();
    const set = this.#tags.get(tag);
    if (!set) return Promise.resolve([]);
    this.#tags.delete(tag);
    const keys = [...set];
    for (const key of keys) {
      this.#items.delete(key);
      this.#coldLocks.delete(key);
    }
    return Promise.resolve(keys);
  }

  async acquireLock(key: string, ttlMs: number): Promise<string | undefined> {
    this.#check();
    const now = this.#now();
    const held = this.#locks.get(key);
    if (held && held.expiresAt > now) return Promise.resolve(undefined);
    const token = randomUUID();
    this.#locks.set(key, { token, expiresAt: now + ttlMs });
    return Promise.resolve(token);
  }

  async getOrLock(key: string, lockTtlMs: number): Promise<GetOrLockResult> {
    const value = await this.get(key);
    if (value !== undefined) return { value };
    const now = this.#now();
    const held = this.#coldLocks.get(key);
    if (held && held.expiresAt > now) return { token: undefined };
    const token = randomUUID();
    this.#coldLocks.set(key, { token, expiresAt: now + lockTtlMs });
    return { token };
  }

  async releaseLock(key: string, token: string): Promise<boolean> {
    this.#check();
    return Promise.resolve(this.#release(key, token));
  }

  #release(key: string, token: string): boolean {
    for (const locks of [this.#locks, this.#coldLocks]) {
      const held = locks.get(key);
      if (held && held.token === token && held.expiresAt > this.#now()) {
        locks.delete(key);
        return true;
      }
    }
    return false;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, item] of this.#items) if (item.expiresAt <= now) this.#items.delete(key);
    for (const locks of [this.#locks, this.#coldLocks]) {
      for (const [key, lock] of locks) if (lock.expiresAt <= now) locks.delete(key);
    }
    for (const [tag, set] of this.#tags) {
      for (const key of set) if (!this.#items.has(key)) set.delete(key);
      if (set.size === 0) this.#tags.delete(tag);
    }
  }

  close(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  destroy(): void {
    this.#closed = true;
    this.#items.clear();
    this.#tags.clear();
    this.#locks.clear();
    this.#coldLocks.clear();
  }
}
