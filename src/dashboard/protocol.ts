/**
 * What an instance reports to the dashboard (issue 6). Instances PUSH a snapshot to one Redis hash instead of
 * exposing a metrics endpoint: nothing new listens, so nothing new can be reached through haproxy / the onion, and
 * the dashboard needs nothing but the Redis it already trusts. Cost: one HSET per instance per interval.
 *
 * Counters are cumulative since the instance started (the dashboard takes differences between snapshots, and a
 * smaller value means the instance restarted); the latency histogram is cumulative too, Prometheus-style.
 */

/** The Redis hash: field = instance id, value = JSON `InstanceSnapshot`. */
export const METRICS_KEY = 'osc:metrics';

/** Upper bounds (ms) of the latency histogram buckets; a last, implicit bucket catches the rest (+Inf). */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 10, 15, 20, 30, 40, 60, 80, 100, 150, 200, 300, 400, 600, 800, 1000, 1500, 2000, 3000, 5000, 10000,
];

export const PHASES = ['cache', 'redis', 'db', 'render'] as const;
export type Phase = (typeof PHASES)[number];
export type PhaseTimes = Record<Phase, number>;

export interface SlowRequest {
  /** The route pattern (`/t/:id`), never the URL: URLs can carry tokens. */
  route: string;
  method: string;
  status: number;
  ms: number;
  phases: PhaseTimes;
  at: number;
}

/** Cumulative per route pattern: where the time goes, route by route. */
export interface RouteStats {
  count: number;
  sumMs: number;
  phases: PhaseTimes;
}

/** Routes kept per instance; the rest are counted under `other` (route patterns are few; this bounds a bug). */
export const MAX_ROUTES = 100;

export interface InstanceSnapshot {
  v: 1;
  instance: string;
  app: string;
  pid: number;
  startedAt: number;
  /** When this snapshot was taken (ms since the epoch). */
  ts: number;
  intervalMs: number;
  requests: { total: number; byClass: Record<'2xx' | '3xx' | '4xx' | '5xx', number> };
  /** Counts per `LATENCY_BUCKETS_MS` bucket, plus one for +Inf; `sumMs` as in a Prometheus histogram. */
  latency: { counts: number[]; sumMs: number };
  /** Summed milliseconds spent per phase over all requests. */
  phases: PhaseTimes;
  cache: { l1Hits: number; l2Hits: number; misses: number; stale: number; loads: number };
  fragments: { hits: number; renders: number };
  limiter: { allowed: number; blocked: number };
  /** Free-form counters and gauges the app adds (`sse_streams`, `delay_blocks`, …). */
  counters: Record<string, number>;
  gauges: Record<string, number>;
  /** The slowest requests of the last interval (at most 5). */
  slow: SlowRequest[];
  /** Keyed `METHOD route`. */
  routes: Record<string, RouteStats>;
}

export function emptyPhases(): PhaseTimes {
  return { cache: 0, redis: 0, db: 0, render: 0 };
}

/** Parse and sanity-check a snapshot read from Redis; anything else is ignored (undefined). */
export function parseSnapshot(text: string): InstanceSnapshot | undefined {
  try {
    const s = JSON.parse(text) as Partial<InstanceSnapshot>;
    if (s.v !== 1 || typeof s.instance !== 'string' || typeof s.ts !== 'number' || !Array.isArray(s.latency?.counts)) return undefined;
    return s as InstanceSnapshot;
  } catch {
    return undefined;
  }
}

/** Quantile (0..1) of a histogram by linear interpolation inside the bucket; undefined when empty. */
export function histogramQuantile(counts: readonly number[], q: number): number | undefined {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total <= 0) return undefined;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0;
    if (c > 0 && seen + c >= rank) {
      const lo = i === 0 ? 0 : LATENCY_BUCKETS_MS[i - 1]!;
      const hi = LATENCY_BUCKETS_MS[i] ?? lo * 2;
      return lo + ((hi - lo) * (rank - seen)) / c;
    }
    seen += c;
  }
  return LATENCY_BUCKETS_MS.at(-1);
}
