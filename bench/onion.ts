/**
 * Scenario 7 (issue 8): the demo forum's pages over REAL onion circuits on the private Tor network on loopback
 * (`src/testnet`: 3 authorities + 2 relays + a client, TestingTorNetwork — never the public Tor network), with
 * latency emulation (default 40 ms one way per link, so an onion round trip is ~0.5 s as on the real network).
 *
 * The real stack (`onionscale up`, built CLI): tor joins the testnet, haproxy, 2 forum instances (100k posts), Redis.
 * Per page, on one kept-alive stream over a warm circuit, samples alternate COLD (the page's cache tags deleted first
 * through a second cache on the stack's Redis, as another instance's post would) and WARM; plus a visit on a NEW
 * circuit (what a first visit costs). TTFB = request written → first byte; round trips = time ÷ one onion RTT
 * (measured with a tiny request on the same stream). Every process stopped by PID at the end.
 *
 *   npm run build && npm --prefix bench run onion [-- --quick]
 *   env: BENCH_ONION_LATENCY (ms, 40), BENCH_ONION_SAMPLES (7; quick 3)
 * Writes bench/results/onion.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCache } from '../src/core/cache/index.js';
import { startTestnet } from '../src/testnet/network.js';
import { socksConnect } from '../src/testnet/socks.js';
import { freePort, freePortRange } from '../test/helpers/ports.js';
import { readKeptAliveResponse } from '../test/helpers/stack.js';
import { testnetStackYaml } from '../test/helpers/tor-testnet.js';
import { BENCH_DIR, defer, fmt, machine, positiveInt, printTable, quickFlag, runMain, stopChild, stopOnSignals } from './_lib.js';

const ROOT = join(BENCH_DIR, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const RESULTS_FILE = join(BENCH_DIR, 'results', 'onion.json');
const PAGES = [
  { path: '/', tags: ['boards'] },
  { path: '/b/general', tags: ['boards', ...Array.from({ length: 20 }, (_, i) => `board:${i + 1}`)] },
];

interface Timed {
  ttfb: number;
  total: number;
}

/** One request on a kept-alive stream (the forum compresses and sets Content-Length): TTFB and whole-page time. */
async function get(socket: Socket, host: string, path: string): Promise<Timed> {
  const got = readKeptAliveResponse(socket);
  const w = performance.now();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nAccept-Encoding: br\r\nConnection: keep-alive\r\n\r\n`);
  const r = await got;
  if (!r.head.startsWith('HTTP/1.1 200')) throw new Error(`GET ${path}: ${r.head.split('\r\n')[0]}`);
  return { ttfb: r.first - w, total: r.last - w };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<number> {
  const quick = quickFlag(process.argv.slice(2));
  const latencyMs = Number(process.env.BENCH_ONION_LATENCY ?? 40);
  const samples = positiveInt('BENCH_ONION_SAMPLES', quick ? 3 : 7);
  stopOnSignals('onion');
  if (!existsSync(join(ROOT, 'dist', 'forum', 'main.js')) || !existsSync(CLI)) {
    console.log('dist/ is not built: npm run build …');
    if (spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed');
  }
  const dir = mkdtempSync(join(tmpdir(), 'onionscale-bench-onion-'));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  const t0 = performance.now();
  const net = await startTestnet({ dir: join(dir, 'net'), latencyMs, ownerPid: process.pid, waitFor: 'onion' });
  defer(() => net.stop());
  const testnetMs = performance.now() - t0;
  console.log(`private Tor network up in ${fmt(testnetMs / 1000, 1)} s (latency ${latencyMs} ms one way per link)`);

  const stackDir = join(dir, 's');
  mkdirSync(stackDir);
  const config = join(stackDir, 'onionscale.yaml');
  const redisPort = await freePort();
  writeFileSync(
    config,
    testnetStackYaml({
      apps: ['  - name: web', '    builtin: forum', '    instances: 2', `    basePort: ${await freePortRange(2)}`, '    readyTimeout: 60s', '    env: { FORUM_DB: forum.db, FORUM_SEED_POSTS: "100000" }'],
      redisPort,
    }),
  );
  const up = spawn(process.execPath, [CLI, 'up', '-c', config], { cwd: stackDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  up.stdout.on('data', (c: Buffer) => (log += String(c)));
  up.stderr.on('data', (c: Buffer) => (log += String(c)));
  defer(async () => {
    spawnSync(process.execPath, [CLI, 'down', '-c', config], { cwd: stackDir, stdio: 'ignore', timeout: 30_000 });
    await stopChild(up);
  });
  for (const until = Date.now() + 180_000; !log.includes('tor network:'); ) {
    if (up.exitCode !== null) throw new Error(`onionscale up exited (${up.exitCode}):\n${log.slice(-2000)}`);
    if (Date.now() > until) throw new Error(`onionscale up did not reach the tor network in 180 s:\n${log.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const status = spawnSync(process.execPath, [CLI, 'status', '--json', '-c', config], { cwd: stackDir, encoding: 'utf8' });
  const host = (JSON.parse(status.stdout) as { onions: { hostname: string }[] }).onions[0]!.hostname;

  // First page from cold (retrying while the descriptor is being published).
  const connect = (user: string) => socksConnect({ proxyPort: net.socksPort, host, port: 80, user, timeoutMs: 60_000 });
  const reachStarted = performance.now();
  let stream: Socket | undefined;
  for (let attempt = 1; !stream; attempt++) {
    try {
      const s = await connect(`reach-${attempt}`);
      await get(s, host, '/');
      stream = s;
    } catch (err) {
      if (performance.now() - reachStarted > 180_000) throw new Error(`the forum onion was not reachable in 180 s: ${String(err)}`, { cause: err });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const reachMs = performance.now() - reachStarted;
  console.log(`forum reachable over Tor ${fmt(reachMs / 1000, 1)} s after \`up\` reported the network`);

  const password = readFileSync(join(stackDir, 'state', 'secrets', 'redis.password'), 'utf8').trim();
  const other = createCache({ name: 'bench-onion-invalidator', l2: { options: { url: `redis://:${encodeURIComponent(password)}@127.0.0.1:${redisPort}` } } });
  defer(() => other.close());
  if (!(await other.ready(10_000))) throw new Error("cannot reach the stack's Redis");

  // One onion round trip: a tiny response (robots.txt) on the kept-alive stream.
  const rtts: number[] = [];
  for (let i = 0; i < samples; i++) rtts.push((await get(stream, host, '/robots.txt')).total);
  const rtt = median(rtts);

  const rows: Record<string, unknown>[] = [];
  for (const page of PAGES) {
    const cold: Timed[] = [];
    const warm: Timed[] = [];
    const fresh: Timed[] = [];
    for (let i = 0; i < samples; i++) {
      await Promise.all(page.tags.map((t) => other.deleteByTag(t)));
      await new Promise((r) => setTimeout(r, 30)); // the bus message reaches both instances' L1 (not measured)
      cold.push(await get(stream, host, page.path));
      warm.push(await get(stream, host, page.path));
      // A first visit: a new SOCKS identity → a new circuit (introduction + rendezvous), then the page.
      const c0 = performance.now();
      const s = await connect(`fresh-${page.path}-${i}`);
      const t = await get(s, host, page.path);
      fresh.push({ ttfb: t.ttfb + (performance.now() - c0 - t.total), total: performance.now() - c0 });
      s.destroy();
    }
    const row = (name: string, ts: Timed[]) => {
      const total = median(ts.map((t) => t.total));
      return { page: page.path, name, ttfbMs: median(ts.map((t) => t.ttfb)), totalMs: total, roundTrips: Math.round((total / rtt) * 10) / 10, samples: ts.length };
    };
    rows.push(row('warm cache, warm circuit', warm), row('cold cache, warm circuit', cold), row('warm cache, new circuit', fresh));
  }
  stream.destroy();
  printTable(
    ['page', 'case', 'TTFB ms', 'page ms', 'round trips'],
    rows.map((r) => [String(r.page), String(r.name), fmt(Number(r.ttfbMs)), fmt(Number(r.totalMs)), fmt(Number(r.roundTrips), 1)]),
  );
  console.log(`one onion round trip: ${fmt(rtt)} ms (median of ${samples})`);
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  writeFileSync(
    RESULTS_FILE,
    JSON.stringify({ benchmark: 'onion', date: new Date().toISOString(), quick, machine: machine(), node: process.version, settings: { latencyMs, samples, relays: 2 }, onionRttMs: rtt, testnetMs, reachMs, rows }, null, 2) + '\n',
  );
  console.log(`wrote ${RESULTS_FILE}`);
  return 0;
}

runMain(main);
