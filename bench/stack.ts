/**
 * Stack benchmark (issue 8, scenario 2): the seed request (bench/request.ts) through the full stack — haproxy in
 * front of 1, 2 and 3 instances of bench/stacks/onionscale-fastify.ts — and the same instance hit directly, so the
 * table shows how throughput grows with instances on this machine and what the balancer itself costs.
 *
 * - The instances share one redis-server and one BENCH_PREFIX: a session made on one is valid on all (checked:
 *   the cookie from instance 1 reads the page on every instance and through every haproxy).
 * - haproxy runs the REAL config: src/render/haproxy.ts renders it from a model (src/config, like
 *   src/render/model.fixture.ts `model(yaml)`) with the instances' ports, state paths in a temp dir (errorfiles
 *   and the admin socket land there; the error pages are written with src/render/pages.ts). Then only what a
 *   loopback load generator needs is changed (bench/_haproxy.ts) and `haproxy -c` checks the result.
 * - Load and figures as in request.ts (bench/_lib.ts): wrk -t1 -c50, warm-up, alternating rounds (direct, ×1, ×2,
 *   ×3, direct, …), medians and min–max, Redis commands per request from INFO commandstats. Each haproxy's own
 *   counters (admin socket, `show stat`) give the share of requests every instance answered.
 * - Bounded: wrk runs for fixed seconds, every check has a timeout, every process (haproxy ×3, the instances,
 *   redis-server, wrk) is stopped by PID at the end, also on errors and Ctrl-C.
 *
 *   npm --prefix bench run stack [-- --quick]
 *   env: BENCH_DURATION (s, default 5; --quick 1), BENCH_ROUNDS (5; --quick 2), BENCH_WARMUP (s, 3; --quick 1), BENCH_CONNECTIONS (50),
 *        BENCH_THREADS (1)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { renderHaproxyConfig } from '../src/render/haproxy.js';
import { ERROR_STATUSES, errorFilePath, renderErrorFile } from '../src/render/pages.js';
import { freePort, freePortRange } from '../test/helpers/ports.js';
import { waitForPort } from '../test/helpers/redis.js';
import {
  BENCH_DIR,
  seedRequestSetup,
  checkPage,
  commandDelta,
  commandStats,
  defer,
  fmt,
  loadProblem,
  login,
  machine,
  positiveInt,
  printTable,
  ratioCell,
  roundCells,
  quickFlag,
  quiescent,
  roundOf,
  runMain,
  startStack,
  stopChild,
  stopOnSignals,
  summarizeRounds,
  wrk,
  wrkVersion,
  type Round,
  type RoundSummary,
  type Stack,
} from './_lib.js';
import { benchModel, loopbackChanges } from './_haproxy.js';
import { QUERY_KEY } from './stacks/_contract.js';

const RESULTS_FILE = join(BENCH_DIR, 'results', 'stack.json');
const STACK = 'onionscale-fastify';
const MAX_INSTANCES = 3;
/** One prefix for every instance: shared sessions and cached query, as instances of one app have. */
const PREFIX = 'bench:stack:';

stopOnSignals('wrk, haproxy, the instances and redis-server');

interface Settings {
  /** `--quick`: fewer, shorter rounds (recorded in the result file). */
  quick: boolean;
  durationS: number;
  rounds: number;
  warmupS: number;
  connections: number;
  threads: number;
}

function settings(argv: string[]): Settings {
  const quick = quickFlag(argv);
  return {
    quick,
    durationS: positiveInt('BENCH_DURATION', quick ? 1 : 5),
    rounds: positiveInt('BENCH_ROUNDS', quick ? 2 : 5),
    warmupS: positiveInt('BENCH_WARMUP', quick ? 1 : 3),
    connections: positiveInt('BENCH_CONNECTIONS', 50),
    threads: positiveInt('BENCH_THREADS', 1),
  };
}

// ---------------------------------------------------------------------------------------------------- haproxy process

interface Balancer {
  instances: number;
  port: number;
  child: ChildProcess;
  adminSocket: string;
  tail(): string;
}

/** One admin-socket command (non-interactive: haproxy answers and closes). */
function adminCommand(socket: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(socket);
    let out = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`admin socket ${socket}: no answer to "${command}" in 5 s`));
    }, 5000);
    c.on('connect', () => c.write(`${command}\n`));
    c.on('data', (d: Buffer) => (out += d.toString()));
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** `show stat` as rows of the app backend's servers: name, status, 2xx responses. */
async function serverStats(b: Balancer): Promise<{ name: string; status: string; responses2xx: number }[]> {
  const csv = await adminCommand(b.adminSocket, 'show stat');
  const [head, ...rows] = csv.trim().split('\n');
  const cols = head!.replace(/^# /, '').split(',');
  const col = (name: string) => {
    const i = cols.indexOf(name);
    if (i < 0) throw new Error(`show stat has no column ${name}`);
    return i;
  };
  const [px, sv, status, r2xx] = [col('pxname'), col('svname'), col('status'), col('hrsp_2xx')];
  return rows
    .map((r) => r.split(','))
    .filter((f) => f[px] === 'app-web' && f[sv] !== 'BACKEND' && f[sv] !== 'FRONTEND')
    .map((f) => ({ name: f[sv]!, status: f[status]!, responses2xx: Number(f[r2xx] || 0) }));
}

async function startBalancer(
  tmp: string,
  instances: Stack[],
  s: Settings,
  circuitHeader: string,
  circuitValue: string,
): Promise<{ balancer: Balancer; config: string }> {
  const n = instances.length;
  const dir = join(tmp, `haproxy-${n}`);
  const port = await freePort();
  const model = benchModel(dir, port, instances[0]!.port, n, s.connections);
  const rendered = model.apps[0]!.instances.map((i) => i.port);
  if (rendered.join() !== instances.map((i) => i.port).join()) throw new Error(`model instance ports ${rendered.join()} ≠ running ${instances.map((i) => i.port).join()}`);
  const config = loopbackChanges(renderHaproxyConfig(model), circuitHeader, circuitValue);
  if (config.includes('/var/lib/')) throw new Error('haproxy.cfg still refers to /var/lib: the model did not take this run’s state dir');
  mkdirSync(model.paths.run, { recursive: true, mode: 0o700 });
  for (const status of ERROR_STATUSES) {
    const file = errorFilePath(model, status);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, renderErrorFile(status));
  }
  const cfgFile = join(dir, 'haproxy.cfg');
  writeFileSync(cfgFile, config);
  const bin = model.binaries.haproxy;
  const check = spawnSync(bin, ['-c', '-f', cfgFile], { encoding: 'utf8', timeout: 10_000 });
  if (check.status !== 0) throw new Error(`haproxy -c refused the config (${check.error?.message ?? `exit ${check.status}`}):\n${check.stdout}${check.stderr}`);
  // -db: foreground, as the supervisor runs it. stdout is where `log stdout` writes one line per request (the
  // production setting, kept: formatting and writing the log line is part of the balancer's cost); it goes to
  // /dev/null so no reader of ours competes for the CPU. stderr (alerts) is kept for failure messages.
  const child = spawn(bin, ['-db', '-f', cfgFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  defer(() => stopChild(child));
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const balancer: Balancer = { instances: n, port, child, adminSocket: model.paths.haproxyAdminSocket, tail: () => log };
  try {
    await waitForPort(port, 10_000);
    // Health checks run from the start; wait until every server is UP (at most 10 s).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const st = await serverStats(balancer);
      if (st.length === n && st.every((x) => x.status === 'UP')) break;
      if (Date.now() > deadline) throw new Error(`servers not UP within 10 s: ${st.map((x) => `${x.name} ${x.status}`).join(', ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    throw new Error(`haproxy ×${n}: ${(err as Error).message}\n${log}`, { cause: err });
  }
  return { balancer, config };
}

// ---------------------------------------------------------------------------------------------------- main

interface Target {
  name: string;
  instances: number;
  url: string;
  balancer: Balancer | undefined;
  failure: string | undefined;
  rounds: Round[];
  before: Map<string, number> | undefined;
}

type Row = { name: string; instances: number; viaHaproxy: boolean; ok: boolean; error?: string; share?: Record<string, number>; ratios?: { vsDirect: number | null; vsHaproxy1: number | null } } & Partial<RoundSummary>;

async function main(): Promise<number> {
  const s = settings(process.argv.slice(2));
  const wrkLine = wrkVersion();
  const haproxyLine = spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim() ?? 'unknown';

  const { circuitHeader, circuitValue, circuit, token, rows, script, tmp, redis, admin, redisVersion } = await seedRequestSetup('osc-bench-stack-');
  await admin.set(PREFIX + QUERY_KEY, JSON.stringify(rows));

  // Consecutive ports, so the model's `basePort` + i are exactly the running instances.
  const basePort = await freePortRange(MAX_INSTANCES);
  const instances: Stack[] = await Promise.all(
    Array.from({ length: MAX_INSTANCES }, (_, i) => startStack(STACK, redis, circuitHeader, { prefix: PREFIX, port: basePort + i })),
  );
  const direct = `http://127.0.0.1:${instances[0]!.port}`;
  const cookie = await login(direct, circuit, token);
  for (const inst of instances.slice(1)) await checkPage(`http://127.0.0.1:${inst.port}`, circuit, cookie, token);
  console.log(`${MAX_INSTANCES} × ${STACK} on 127.0.0.1:${instances.map((i) => i.port).join(', ')}; one session valid on all`);

  const targets: Target[] = [{ name: 'direct (no haproxy)', instances: 1, url: `${direct}/page`, balancer: undefined, failure: undefined, rounds: [], before: undefined }];
  let configSample = '';
  for (let n = 1; n <= MAX_INSTANCES; n++) {
    const name = `haproxy → ${n} instance${n === 1 ? '' : 's'}`;
    try {
      const { balancer, config } = await startBalancer(tmp, instances.slice(0, n), s, circuitHeader, circuitValue);
      if (n === MAX_INSTANCES) configSample = config;
      await checkPage(`http://127.0.0.1:${balancer.port}`, {}, cookie, token); // haproxy sets the circuit header itself
      targets.push({ name, instances: n, url: `http://127.0.0.1:${balancer.port}/page`, balancer, failure: undefined, rounds: [], before: undefined });
      console.log(`  ${name}: haproxy on 127.0.0.1:${balancer.port}, servers UP, page checked`);
    } catch (err) {
      targets.push({ name, instances: n, url: '', balancer: undefined, failure: `start: ${(err as Error).message}`, rounds: [], before: undefined });
      console.log(`  ${name}: FAILED ${(err as Error).message.split('\n')[0]}`);
    }
  }

  const live = () => targets.filter((t) => t.failure === undefined);
  const fail = (t: Target, why: string) => {
    const gone = t.balancer && (t.balancer.child.exitCode !== null || t.balancer.child.signalCode !== null);
    t.failure = gone ? `${why}; haproxy exited:\n${t.balancer!.tail()}` : why;
    console.log(`  ${t.name}: FAILED ${why}`);
  };
  // The client sends the circuit header only when it talks to the instance directly; through haproxy the
  // balancer deletes any client-sent one and sets its own (change 2).
  const headersOf = (t: Target) => [`Cookie: ${cookie}`, ...(t.balancer ? [] : [`${circuitHeader}: ${circuitValue}`])];
  const started = performance.now();
  console.log(`\nwarm-up ${s.warmupS} s per target, then ${s.rounds} rounds × ${s.durationS} s per target (≈ ${Math.ceil((live().length * (s.warmupS + s.rounds * s.durationS)) / 60)} min) …`);
  for (const t of live()) {
    const problem = loadProblem(await wrk(s, script, t.url, headersOf(t), s.warmupS));
    if (problem) fail(t, `warm-up: ${problem}`);
  }
  const shareBefore = new Map<Target, Map<string, number>>();
  for (const t of live()) if (t.balancer) shareBefore.set(t, new Map((await serverStats(t.balancer)).map((x) => [x.name, x.responses2xx])));
  let quiet = false;
  for (let round = 1; round <= s.rounds; round++) {
    for (const t of live()) {
      // The previous round's `after` already waited for Redis to go quiet; only the first round (after the
      // warm-up) has to wait here for the last requests in flight.
      const before = quiet ? await commandStats(admin) : await quiescent(admin);
      const w = await wrk(s, script, t.url, headersOf(t), s.durationS);
      const after = await quiescent(admin);
      quiet = true;
      const problem = loadProblem(w);
      if (problem) {
        fail(t, `round ${round}: ${problem}`);
        continue;
      }
      t.rounds.push(roundOf(w, s.connections, commandDelta(before, after)));
    }
    console.log(`  round ${round}/${s.rounds}: ${live().map((t) => `${t.name} ${fmt(t.rounds.at(-1)!.reqPerSec)}`).join(', ')}`);
  }

  const report: Row[] = [];
  for (const t of targets) {
    const row: Row = { name: t.name, instances: t.instances, viaHaproxy: t !== targets[0], ok: false };
    if (t.failure !== undefined || t.rounds.length === 0) {
      report.push({ ...row, error: t.failure ?? 'no measured round' });
      continue;
    }
    Object.assign(row, { ok: true }, summarizeRounds(t.rounds));
    if (t.balancer) {
      // Share of the measured rounds' 2xx responses per instance, from haproxy's own counters.
      const start = shareBefore.get(t) ?? new Map<string, number>();
      const now = await serverStats(t.balancer);
      const counts = now.map((x) => [x.name, x.responses2xx - (start.get(x.name) ?? 0)] as const);
      const total = counts.reduce((a, [, c]) => a + c, 0);
      row.share = Object.fromEntries(counts.map(([n, c]) => [n, total ? Math.round((c / total) * 1000) / 1000 : 0]));
    }
    report.push(row);
  }
  const rpsOf = (name: string) => report.find((r) => r.name === name)?.reqPerSec?.median;
  const directRps = rpsOf(targets[0]!.name);
  const hap1 = rpsOf(targets[1]!.name);
  for (const r of report) {
    if (!r.reqPerSec) continue;
    r.ratios = { vsDirect: directRps ? r.reqPerSec.median / directRps : null, vsHaproxy1: hap1 ? r.reqPerSec.median / hap1 : null };
  }

  console.log(`\nGET /page logged in through haproxy (the rendered production config) in front of 1–${MAX_INSTANCES} × ${STACK}, wrk -t${s.threads} -c${s.connections} -d${s.durationS}s,`);
  console.log(`${s.rounds} alternating rounds after a ${s.warmupS} s warm-up; medians, spread = min–max over rounds\n`);
  printTable(
    ['target', 'req/s', 'spread', 'p50 ms', 'p99 ms', 'cmds/req', '÷ direct', '÷ haproxy→1', 'share per instance'],
    report.map((r) =>
      r.ok
        ? [
            r.name,
            ...roundCells(r as RoundSummary),
            ratioCell(r.ratios?.vsDirect),
            ratioCell(r.ratios?.vsHaproxy1),
            r.share ? Object.values(r.share).map((x) => `${fmt(x * 100)}%`).join(' / ') : '',
          ]
        : [r.name, 'FAILED', '', '', '', '', '', '', ''],
    ),
  );
  for (const r of report) if (!r.ok) console.log(`  ${r.name}: ${r.error}`);

  const result = {
    benchmark: 'stack',
    request: `GET /page by a logged-in user through haproxy → ${STACK} (session + circuit rate limit in one EVALSHA, cached query)`,
    date: new Date().toISOString(),
    machine: machine(),
    node: process.version,
    redis: redisVersion,
    haproxy: haproxyLine,
    wrk: wrkLine,
    settings: { ...s, circuitHeader, circuitValue, stack: STACK, prefix: PREFIX },
    configChanges: [
      'frontend bind on 127.0.0.1:<port> without accept-proxy (wrk sends no PROXY line)',
      `${circuitHeader} set to the static circuit ${circuitValue} (wrk connects from 127.0.0.1, not a tor circuit address)`,
      'balancer.perCircuit raised in the model so the 50 connections of one "circuit" are never refused',
      'errorfiles and the admin socket in the run’s temp dir (model stateDir); health checks kept',
    ],
    haproxyConfig: configSample.split('\n'),
    rows: report,
    totalSeconds: Math.round((performance.now() - started) / 1000),
  };
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwritten bench/results/stack.json (${result.totalSeconds} s of load)`);
  return report.every((r) => r.ok) ? 0 : 1;
}

runMain(main);
