/**
 * A `CacheStore` wrapper that injects failures and latency (bentocache's chaos idea): fault tests drive the cache's
 * degradation paths deterministically, without killing processes.
 */
import type { CacheStore, GetOrLockResult } from './types.js';

export class ChaosStore implements CacheStore {
  readonly #inner: CacheStore;
  /** When set, every call rejects with this error. */
  failWith: Error | undefined;
  /** Extra latency per call in ms. */
  latencyMs = 0;
  /** Reported availability override (`undefined` = the inner store's). */
  availableOverride: boolean | undefined;
  /** Calls that reached this wrapper, by method name. */
  readonly calls = new Map<string, number>();
  readonly #listeners: ((available: boolean) => void)[] = [];

  constructor(inner: CacheStore) {
    this.#inner = inner;
    inner.onAvailability((a) => {
      for (const l of this.#listeners) l(a);
    });
  }

  /** Flips the reported availability and tells listeners, like a Redis client going down or coming back. */
  setAvailable(available: boolean | undefined): void {
    this.availableOverride = available;
    for (const l of this.#listeners) l(this.available);
  }

  get available(): boolean {
    return this.availableOverride ?? this.#inner.available;
  }

  onAvailability(listener: (available: boolean) => void): void {
    this.#listeners.push(listener);
  }

  async #wrap<T>(name: string, call: () => Promise<T>): Promise<T> {
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (this.failWith) throw this.failWith;
    return call();
  }

  get(key: string): Promise<string | undefined> {
    return this.#wrap('get', () => this.#inner.get(key));
  }
  set(key: string, value: string, ttlMs: number, tags?: readonly string[]): Promise<void> {
    return this.#wrap('set', () => this.#inner.set(key, value, ttlMs, tags));
  }
  getOrLock(key: string, lockTtlMs: number): Promise<GetOrLockResult> {
    return this.#wrap('getOrLock', () => this.#inner.getOrLock(key, lockTtlMs));
  }
  delete(keys: readonly string[]): Promise<number> {
    return this.#wrap('delete', () => this.#inner.delete(keys));
  }
  deleteByTag(tag: string): Promise<string[]> {
    return this.#wrap('deleteByTag', () => this.#inner.deleteByTag(tag));
  }
  acquireLock(key: string, ttlMs: number): Promise<string | undefined> {
    return this.#wrap('acquireLock', () => this.#inner.acquireLock(key, ttlMs));
  }
  releaseLock(key: string, token: string): Promise<boolean> {
    return this.#wrap('releaseLock', () => this.#inner.releaseLock(key, token));
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
  destroy(): void {
    this.#inner.destroy();
  }

  count(name: string): number {
    return this.calls.get(name) ?? 0;
  }
}
