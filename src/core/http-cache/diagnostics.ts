/**
 * Observability through node:diagnostics_channel (STYLE.md §9). When nobody subscribes, publishing costs one
 * `hasSubscribers` check and no allocation. Events carry hashed keys only: URLs can hold tokens.
 */
import { channel } from 'node:diagnostics_channel';
import type { BypassReason } from './types.js';

export const HTTP_CACHE_CHANNEL = 'onionscale:http-cache';

export type HttpCacheEvent =
  | { event: 'hit'; cache: string; key: string }
  | { event: 'miss'; cache: string; key: string }
  | { event: 'bypass'; cache: string; reason: BypassReason; key?: string }
  | { event: 'store'; cache: string; key: string; bytes: number; ttl: number; encodings: readonly string[] }
  /** A request waited for another one filling the same key in this process. */
  | { event: 'wait'; cache: string; key: string; durationMs: number; outcome: 'hit' | 'timeout' | 'miss' }
  | { event: 'invalidate'; cache: string; tag: string }
  | { event: 'fragment'; cache: string; key: string; outcome: 'hit' | 'render' | 'shared' }
  | { event: 'error'; cache: string; op: string; key?: string; error: unknown };

export const httpCacheChannel = channel(HTTP_CACHE_CHANNEL);

export function emit(build: () => HttpCacheEvent): void {
  if (httpCacheChannel.hasSubscribers) httpCacheChannel.publish(build());
}
