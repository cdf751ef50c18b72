/**
 * The single-process backend: entries live in this process only, so it suits one app instance, development and
 * fast unit tests. Several instances behind haproxy need the shared two-tier cache instead, or each would hold
 * its own copy and `invalidateTag` would reach only one of them.
 *
 * Values are stored as JSON text, exactly what a Redis-backed store would keep, so anything that does not survive
 * JSON fails here too instead of only in production. lru-cache bounds the memory (by stored bytes) and the TTL.
 */
import { LRUCache } from 'lru-cache';
import { OnionscaleError } from '../../errors.js';
import type { ResponseCacheBackend } from './types.js';

export interface MemoryBackendOptions {
  /** Upper bound on stored JSON text, in UTF-16 code units (≈ bytes for base64 bodies). Default 64 MiB. */
  maxSize?: number;
}

export interface MemoryBackend extends ResponseCacheBackend {
  /** Live keys (for tests and the dashboard). */
  readonly size: number;
  clear(): void;
}

export function createMemoryBackend(options: MemoryBackendOptions = {}): MemoryBackend {
  const maxSize = options.maxSize ?? 64 * 1024 * 1024;
  if (!Number.isInteger(maxSize) || maxSize < 1) {
    throw new OnionscaleError('OSC_ERR_CACHE_OPTIONS', 'memory backend: maxSize must be a positive integer');
  }
  const tagsOf = new Map<string, readonly string[]>();
  const keysOf = new Map<string, Set<string>>();
  const forget = (key: string): void => {
    for (const tag of tagsOf.get(key) ?? []) {
      const keys = keysOf.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) keysOf.delete(tag);
    }
    tagsOf.delete(key);
  };
  const lru = new LRUCache<string, string>({
    maxSize,
    sizeCalculation: (v, k) => v.length + k.length,
    // Eviction, expiry and overwrite all end here, so the tag index never points at a dead key for long.
    dispose: (_v, key, reason) => {
      if (reason !== 'set') forget(key);
    },
    ttlAutopurge: false,
  });

  return {
    get size() {
      lru.purgeStale();
      return lru.size;
    },
    get(key) {
      const text = lru.get(key);
      return Promise.resolve(text === undefined ? undefined : (JSON.parse(text) as unknown));
    },
    set(key, value, { ttl, tags }) {
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch (cause) {
        return Promise.reject(new OnionscaleError('OSC_ERR_CACHE_SERIALIZE', 'memory backend: value is not JSON-serializable', { cause }));
      }
      if (text === undefined) {
        return Promise.reject(new OnionscaleError('OSC_ERR_CACHE_VALUE_UNDEFINED', 'memory backend: value does not serialize to JSON'));
      }
      if (text.length + key.length > maxSize) {
        return Promise.reject(new OnionscaleError('OSC_ERR_CACHE_VALUE_TOO_LARGE', 'memory backend: value larger than maxSize'));
      }
      forget(key);
      lru.set(key, text, { ttl });
      const list = [...new Set(tags ?? [])];
      if (list.length > 0) {
        tagsOf.set(key, list);
        for (const tag of list) {
          let keys = keysOf.get(tag);
          if (!keys) keysOf.set(tag, (keys = new Set()));
          keys.add(key);
        }
      }
      return Promise.resolve();
    },
    deleteByTag(tag) {
      for (const key of [...(keysOf.get(tag) ?? [])]) lru.delete(key);
      keysOf.delete(tag);
      return Promise.resolve();
    },
    clear() {
      lru.clear();
      tagsOf.clear();
      keysOf.clear();
    },
  };
}
