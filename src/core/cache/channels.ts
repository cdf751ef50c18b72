/**
 * Observability through node:diagnostics_channel (STYLE.md §9): metrics and the dashboard subscribe; when nobody
 * does, publishing costs one `hasSubscribers` check and no allocation.
 */
import { channel } from 'node:diagnostics_channel';

/** Every cache event, one message shape (`CacheEvent`) discriminated by `event`. */
export const CACHE_CHANNEL = 'onionscale:cache';

export type CacheTier = 'l1' | 'l2';

export type CacheEvent =
  | { event: 'hit'; cache: string; key: string; tier: CacheTier }
  | { event: 'miss'; cache: string; key: string }
  /** A value past its TTL but inside its grace period was served (a refresh runs or was tried). */
  | { event: 'stale'; cache: string; key: string; tier: CacheTier }
  | { event: 'load'; cache: string; key: string; durationMs: number; ok: boolean }
  /** This instance waited for another instance's loader (cross-instance single-flight). */
  | { event: 'wait'; cache: string; key: string; durationMs: number; outcome: 'value' | 'lock' | 'timeout' }
  | { event: 'set'; cache: string; key: string }
  | { event: 'delete'; cache: string; keys: readonly string[]; tag?: string; remote: boolean }
  | { event: 'l1-clear'; cache: string; reason: 'bus-reconnect' | 'manual' }
  | { event: 'l2-state'; cache: string; up: boolean }
  | { event: 'bus-state'; cache: string; up: boolean }
  | { event: 'error'; cache: string; op: string; key?: string; error: unknown };

export const cacheChannel = channel(CACHE_CHANNEL);

/** Publishes only when someone listens; callers build the message lazily for the same reason. */
export function emit(build: () => CacheEvent): void {
  if (cacheChannel.hasSubscribers) cacheChannel.publish(build());
}
