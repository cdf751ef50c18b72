/** The public API of the two-tier cache (framework-neutral core). */
export { Cache, type Loader } from './cache.js';
export { createCache } from './factory.js';
export { CACHE_CHANNEL, cacheChannel, type CacheEvent, type CacheTier } from './channels.js';
export { queryKey, internalKey, MAX_KEY_BYTES } from './keys.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { MemoryBus, MemoryBusHub } from './memory-bus.js';
export { RedisStore, type RedisStoreOptions } from './redis-store.js';
export { RedisBus, type RedisBusOptions } from './redis-bus.js';
export { jsonSerializer } from './options.js';
export type {
  AnyRedisClient,
  CacheBus,
  CacheOptions,
  CacheStore,
  EntryOptions,
  GetOrSetOptions,
  InvalidationMessage,
  KeyOptions,
  Serializer,
} from './types.js';
export { ChaosStore } from './chaos-store.js';
