/**
 * Rate-limit benchmark: onionscale vs rate-limiter-flexible on one redis-server this script starts (and stops) on a
 * free loopback port.
 *
 * Contenders (limits high enough that nothing is ever blocked, 1 000 distinct users, so every op is a full
 * round trip that counts):
 *   onionscale 1 rule      createRateLimiter, one fixed-window rule (one EVALSHA)
 *   onionscale 3 rules     10/s-, per-minute- and per-day-style fixed windows in ONE EVALSHA
 *   rlf node-redis / ioredis 1 rule    RateLimiterRedis (node-redis with useRedisPackage: true; ioredis)
 *   rlf … 3 rules          RateLimiterUnion of three RateLimiterRedis (its documented way to combine limits:
 *                          RLWrapperBlackAndWhite is for allow/deny lists and adds nothing here) — 3 round trips
 * Modes: every op awaited in turn (latency per decision), and 32 in flight (throughput under concurrency).
 * ROUNDS interleaved rounds with rotating order; each figure is the median over rounds; ratios are onionscale ÷ rlf
 * node-redis with the same number of rules.
 *
 *   cd bench && npx tsx ratelimit.ts        (writes bench/results/ratelimit.json)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { Redis as IORedis } from 'ioredis';
import { RateLimiterRedis, RateLimiterUnion } from 'rate-limiter-flexible';
import { createRateLimiter, type LimitRule } from '../src/core/ratelimit/index.js';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';

/** `--quick`: fewer decisions and rounds, same shape. */
const QUICK = process.argv.includes('--quick');
const N = Number(process.env.BENCH_N ?? (QUICK ? 1000 : 4000));
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? (QUICK ? 3 : 5));
const IN_FLIGHT = 32;
const USERS = 1000;

interface Contender {
  name: string;
  rules: 1 | 3;
  decide(user: string): Promise<boolean>;
  close(): Promise<void>;
}

const HUGE = 1_000_000_000;
const WINDOWS = [
  ['per-second', 1],
  ['per-minute', 60],
  ['per-day', 86_400],
] as const;

async function onionscale(redis: TestRedis, tag: string, n: 1 | 3): Promise<Contender> {
  const rules: LimitRule[] = WINDOWS.slice(0, n).map(([name, seconds]) => ({
    name,
    algorithm: 'fixed-window',
    // limit × window must stay below 2^50 ms (exact integer arithmetic in Lua): plenty here.
    limit: seconds === 86_400 ? 10_000_000 : HUGE,
    window: seconds * 1000,
    by: ['user'],
  }));
  const l = createRateLimiter({ rules, prefix: `osc${n}:${tag}:`, redis: { options: { url: redis.url } }, commandTimeout: 2000 });
  if (!(await l.ready(10_000))) throw new Error('onionscale: Redis not ready');
  return {
    name: `onionscale ${n} rule${n === 1 ? '' : 's'}`,
    rules: n,
    async decide(user) {
      const d = await l.check({ user });
      if (d.source !== 'redis') throw new Error(`onionscale answered from ${d.source}`);
      return d.allowed;
    },
    close: () => l.close(),
  };
}

async function rlf(redis: TestRedis, tag: string, n: 1 | 3, client: 'node-redis' | 'ioredis'): Promise<Contender> {
  let close: () => Promise<void>;
  let storeClient: unknown;
  if (client === 'node-redis') {
    const c = createClient({ url: redis.url });
    c.on('error', () => {});
    await c.connect();
    storeClient = c;
    close = () => c.close();
  } else {
    const c = new IORedis({ host: '127.0.0.1', port: redis.port, password: redis.password, lazyConnect: true });
    await c.connect();
    storeClient = c;
    close = async () => void (await c.quit());
  }
  const limiters = WINDOWS.slice(0, n).map(
    ([name, seconds]) =>
      new RateLimiterRedis({ storeClient, useRedisPackage: client === 'node-redis', keyPrefix: `rlf-${client}${n}-${tag}-${name}`, points: HUGE, duration: seconds }),
  );
  const union = n === 3 ? new RateLimiterUnion(...limiters) : undefined;
  const one = limiters[0]!;
  return {
    name: `rlf ${client} ${n} rule${n === 1 ? '' : 's'}`,
    rules: n,
    async decide(user) {
      try {
        await (union ? union.consume(user) : one.consume(user));
        return true;
      } catch (err) {
        if (err instanceof Error) throw err; // a Redis error, not a rejection by the limiter
        return false;
      }
    },
    close,
  };
}

interface Figures {
  opsPerSec: number;
  p50: number;
  p99: number;
}

function figures(latNs: number[], busyNs: number): Figures {
  const sorted = Float64Array.from(latNs).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]! / 1e3;
  return { opsPerSec: (sorted.length / busyNs) * 1e9, p50: at(0.5), p99: at(0.99) };
}

let counter = 0;
const nextUser = (): string => `u${counter++ % USERS}`;

async function serial(c: Contender): Promise<Figures> {
  const lat: number[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const s = process.hrtime.bigint();
    if (!(await c.decide(nextUser()))) throw new Error(`${c.name} blocked a request`);
    lat.push(Number(process.hrtime.bigint() - s));
  }
  return figures(lat, Number(process.hrtime.bigint() - t0));
}

async function concurrent(c: Contender): Promise<Figures> {
  const lat: number[] = [];
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < N) {
        next++;
        const s = process.hrtime.bigint();
        if (!(await c.decide(nextUser()))) throw new Error(`${c.name} blocked a request`);
        lat.push(Number(process.hrtime.bigint() - s));
      }
    }),
  );
  return figures(lat, Number(process.hrtime.bigint() - t0));
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const MODES = { serial, [`${IN_FLIGHT} in flight`]: concurrent } as Record<string, (c: Contender) => Promise<Figures>>;

async function run(redis: TestRedis): Promise<Record<string, Record<string, Figures>>> {
  const tag = Math.random().toString(36).slice(2, 8);
  const contenders = [
    await onionscale(redis, tag, 1),
    await rlf(redis, tag, 1, 'node-redis'),
    await rlf(redis, tag, 1, 'ioredis'),
    await onionscale(redis, tag, 3),
    await rlf(redis, tag, 3, 'node-redis'),
    await rlf(redis, tag, 3, 'ioredis'),
  ];
  const rounds: Record<string, Record<string, Figures[]>> = {};
  try {
    for (const c of contenders) for (let i = 0; i < 500; i++) await c.decide(nextUser()); // JIT, scripts loaded
    for (let r = 0; r < ROUNDS; r++) {
      for (const [mode, fn] of Object.entries(MODES)) {
        for (let j = 0; j < contenders.length; j++) {
          const c = contenders[(j + r) % contenders.length]!;
          ((rounds[mode] ??= {})[c.name] ??= []).push(await fn(c));
        }
      }
    }
  } finally {
    for (const c of contenders) await c.close();
  }
  const out: Record<string, Record<string, Figures>> = {};
  for (const [mode, byName] of Object.entries(rounds)) {
    out[mode] = {};
    for (const [name, fs] of Object.entries(byName)) {
      out[mode][name] = { opsPerSec: median(fs.map((f) => f.opsPerSec)), p50: median(fs.map((f) => f.p50)), p99: median(fs.map((f) => f.p99)) };
    }
  }
  return out;
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const redis = await startRedis();
  const started = performance.now();
  let result: Record<string, Record<string, Figures>>;
  try {
    result = await run(redis);
  } finally {
    await redis.stop();
  }
  console.log(`\nnode ${process.version}, one redis-server on loopback, ${ROUNDS} interleaved rounds × ${N} decisions per contender and mode, medians`);
  const header = ['mode', 'contender', 'decisions/s', 'p50 µs', 'p99 µs', 'ops/s ÷ rlf node-redis', 'p99 ÷ rlf node-redis'];
  const lines: string[][] = [];
  const ratios: Record<string, Record<string, { opsPerSec: number; p99: number }>> = {};
  for (const [mode, byName] of Object.entries(result)) {
    for (const [name, f] of Object.entries(byName)) {
      const base = byName[name.endsWith('3 rules') ? 'rlf node-redis 3 rules' : 'rlf node-redis 1 rule']!;
      const ratio = { opsPerSec: f.opsPerSec / base.opsPerSec, p99: f.p99 / base.p99 };
      (ratios[mode] ??= {})[name] = ratio;
      lines.push([mode, name, fmt(f.opsPerSec), fmt(f.p50, 1), fmt(f.p99, 1), `${fmt(ratio.opsPerSec, 2)}×`, `${fmt(ratio.p99, 2)}×`]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const print = (cells: string[]) => console.log(cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  print(header);
  print(widths.map((w) => '-'.repeat(w)));
  for (const l of lines) print(l);
  const seconds = (performance.now() - started) / 1000;
  console.log(`\n(ratios > 1 in ops/s are faster; p99 ratios < 1 are lower latency.) total ${fmt(seconds, 1)} s`);
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    `${dir}ratelimit.json`,
    JSON.stringify({ benchmark: 'ratelimit', node: process.version, date: new Date().toISOString(), quick: QUICK, decisions: N, rounds: ROUNDS, inFlight: IN_FLIGHT, users: USERS, results: result, ratios }, null, 2) + '\n',
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
