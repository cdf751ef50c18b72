/**
 * L1: a bounded in-process LRU (lru-cache, bounded by entries and bytes) of *deserialized* values, so an L1 hit does
 * no JSON work. Entries carry their own freshness; lru-cache's TTL machinery stays off (we need fresh vs stale,
 * which it does not model). A local tag index lets `deleteByTag` evict entries even when Redis cannot be asked.
 */
import { LRUCache } from 'lru-cache';

export interface L1Entry {
  value: unknown;
  expiresAt: number;
  staleUntil: number;
  /** Serialized size, the unit of the byte bound. */
  size: number;
  tags: readonly string[] | undefined;
  /** After a failed refresh: no new refresh before this time (ms). */
  retryAt: number;
}

export class L1 {
  readonly #lru: LRUCache<string, L1Entry>;
  readonly #tags = new Map<string, Set<string>>();

  constructor(maxEntries: number, maxBytes: number) {
    this.#lru = new LRUCache<string, L1Entry>({
      max: maxEntries,
      maxSize: maxBytes,
      sizeCalculation: (entry) => entry.size,
      dispose: (entry, key) => {
        if (entry.tags !== undefined) this.#unindex(key, entry.tags);
      },
    });
  }

  get(key: string): L1Entry | undefined {
    return this.#lru.get(key);
  }

  set(key: string, entry: L1Entry): void {
    this.#lru.set(key, entry);
    if (entry.tags === undefined || !this.#lru.has(key)) return; // too big for L1: nothing to index
    for (const tag of entry.tags) {
      let keys = this.#tags.get(tag);
      if (keys === undefined) this.#tags.set(tag, (keys = new Set()));
      keys.add(key);
    }
  }

  delete(key: string): void {
    this.#lru.delete(key);
  }

  /** Evicts every local entry indexed under `tag`; returns their keys. */
  deleteTag(tag: string): string[] {
    const keys = this.#tags.get(tag);
    if (keys === undefined) return [];
    const list = [...keys];
    for (const key of list) this.#lru.delete(key);
    this.#tags.delete(tag);
    return list;
  }

  clear(): void {
    this.#lru.clear();
    this.#tags.clear();
  }

  get size(): number {
    return this.#lru.size;
  }

  get bytes(): number {
    return this.#lru.calculatedSize;
  }

  #unindex(key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      const keys = this.#tags.get(tag);
      if (keys === undefined) continue;
      keys.delete(key);
      if (keys.size === 0) this.#tags.delete(tag);
    }
  }
}
