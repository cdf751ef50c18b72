import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { createCache } from '../core/cache/factory.js';
import { createRateLimiter } from '../core/ratelimit/limiter.js';
import { Collector, parseInfo, type DashboardState } from './collect.js';
import { histogramQuantile, LATENCY_BUCKETS_MS, parseSnapshot } from './protocol.js';
import { chart, renderPage, renderPrometheus } from './render.js';
import { createInstanceMetrics } from './reporter.js';

/** What `track` needs of a response: its status and the finish event. */
function response(status = 200, contentType = 'text/html'): ServerResponse & EventEmitter {
  return Object.assign(new EventEmitter(), { statusCode: status, getHeader: (name: string) => (name === 'content-type' ? contentType : undefined) }) as unknown as ServerResponse &
    EventEmitter;
}
const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

test('histogram quantiles interpolate inside the bucket; empty → undefined', () => {
  const counts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  assert.equal(histogramQuantile(counts, 0.5), undefined);
  const i = LATENCY_BUCKETS_MS.indexOf(10);
  counts[i] = 100; // everything between 8 and 10 ms
  const p50 = histogramQuantile(counts, 0.5)!;
  assert.ok(p50 > 8 && p50 <= 10, String(p50));
  counts[LATENCY_BUCKETS_MS.indexOf(1000)] = 2;
  assert.ok(histogramQuantile(counts, 0.99)! > 800);
  assert.ok(histogramQuantile(counts, 0.5)! <= 10);
});

test('per-request phases are exclusive: a database call inside a cache lookup is not counted twice', async () => {
  const m = createInstanceMetrics({ redis: false, instance: 'i-1' });
  const res = response();
  await new Promise<void>((done) => {
    m.track('GET', () => '/t/:id', res, () => {
      void (async () => {
        await m.phase('cache', async () => {
          await new Promise((r) => setTimeout(r, 20));
          m.phase('db', () => busy(10));
        });
        m.phase('render', () => busy(3));
        res.emit('finish');
        done();
      })();
    });
  });
  const s = m.snapshot();
  await m.close();
  assert.equal(s.requests.total, 1);
  assert.equal(s.requests.byClass['2xx'], 1);
  assert.ok(s.phases.db >= 9.5, `db ${s.phases.db}`);
  assert.ok(s.phases.render >= 2.5, `render ${s.phases.render}`);
  assert.ok(s.phases.cache >= 15, `cache ${s.phases.cache}`);
  const total = s.latency.sumMs;
  assert.ok(s.phases.cache + s.phases.db + s.phases.render <= total + 1, `phases ${JSON.stringify(s.phases)} > total ${total}`);
  assert.equal(s.slow[0]?.route, '/t/:id');
  assert.equal(s.routes['GET /t/:id']?.count, 1);
  assert.ok((s.routes['GET /t/:id']?.phases.db ?? 0) >= 9.5);
  assert.equal(s.latency.counts.reduce((a, b) => a + b, 0), 1);
});

test('event streams are counted, not timed as requests (they would swamp the latency percentiles)', async () => {
  const m = createInstanceMetrics({ redis: false });
  const res = response(200, 'text/event-stream; charset=utf-8');
  m.track('GET', () => '/events', res, () => res.emit('close'));
  const s = m.snapshot();
  await m.close();
  assert.equal(s.requests.total, 0);
  assert.equal(s.counters.sse_streams_closed, 1);
  assert.deepEqual(s.routes, {});
});

test('cache tiers and limiter blocks are counted from the diagnostics channels', async () => {
  const m = createInstanceMetrics({ redis: false, caches: ['counted'] });
  const cache = createCache({ name: 'counted', l2: false });
  const other = createCache({ name: 'ignored', l2: false });
  await cache.getOrSet('k', () => 1);
  await cache.getOrSet('k', () => 2);
  await other.getOrSet('k', () => 1);
  const limiter = createRateLimiter({ redis: false, rules: [{ name: 'one', algorithm: 'fixed-window', limit: 1, window: '1m', by: ['route'] }] });
  await limiter.check({ route: '/login' });
  await limiter.check({ route: '/login' });
  m.count('delay_blocks', 2);
  m.gauge('sse_streams', () => 7);
  m.gauge('broken', () => {
    throw new Error('no');
  });
  const s = m.snapshot();
  await Promise.all([m.close(), cache.close(), other.close(), limiter.close()]);
  assert.deepEqual(s.cache, { l1Hits: 1, l2Hits: 0, misses: 1, stale: 0, loads: 1 });
  assert.ok(s.limiter.blocked >= 1 && s.limiter.allowed >= 1, JSON.stringify(s.limiter));
  assert.equal(s.counters.delay_blocks, 2);
  assert.deepEqual(s.gauges, { sse_streams: 7 });
  assert.ok(parseSnapshot(JSON.stringify(s)));
  assert.equal(parseSnapshot('{"v":2}'), undefined);
  assert.equal(parseSnapshot('not json'), undefined);
});

test('Redis INFO is parsed; the page and /metrics render the same figures', async () => {
  const info = parseInfo('# Memory\r\nused_memory:1048576\r\nmaxmemory:268435456\r\n# Stats\r\nevicted_keys:12\r\nconnected_clients:4\r\ninstantaneous_ops_per_sec:99\r\n');
  assert.deepEqual(info, { up: true, usedMemory: 1048576, maxMemory: 268435456, evictedKeys: 12, connectedClients: 4, opsPerSec: 99 });

  // No Redis, no state file: an empty but well-formed state.
  const collector = new Collector({ redis: undefined, stateFile: '/nonexistent/state.json' });
  const empty = await collector.tick();
  assert.deepEqual(empty.instances, []);
  assert.equal(empty.history.length, 1);

  const m = createInstanceMetrics({ redis: false, instance: 'web-1' });
  const snap = m.snapshot();
  await m.close();
  snap.latency.counts[3] = 5;
  snap.requests.total = 5;
  snap.routes = { 'GET /t/:id': { count: 4, sumMs: 3.2, phases: { cache: 1, redis: 0, db: 2, render: 0.1 } } };
  const state: DashboardState = {
    ...empty,
    services: [{ name: 'web-1', kind: 'app', state: 'ready', restarts: 1 }],
    instances: [{ instance: 'web-1', app: 'web', ageS: 0.2, stale: false, reqPerS: 2.5, p50: 0.9, limiterBlocks: 3, sseStreams: 2, phases: { cache: 1, redis: 0.5, db: 2, render: 0.1 }, latest: snap }],
    redis: info,
  };
  const prom = renderPrometheus(state);
  assert.match(prom, /^onionscale_http_request_duration_ms_bucket\{instance="web-1",le="\+Inf"\} 5$/m);
  assert.match(prom, /^onionscale_http_request_duration_ms_bucket\{instance="web-1",le="0\.75"\} 0$/m);
  assert.match(prom, /^onionscale_http_request_duration_ms_bucket\{instance="web-1",le="1"\} 5$/m);
  assert.match(prom, /^onionscale_limiter_blocks_total\{instance="web-1"\} 3$/m);
  assert.match(prom, /^onionscale_redis_evicted_keys_total 12$/m);
  assert.match(prom, /^onionscale_route_requests_total\{instance="web-1",route="GET \/t\/:id"\} 4$/m);
  assert.match(prom, /^onionscale_service_up\{service="web-1",kind="app",state="ready"\} 1$/m);
  for (const line of prom.split('\n').filter((l) => l && !l.startsWith('#'))) assert.match(line, /^[a-z_]+(\{[^}]*\})? -?[\d.e+-]+$/, line);

  const page = renderPage(state);
  assert.match(page, /<svg/);
  assert.doesNotMatch(page, /<script src=|https?:\/\/(?!127\.0\.0\.1)/);

  const history = [1, 2, 3].map((v, i) => ({ t: i, reqPerS: v, p50: null, p95: null, p99: null, l1Ratio: null, l2Ratio: null, sse: 0, blocksPerS: 0, redisMemory: null }));
  const svg = chart('c', 'T', history, [{ name: 'x', color: '#000', pick: (p) => p.reqPerS }], String);
  assert.equal(/points="([^"]*)"/.exec(svg)![1]!.split(' ').length, 3);
  assert.match(chart('c', '<b>', history, [], String), /&#60;b&#62;/, 'titles are escaped');
});
