/**
 * Report (issue 8): reads every bench/results/<scenario>.json, normalizes them into one shape, and writes
 *   bench/results/summary.json   every row of every scenario: name, kind (onionscale | peer | ceiling), throughput,
 *                                p50/p99, Redis commands per op where measured, ratios against each peer
 *   bench/charts/<scenario>.svg  one hand-written SVG per scenario (horizontal bars, no fonts or scripts to load)
 *   BENCHMARKS.md                machine, versions, the command, what each number means, a table and a chart per
 *                                scenario, and where onionscale is slower, said plainly
 * No measuring here: only the result files. bench/results/run.json (written by bench/all.ts) says which command
 * produced them and which scenarios ran or failed; a result older than that run is marked stale.
 *
 *   npm --prefix bench run report
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BENCH_DIR, fmt, machine, ratioCell, type Machine } from './_lib.js';

const ROOT = join(BENCH_DIR, '..');
const RESULTS = join(BENCH_DIR, 'results');
const CHARTS = join(BENCH_DIR, 'charts');
/** Files in results/ that are not a scenario's. */
const NOT_SCENARIOS = new Set(['summary.json', 'run.json']);

export type Kind = 'onionscale' | 'peer' | 'ceiling';

export interface NormalRow {
  /** Rows are compared within a group only (same operation, same settings). */
  group: string;
  name: string;
  kind: Kind;
  unit: string;
  /** Median throughput (or the scenario's only figure). */
  value: number;
  /** min–max over rounds, where the scenario has rounds. */
  spread: { min: number; max: number; rounds: number } | null;
  p50: number | null;
  p99: number | null;
  latencyUnit: 'ms' | 'µs';
  redisCommandsPerOp: number | null;
  /** value ÷ peer value, and p99 ÷ peer p99, for every peer in the group (and the group's ceiling, if any). */
  ratios: Record<string, { throughput: number; p99: number | null }>;
  note?: string;
}

export interface Scenario {
  id: string;
  number: number;
  title: string;
  file: string;
  status: 'ok' | 'failed' | 'missing' | 'stale';
  date: string | null;
  quick: boolean | null;
  /** The scenario's own settings line, e.g. `wrk -t1 -c50 -d5s, 5 rounds`. */
  settings: string;
  rows: NormalRow[];
  failures: { name: string; error: string }[];
  machine: Machine | null;
}

// ---------------------------------------------------------------------------------------------------- normalize

type Json = Record<string, unknown>;
const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);

function withRatios(rows: Omit<NormalRow, 'ratios'>[]): NormalRow[] {
  return rows.map((r) => {
    const refs = rows.filter((x) => x.group === r.group && x !== r && (x.kind === 'peer' || x.kind === 'ceiling'));
    const ratios: NormalRow['ratios'] = {};
    for (const ref of refs) ratios[ref.name] = { throughput: r.value / ref.value, p99: r.p99 !== null && ref.p99 ? r.p99 / ref.p99 : null };
    return { ...r, ratios };
  });
}

interface Normalized {
  rows: NormalRow[];
  failures: { name: string; error: string }[];
  settings: string;
  quick: boolean | null;
}

function requestKind(name: string): Kind {
  if (name.startsWith('onionscale-')) return 'onionscale';
  if (name.endsWith('-peer')) return 'peer';
  return 'ceiling';
}

export function normalizeWrk(json: Json, group: string, rowsKey: 'stacks' | 'rows', kindOf: (r: Json) => Kind): Normalized {
  const list = (json[rowsKey] as Json[] | undefined) ?? [];
  const s = (json.settings ?? {}) as Json;
  const rows: Omit<NormalRow, 'ratios'>[] = [];
  const failures: { name: string; error: string }[] = [];
  for (const r of list) {
    if (r.ok !== true) {
      failures.push({ name: String(r.name), error: (typeof r.error === 'string' ? r.error : 'failed').split('\n')[0]! });
      continue;
    }
    const rps = r.reqPerSec as { median: number; min: number; max: number };
    const lat = r.latencyMs as { p50: number; p99: number };
    rows.push({
      group,
      name: String(r.name),
      kind: kindOf(r),
      unit: 'req/s',
      value: rps.median,
      spread: { min: rps.min, max: rps.max, rounds: Number(r.rounds) },
      p50: lat.p50,
      p99: lat.p99,
      latencyUnit: 'ms',
      redisCommandsPerOp: num(r.commandsPerRequest),
      ...(r.share && typeof r.share === 'object'
        ? { note: `share per instance ${Object.values(r.share as Record<string, number>).map((x) => `${fmt(x * 100)}%`).join(' / ')}` }
        : {}),
    });
  }
  return {
    rows: withRatios(rows),
    failures,
    settings: `wrk -t${String(s.threads)} -c${String(s.connections)} -d${String(s.durationS)}s, ${String(s.rounds)} alternating rounds after a ${String(s.warmupS)} s warm-up`,
    quick: typeof s.quick === 'boolean' ? s.quick : null,
  };
}

export function normalizeCache(json: Json): Normalized {
  const results = (json.results ?? {}) as Record<string, Record<string, { opsPerSec: number; p50: number; p99: number }>>;
  const rows: Omit<NormalRow, 'ratios'>[] = [];
  for (const [group, byLib] of Object.entries(results)) {
    for (const [name, r] of Object.entries(byLib)) {
      rows.push({ group, name, kind: name === 'onionscale' ? 'onionscale' : 'peer', unit: 'ops/s', value: r.opsPerSec, spread: null, p50: r.p50, p99: r.p99, latencyUnit: 'µs', redisCommandsPerOp: null });
    }
  }
  const ops = (json.ops ?? {}) as Json;
  return {
    rows: withRatios(rows),
    failures: [],
    settings: `every op awaited in turn; L1 ${String(ops.l1)}, L2 ${String(ops.l2)}, miss ${String(ops.miss)} ops per library in ${String(json.chunks)} interleaved chunks`,
    quick: typeof json.quick === 'boolean' ? json.quick : null,
  };
}

function normalizeRatelimit(json: Json): Normalized {
  const results = (json.results ?? {}) as Record<string, Record<string, { opsPerSec: number; p50: number; p99: number }>>;
  const rows: Omit<NormalRow, 'ratios'>[] = [];
  for (const [mode, byName] of Object.entries(results)) {
    for (const [name, r] of Object.entries(byName)) {
      const rules = /(\d+) rules?$/.exec(name)?.[1] ?? '?';
      rows.push({
        group: `${mode}, ${rules} rule${rules === '1' ? '' : 's'}`,
        name,
        kind: name.startsWith('onionscale') ? 'onionscale' : 'peer',
        unit: 'decisions/s',
        value: r.opsPerSec,
        spread: null,
        p50: r.p50,
        p99: r.p99,
        latencyUnit: 'µs',
        redisCommandsPerOp: null,
      });
    }
  }
  return {
    rows: withRatios(rows),
    failures: [],
    settings: `${String(json.decisions)} decisions per contender and mode, ${String(json.rounds)} interleaved rounds (medians), ${String(json.users)} users, ${String(json.inFlight)} in flight in the concurrent mode`,
    quick: typeof json.quick === 'boolean' ? json.quick : null,
  };
}

interface SseRow {
  name: string;
  instances: number;
  streams: number;
  latency: { p50Ms: number; p99Ms: number; deliveries: number; expected: number };
  throughput: { deliveriesPerS: number; deliveries: number; expected: number };
  droppedStreams: number;
}

function normalizeSse(json: Json): Normalized {
  const list = (json.rows as SseRow[] | undefined) ?? [];
  const rows: Omit<NormalRow, 'ratios'>[] = list.map((r) => {
    const delivered = (r.latency.deliveries + r.throughput.deliveries) / (r.latency.expected + r.throughput.expected);
    return {
      group: `${r.streams} streams`,
      name: r.name,
      kind: r.name.startsWith('onionscale') ? 'onionscale' : 'peer',
      unit: 'deliveries/s',
      value: r.throughput.deliveriesPerS,
      spread: null,
      p50: r.latency.p50Ms,
      p99: r.latency.p99Ms,
      latencyUnit: 'ms',
      redisCommandsPerOp: null,
      note: `${fmt(delivered * 100, 1)}% delivered${r.droppedStreams ? `, ${r.droppedStreams} streams dropped` : ''}`,
    };
  });
  const s = (json.settings ?? {}) as Json;
  return {
    rows: withRatios(rows),
    failures: [],
    settings: `${String(s.streams)} streams from ${String(s.clients)} client processes; latency: ${String(s.events)} events at ${String(s.rate)}/s; throughput: ${String(s.burst)} events back to back`,
    quick: typeof s.quick === 'boolean' ? s.quick : null,
  };
}

interface Known {
  number: number;
  title: string;
  file: string;
  normalize(json: Json): Normalized;
}

const KNOWN: Record<string, Known> = {
  request: {
    number: 1,
    title: 'The seed request: session + rate limit + cached query',
    file: 'bench/request.ts',
    normalize: (j) => normalizeWrk(j, 'GET /page, logged in', 'stacks', (r) => requestKind(String(r.name))),
  },
  stack: {
    number: 2,
    title: 'The full stack: haproxy in front of 1, 2 and 3 instances',
    file: 'bench/stack.ts',
    normalize: (j) => normalizeWrk(j, 'GET /page through haproxy', 'rows', (r) => (r.viaHaproxy === true ? 'onionscale' : 'ceiling')),
  },
  cache: { number: 3, title: 'Two-tier cache: L1 hit, L2 hit, miss+set', file: 'bench/cache.ts', normalize: normalizeCache },
  ratelimit: { number: 4, title: 'Rate-limit decisions on one Redis', file: 'bench/ratelimit.ts', normalize: normalizeRatelimit },
  sse: { number: 5, title: 'SSE: 1,000 streams, publish → receive', file: 'bench/sse.ts', normalize: normalizeSse },
  forum: { number: 6, title: 'A page of the demo forum, cold vs warm cache', file: 'bench/forum.ts', normalize: normalizeForum },
  onion: { number: 7, title: 'The demo forum over real onion circuits (private Tor network)', file: 'bench/onion.ts', normalize: normalizeOnion },
};

// ---------------------------------------------------------------------------------------------------- inputs

interface RunInfo {
  command: string;
  quick: boolean;
  started: string;
  finished: string;
  scenarios: { id: string; ok: boolean; exitCode: number | null; seconds: number; loadAverage: number[]; error?: string }[];
}

/** Scenario 6: per page, the warm row (onionscale's cache) against the cold row (every query to SQLite). */
export function normalizeForum(json: Json): Normalized {
  const list = (json.rows as Json[] | undefined) ?? [];
  const rows: Omit<NormalRow, 'ratios'>[] = list.map((r) => ({
    group: `GET ${String(r.page)} (${String(r.what)})`,
    name: String(r.name),
    kind: String(r.name).startsWith('warm') ? 'onionscale' : 'ceiling',
    unit: 'req/s (1 conn)',
    value: Number(r.reqPerSec),
    spread: null,
    p50: num(r.p50Ms),
    p99: num(r.p99Ms),
    latencyUnit: 'ms',
    redisCommandsPerOp: null,
  }));
  const st = (json.settings ?? {}) as Json;
  return {
    rows: withRatios(rows),
    failures: [],
    settings: `one forum instance, ${fmt(Number(st.posts))} posts in SQLite, ${String(st.samples)} cold/warm sample pairs per page, one connection (cold: the page's cache tags deleted through the cache bus first, as another instance's post does)`,
    quick: typeof json.quick === 'boolean' ? json.quick : null,
  };
}

/**
 * Scenario 7: per page, full page time over Tor. "throughput" is pages per minute for one browser waiting on each
 * (60 000 ÷ page ms); the reference rows are the cold cache and the new circuit.
 */
export function normalizeOnion(json: Json): Normalized {
  const list = (json.rows as Json[] | undefined) ?? [];
  const rows: Omit<NormalRow, 'ratios'>[] = list.map((r) => ({
    group: `GET ${String(r.page)} over Tor`,
    name: String(r.name),
    kind: String(r.name) === 'warm cache, warm circuit' ? 'onionscale' : 'ceiling',
    unit: 'pages/min (1 browser)',
    value: 60_000 / Number(r.totalMs),
    spread: null,
    p50: num(r.ttfbMs),
    p99: num(r.totalMs),
    latencyUnit: 'ms',
    redisCommandsPerOp: null,
    note: `TTFB ${fmt(Number(r.ttfbMs))} ms, page ${fmt(Number(r.totalMs))} ms, ${fmt(Number(r.roundTrips), 1)} round trips`,
  }));
  const st = (json.settings ?? {}) as Json;
  return {
    rows: withRatios(rows),
    failures: [],
    settings: `private Tor network on loopback (3 authorities + ${String(st.relays)} relays + client), ${String(st.latencyMs)} ms emulated latency per link one way, one onion round trip ${fmt(Number(json.onionRttMs))} ms; 2 forum instances behind haproxy and tor; medians of ${String(st.samples)}; the p50 column is TTFB and the p99 column the whole page (medians both)`,
    quick: typeof json.quick === 'boolean' ? json.quick : null,
  };
}

function readJson(file: string): Json | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Json;
  } catch {
    return undefined;
  }
}

function loadScenarios(run: RunInfo | undefined): Scenario[] {
  const files = existsSync(RESULTS) ? readdirSync(RESULTS).filter((f) => f.endsWith('.json') && !NOT_SCENARIOS.has(f)) : [];
  const ids = [...new Set([...Object.keys(KNOWN), ...files.map((f) => f.slice(0, -5))])];
  const out: Scenario[] = [];
  for (const id of ids) {
    const known = KNOWN[id];
    const file = join(RESULTS, `${id}.json`);
    const base = { id, number: known?.number ?? 99, title: known?.title ?? id, file: known?.file ?? `bench/${id}.ts` };
    const ran = run?.scenarios.find((s) => s.id === id);
    const json = existsSync(file) ? readJson(file) : undefined;
    if (!json || !known) {
      out.push({
        ...base,
        status: 'missing',
        date: null,
        quick: null,
        settings: '',
        rows: [],
        failures: json && !known ? [{ name: id, error: 'no normalizer for this result file in bench/report.ts' }] : ran && !ran.ok ? [{ name: id, error: ran.error ?? `exit ${ran.exitCode}` }] : [],
        machine: null,
      });
      continue;
    }
    const n = known.normalize(json);
    const date = typeof json.date === 'string' ? json.date : null;
    const stale = run !== undefined && date !== null && date < run.started;
    const failures = [...n.failures];
    if (ran && !ran.ok) failures.unshift({ name: `${id} (this run)`, error: ran.error ?? `exit code ${ran.exitCode}` });
    out.push({
      ...base,
      status: stale ? 'stale' : ran && !ran.ok ? 'failed' : 'ok',
      date,
      quick: n.quick,
      settings: n.settings,
      rows: n.rows,
      failures,
      machine: (json.machine as Machine | undefined) ?? null,
    });
  }
  return out.sort((a, b) => a.number - b.number || a.id.localeCompare(b.id));
}

function firstLine(cmd: string, args: string[], re?: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  if (r.error) return 'not installed';
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (re) return re.exec(text)?.[1] ?? text.split('\n')[0]!.trim();
  return text.split('\n')[0]!.trim();
}

/** node, redis, haproxy, wrk, onionscale, and every bench dependency at the version bench/package-lock.json pins. */
function versions(): Record<string, string> {
  const out: Record<string, string> = {
    node: process.version,
    'redis-server': firstLine('redis-server', ['--version'], /v=(\S+)/),
    haproxy: firstLine('haproxy', ['-v'], /version (\S+)/),
    wrk: firstLine('wrk', ['-v'], /wrk (\S+)/),
    onionscale: String((readJson(join(ROOT, 'package.json')) as { version?: string } | undefined)?.version ?? '?'),
  };
  const pkg = readJson(join(BENCH_DIR, 'package.json')) ?? {};
  const lock = ((readJson(join(BENCH_DIR, 'package-lock.json')) ?? {}).packages ?? {}) as Record<string, { version?: string }>;
  for (const name of Object.keys({ ...(pkg.dependencies as object), ...(pkg.devDependencies as object) }).sort()) {
    out[name] = lock[`node_modules/${name}`]?.version ?? 'not locked';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- SVG

const COLORS: Record<Kind, string> = { onionscale: '#7d4698', peer: '#3b7dd8', ceiling: '#8c8c8c' };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Rough text width (px) at `size` in a sans-serif font: enough to lay out labels without measuring. */
const textWidth = (s: string, size: number) => [...s].length * size * 0.56;

function compact(n: number): string {
  if (n >= 1e6) return `${fmt(n / 1e6, n >= 1e7 ? 1 : 2)} M`;
  if (n >= 1e4) return `${fmt(n / 1e3, n >= 1e5 ? 0 : 1)} k`;
  return fmt(n, n < 10 ? 2 : 0);
}

/**
 * Horizontal bars, one block per group, each group scaled to its own largest bar (groups measure different
 * operations); a thin line shows min–max over rounds where there are rounds. Plain SVG 1.1: renders as an <img>
 * on GitHub and in any browser, light background so it reads in dark mode too.
 */
export function chartSvg(s: Scenario): string {
  const groups = [...new Set(s.rows.map((r) => r.group))];
  const size = 12;
  const labelW = Math.ceil(Math.max(120, ...s.rows.map((r) => textWidth(r.name, size))) + 16);
  const barW = 420;
  const valueW = 150;
  const width = labelW + barW + valueW + 20;
  const rowH = 22;
  const parts: string[] = [];
  let y = 46;
  for (const g of groups) {
    const rows = s.rows.filter((r) => r.group === g);
    const max = Math.max(...rows.map((r) => r.spread?.max ?? r.value));
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold" fill="#222">${esc(g)} (${esc(rows[0]!.unit)})</text>`);
    y += 10;
    for (const r of rows) {
      const w = Math.max(1, (r.value / max) * barW);
      const x0 = labelW;
      parts.push(`<text x="${x0 - 8}" y="${y + 15}" font-size="${size}" text-anchor="end" fill="#222">${esc(r.name)}</text>`);
      parts.push(`<rect x="${x0}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" rx="2" fill="${COLORS[r.kind]}"><title>${esc(`${r.name}: ${fmt(r.value)} ${r.unit}`)}</title></rect>`);
      if (r.spread && r.spread.rounds > 1) {
        const a = x0 + (r.spread.min / max) * barW;
        const b = x0 + (r.spread.max / max) * barW;
        const cy = y + rowH / 2;
        parts.push(`<path d="M${a.toFixed(1)} ${cy}H${b.toFixed(1)}M${a.toFixed(1)} ${cy - 4}V${cy + 4}M${b.toFixed(1)} ${cy - 4}V${cy + 4}" stroke="#111" stroke-width="1.2" fill="none"/>`);
      }
      const tx = x0 + Math.max(w, r.spread ? (r.spread.max / max) * barW : 0) + 6;
      parts.push(`<text x="${tx.toFixed(1)}" y="${y + 15}" font-size="${size}" fill="#222">${esc(compact(r.value))}</text>`);
      y += rowH;
    }
    y += 14;
  }
  const legendY = y + 4;
  const legend = (['onionscale', 'peer', 'ceiling'] as Kind[])
    .filter((k) => s.rows.some((r) => r.kind === k))
    .map((k, i) => {
      const x = 10 + i * 120;
      return `<rect x="${x}" y="${legendY - 10}" width="12" height="12" fill="${COLORS[k]}"/><text x="${x + 18}" y="${legendY}" font-size="12" fill="#222">${k}</text>`;
    });
  const notes = [
    ...(s.rows.some((r) => r.spread && r.spread.rounds > 1) ? ['bar: median, line: min–max over rounds'] : []),
    ...(groups.length > 1 ? ['each block scaled to its own largest bar'] : []),
  ];
  if (notes.length) legend.push(`<text x="${10 + legend.length * 120}" y="${legendY}" font-size="12" fill="#222">${esc(notes.join('; '))}</text>`);
  const height = legendY + 16;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" role="img" aria-label="${esc(s.title)}">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold" fill="#111">${esc(`${s.number}. ${s.title}`)}</text>`,
    ...parts,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------- markdown

const EXPLAIN: Record<string, string> = {
  request:
    'Each stack in `bench/stacks/` is its own server process answering the same logged-in `GET /page` (session read, a rate-limit check keyed by the circuit header, the cached front-page query, ~600 B of HTML). **req/s**: wrk\'s completed requests ÷ its duration, median over rounds; **spread**: min–max over rounds; **p50/p99**: wrk\'s latency percentiles (median over rounds); **cmds/req**: Redis commands per request from `INFO commandstats` (commands inside a Lua script counted one by one, as Redis counts them). Peers are Express 5 + express-session/connect-redis + express-rate-limit/rate-limit-redis and Fastify 5 + @fastify/session + @fastify/rate-limit, configured as their docs show. Ceilings: bare node:http (no Redis), node:http + one Redis GET, and the bare frameworks.',
  stack:
    'The same request through haproxy (the config `onionscale up` renders, with only the loopback changes listed below) in front of 1, 2 and 3 `onionscale-fastify` instances that share one Redis and one key prefix, and the same instance hit directly (the balancer\'s own cost). The figures mean what they mean in scenario 1; **share** is each instance\'s part of the 2xx responses, from haproxy\'s own counters. On a 2-core machine that also runs wrk, haproxy and Redis, more instances cannot add CPU: this row shows what the balancer costs and that load spreads, not how far it scales on a bigger box.',
  cache:
    'One process, every op awaited in turn, all libraries set up at once and run in interleaved chunks (rotating order). **L1 hit**: `getOrSet` of a key in this instance\'s memory; **L2 hit**: a key another instance wrote (in Redis, not in our memory); **miss+set**: a new key — L2 miss, loader, write to both tiers (+ bus / lock where the library has them). **ops/s** = ops ÷ busy time; p50/p99 per op in µs.',
  ratelimit:
    'One process, 1,000 distinct users, limits high enough that nothing is ever blocked (every op is a full decision in Redis). **serial**: one decision at a time (latency per decision); **32 in flight**: throughput under concurrency. "3 rules" is three windows per request: one EVALSHA for onionscale, `RateLimiterUnion` of three limiters (three round trips) for rate-limiter-flexible. Medians over interleaved rounds.',
  sse:
    'Every server and every load client is its own process; 1,000 SSE streams spread over the instances; the publisher stamps each event and the receiving process subtracts (cross-process clocks on one machine). **deliveries/s**: deliveries of a back-to-back burst ÷ (last receipt − first publish); **p50/p99**: publish → receive latency at a steady rate. `onionscale redis ×2` crosses instances through Redis (better-sse has no cross-instance mode); `memory ×1` is the like-for-like row against better-sse.',
};

function scenarioTable(s: Scenario): string[] {
  const lines: string[] = [];
  const peers = [...new Set(s.rows.filter((r) => r.kind === 'peer' || r.kind === 'ceiling').map((r) => r.name))];
  // Ratios against peers, or (no peers: scenario 2) against the ceiling rows.
  const refs = peers.filter((p) => s.rows.some((r) => r.name === p && r.kind === 'peer'));
  const refNames = refs.length > 0 ? refs : peers;
  const hasSpread = s.rows.some((r) => r.spread && r.spread.rounds > 1);
  const hasCmds = s.rows.some((r) => r.redisCommandsPerOp !== null);
  const hasNote = s.rows.some((r) => r.note);
  for (const g of [...new Set(s.rows.map((r) => r.group))]) {
    const rows = s.rows.filter((r) => r.group === g);
    const unit = rows[0]!.unit;
    const lu = rows[0]!.latencyUnit;
    const groupRefs = refNames.filter((n) => rows.some((r) => r.name === n));
    lines.push(`**${g}**`, '');
    const head = ['', 'kind', unit, ...(hasSpread ? ['spread'] : []), `p50 ${lu}`, `p99 ${lu}`, ...(hasCmds ? ['Redis cmds/op'] : []), ...groupRefs.map((n) => `÷ ${n}`), ...(hasNote ? ['note'] : [])];
    lines.push(`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i < 2 || h === 'note' ? '---' : '---:')).join('|')}|`);
    for (const r of rows) {
      const bold = r.kind === 'onionscale' ? (x: string) => `**${x}**` : (x: string) => x;
      const cells = [
        bold(r.name),
        r.kind,
        fmt(r.value),
        ...(hasSpread ? [r.spread && r.spread.rounds > 1 ? `${fmt(r.spread.min)}–${fmt(r.spread.max)}` : ''] : []),
        r.p50 === null ? '–' : fmt(r.p50, lu === 'ms' ? 2 : 1),
        r.p99 === null ? '–' : fmt(r.p99, lu === 'ms' ? 2 : 1),
        ...(hasCmds ? [r.redisCommandsPerOp === null ? '–' : fmt(r.redisCommandsPerOp, 2)] : []),
        ...groupRefs.map((n) => (n === r.name ? '1.00×' : ratioCell(r.ratios[n]?.throughput))),
        ...(hasNote ? [r.note ?? ''] : []),
      ];
      lines.push(`| ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  return lines;
}

/** Every group where a peer beats an onionscale row on throughput or p99: stated, not buried (one line per row). */
export function slowerFindings(s: Scenario): string[] {
  const out: string[] = [];
  for (const r of s.rows.filter((x) => x.kind === 'onionscale')) {
    const slowT: string[] = [];
    const slowP: string[] = [];
    for (const [peer, q] of Object.entries(r.ratios)) {
      const p = s.rows.find((x) => x.name === peer && x.group === r.group);
      if (!p || p.kind !== 'peer') continue;
      if (q.throughput < 0.97) slowT.push(`${fmt(q.throughput, 2)}× ${peer} (${fmt(r.value)} vs ${fmt(p.value)})`);
      if (q.p99 !== null && q.p99 > 1.1) slowP.push(`${fmt(q.p99, 2)}× ${peer} (${fmt(r.p99!, 1)} vs ${fmt(p.p99!, 1)} ${r.latencyUnit})`);
    }
    const parts = [...(slowT.length ? [`${r.unit} ${slowT.join(', ')}`] : []), ...(slowP.length ? [`p99 ${slowP.join(', ')}`] : [])];
    if (parts.length) out.push(`${r.group}: **${r.name}** — ${parts.join('; ')}.`);
  }
  if (s.id === 'stack') {
    const direct = s.rows.find((r) => r.kind === 'ceiling');
    for (const r of s.rows.filter((x) => x.kind === 'onionscale' && direct)) {
      const q = r.ratios[direct!.name]?.throughput;
      if (q !== undefined && q < 0.97) out.push(`**${r.name}** does ${fmt(q, 2)}× the req/s of the instance hit directly.`);
    }
  }
  if (s.id === 'request') {
    const ceiling = s.rows.find((r) => r.name === 'bare-http-get');
    for (const r of s.rows.filter((x) => x.kind === 'onionscale' && ceiling)) {
      const q = r.ratios[ceiling!.name]?.throughput;
      if (q !== undefined && q < 1) out.push(`**${r.name}** reaches ${fmt(q, 2)}× the req/s of bare-http-get (node:http + one Redis GET, the issue-4 goal is ≥ 1×).`);
    }
  }
  return out;
}

function markdown(scenarios: Scenario[], run: RunInfo | undefined, vers: Record<string, string>, m: Machine, stackJson: Json | undefined): string {
  const md: string[] = [];
  const command = run?.command ?? 'npm run bench';
  md.push(
    '# Benchmarks',
    '',
    '<!-- Generated by bench/report.ts from bench/results/*.json: do not edit, run `npm run bench` (or `npm --prefix bench run report`). -->',
    '',
    'onionscale side by side with its peers, in one run, on one machine, over loopback. Re-run it yourself:',
    '',
    '```sh',
    'npm run bench              # every scenario, ~10–15 minutes',
    'npm run bench -- --quick   # the same scenarios but the one over Tor, shorter, about 2 minutes (for developers; noisier)',
    '```',
    '',
    `These figures: \`${command}\`${run ? `, ${run.started} → ${run.finished}` : ''}.${run?.quick ? ' **Quick mode**: fewer and shorter rounds; use a full run for numbers you quote.' : ''}`,
    '',
    '> **Noise.** Anything else running on the machine disturbs the figures (the load average before each scenario is below; a 2-core machine also runs wrk, Redis and haproxy next to the stacks). Figures from a loaded machine are noisy, absolute numbers most of all. Every scenario runs the compared stacks alternately in the same run (A B C … A B C …), so background load hits all of them alike: the **ratios are fairer than the absolute numbers**. Where a scenario has rounds, the spread (min–max) is shown.',
    '',
    '## Machine and versions',
    '',
    `- ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB memory, ${m.os} (${m.arch})`,
    `- ${Object.entries(vers).filter(([k]) => ['node', 'redis-server', 'haproxy', 'wrk', 'onionscale'].includes(k)).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `- peers and bench libraries (bench/package-lock.json): ${Object.entries(vers).filter(([k]) => !['node', 'redis-server', 'haproxy', 'wrk', 'onionscale'].includes(k)).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    '',
  );
  if (run) {
    md.push('| scenario | result | seconds | load average before (1/5/15 min) |', '|---|---|---:|---|');
    for (const r of run.scenarios) md.push(`| ${r.id} | ${r.ok ? 'ok' : `**failed** (${(r.error ?? `exit ${r.exitCode}`).replace(/\|/g, '\\|')})`} | ${fmt(r.seconds)} | ${r.loadAverage.map((x) => fmt(x, 2)).join(' / ')} |`);
    md.push('');
  }
  md.push('## At a glance', '', 'Per scenario and operation: the fastest onionscale row against the fastest peer (scenario 2: against the instance without haproxy; scenarios 6 and 7, which have no peer: the warm cache against the cold one). Details, latency and spread in each section.', '');
  md.push('| scenario | operation | onionscale | fastest peer (or reference) | ratio |', '|---|---|---|---|---:|');
  for (const s of scenarios) {
    for (const g of [...new Set(s.rows.map((r) => r.group))]) {
      const rows = s.rows.filter((r) => r.group === g);
      const best = (k: Kind) => rows.filter((r) => r.kind === k).sort((a, b) => b.value - a.value)[0];
      const osc = best('onionscale');
      const reference = s.id === 'forum' || s.id === 'onion' ? rows.find((r) => r.name.startsWith('cold')) : s.id === 'stack' ? best('ceiling') : undefined;
      const ref = best('peer') ?? reference;
      if (!osc || !ref) continue;
      md.push(`| ${s.number}. ${s.id} | ${g} | ${osc.name}: ${fmt(osc.value)} ${osc.unit} | ${ref.name}: ${fmt(ref.value)} | ${fmt(osc.value / ref.value, 2)}× |`);
    }
  }
  md.push('');
  md.push(
    '## What the numbers mean',
    '',
    '- **kind**: `onionscale` — this project; `peer` — the library people would use instead, configured as its docs show (no handicaps; they live in bench/package.json only); `ceiling` — what the machine does without the work being compared (bare node:http, a bare framework, the instance without haproxy).',
    '- **throughput** (req/s, ops/s, decisions/s, deliveries/s): median over rounds where the scenario has rounds. Higher is better.',
    '- **p50 / p99**: latency percentiles per request or op (unit in the column). Lower is better. Under closed-loop load (wrk: 50 connections, each sends its next request when the last one is answered) latency and throughput are two views of one thing.',
    '- **÷ peer**: this row\'s throughput divided by the peer\'s, in the same run. > 1× is faster.',
    '- **Redis cmds/op**: commands Redis executed per request (`INFO commandstats` deltas), where the scenario measures it.',
    '- Machine-readable: `bench/results/<scenario>.json` (raw, per scenario) and `bench/results/summary.json` (this page\'s rows).',
    '',
  );
  for (const s of scenarios) {
    md.push(`## ${s.number}. ${s.title}`, '');
    md.push(`\`${s.file}\`${s.date ? ` — measured ${s.date}` : ''}${s.quick ? ' (quick mode)' : ''}${s.settings ? `; ${s.settings}` : ''}.`, '');
    if (s.status === 'stale') md.push(`> **Stale:** this scenario's result file is older than this run (it failed or did not run this time); the figures below are from ${s.date}.`, '');
    if (s.status === 'missing') {
      md.push('**No result.** ' + (s.failures.length ? s.failures.map((f) => `${f.name}: ${f.error}`).join('; ') : `Run \`npm --prefix bench run ${s.id}\`.`), '');
      continue;
    }
    if (EXPLAIN[s.id]) md.push(EXPLAIN[s.id]!, '');
    md.push(`![${s.title}](bench/charts/${s.id}.svg)`, '');
    md.push(...scenarioTable(s));
    if (s.failures.length) {
      md.push('Failed in this run:', '');
      for (const f of s.failures) md.push(`- ${f.name}: ${f.error}`);
      md.push('');
    }
    if (s.id === 'stack' && stackJson && Array.isArray(stackJson.configChanges)) {
      md.push('The haproxy config is the one src/render/haproxy.ts renders for `onionscale up`; only these changes were made for a loopback load generator (each is marked `# bench:` in the file, kept in `bench/results/stack.json`):', '');
      for (const c of stackJson.configChanges as string[]) md.push(`- ${c}`);
      md.push('');
    }
    const slower = slowerFindings(s);
    if (slower.length === 0) md.push('**Where onionscale is slower:** nowhere in this scenario, in this run.', '');
    else {
      if (s.id === 'sse') md.push('The `redis ×2` rows deliver across two instances through Redis (PUBLISH, and XADD for replay); better-sse has no cross-instance mode, so `memory ×1` is the like-for-like row. The comparison below is still stated as measured.', '');
      const rule = s.id === 'stack' ? 'throughput below 0.97× the instance hit directly' : 'throughput below 0.97× a peer, or p99 above 1.1×';
      md.push(`**Where onionscale is slower** (${rule}):`, '', ...slower.map((x) => `- ${x}`), '');
    }
  }
  return md.join('\n');
}

// ---------------------------------------------------------------------------------------------------- main

function main(): number {
  const run = readJson(join(RESULTS, 'run.json')) as RunInfo | undefined;
  const scenarios = loadScenarios(run);
  const vers = versions();
  const m = machine();
  mkdirSync(CHARTS, { recursive: true });
  for (const s of scenarios) if (s.rows.length > 0) writeFileSync(join(CHARTS, `${s.id}.svg`), chartSvg(s));
  const summary = {
    generated: new Date().toISOString(),
    command: run?.command ?? null,
    quick: run?.quick ?? null,
    machine: m,
    versions: vers,
    run: run ?? null,
    scenarios: scenarios.map((s) => ({ ...s, chart: s.rows.length > 0 ? `bench/charts/${s.id}.svg` : null })),
    notMeasured: [
      { number: 6, title: 'A page of the demo forum, cold vs warm cache', waitsFor: 'examples/forum' },
      { number: 7, title: 'The forum page over real onion circuits, cold vs warm, time to first byte', waitsFor: 'src/testnet (private Tor network)' },
    ],
  };
  writeFileSync(join(RESULTS, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  writeFileSync(join(ROOT, 'BENCHMARKS.md'), markdown(scenarios, run, vers, m, readJson(join(RESULTS, 'stack.json'))));
  for (const s of scenarios) console.log(`  ${s.number}. ${s.id}: ${s.status}, ${s.rows.length} rows${s.failures.length ? `, ${s.failures.length} failures` : ''}`);
  console.log('written BENCHMARKS.md, bench/results/summary.json, bench/charts/*.svg');
  // Missing or failed scenarios are stated in the report; bench/all.ts decides the run's exit code.
  return 0;
}

// Run as a script (npm --prefix bench run report), not when bench/harness.test.ts imports the functions above.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main();
