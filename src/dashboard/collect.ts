/**
 * The dashboard's view of the stack, refreshed every tick: service states from the supervisor's state file, the
 * snapshots instances pushed to Redis (protocol.ts), and Redis's own INFO. Rates and latency quantiles are taken
 * over a sliding window of snapshots (default 10 s) so one slow second shows without dominating for minutes.
 */
import { readFileSync } from 'node:fs';
import type { AnyRedisClient } from '../core/redis/client.js';
import { emptyPhases, histogramQuantile, METRICS_KEY, parseSnapshot, PHASES, type InstanceSnapshot, type PhaseTimes, type SlowRequest } from './protocol.js';

export interface ServiceView {
  name: string;
  kind: string;
  state: string;
  pid?: number;
  restarts: number;
  address?: string;
}

export interface InstanceView {
  instance: string;
  app: string;
  /** Seconds since the last snapshot arrived; `stale` when over 3 intervals. */
  ageS: number;
  stale: boolean;
  reqPerS: number;
  p50?: number;
  p95?: number;
  p99?: number;
  l1Ratio?: number;
  l2Ratio?: number;
  limiterBlocks: number;
  sseStreams: number;
  /** Mean ms per request by phase over the window. */
  phases: PhaseTimes;
  latest: InstanceSnapshot;
}

export interface RedisView {
  up: boolean;
  usedMemory?: number;
  maxMemory?: number;
  evictedKeys?: number;
  connectedClients?: number;
  opsPerSec?: number;
}

export interface Point {
  t: number;
  reqPerS: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  l1Ratio: number | null;
  l2Ratio: number | null;
  sse: number;
  blocksPerS: number;
  redisMemory: number | null;
}

export interface RouteView {
  /** `METHOD /pattern`. */
  route: string;
  reqPerS: number;
  count: number;
  meanMs: number;
  /** Mean ms per request by phase. */
  phases: PhaseTimes;
  /** Share of all request time in the window spent on this route (0..1). */
  share: number;
}

export interface DashboardState {
  at: number;
  phase?: string;
  onions: { service: string; hostname?: string }[];
  services: ServiceView[];
  instances: InstanceView[];
  totals: Omit<InstanceView, 'instance' | 'app' | 'ageS' | 'stale' | 'latest'>;
  redis: RedisView;
  history: Point[];
  slow: (SlowRequest & { instance: string })[];
  /** Over the window, all instances together, most total time first. */
  routes: RouteView[];
}

export interface CollectorOptions {
  redis: AnyRedisClient | undefined;
  stateFile: string | undefined;
  windowMs?: number;
  historyPoints?: number;
}

export class Collector {
  readonly #o: Required<Omit<CollectorOptions, 'redis' | 'stateFile'>> & CollectorOptions;
  /** Per instance: snapshots inside the window, oldest first. */
  readonly #windows = new Map<string, InstanceSnapshot[]>();
  readonly #history: Point[] = [];
  #slow: (SlowRequest & { instance: string })[] = [];
  #state: DashboardState;

  constructor(options: CollectorOptions) {
    this.#o = { windowMs: 10_000, historyPoints: 300, ...options };
    this.#state = this.#compose([], undefined, [], { up: false });
  }

  get state(): DashboardState {
    return this.#state;
  }

  async tick(now = Date.now()): Promise<DashboardState> {
    const { services, phase, onions } = this.#readStateFile();
    const snapshots: InstanceSnapshot[] = [];
    let redis: RedisView = { up: false };
    const client = this.#o.redis;
    if (client?.isReady) {
      try {
        const [hash, info] = await Promise.all([client.hGetAll(METRICS_KEY) as Promise<Record<string, string>>, client.info() as Promise<string>]);
        for (const [field, text] of Object.entries(hash)) {
          const s = parseSnapshot(text);
          // An instance silent for a minute is gone (scaled down, renamed): forget it.
          if (!s || now - s.ts > 60_000) {
            void client.hDel(METRICS_KEY, field).catch(() => undefined);
            continue;
          }
          snapshots.push(s);
        }
        redis = parseInfo(info);
      } catch {
        redis = { up: false };
      }
    }
    for (const s of snapshots) {
      const w = this.#windows.get(s.instance) ?? [];
      const last = w.at(-1);
      if (last && (s.pid !== last.pid || s.requests.total < last.requests.total)) w.length = 0; // restarted
      if (!last || last.ts !== s.ts) {
        w.push(s);
        for (const r of s.slow) this.#slow.push({ ...r, instance: s.instance });
      }
      while (w.length > 2 && s.ts - w[0]!.ts > this.#o.windowMs) w.shift();
      this.#windows.set(s.instance, w);
    }
    for (const name of this.#windows.keys()) if (!snapshots.some((s) => s.instance === name)) this.#windows.delete(name);
    this.#slow = this.#slow.filter((r) => now - r.at < 60_000).sort((a, b) => b.ms - a.ms).slice(0, 15);
    this.#state = this.#compose(services, phase, onions, redis, now);
    this.#history.push(pointOf(this.#state));
    while (this.#history.length > this.#o.historyPoints) this.#history.shift();
    this.#state.history = this.#history;
    return this.#state;
  }

  #readStateFile(): { services: ServiceView[]; phase?: string; onions: DashboardState['onions'] } {
    if (!this.#o.stateFile) return { services: [], onions: [] };
    try {
      const st = JSON.parse(readFileSync(this.#o.stateFile, 'utf8')) as {
        phase?: string;
        services?: ServiceView[];
        onions?: { service: string; hostname?: string }[];
      };
      return {
        services: (st.services ?? []).map((s) => ({ name: s.name, kind: s.kind, state: s.state, pid: s.pid, restarts: s.restarts, address: s.address })),
        phase: st.phase,
        onions: (st.onions ?? []).map((o) => ({ service: o.service, ...(o.hostname ? { hostname: o.hostname } : {}) })),
      };
    } catch {
      return { services: [], onions: [] };
    }
  }

  #compose(services: ServiceView[], phase: string | undefined, onions: DashboardState['onions'], redis: RedisView, now = Date.now()): DashboardState {
    const instances: InstanceView[] = [];
    const routes = new Map<string, { count: number; sumMs: number; phases: PhaseTimes; spanS: number }>();
    const sum = { counts: [] as number[], req: 0, spanS: 0, l1: 0, l2: 0, miss: 0, blocks: 0, sse: 0, phases: emptyPhases(), phaseReq: 0, reqPerS: 0, blocksPerS: 0 };
    for (const [name, w] of this.#windows) {
      const latest = w.at(-1)!;
      const first = w[0]!;
      const spanS = Math.max((latest.ts - first.ts) / 1000, 0.001);
      const counts = latest.latency.counts.map((c, i) => c - (w.length > 1 ? (first.latency.counts[i] ?? 0) : 0));
      const req = latest.requests.total - (w.length > 1 ? first.requests.total : 0);
      const d = (f: (s: InstanceSnapshot) => number) => f(latest) - (w.length > 1 ? f(first) : 0);
      const l1 = d((s) => s.cache.l1Hits);
      const l2 = d((s) => s.cache.l2Hits);
      const miss = d((s) => s.cache.misses);
      const blocks = d((s) => s.limiter.blocked) + d((s) => s.counters.delay_blocks ?? 0);
      const phases = emptyPhases();
      for (const p of PHASES) phases[p] = req > 0 ? d((s) => s.phases[p]) / req : 0;
      const lookups = l1 + l2 + miss;
      const ageS = (now - latest.ts) / 1000;
      const reqPerS = w.length > 1 ? req / spanS : 0;
      instances.push({
        instance: name,
        app: latest.app,
        ageS,
        stale: ageS * 1000 > latest.intervalMs * 3 + 1000,
        reqPerS,
        ...quantiles(counts),
        ...(lookups > 0 ? { l1Ratio: l1 / lookups, l2Ratio: l2 / lookups } : {}),
        limiterBlocks: latest.limiter.blocked + (latest.counters.delay_blocks ?? 0),
        sseStreams: latest.gauges.sse_streams ?? 0,
        phases,
        latest,
      });
      counts.forEach((c, i) => (sum.counts[i] = (sum.counts[i] ?? 0) + c));
      sum.req += req;
      sum.reqPerS += reqPerS;
      sum.blocksPerS += w.length > 1 ? blocks / spanS : 0;
      sum.l1 += l1;
      sum.l2 += l2;
      sum.miss += miss;
      sum.blocks += latest.limiter.blocked + (latest.counters.delay_blocks ?? 0);
      sum.sse += latest.gauges.sse_streams ?? 0;
      for (const p of PHASES) sum.phases[p] += d((s) => s.phases[p]);
      for (const [key, r] of Object.entries(latest.routes ?? {})) {
        const before = w.length > 1 ? first.routes?.[key] : undefined;
        const count = r.count - (before?.count ?? 0);
        if (count <= 0) continue;
        const acc = routes.get(key) ?? { count: 0, sumMs: 0, phases: emptyPhases(), spanS: 0 };
        acc.count += count;
        acc.sumMs += r.sumMs - (before?.sumMs ?? 0);
        for (const p of PHASES) acc.phases[p] += r.phases[p] - (before?.phases[p] ?? 0);
        acc.spanS = Math.max(acc.spanS, w.length > 1 ? spanS : 0);
        routes.set(key, acc);
      }
    }
    const allMs = [...routes.values()].reduce((a, r) => a + r.sumMs, 0);
    const routeViews: RouteView[] = [...routes]
      .map(([route, r]) => {
        const phases = emptyPhases();
        for (const p of PHASES) phases[p] = r.phases[p] / r.count;
        return { route, count: r.count, reqPerS: r.spanS > 0 ? r.count / r.spanS : 0, meanMs: r.sumMs / r.count, phases, share: allMs > 0 ? r.sumMs / allMs : 0 };
      })
      .sort((a, b) => b.share - a.share)
      .slice(0, 20);
    instances.sort((a, b) => a.instance.localeCompare(b.instance, 'en', { numeric: true }));
    const lookups = sum.l1 + sum.l2 + sum.miss;
    const phases = emptyPhases();
    for (const p of PHASES) phases[p] = sum.req > 0 ? sum.phases[p] / sum.req : 0;
    return {
      at: now,
      ...(phase ? { phase } : {}),
      onions,
      services,
      instances,
      totals: {
        reqPerS: sum.reqPerS,
        ...quantiles(sum.counts),
        ...(lookups > 0 ? { l1Ratio: sum.l1 / lookups, l2Ratio: sum.l2 / lookups } : {}),
        limiterBlocks: sum.blocks,
        sseStreams: sum.sse,
        phases,
      },
      redis,
      history: this.#history,
      slow: this.#slow,
      routes: routeViews,
    };
  }
}

function quantiles(counts: number[]): { p50?: number; p95?: number; p99?: number } {
  const out: { p50?: number; p95?: number; p99?: number } = {};
  const p50 = histogramQuantile(counts, 0.5);
  const p95 = histogramQuantile(counts, 0.95);
  const p99 = histogramQuantile(counts, 0.99);
  if (p50 !== undefined) out.p50 = p50;
  if (p95 !== undefined) out.p95 = p95;
  if (p99 !== undefined) out.p99 = p99;
  return out;
}

function pointOf(s: DashboardState): Point {
  return {
    t: s.at,
    reqPerS: s.totals.reqPerS,
    p50: s.totals.p50 ?? null,
    p95: s.totals.p95 ?? null,
    p99: s.totals.p99 ?? null,
    l1Ratio: s.totals.l1Ratio ?? null,
    l2Ratio: s.totals.l2Ratio ?? null,
    sse: s.totals.sseStreams,
    blocksPerS: 0,
    redisMemory: s.redis.usedMemory ?? null,
  };
}

export function parseInfo(info: string): RedisView {
  const fields = new Map<string, string>();
  for (const line of info.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) fields.set(line.slice(0, i), line.slice(i + 1).trim());
  }
  const num = (k: string) => {
    const v = Number(fields.get(k));
    return Number.isFinite(v) ? v : undefined;
  };
  const view: RedisView = { up: true };
  const set = <K extends keyof RedisView>(k: K, v: RedisView[K] | undefined) => {
    if (v !== undefined) view[k] = v;
  };
  set('usedMemory', num('used_memory'));
  set('maxMemory', num('maxmemory'));
  set('evictedKeys', num('evicted_keys'));
  set('connectedClients', num('connected_clients'));
  set('opsPerSec', num('instantaneous_ops_per_sec'));
  return view;
}
