/**
 * `onionscale/metrics`: what an app instance reports to the dashboard. It counts requests, latency and per-request
 * time by phase (cache, Redis, database, render), listens to the library's diagnostics channels (cache hits by tier,
 * fragments, limiter decisions) and pushes a snapshot to Redis every `interval` (see protocol.ts for why push).
 *
 *   const metrics = createInstanceMetrics({ redis: { client } });
 *   app.use((req, res, next) => metrics.track(req.method, () => routeOf(req), res, next));
 *   const rows = metrics.phase('db', () => db.query());            // time charged to the current request
 *
 * Timings never reach a response: they go to Redis, and from there to the dashboard on 127.0.0.1 only.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';
import type { RedisClientOptions } from 'redis';
import { CACHE_CHANNEL, type CacheEvent } from '../core/cache/channels.js';
import { HTTP_CACHE_CHANNEL, type HttpCacheEvent } from '../core/http-cache/diagnostics.js';
import { RATELIMIT_CHANNEL, type RateLimitEvent } from '../core/ratelimit/channels.js';
import { createOwnedClient, type AnyRedisClient } from '../core/redis/client.js';
import { redisOptionsFromEnv } from '../core/redis/env.js';
import { parseDuration, type Duration } from '../units.js';
import { emptyPhases, LATENCY_BUCKETS_MS, MAX_ROUTES, METRICS_KEY, type InstanceSnapshot, type Phase, type PhaseTimes, type RouteStats, type SlowRequest } from './protocol.js';

export * from './protocol.js';

export interface InstanceMetricsOptions {
  /** `{ client }` (yours, never closed), `{ options }` (ours), `false` (count only, push nothing). Omitted: ONIONSCALE_REDIS. */
  redis?: { client: AnyRedisClient } | { options: RedisClientOptions } | false;
  /** Default `$ONIONSCALE_INSTANCE`, else `instance-<pid>`. */
  instance?: string;
  /** Default `$ONIONSCALE_APP`, else `app`. */
  app?: string;
  /** How often a snapshot is pushed. Default `'1s'`. */
  interval?: Duration;
  /** Count only events of these cache names (default: all). */
  caches?: readonly string[];
}

interface Frame {
  phase: Phase;
  start: number;
  /** Time spent in nested phases, not charged to this one. */
  nested: number;
  parent: Frame | undefined;
}

interface RequestTiming {
  phases: PhaseTimes;
  top: Frame | undefined;
}

export class InstanceMetrics {
  readonly instance: string;
  readonly app: string;
  readonly intervalMs: number;
  readonly #als = new AsyncLocalStorage<RequestTiming>();
  readonly #startedAt = Date.now();
  readonly #requests = { total: 0, byClass: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 } };
  readonly #latency = { counts: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), sumMs: 0 };
  readonly #phases = emptyPhases();
  readonly #cache = { l1Hits: 0, l2Hits: 0, misses: 0, stale: 0, loads: 0 };
  readonly #fragments = { hits: 0, renders: 0 };
  readonly #limiter = { allowed: 0, blocked: 0 };
  readonly #counters: Record<string, number> = {};
  readonly #gauges = new Map<string, () => number>();
  #slow: SlowRequest[] = [];
  readonly #routes = new Map<string, RouteStats>();
  readonly #caches: ReadonlySet<string> | undefined;
  readonly #client: AnyRedisClient | undefined;
  readonly #ownsClient: boolean;
  readonly #timer: NodeJS.Timeout | undefined;
  #closed = false;

  readonly #onCache = (m: unknown) => {
    const e = m as CacheEvent;
    if (this.#caches && !this.#caches.has(e.cache)) return;
    if (e.event === 'hit') {
      if (e.tier === 'l1') this.#cache.l1Hits++;
      else this.#cache.l2Hits++;
    } else if (e.event === 'miss') this.#cache.misses++;
    else if (e.event === 'stale') this.#cache.stale++;
    else if (e.event === 'load') this.#cache.loads++;
  };
  readonly #onHttp = (m: unknown) => {
    const e = m as HttpCacheEvent;
    if (e.event !== 'fragment') return;
    if (e.outcome === 'hit') this.#fragments.hits++;
    else if (e.outcome === 'render') this.#fragments.renders++;
  };
  readonly #onLimit = (m: unknown) => {
    const e = m as RateLimitEvent;
    if (e.event !== 'decision') return;
    if (e.allowed) this.#limiter.allowed++;
    else this.#limiter.blocked++;
  };

  constructor(options: InstanceMetricsOptions = {}) {
    this.instance = options.instance ?? process.env.ONIONSCALE_INSTANCE ?? `instance-${process.pid}`;
    this.app = options.app ?? process.env.ONIONSCALE_APP ?? 'app';
    const interval = options.interval ?? 1000;
    this.intervalMs = typeof interval === 'number' ? interval : (parseDuration(interval) ?? 1000);
    this.#caches = options.caches ? new Set(options.caches) : undefined;
    if (options.redis === false) {
      this.#client = undefined;
      this.#ownsClient = false;
    } else if (options.redis && 'client' in options.redis) {
      this.#client = options.redis.client;
      this.#ownsClient = false;
    } else {
      const opts = options.redis?.options ?? redisOptionsFromEnv();
      this.#client = opts ? createOwnedClient(opts) : undefined;
      this.#ownsClient = this.#client !== undefined;
    }
    subscribe(CACHE_CHANNEL, this.#onCache);
    subscribe(HTTP_CACHE_CHANNEL, this.#onHttp);
    subscribe(RATELIMIT_CHANNEL, this.#onLimit);
    if (this.#client) {
      this.#timer = setInterval(() => void this.push(), this.intervalMs);
      this.#timer.unref();
    }
  }

  /**
   * Time one request: runs `next` inside the request's timing context and records it when the response finishes.
   * `route` is read at the end (routers resolve it late); use the pattern, never the raw URL.
   */
  track(method: string, route: () => string, res: ServerResponse, next: () => void): void {
    const timing: RequestTiming = { phases: emptyPhases(), top: undefined };
    const start = performance.now();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      // An event stream lives for minutes: it is counted (and its open count is a gauge), not timed as a request.
      if (String(res.getHeader('content-type') ?? '').startsWith('text/event-stream')) {
        this.count('sse_streams_closed');
        return;
      }
      this.#record(method, route(), res.statusCode, performance.now() - start, timing.phases);
    };
    res.once('finish', finish);
    res.once('close', finish);
    this.#als.run(timing, next);
  }

  /** Run `fn` (sync or async) and charge its time to `phase` of the current request (nested phases excluded). */
  phase<T>(phase: Phase, fn: () => T): T {
    const timing = this.#als.getStore();
    if (!timing) return fn();
    const frame: Frame = { phase, start: performance.now(), nested: 0, parent: timing.top };
    const end = () => {
      const elapsed = performance.now() - frame.start;
      timing.phases[phase] += Math.max(0, elapsed - frame.nested);
      if (frame.parent) frame.parent.nested += elapsed;
    };
    // A child context (same phase totals, this frame on top), so phases nested in fn's async continuations see it.
    let out: T;
    try {
      out = this.#als.run({ phases: timing.phases, top: frame }, fn);
    } catch (err) {
      end();
      throw err;
    }
    if (out instanceof Promise) return out.finally(end) as T;
    end();
    return out;
  }

  /** Charge `ms` to `phase` of the current request (for work timed by hand, e.g. around a callback middleware). */
  add(phase: Phase, ms: number): void {
    const timing = this.#als.getStore();
    if (!timing) return;
    timing.phases[phase] += ms;
    if (timing.top) timing.top.nested += ms;
  }

  count(name: string, n = 1): void {
    this.#counters[name] = (this.#counters[name] ?? 0) + n;
  }

  gauge(name: string, read: () => number): void {
    this.#gauges.set(name, read);
  }

  snapshot(): InstanceSnapshot {
    const gauges: Record<string, number> = {};
    for (const [name, read] of this.#gauges) {
      try {
        gauges[name] = read();
      } catch {
        // a broken gauge is left out, never breaks the report
      }
    }
    return {
      v: 1,
      instance: this.instance,
      app: this.app,
      pid: process.pid,
      startedAt: this.#startedAt,
      ts: Date.now(),
      intervalMs: this.intervalMs,
      requests: { total: this.#requests.total, byClass: { ...this.#requests.byClass } },
      latency: { counts: [...this.#latency.counts], sumMs: this.#latency.sumMs },
      phases: { ...this.#phases },
      cache: { ...this.#cache },
      fragments: { ...this.#fragments },
      limiter: { ...this.#limiter },
      counters: { ...this.#counters },
      gauges,
      slow: this.#slow,
      routes: Object.fromEntries([...this.#routes].map(([k, r]) => [k, { count: r.count, sumMs: r.sumMs, phases: { ...r.phases } }])),
    };
  }

  /** Push one snapshot now (also done every `interval`). Never rejects. */
  async push(): Promise<void> {
    const client = this.#client;
    if (!client?.isReady || this.#closed) return;
    const snap = this.snapshot();
    this.#slow = [];
    try {
      await client.hSet(METRICS_KEY, this.instance, JSON.stringify(snap));
    } catch {
      // Redis away: the dashboard shows this instance as silent; counts go on and the next push carries them.
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    unsubscribe(CACHE_CHANNEL, this.#onCache);
    unsubscribe(HTTP_CACHE_CHANNEL, this.#onHttp);
    unsubscribe(RATELIMIT_CHANNEL, this.#onLimit);
    if (this.#ownsClient && this.#client?.isOpen) await this.#client.close().catch(() => {});
  }

  #record(method: string, route: string, status: number, ms: number, phases: PhaseTimes): void {
    this.#requests.total++;
    const cls = status >= 500 ? '5xx' : status >= 400 ? '4xx' : status >= 300 ? '3xx' : '2xx';
    this.#requests.byClass[cls]++;
    let i = LATENCY_BUCKETS_MS.findIndex((b) => ms <= b);
    if (i < 0) i = LATENCY_BUCKETS_MS.length;
    this.#latency.counts[i]!++;
    this.#latency.sumMs += ms;
    for (const p of Object.keys(phases) as Phase[]) this.#phases[p] += phases[p];
    let key = `${method} ${route}`;
    if (!this.#routes.has(key) && this.#routes.size >= MAX_ROUTES) key = 'other';
    let r = this.#routes.get(key);
    if (!r) this.#routes.set(key, (r = { count: 0, sumMs: 0, phases: emptyPhases() }));
    r.count++;
    r.sumMs += ms;
    for (const p of Object.keys(phases) as Phase[]) r.phases[p] += phases[p];
    const entry: SlowRequest = { route, method, status, ms: round(ms), phases: roundPhases(phases), at: Date.now() };
    if (this.#slow.length < 5) this.#slow.push(entry);
    else {
      const min = this.#slow.reduce((m, s, j) => (s.ms < this.#slow[m]!.ms ? j : m), 0);
      if (this.#slow[min]!.ms < entry.ms) this.#slow[min] = entry;
    }
  }
}

const round = (n: number) => Math.round(n * 100) / 100;
const roundPhases = (p: PhaseTimes): PhaseTimes => ({ cache: round(p.cache), redis: round(p.redis), db: round(p.db), render: round(p.render) });

export function createInstanceMetrics(options?: InstanceMetricsOptions): InstanceMetrics {
  return new InstanceMetrics(options);
}
