/**
 * `node:diagnostics_channel` 'onionscale:events' (STYLE.md §9) for metrics and the dashboard. Messages are built
 * only when someone subscribes.
 */
import { channel } from 'node:diagnostics_channel';

export const EVENTS_CHANNEL = 'onionscale:events';

export type EventsDiagnostic =
  | { type: 'published'; channel: string; id: string | undefined; bytes: number }
  /** One live event reached this instance and was handed to `streams` local streams. */
  | { type: 'delivered'; channel: string; id: string | undefined; streams: number }
  | { type: 'replayed'; events: number; channels: readonly string[] }
  | { type: 'dropped-slow'; channels: readonly string[]; bufferedBytes: number }
  | { type: 'reset'; reason: 'malformed' | 'foreign' | 'future' | 'stale' | 'too-many'; channels: readonly string[] }
  | { type: 'redis-state'; up: boolean }
  | { type: 'error'; op: string; error: unknown };

const diagnostics = channel(EVENTS_CHANNEL);

export function emit(build: () => EventsDiagnostic): void {
  if (diagnostics.hasSubscribers) diagnostics.publish(build());
}
