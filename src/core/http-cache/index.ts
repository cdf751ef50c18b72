/** Public surface of the HTTP response cache and fragment helper; adapters and the package root re-export it. */
export { createResponseCache, type Lookup, type Miss, type ResponseCache } from './response-cache.js';
export { createFragments, type Fragment, type FragmentOptions, type Fragments, type FragmentsOptions } from './fragment.js';
export { createMemoryBackend, type MemoryBackend, type MemoryBackendOptions } from './memory-backend.js';
export { HTTP_CACHE_CHANNEL, httpCacheChannel, type HttpCacheEvent } from './diagnostics.js';
export { defaultCompressible, DEFAULT_SESSION_COOKIES, DEFAULT_STATUSES } from './options.js';
export type {
  BypassReason,
  CacheRequest,
  CapturedResponse,
  CompressionOptions,
  Encoding,
  PerRequest,
  ResponseCacheBackend,
  ResponseCacheOptions,
  ServedResponse,
} from './types.js';
