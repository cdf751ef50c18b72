/**
 * SSE fan-out benchmark (issue 5): 1,000 open SSE streams, publish → receive latency (p50/p99) and deliveries/s,
 * onionscale's event bus side by side with better-sse in one run, on one redis-server this script starts and stops.
 *
 * Rows:
 *   onionscale redis ×2 (replay)   2 instance processes on one Redis; a replayable channel (Lua: XADD + PUBLISH)
 *   onionscale redis ×2 (live)     same, a non-replayable channel (plain PUBLISH)
 *   onionscale memory ×1           1 process, `redis: false` (what better-sse can do: no other instance)
 *   better-sse ×1                  1 process, one Channel, `broadcast()` (no Redis: it has no cross-instance mode)
 *
 * Shape: every server and every load client is its own process (fork with --import tsx). Streams are spread over
 * the instances round-robin; the publishing process stamps each event (performance.timeOrigin + now) and the
 * client process that receives it subtracts: cross-process clocks on one machine, so figures carry their skew
 * (tens of µs). Phase 1 (latency): BENCH_SSE_EVENTS events at BENCH_SSE_RATE/s. Phase 2 (throughput): BENCH_SSE_BURST
 * events published back to back; deliveries/s = deliveries ÷ (last receipt − first publish). Everything is
 * bounded in time; every child is killed by PID at the end.
 *
 *   cd bench && npx tsx sse.ts
 *   env: BENCH_SSE_STREAMS (1000), BENCH_SSE_CLIENTS (4 processes), BENCH_SSE_EVENTS (100), BENCH_SSE_RATE (5),
 *        BENCH_SSE_BURST (500)
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createChannel, createSession } from 'better-sse';
import { createEventBus } from '../src/core/events/bus.js';
import { openSse, type SseClient } from '../src/core/events/sse-client.fixture.js';
import { startRedis } from '../test/helpers/redis.js';

const SELF = fileURLToPath(import.meta.url);
const RESULTS_FILE = join(dirname(SELF), 'results', 'sse.json');
const env = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
/** `--quick`: the same 1,000 streams, fewer events. */
const QUICK = process.argv.includes('--quick');
const N = {
  streams: env('BENCH_SSE_STREAMS', 1000),
  clients: env('BENCH_SSE_CLIENTS', 4),
  events: env('BENCH_SSE_EVENTS', QUICK ? 20 : 100),
  rate: env('BENCH_SSE_RATE', QUICK ? 10 : 5),
  burst: env('BENCH_SSE_BURST', QUICK ? 50 : 500),
};
const clock = () => performance.timeOrigin + performance.now();
const PAD = 'x'.repeat(64);
const send = (m: unknown) => process.send?.(m);

// ------------------------------------------------------------------------------------------------ child roles

type Publish = (data: unknown) => Promise<unknown> | void;

/** IPC loop of a server process: `burst` publishes count events, `interval` ms apart (0 = back to back). */
function serve(port: number, publish: Publish, streams: () => number): void {
  process.on('message', (raw) => {
    const m = raw as { op: string; id: number; count?: number; intervalMs?: number };
    if (m.op === 'streams') return void send({ id: m.id, value: streams() });
    if (m.op === 'burst') {
      void (async () => {
        const started = clock();
        for (let i = 0; i < m.count!; i++) {
          if (m.intervalMs) {
            const due = started + i * m.intervalMs;
            const wait = due - clock();
            if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          }
          await publish({ t: clock(), i, p: PAD });
        }
        send({ id: m.id, value: clock() - started });
      })();
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'listening', port });
}

async function oscServer(url: string, prefix: string, replay: boolean): Promise<void> {
  const bus = createEventBus({ redis: url === 'memory' ? false : { options: { url } }, prefix, channels: { bench: { replay } } });
  const server = createServer((req, res) => void bus.handle(req, res, { channels: ['bench'] }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await bus.ready(10_000);
  serve((server.address() as AddressInfo).port, (data) => bus.publish('bench', data), () => bus.stats().openStreams);
}

async function betterSseServer(): Promise<void> {
  const channel = createChannel();
  const server = createServer((req, res) => {
    void createSession(req, res, { keepAlive: 15_000 }).then((session) => channel.register(session));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  serve((server.address() as AddressInfo).port, (data) => void channel.broadcast(data, 'bench'), () => channel.sessionCount);
}

async function loadClient(ports: number[], count: number, offset: number): Promise<void> {
  let lat: number[] = [];
  let received = 0;
  let last = 0;
  const streams: SseClient[] = [];
  const onEvent = (e: { data: string }) => {
    const now = clock();
    lat.push(now - (JSON.parse(e.data) as { t: number }).t);
    received++;
    last = now;
  };
  for (let i = 0; i < count; i++) {
    const port = ports[(offset + i) % ports.length]!;
    const c = await openSse(`http://127.0.0.1:${port}/events`);
    if (c.status !== 200) throw new Error(`stream ${i}: HTTP ${c.status}`);
    c.onEvent = onEvent;
    streams.push(c);
  }
  process.on('message', (raw) => {
    const m = raw as { op: string; id: number };
    if (m.op === 'reset') {
      lat = [];
      received = 0;
      last = 0;
      return void send({ id: m.id, value: true });
    }
    if (m.op === 'report') return void send({ id: m.id, value: { lat, received, last, ended: streams.filter((s) => s.ended).length } });
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'listening', port: 0 });
}

// ----------------------------------------------------------------------------------------------------- parent

interface Child {
  proc: ChildProcess;
  port: number;
  call<T>(op: string, args?: Record<string, unknown>): Promise<T>;
}

const children = new Set<ChildProcess>();

async function spawnChild(args: string[], timeoutMs = 60_000): Promise<Child> {
  const proc = fork(SELF, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const pending = new Map<number, (v: unknown) => void>();
  let nextId = 1;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start in ${timeoutMs} ms`)), timeoutMs);
    proc.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)));
    proc.on('message', (raw) => {
      const m = raw as { type?: string; port?: number; id?: number; value?: unknown };
      if (m.type === 'listening') {
        clearTimeout(timer);
        resolve(m.port!);
      } else if (m.id !== undefined) pending.get(m.id)?.(m.value);
    });
  });
  return {
    proc,
    port,
    call<T>(op: string, extra: Record<string, unknown> = {}) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${args[0]}: ${op} timed out`)), 120_000);
        pending.set(id, (v) => {
          clearTimeout(timer);
          pending.delete(id);
          resolve(v as T);
        });
        proc.send({ op, id, ...extra });
      });
    },
  };
}

function killAll(): void {
  for (const c of children) c.kill('SIGKILL');
}

interface Report {
  lat: number[];
  received: number;
  last: number;
  ended: number;
}

interface Row {
  name: string;
  instances: number;
  streams: number;
  latency: { events: number; ratePerS: number; deliveries: number; expected: number; p50Ms: number; p99Ms: number; maxMs: number };
  throughput: { events: number; deliveries: number; expected: number; deliveriesPerS: number; publishPerS: number };
  droppedStreams: number;
}

const pct = (sorted: Float64Array, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? NaN;

async function collect(clients: Child[]): Promise<Report> {
  const reports = await Promise.all(clients.map((c) => c.call<Report>('report')));
  return { lat: reports.flatMap((r) => r.lat), received: reports.reduce((s, r) => s + r.received, 0), last: Math.max(...reports.map((r) => r.last)), ended: reports.reduce((s, r) => s + r.ended, 0) };
}

async function until(clients: Child[], expected: number, timeoutMs: number): Promise<Report> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await collect(clients);
    if (r.received >= expected || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function runRow(name: string, servers: Child[]): Promise<Row> {
  const ports = servers.map((s) => s.port);
  const per = Math.ceil(N.streams / N.clients);
  // Client processes start side by side (set-up only: nothing is measured until every stream is open).
  const clients: Child[] = await Promise.all(
    Array.from({ length: N.clients }, (_, i) => spawnChild(['client', ports.join(','), String(Math.min(per, N.streams - i * per)), String(i)], 120_000)),
  );
  const open = async () => (await Promise.all(servers.map((s) => s.call<number>('streams')))).reduce((a, b) => a + b, 0);
  for (let i = 0; i < 100 && (await open()) < N.streams; i++) await new Promise((r) => setTimeout(r, 100));
  const pub = servers[0]!;
  // Warm-up: JIT, Lua script loaded, every stream receiving.
  await pub.call('burst', { count: 20, intervalMs: 50 });
  await until(clients, 20 * N.streams, 30_000);
  await Promise.all(clients.map((c) => c.call('reset')));
  await pub.call('burst', { count: N.events, intervalMs: 1000 / N.rate });
  const lat = await until(clients, N.events * N.streams, 30_000);
  await Promise.all(clients.map((c) => c.call('reset')));
  const t0 = clock();
  const publishMs = await pub.call<number>('burst', { count: N.burst, intervalMs: 0 });
  const thr = await until(clients, N.burst * N.streams, 60_000);
  for (const c of clients) c.proc.kill('SIGKILL');
  const sorted = Float64Array.from(lat.lat).sort();
  return {
    name,
    instances: servers.length,
    streams: N.streams,
    latency: { events: N.events, ratePerS: N.rate, deliveries: lat.received, expected: N.events * N.streams, p50Ms: pct(sorted, 0.5), p99Ms: pct(sorted, 0.99), maxMs: sorted.at(-1) ?? NaN },
    throughput: {
      events: N.burst,
      deliveries: thr.received,
      expected: N.burst * N.streams,
      deliveriesPerS: thr.received / ((thr.last - t0) / 1000),
      publishPerS: N.burst / (publishMs / 1000),
    },
    droppedStreams: thr.ended,
  };
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main(): Promise<void> {
  const redis = await startRedis();
  const rows: Row[] = [];
  const started = performance.now();
  try {
    const setups: [string, () => Promise<Child[]>][] = [
      ['onionscale redis ×2 (replay)', async () => Promise.all([1, 2].map(() => spawnChild(['osc', redis.url, 'bench:r:', 'replay'])))],
      ['onionscale redis ×2 (live)', async () => Promise.all([1, 2].map(() => spawnChild(['osc', redis.url, 'bench:l:', 'live'])))],
      ['onionscale memory ×1', async () => [await spawnChild(['osc', 'memory', 'bench:m:', 'replay'])]],
      ['better-sse ×1', async () => [await spawnChild(['bsse'])]],
    ];
    for (const [name, make] of setups) {
      const servers = await make();
      try {
        rows.push(await runRow(name, servers));
        console.error(`done: ${name}`);
      } finally {
        for (const s of servers) s.proc.kill('SIGKILL');
      }
    }
  } finally {
    killAll();
    await redis.stop();
  }
  const base = rows.find((r) => r.name.startsWith('better-sse'))!;
  console.log(`\nnode ${process.version}, ${cpus().length} CPUs; ${N.streams} SSE streams from ${N.clients} client processes; event ≈ ${JSON.stringify({ t: clock(), i: 0, p: PAD }).length} B`);
  console.log(`latency: ${N.events} events at ${N.rate}/s; throughput: ${N.burst} events back to back\n`);
  const header = ['library', 'p50 ms', 'p99 ms', 'max ms', 'delivered', 'deliveries/s', 'publish/s', 'p99 ÷ bsse', 'deliv/s ÷ bsse'];
  const lines = rows.map((r) => [
    r.name,
    fmt(r.latency.p50Ms, 2),
    fmt(r.latency.p99Ms, 2),
    fmt(r.latency.maxMs, 1),
    `${fmt((100 * (r.latency.deliveries + r.throughput.deliveries)) / (r.latency.expected + r.throughput.expected), 1)}%`,
    fmt(r.throughput.deliveriesPerS),
    fmt(r.throughput.publishPerS),
    `${fmt(r.latency.p99Ms / base.latency.p99Ms, 2)}×`,
    `${fmt(r.throughput.deliveriesPerS / base.throughput.deliveriesPerS, 2)}×`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const print = (cells: string[]) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  print(header);
  print(widths.map((w) => '-'.repeat(w)));
  for (const l of lines) print(l);
  console.log(`\n(p99 ÷ bsse < 1 is lower latency; deliv/s ÷ bsse > 1 is more throughput.) total ${fmt((performance.now() - started) / 1000, 1)} s`);
  const cpu = cpus();
  const redisVersion = /v=(\S+)/.exec(spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? 'unknown';
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(
    RESULTS_FILE,
    JSON.stringify(
      {
        benchmark: 'sse',
        date: new Date().toISOString(),
        machine: { cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), os: `${platform()} ${release()}`, arch: arch() },
        node: process.version,
        redis: redisVersion,
        settings: { ...N, quick: QUICK },
        rows,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`wrote ${RESULTS_FILE}`);
}

const [role, ...args] = process.argv.slice(2);
const run =
  role === 'osc' ? oscServer(args[0]!, args[1]!, args[2] === 'replay')
  : role === 'bsse' ? betterSseServer()
  : role === 'client' ? loadClient(args[0]!.split(',').map(Number), Number(args[1]), Number(args[2]))
  : main();
run.catch((err: unknown) => {
  console.error(err);
  killAll();
  process.exitCode = 1;
});
process.once('SIGINT', () => {
  killAll();
  process.exit(130);
});
