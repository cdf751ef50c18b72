/**
 * Scenario 6 (issue 8): pages of the demo forum (examples/forum, built into dist/forum by `npm run build`) with the
 * cache cold vs warm — how much the cache saves per request on a real site with ~100k posts in SQLite.
 *
 * One forum instance on one redis-server (both started here, stopped by PID at the end). For each page, samples
 * alternate: COLD — the page's cache tags are deleted first through a second cache on the same Redis and bus, the
 * way another instance's post would do it, so every listing query reaches SQLite; WARM — the same page again, its
 * queries answered from the instance's L1. One connection, requests in turn, so each figure is one page's latency;
 * req/s is 1000 ÷ mean latency (what one browser waiting on each page would see).
 *
 *   npm run build && npm --prefix bench run forum [-- --quick]
 *   env: BENCH_FORUM_POSTS (100000), BENCH_FORUM_SAMPLES (60; quick 20)
 * Writes bench/results/forum.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCache } from '../src/core/cache/index.js';
import { startRedis } from '../test/helpers/redis.js';
import { freePort } from '../test/helpers/ports.js';
import { BENCH_DIR, defer, fmt, machine, positiveInt, printTable, quickFlag, runMain, stopChild, stopOnSignals } from './_lib.js';

const ROOT = join(BENCH_DIR, '..');
const ENTRY = join(ROOT, 'dist', 'forum', 'main.js');
const RESULTS_FILE = join(BENCH_DIR, 'results', 'forum.json');
const PAGES = [
  { path: '/', what: 'board list with totals', tags: ['boards'] },
  { path: '/b/general', what: 'a board: its threads, page 1', tags: ['boards', ...Array.from({ length: 20 }, (_, i) => `board:${i + 1}`)] },
  { path: '/t/1', what: 'a thread: its posts, page 1 (fragment cache)', tags: ['thread:1'] },
];

interface Sample {
  cold: number[];
  warm: number[];
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function timedGet(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, { headers: { 'accept-encoding': 'br' } });
  await res.arrayBuffer();
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return ms;
}

async function main(): Promise<number> {
  const quick = quickFlag(process.argv.slice(2));
  const posts = positiveInt('BENCH_FORUM_POSTS', 100_000);
  const samples = positiveInt('BENCH_FORUM_SAMPLES', quick ? 20 : 60);
  stopOnSignals('forum');
  if (!existsSync(ENTRY)) {
    console.log('dist/forum is not built: npm run build …');
    const b = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0) throw new Error('npm run build failed: the forum scenario needs dist/forum');
  }
  const redis = await startRedis();
  defer(() => redis.stop());
  const dir = mkdtempSync(join(tmpdir(), 'onionscale-bench-forum-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const passwordFile = join(dir, 'redis.password');
  writeFileSync(passwordFile, redis.password, { mode: 0o600 });
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [ENTRY], {
    cwd: dir,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      ONIONSCALE_INSTANCE: 'bench-forum',
      ONIONSCALE_REDIS: `127.0.0.1:${redis.port}`,
      ONIONSCALE_REDIS_PASSWORD_FILE: passwordFile,
      FORUM_DB: join(dir, 'forum.db'),
      FORUM_SEED_POSTS: String(posts),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  defer(() => stopChild(child));
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log += String(d)));
  child.stderr.on('data', (d: Buffer) => (log += String(d)));
  const base = `http://127.0.0.1:${port}`;
  for (const until = Date.now() + 120_000; ; ) {
    if (child.exitCode !== null) throw new Error(`the forum exited (${child.exitCode}):\n${log.slice(-2000)}`);
    if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) break;
    if (Date.now() > until) throw new Error(`the forum did not answer /healthz within 120 s:\n${log.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const startMs = performance.now() - started;
  console.log(`forum up with ${fmt(posts)} posts after ${fmt(startMs / 1000, 1)} s (seeding included)`);

  // The invalidating "other instance": same Redis, same cache prefix and bus as the forum's cache.
  const other = createCache({ name: 'bench-invalidator', l2: { options: { url: redis.url } } });
  defer(() => other.close());
  if (!(await other.ready(10_000))) throw new Error('the invalidating cache did not reach Redis');

  const results: Record<string, Sample> = {};
  for (const page of PAGES) {
    const url = base + page.path;
    await timedGet(url); // warm-up: JIT, scripts, connections
    const s: Sample = { cold: [], warm: [] };
    for (let i = 0; i < samples; i++) {
      await Promise.all(page.tags.map((t) => other.deleteByTag(t)));
      // The bus message reaches the forum's L1 asynchronously: give it a moment (not measured).
      await new Promise((r) => setTimeout(r, 20));
      s.cold.push(await timedGet(url));
      s.warm.push(await timedGet(url));
    }
    results[page.path] = s;
  }

  const rows = PAGES.flatMap((p) => {
    const s = results[p.path]!;
    const row = (name: string, xs: number[]) => ({ page: p.path, what: p.what, name, reqPerSec: 1000 / mean(xs), p50Ms: quantile(xs, 0.5), p99Ms: quantile(xs, 0.99), meanMs: mean(xs), samples: xs.length });
    return [row('warm cache (L1)', s.warm), row('cold cache (SQLite)', s.cold)];
  });
  printTable(
    ['page', 'cache', 'p50 ms', 'p99 ms', 'req/s (1 conn)', 'warm saves'],
    rows.map((r) => {
      const s = results[r.page]!;
      return [r.page, r.name, fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.reqPerSec), r.name.startsWith('warm') ? `${fmt(quantile(s.cold, 0.5) - quantile(s.warm, 0.5), 1)} ms/request` : ''];
    }),
  );
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  writeFileSync(
    RESULTS_FILE,
    JSON.stringify({ benchmark: 'forum', date: new Date().toISOString(), quick, machine: machine(), node: process.version, settings: { posts, samples, startMs }, rows }, null, 2) + '\n',
  );
  console.log(`wrote ${RESULTS_FILE}`);
  return 0;
}

runMain(main);
