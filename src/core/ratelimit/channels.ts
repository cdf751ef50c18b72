/**
 * Rate-limit observability through node:diagnostics_channel (STYLE.md §9): metrics count decisions by outcome and
 * source; fallbacks and Redis state changes are reported once each. Free when nobody subscribes.
 */
import { channel } from 'node:diagnostics_channel';
import type { DecisionSource } from './types.js';

export const RATELIMIT_CHANNEL = 'onionscale:ratelimit';

export type RateLimitEvent =
  | { event: 'decision'; limiter: string; allowed: boolean; source: DecisionSource; blockedBy?: string | undefined }
  /** A decision was answered without Redis (memory, open or closed) because of `error` or a tripped breaker. */
  | { event: 'fallback'; limiter: string; mode: 'local' | 'open' | 'closed'; error?: unknown }
  | { event: 'redis-state'; limiter: string; up: boolean };

export const rateLimitChannel = channel(RATELIMIT_CHANNEL);

export function emit(build: () => RateLimitEvent): void {
  if (rateLimitChannel.hasSubscribers) rateLimitChannel.publish(build());
}
