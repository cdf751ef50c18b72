/**
 * Two-tier cache benchmark: onionscale vs bentocache vs cache-manager, side by side in one run, on one redis-server
 * this script starts (and stops) on a free loopback port.
 *
 * Rows (each op awaited in turn, so latency is per call):
 *   L1 hit     getOrSet of a key already in this instance's memory tier
 *   L2 hit     getOrSet of a key another instance wrote: not in our memory tier, found in Redis
 *   miss+set   getOrSet of a new key: L2 miss, loader, write to both tiers (+ bus / lock where the library has them)
 *
 * All libraries are set up at once and each row runs in interleaved chunks (rotating order), so every library sees
 * the same background load; ratios are printed against bentocache with its default settings.
 *
 *   npm --prefix bench install && npm --prefix bench run cache [-- --quick]
 * Writes bench/results/cache.json (ops/s, p50/p99 µs per row and library, ratios against bentocache).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { createKeyv as createMemoryKeyv } from 'cacheable';
import KeyvRedis, { Keyv } from '@keyv/redis';
import { createCache, type Cache } from '../src/core/cache/index.js';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';

interface Contender {
  name: string;
  /** getOrSet with a synchronous loader. */
  getOrSet(key: string, load: () => unknown): Promise<unknown>;
  /** Writes through every tier (used to prepare L2-hit keys from a second instance). */
  set(key: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

const TTL = 600_000;
const VALUE = { id: 42, name: 'onion', tags: ['a', 'b', 'c'], body: 'x'.repeat(160), n: [1, 2, 3, 4, 5] };
/** `--quick` (npm run bench -- --quick): a tenth of the work, for developers; same shape. */
const QUICK = process.argv.includes('--quick');
const N = {
  l1: Number(process.env.BENCH_L1 ?? (QUICK ? 20_000 : 100_000)),
  l2: Number(process.env.BENCH_L2 ?? (QUICK ? 800 : 4_000)),
  miss: Number(process.env.BENCH_MISS ?? (QUICK ? 600 : 3_000)),
};

function onionscale(redis: TestRedis, prefix: string): Contender {
  const cache: Cache = createCache({ name: 'bench', prefix, ttl: TTL, l2: { options: { url: redis.url } } });
  return {
    name: 'onionscale',
    getOrSet: (key, load) => cache.getOrSet(key, load),
    set: (key, value) => cache.set(key, value),
    async close() {
      await cache.close();
    },
    ready: () => cache.ready(10_000),
  } as Contender & { ready(): Promise<boolean> };
}

function bento(redis: TestRedis, prefix: string, serialize: boolean): Contender {
  const connection = { host: '127.0.0.1', port: redis.port, password: redis.password };
  const cache = new BentoCache({
    default: 'tiered',
    prefix,
    ttl: TTL,
    stores: {
      tiered: bentostore()
        .useL1Layer(memoryDriver(serialize ? { maxItems: 100_000, maxSize: 64 * 1024 * 1024 } : { maxItems: 100_000, serialize }))
        .useL2Layer(redisDriver({ connection }))
        .useBus(redisBusDriver({ connection })),
    },
  });
  return {
    name: serialize ? 'bentocache' : 'bentocache (serialize:false)',
    getOrSet: (key, load) => cache.getOrSet({ key, factory: load, ttl: TTL }),
    set: (key, value) => cache.set({ key, value, ttl: TTL }).then(() => undefined),
    close: () => cache.disconnect(),
  };
}

function cacheManager(redis: TestRedis, namespace: string): Contender {
  const redisStore = new KeyvRedis(redis.url);
  const cache = createCacheManager({
    ttl: TTL,
    stores: [createMemoryKeyv({ lruSize: 100_000 }), new Keyv({ store: redisStore, namespace, useKeyPrefix: false })],
  });
  return {
    name: 'cache-manager',
    getOrSet: (key, load) => cache.wrap(key, load, TTL),
    set: (key, value) => cache.set(key, value, TTL).then(() => undefined),
    close: () => cache.disconnect().then(() => undefined),
  };
}

interface Result {
  opsPerSec: number;
  p50: number;
  p99: number;
}

/** Latencies (ns) and busy time of one library on one row, accumulated over interleaved chunks. */
class Tally {
  readonly lat: number[] = [];
  busyNs = 0;
  result(): Result {
    const sorted = Float64Array.from(this.lat).sort();
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]! / 1e3;
    return { opsPerSec: (sorted.length / this.busyNs) * 1e9, p50: at(0.5), p99: at(0.99) };
  }
}

async function chunk(t: Tally, from: number, to: number, op: (i: number) => Promise<unknown>): Promise<void> {
  const t0 = process.hrtime.bigint();
  for (let i = from; i < to; i++) {
    const s = process.hrtime.bigint();
    await op(i);
    t.lat.push(Number(process.hrtime.bigint() - s));
  }
  t.busyNs += Number(process.hrtime.bigint() - t0);
}

type Maker = (redis: TestRedis, tag: string) => Contender;

const MAKERS: Maker[] = [
  (r, t) => onionscale(r, `osc:${t}:`),
  (r, t) => bento(r, `bento-${t}`, true),
  (r, t) => bento(r, `bentons-${t}`, false),
  (r, t) => cacheManager(r, `cm-${t}`),
];

async function ready(c: Contender): Promise<void> {
  const r = (c as Contender & { ready?: () => Promise<boolean> }).ready;
  if (r && !(await r())) throw new Error(`${c.name}: Redis not ready`);
}

interface Pair {
  reader: Contender;
  writer: Contender;
}

/**
 * Runs `op` for every library in `CHUNKS` interleaved chunks, rotating the order each chunk: on a shared, noisy
 * machine every library then sees the same background load, which a library-after-library run cannot promise.
 */
async function interleaved(pairs: Pair[], n: number, op: (p: Pair, i: number) => Promise<unknown>): Promise<Tally[]> {
  const tallies = pairs.map(() => new Tally());
  const size = Math.ceil(n / CHUNKS);
  for (let c = 0; c < CHUNKS; c++) {
    for (let j = 0; j < pairs.length; j++) {
      const idx = (j + c) % pairs.length;
      const p = pairs[idx]!;
      await chunk(tallies[idx]!, c * size, Math.min(n, (c + 1) * size), (i) => op(p, i));
    }
  }
  return tallies;
}

const CHUNKS = 20;

async function runAll(redis: TestRedis): Promise<Map<string, Record<string, Result>>> {
  const tag = Math.random().toString(36).slice(2, 8);
  const pairs: Pair[] = MAKERS.map((make) => ({ reader: make(redis, tag), writer: make(redis, tag) }));
  const out = new Map<string, Record<string, Result>>();
  try {
    await Promise.all(pairs.flatMap((p) => [ready(p.reader), ready(p.writer)]));
    await new Promise((res) => setTimeout(res, 300)); // connections and bus subscriptions up for everyone
    const load = () => VALUE;
    let wrongLoads = 0;
    const noLoad = () => {
      wrongLoads++;
      return VALUE;
    };
    // Warm-up (JIT, connections) on keys that are not measured.
    for (const p of pairs) {
      for (let i = 0; i < 2000; i++) await p.reader.getOrSet('hot', load);
      for (let i = 0; i < 300; i++) await p.reader.getOrSet(`warm-miss:${i}`, load);
      for (let i = 0; i < 300; i++) await p.writer.set(`warm-l2:${i}`, VALUE);
    }
    await new Promise((res) => setTimeout(res, 100));
    for (const p of pairs) for (let i = 0; i < 300; i++) await p.reader.getOrSet(`warm-l2:${i}`, noLoad);

    const rows: [string, Tally[]][] = [];
    rows.push(['L1 hit', await interleaved(pairs, N.l1, (p) => p.reader.getOrSet('hot', load))]);
    // L2 hit: the writer (another instance of the same library) fills Redis; the reader has never seen the keys.
    for (const p of pairs) for (let i = 0; i < N.l2; i++) await p.writer.set(`l2:${i}`, VALUE);
    await new Promise((res) => setTimeout(res, 200)); // bus messages of those writes have landed
    wrongLoads = 0;
    rows.push(['L2 hit', await interleaved(pairs, N.l2, (p, i) => p.reader.getOrSet(`l2:${i}`, noLoad))]);
    if (wrongLoads > N.l2 * pairs.length * 0.01) throw new Error(`${wrongLoads} L2-hit ops ran the loader`);
    rows.push(['miss+set', await interleaved(pairs, N.miss, (p, i) => p.reader.getOrSet(`miss:${i}`, load))]);
    for (const [row, tallies] of rows) {
      pairs.forEach((p, i) => {
        const rec = out.get(p.reader.name) ?? {};
        rec[row] = tallies[i]!.result();
        out.set(p.reader.name, rec);
      });
    }
  } finally {
    await Promise.all(pairs.flatMap((p) => [p.reader.close(), p.writer.close()]));
  }
  return out;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const started = performance.now();
  let best: Map<string, Record<string, Result>>;
  try {
    best = await runAll(redis);
  } finally {
    await redis.stop();
  }
  const names = [...best.keys()];
  const base = best.get('bentocache')!;
  console.log(`\nnode ${process.version}, one redis-server on loopback, ${CHUNKS} interleaved chunks per row, every op awaited`);
  console.log(`ops: L1 ${N.l1}, L2 ${N.l2}, miss ${N.miss}; value ≈ ${JSON.stringify(VALUE).length} B JSON\n`);
  const header = ['row', 'library', 'ops/s', 'p50 µs', 'p99 µs', 'ops/s ÷ bento', 'p99 ÷ bento'];
  const lines: string[][] = [];
  for (const row of ['L1 hit', 'L2 hit', 'miss+set']) {
    for (const name of names) {
      const res = best.get(name)![row]!;
      const b = base[row]!;
      lines.push([row, name, fmt(res.opsPerSec), fmt(res.p50, 1), fmt(res.p99, 1), `${fmt(res.opsPerSec / b.opsPerSec, 2)}×`, `${fmt(res.p99 / b.p99, 2)}×`]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const print = (cells: string[]) => console.log(cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  print(header);
  print(widths.map((w) => '-'.repeat(w)));
  for (const l of lines) print(l);
  console.log(`\n(ops/s ÷ bento > 1 is faster; p99 ÷ bento < 1 is lower latency.) total ${fmt((performance.now() - started) / 1000, 1)} s`);
  const results: Record<string, Record<string, Result & { vsBentocache: { opsPerSec: number; p99: number } }>> = {};
  for (const row of ['L1 hit', 'L2 hit', 'miss+set']) {
    for (const name of names) {
      const res = best.get(name)![row]!;
      const b = base[row]!;
      (results[row] ??= {})[name] = { ...res, vsBentocache: { opsPerSec: res.opsPerSec / b.opsPerSec, p99: res.p99 / b.p99 } };
    }
  }
  const dir = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    `${dir}cache.json`,
    JSON.stringify({ benchmark: 'cache', node: process.version, date: new Date().toISOString(), quick: QUICK, ops: N, chunks: CHUNKS, unit: { latency: 'µs' }, results }, null, 2) + '\n',
  );
  console.log(`wrote ${dir}cache.json`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
