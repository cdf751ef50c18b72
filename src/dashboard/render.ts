/**
 * The dashboard page and the Prometheus text, both pure functions of `DashboardState`. Charts are inline SVG drawn
 * on the server (so they show without JavaScript); a small inline script swaps in a fresh copy every second.
 */
import { createHash } from 'node:crypto';
import { LATENCY_BUCKETS_MS, PHASES } from './protocol.js';
import type { DashboardState, Point } from './collect.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const ms = (v: number | undefined | null) => (v === undefined || v === null ? '—' : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`);
const pct = (v: number | undefined | null) => (v === undefined || v === null ? '—' : `${(v * 100).toFixed(1)} %`);
const bytes = (v: number | undefined) =>
  v === undefined ? '—' : v >= 1 << 30 ? `${(v / 2 ** 30).toFixed(2)} GiB` : v >= 1 << 20 ? `${(v / 2 ** 20).toFixed(1)} MiB` : `${(v / 1024).toFixed(0)} KiB`;

/** Time not in any measured phase (the app's own CPU: password hashing, compression, the framework). */
const other = (total: number, phases: Record<string, number>) => Math.max(0, total - Object.values(phases).reduce((a, b) => a + b, 0));

export interface Series {
  name: string;
  color: string;
  pick: (p: Point) => number | null;
}

/** One line chart: a polyline per series over the history, y from 0 to the max seen. */
export function chart(id: string, title: string, history: readonly Point[], series: readonly Series[], unit: (v: number) => string): string {
  const W = 360;
  const H = 110;
  const pad = 4;
  let max = 0;
  for (const p of history) for (const s of series) max = Math.max(max, s.pick(p) ?? 0);
  if (max <= 0) max = 1;
  const n = Math.max(history.length - 1, 1);
  const lines = series
    .map((s) => {
      const pts: string[] = [];
      history.forEach((p, i) => {
        const v = s.pick(p);
        if (v === null || !Number.isFinite(v)) return;
        pts.push(`${(pad + ((W - 2 * pad) * i) / n).toFixed(1)},${(H - pad - ((H - 2 * pad) * v) / max).toFixed(1)}`);
      });
      return `<polyline class="series" data-series="${esc(s.name)}" fill="none" stroke="${s.color}" stroke-width="1.6" points="${pts.join(' ')}"/>`;
    })
    .join('');
  const legend = series.map((s) => `<span style="color:${s.color}">■ ${esc(s.name)}</span>`).join(' ');
  return `<figure class="chart" id="${id}"><figcaption>${esc(title)} <small>max ${esc(unit(max))}</small></figcaption>
<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><rect x="0" y="0" width="${W}" height="${H}" fill="#fff" stroke="#ddd"/>${lines}</svg>
<div class="legend">${legend}</div></figure>`;
}

export function renderMain(s: DashboardState): string {
  const h = s.history;
  const charts = [
    chart('chart-rps', 'Requests/s (all instances)', h, [{ name: 'req/s', color: '#7d4698', pick: (p) => p.reqPerS }], (v) => v.toFixed(1)),
    chart(
      'chart-latency',
      'Latency',
      h,
      [
        { name: 'p50', color: '#2a7', pick: (p) => p.p50 },
        { name: 'p95', color: '#d80', pick: (p) => p.p95 },
        { name: 'p99', color: '#c33', pick: (p) => p.p99 },
      ],
      (v) => ms(v),
    ),
    chart(
      'chart-cache',
      'Cache hit ratio',
      h,
      [
        { name: 'L1', color: '#27c', pick: (p) => p.l1Ratio },
        { name: 'L2', color: '#8ad', pick: (p) => p.l2Ratio },
      ],
      (v) => pct(v),
    ),
    chart('chart-sse', 'Open SSE streams', h, [{ name: 'streams', color: '#555', pick: (p) => p.sse }], (v) => v.toFixed(0)),
    chart('chart-redis', 'Redis memory', h, [{ name: 'used', color: '#b33', pick: (p) => p.redisMemory }], (v) => bytes(v)),
  ].join('');

  const services = s.services
    .map(
      (x) => `<tr><td>${esc(x.name)}</td><td>${esc(x.kind)}</td><td class="st-${esc(x.state)}">${esc(x.state)}</td><td>${x.pid ?? '—'}</td><td>${x.restarts}</td><td>${esc(x.address ?? '')}</td></tr>`,
    )
    .join('');
  const inst = s.instances
    .map(
      (i) => `<tr${i.stale ? ' class="stale"' : ''}><td>${esc(i.instance)}</td><td>${i.reqPerS.toFixed(1)}</td><td>${ms(i.p50)}</td><td>${ms(i.p95)}</td><td>${ms(i.p99)}</td>
<td>${pct(i.l1Ratio)}</td><td>${pct(i.l2Ratio)}</td><td>${i.limiterBlocks}</td><td>${i.sseStreams}</td>${PHASES.map((p) => `<td>${ms(i.phases[p])}</td>`).join('')}<td>${i.ageS.toFixed(1)} s</td></tr>`,
    )
    .join('');
  const t = s.totals;
  const slow = s.slow
    .map(
      (r) =>
        `<tr><td>${esc(r.instance)}</td><td>${esc(r.method)} ${esc(r.route)}</td><td>${r.status}</td><td>${ms(r.ms)}</td>${PHASES.map((p) => `<td>${ms(r.phases[p])}</td>`).join('')}<td>${ms(other(r.ms, r.phases))}</td><td>${new Date(r.at).toISOString().slice(11, 19)}</td></tr>`,
    )
    .join('');
  const routes = s.routes
    .map(
      (x) =>
        `<tr><td>${esc(x.route)}</td><td>${x.reqPerS.toFixed(1)}</td><td>${x.count}</td><td>${ms(x.meanMs)}</td>${PHASES.map((p) => `<td>${ms(x.phases[p])}</td>`).join('')}<td>${ms(other(x.meanMs, x.phases))}</td><td>${pct(x.share)}</td></tr>`,
    )
    .join('');
  const r = s.redis;
  return `<section class="tiles">
<div><b>${t.reqPerS.toFixed(1)}</b><span>req/s</span></div><div><b>${ms(t.p50)}</b><span>p50</span></div><div><b>${ms(t.p95)}</b><span>p95</span></div>
<div><b>${ms(t.p99)}</b><span>p99</span></div><div><b>${pct(t.l1Ratio)}</b><span>L1 hits</span></div><div><b>${pct(t.l2Ratio)}</b><span>L2 hits</span></div>
<div><b>${t.limiterBlocks}</b><span>limiter blocks</span></div><div><b>${t.sseStreams}</b><span>SSE streams</span></div>
<div><b>${r.up ? bytes(r.usedMemory) : 'down'}</b><span>Redis memory${r.maxMemory ? ` of ${bytes(r.maxMemory)}` : ''}</span></div><div><b>${r.evictedKeys ?? '—'}</b><span>evictions</span></div>
</section><section class="charts">${charts}</section>
<h2>Where time goes (mean per request, last 10 s)</h2><table><tr>${PHASES.map((p) => `<th>${p}</th>`).join('')}</tr><tr>${PHASES.map((p) => `<td>${ms(t.phases[p])}</td>`).join('')}</tr></table>
<h2>Routes (last 10 s, all instances, most time first)</h2><table id="routes"><tr><th>route</th><th>req/s</th><th>requests</th><th>mean</th>${PHASES.map((p) => `<th>${p}</th>`).join('')}<th title="CPU in the app: hashing, compression, framework">other</th><th>share of time</th></tr>${routes || '<tr><td colspan="11">no requests in the window</td></tr>'}</table>
<h2>Instances</h2><table><tr><th>instance</th><th>req/s</th><th>p50</th><th>p95</th><th>p99</th><th>L1</th><th>L2</th><th>blocks</th><th>SSE</th>${PHASES.map((p) => `<th>${p}</th>`).join('')}<th>reported</th></tr>${inst || '<tr><td colspan="15">no instance has reported yet</td></tr>'}</table>
<h2>Services${s.phase ? ` <small>(stack ${esc(s.phase)})</small>` : ''}</h2><table><tr><th>service</th><th>kind</th><th>state</th><th>pid</th><th>restarts</th><th>address</th></tr>${services || '<tr><td colspan="6">no state file</td></tr>'}</table>
<h2>Slowest requests (last minute)</h2><table><tr><th>instance</th><th>route</th><th>status</th><th>total</th>${PHASES.map((p) => `<th>${p}</th>`).join('')}<th>other</th><th>at</th></tr>${slow || '<tr><td colspan="10">none</td></tr>'}</table>
<p class="muted">Redis: ${r.up ? `${r.connectedClients ?? '?'} clients, ${r.opsPerSec ?? '?'} ops/s` : 'not reachable'} · ${s.onions.map((o) => `${esc(o.service)}: ${esc(o.hostname ?? 'no address yet')}`).join(' · ')}</p>`;
}

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:1rem;color:#222;background:#f6f6f4}h1{margin:.2rem 0 1rem;font-size:1.3rem}h2{font-size:1rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;background:#fff}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:right}td:first-child,th:first-child{text-align:left}
.tiles{display:flex;flex-wrap:wrap;gap:.5rem}.tiles div{background:#fff;border:1px solid #ddd;padding:.4rem .7rem;min-width:7rem}.tiles b{display:block;font-size:1.2rem}.tiles span{color:#666;font-size:.8rem}
.charts{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:.8rem}figure{margin:0;background:#fff;border:1px solid #ddd;padding:.3rem}figcaption{font-size:.85rem}.legend{font-size:.8rem}
.stale td{color:#999}.st-ready{color:#171}.st-failed,.st-backoff{color:#b11;font-weight:700}.muted{color:#666}`;

const JS = `setInterval(function(){fetch('/partial',{cache:'no-store'}).then(function(r){return r.ok?r.text():null}).then(function(t){if(t!==null)document.getElementById('main').innerHTML=t}).catch(function(){})},1000);`;

export function renderPage(s: DashboardState): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>onionscale dashboard</title><link rel="icon" href="data:,"><style>${CSS}</style></head>
<body><h1>onionscale dashboard <small class="muted">127.0.0.1 only</small></h1><div id="main">${renderMain(s)}</div><script>${JS}</script></body></html>`;
}

const sha = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** Only our own inline script (by hash); styles inline (the legend colours are style attributes). */
export const PAGE_CSP = `default-src 'none'; style-src 'unsafe-inline'; script-src ${sha(JS)}; connect-src 'self'; img-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`;

/** Prometheus text exposition (version 0.0.4) of the same figures. */
export function renderPrometheus(s: DashboardState): string {
  const out: string[] = [];
  const lab = (o: Record<string, string>) => `{${Object.entries(o).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`).join(',')}}`;
  const metric = (name: string, type: string, help: string, rows: [Record<string, string>, number][]) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}${Object.keys(labels).length ? lab(labels) : ''} ${Number.isFinite(v) ? v : 0}`);
  };
  metric('onionscale_service_up', 'gauge', 'Service state is ready (1) or not (0).', s.services.map((x) => [{ service: x.name, kind: x.kind, state: x.state }, x.state === 'ready' ? 1 : 0]));
  metric('onionscale_service_restarts_total', 'counter', 'Restarts of the service since up.', s.services.map((x) => [{ service: x.name }, x.restarts]));
  const I = s.instances;
  metric(
    'onionscale_http_requests_total',
    'counter',
    'Requests answered, by status class.',
    I.flatMap((i) => Object.entries(i.latest.requests.byClass).map(([cls, n]): [Record<string, string>, number] => [{ instance: i.instance, class: cls }, n])),
  );
  out.push('# HELP onionscale_http_request_duration_ms Request latency in milliseconds.', '# TYPE onionscale_http_request_duration_ms histogram');
  for (const i of I) {
    let acc = 0;
    i.latest.latency.counts.forEach((c, k) => {
      acc += c;
      const le = k < LATENCY_BUCKETS_MS.length ? String(LATENCY_BUCKETS_MS[k]) : '+Inf';
      out.push(`onionscale_http_request_duration_ms_bucket${lab({ instance: i.instance, le })} ${acc}`);
    });
    out.push(`onionscale_http_request_duration_ms_sum${lab({ instance: i.instance })} ${i.latest.latency.sumMs}`);
    out.push(`onionscale_http_request_duration_ms_count${lab({ instance: i.instance })} ${acc}`);
  }
  metric(
    'onionscale_http_latency_window_ms',
    'gauge',
    'Latency quantiles over the last 10 s.',
    I.flatMap((i) =>
      (['p50', 'p95', 'p99'] as const).map((q): [Record<string, string>, number] => [{ instance: i.instance, quantile: q === 'p50' ? '0.5' : q === 'p95' ? '0.95' : '0.99' }, i[q] ?? 0]),
    ),
  );
  metric('onionscale_http_requests_per_second', 'gauge', 'Requests per second over the last 10 s.', I.map((i) => [{ instance: i.instance }, i.reqPerS]));
  metric(
    'onionscale_cache_hits_total',
    'counter',
    'Cache hits by tier.',
    I.flatMap((i) => [
      [{ instance: i.instance, tier: 'l1' }, i.latest.cache.l1Hits],
      [{ instance: i.instance, tier: 'l2' }, i.latest.cache.l2Hits],
    ]),
  );
  metric('onionscale_cache_misses_total', 'counter', 'Cache lookups that found nothing.', I.map((i) => [{ instance: i.instance }, i.latest.cache.misses]));
  metric('onionscale_cache_loads_total', 'counter', 'Loader (database) calls behind the cache.', I.map((i) => [{ instance: i.instance }, i.latest.cache.loads]));
  metric('onionscale_cache_hit_ratio', 'gauge', 'Hit ratio over the last 10 s, by tier.', I.flatMap((i) => [
    [{ instance: i.instance, tier: 'l1' }, i.l1Ratio ?? 0],
    [{ instance: i.instance, tier: 'l2' }, i.l2Ratio ?? 0],
  ]));
  metric('onionscale_fragments_total', 'counter', 'Fragment cache outcomes.', I.flatMap((i) => [
    [{ instance: i.instance, outcome: 'hit' }, i.latest.fragments.hits],
    [{ instance: i.instance, outcome: 'render' }, i.latest.fragments.renders],
  ]));
  metric('onionscale_limiter_blocks_total', 'counter', 'Requests refused by a rate limit or the progressive delay.', I.map((i) => [{ instance: i.instance }, i.limiterBlocks]));
  metric('onionscale_sse_streams', 'gauge', 'Open server-sent-event streams.', I.map((i) => [{ instance: i.instance }, i.sseStreams]));
  metric('onionscale_request_phase_ms_total', 'counter', 'Milliseconds spent per phase, summed over requests.', I.flatMap((i) => PHASES.map((p): [Record<string, string>, number] => [{ instance: i.instance, phase: p }, i.latest.phases[p]])));
  const routeRows = I.flatMap((i) => Object.entries(i.latest.routes ?? {}).map(([route, x]) => ({ instance: i.instance, route, x })));
  metric('onionscale_route_requests_total', 'counter', 'Requests per route pattern.', routeRows.map((r): [Record<string, string>, number] => [{ instance: r.instance, route: r.route }, r.x.count]));
  metric('onionscale_route_duration_ms_total', 'counter', 'Milliseconds spent per route pattern.', routeRows.map((r): [Record<string, string>, number] => [{ instance: r.instance, route: r.route }, r.x.sumMs]));
  metric('onionscale_instance_report_age_seconds', 'gauge', 'Seconds since the instance last reported.', I.map((i) => [{ instance: i.instance }, i.ageS]));
  const r = s.redis;
  metric('onionscale_redis_up', 'gauge', 'Redis answered the dashboard.', [[{}, r.up ? 1 : 0]]);
  if (r.usedMemory !== undefined) metric('onionscale_redis_used_memory_bytes', 'gauge', 'Redis used_memory.', [[{}, r.usedMemory]]);
  if (r.maxMemory !== undefined) metric('onionscale_redis_maxmemory_bytes', 'gauge', 'Redis maxmemory.', [[{}, r.maxMemory]]);
  if (r.evictedKeys !== undefined) metric('onionscale_redis_evicted_keys_total', 'counter', 'Keys evicted by maxmemory.', [[{}, r.evictedKeys]]);
  if (r.connectedClients !== undefined) metric('onionscale_redis_connected_clients', 'gauge', 'Redis clients.', [[{}, r.connectedClients]]);
  return out.join('\n') + '\n';
}
