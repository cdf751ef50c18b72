/**
 * Request benchmark (issue 4): the seed request — `GET /page` by a logged-in user: session read, rate-limit check
 * keyed by the Tor circuit header, cached query, small HTML body — through every stack in bench/stacks/, side by
 * side in one run, on one redis-server this script starts (and always stops, also on Ctrl-C and errors).
 *
 * Shape, and why:
 * - Each stack is its own server process (fork with `--import tsx`; the contract is in stacks/_contract.ts), so no
 *   stack's event loop or GC disturbs another's numbers. Every stacks/*.ts that does not start with `_` is a
 *   stack; the run prints which files it found, which are helpers and which BENCH_STACKS left out.
 * - Load is wrk (C, one thread, 50 connections, the same cookie and circuit header on every request). A tiny Lua
 *   `done()` prints wrk's own summary as JSON (requests, duration, p50/p99 in µs, errors), so nothing depends on
 *   wrk's human-readable units.
 * - Warm-up round for every stack first (JIT, connections, Lua scripts loaded), then rounds that alternate the
 *   stacks (A B C … A B C …), so a noisy neighbour on the machine hits all stacks alike; medians and min–max.
 * - Redis commands per request: INFO commandstats before each measured round and, once Redis is idle again, after
 *   it (the harness's own INFO calls excluded), divided by the requests the server handled: wrk's completed ones
 *   plus the c still in flight when it stopped (see Round.served). Commands run inside a Lua script count one by
 *   one, as Redis counts them; round trips are not observable from Redis, so they are not reported.
 * - A stack that fails (does not start, fails the login/page checks, answers non-2xx or drops connections under
 *   load) is reported as FAILED with the reason, the others still run, and the exit code is 1.
 *
 *   npm --prefix bench install && npm --prefix bench run request [-- --quick]
 *   env: BENCH_DURATION (s, default 5; --quick 1), BENCH_ROUNDS (5; --quick 2), BENCH_WARMUP (s, 3; --quick 1), BENCH_CONNECTIONS (50),
 *        BENCH_THREADS (1), BENCH_STACKS (comma list of stack names; default all)
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  BENCH_DIR,
  seedRequestSetup,
  STACKS_DIR,
  commandDelta,
  commandStats,
  fmt,
  loadProblem,
  login,
  machine,
  positiveInt,
  printTable as printAligned,
  ratioCell,
  roundCells,
  quickFlag,
  quiescent,
  roundOf,
  runMain,
  startStack,
  stopOnSignals,
  summarizeRounds,
  wrk,
  wrkVersion as wrkVersionLine,
  type RoundSummary,
  type Stack,
} from './_lib.js';
import { QUERY_KEY } from './stacks/_contract.js';

const RESULTS_FILE = join(BENCH_DIR, 'results', 'request.json');
/** Shown first, in this order; any other stack file follows alphabetically. */
const ORDER = ['bare-http', 'bare-http-get', 'express-bare', 'fastify-bare', 'express-peer', 'fastify-peer', 'onionscale-http', 'onionscale-express', 'onionscale-fastify'];
const EXPRESS_PEER = 'express-peer';
const BARE_GET = 'bare-http-get';

// ---------------------------------------------------------------------------------------------------- settings

interface Settings {
  /** `--quick`: fewer, shorter rounds (recorded in the result file). */
  quick: boolean;
  durationS: number;
  rounds: number;
  warmupS: number;
  connections: number;
  threads: number;
  only: string[] | undefined;
}

function settings(argv: string[]): Settings {
  const quick = quickFlag(argv);
  const only = process.env.BENCH_STACKS?.split(',').map((s) => s.trim()).filter(Boolean);
  return {
    quick,
    durationS: positiveInt('BENCH_DURATION', quick ? 1 : 5),
    rounds: positiveInt('BENCH_ROUNDS', quick ? 2 : 5),
    warmupS: positiveInt('BENCH_WARMUP', quick ? 1 : 3),
    connections: positiveInt('BENCH_CONNECTIONS', 50),
    threads: positiveInt('BENCH_THREADS', 1),
    only: only && only.length > 0 ? only : undefined,
  };
}

/** Every stack file, the helper modules beside them, and what BENCH_STACKS excluded — all printed, none hidden. */
function discover(only: string[] | undefined): { stacks: string[]; helpers: string[]; excluded: string[] } {
  const files = readdirSync(STACKS_DIR).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  const helpers = files.filter((f) => f.startsWith('_'));
  const rank = (n: string) => (ORDER.includes(n) ? ORDER.indexOf(n) : ORDER.length);
  const all = files
    .filter((f) => !f.startsWith('_'))
    .map((f) => f.slice(0, -3))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  if (only) {
    const unknown = only.filter((n) => !all.includes(n));
    if (unknown.length > 0) throw new Error(`BENCH_STACKS names ${unknown.join(', ')}, not in bench/stacks/ (found: ${all.join(', ')})`);
  }
  const stacks = only ? all.filter((n) => only.includes(n)) : all;
  return { stacks, helpers, excluded: all.filter((n) => !stacks.includes(n)) };
}

stopOnSignals('wrk, the stacks and redis-server');

// ---------------------------------------------------------------------------------------------------- report

type StackReport = { name: string; file: string; ok: boolean; error?: string; rounds: number; ratios?: { vsExpressPeer: number | null; vsBareHttpGet: number | null } } & Partial<
  Omit<RoundSummary, 'rounds'>
>;

function summarize(stacks: Stack[]): StackReport[] {
  const base: StackReport[] = stacks.map((st) => {
    const file = `bench/stacks/${st.name}.ts`;
    if (st.failure !== undefined || st.rounds.length === 0) {
      return { name: st.name, file, ok: false, error: st.failure ?? 'no measured round', rounds: st.rounds.length };
    }
    return { name: st.name, file, ok: true, ...summarizeRounds(st.rounds) };
  });
  const rpsOf = (n: string) => base.find((r) => r.name === n)?.reqPerSec?.median;
  const ref = { express: rpsOf(EXPRESS_PEER), bare: rpsOf(BARE_GET) };
  for (const r of base) {
    if (!r.reqPerSec) continue;
    r.ratios = {
      vsExpressPeer: ref.express ? r.reqPerSec.median / ref.express : null,
      vsBareHttpGet: ref.bare ? r.reqPerSec.median / ref.bare : null,
    };
  }
  return base;
}

/**
 * The issue's goals, checked for every onionscale-* stack: ≥ 5× the Express peer, ≥ bare+GET, one round trip.
 * Redis cannot see round trips; what it can see is that the request's Redis work is one script call (plus the
 * cache GETs node-redis writes with it — counted by test/integration/pipeline-redis.test.ts through a TCP proxy).
 */
function goals(reports: StackReport[]): { stack: string; goal: string; value: number | null; met: boolean | null }[] {
  const out: { stack: string; goal: string; value: number | null; met: boolean | null }[] = [];
  for (const r of reports.filter((x) => x.name.startsWith('onionscale-'))) {
    const vsE = r.ratios?.vsExpressPeer ?? null;
    const vsB = r.ratios?.vsBareHttpGet ?? null;
    const scripts = r.scriptCallsPerRequest ?? null;
    out.push({ stack: r.name, goal: `≥ 5× ${EXPRESS_PEER} req/s`, value: vsE, met: vsE === null ? null : vsE >= 5 });
    out.push({ stack: r.name, goal: `≥ 1× ${BARE_GET} req/s`, value: vsB, met: vsB === null ? null : vsB >= 1 });
    out.push({ stack: r.name, goal: '≤ 1 script call per request (one round trip)', value: scripts, met: scripts === null ? null : scripts <= 1.005 });
  }
  return out;
}


function printTable(reports: StackReport[], s: Settings, circuitHeader: string): void {
  console.log(`\nGET /page logged in (session + rate limit on ${circuitHeader} + cached query), wrk -t${s.threads} -c${s.connections} -d${s.durationS}s,`);
  console.log(`${s.rounds} alternating rounds after a ${s.warmupS} s warm-up; medians, spread = min–max over rounds\n`);
  const header = ['stack', 'req/s', 'spread', 'p50 ms', 'p99 ms', 'cmds/req', `÷ ${EXPRESS_PEER}`, `÷ ${BARE_GET}`];
  const rows = reports.map((r) =>
    r.ok
      ? [r.name, ...roundCells(r as RoundSummary), ratioCell(r.ratios?.vsExpressPeer), ratioCell(r.ratios?.vsBareHttpGet)]
      : [r.name, 'FAILED', '', '', '', '', '', ''],
  );
  printAligned(header, rows);
  const nameWidth = Math.max('stack'.length, ...reports.map((r) => r.name.length));
  console.log('\nRedis commands per request (INFO commandstats; commands inside Lua scripts count one by one):');
  for (const r of reports) {
    if (r.ok) {
      const parts = Object.entries(r.commandCalls!).map(([n, c]) => (c / r.requestsServed! >= 0.005 ? `${n} ${fmt(c / r.requestsServed!, 2)}` : `${n} ×${c} in all`));
      console.log(`  ${r.name.padEnd(nameWidth)}  ${parts.length > 0 ? parts.join(', ') : 'none'}${r.timeouts ? `  (wrk timeouts: ${r.timeouts})` : ''}`);
    } else {
      console.log(`  ${r.name.padEnd(nameWidth)}  FAILED: ${r.error!.split('\n')[0]}`);
    }
  }
  const g = goals(reports);
  if (g.length > 0) {
    console.log('\nGoals (issue 4):');
    for (const x of g) console.log(`  ${x.stack}: ${x.goal}: ${x.value === null ? '–' : fmt(x.value, 2)} ${x.met === null ? '(not measured)' : x.met ? 'met' : 'NOT met'}`);
  }
}

// ---------------------------------------------------------------------------------------------------- main

async function main(): Promise<number> {
  const s = settings(process.argv.slice(2));
  const found = discover(s.only);
  console.log(`stacks: ${found.stacks.join(', ') || '(none)'}`);
  if (found.helpers.length > 0) console.log(`helper modules in bench/stacks (not stacks): ${found.helpers.join(', ')}`);
  if (found.excluded.length > 0) console.log(`left out by BENCH_STACKS: ${found.excluded.join(', ')}`);
  if (found.stacks.length === 0) throw new Error('no stack to run');
  const wrkVersion = wrkVersionLine();

  const { circuitHeader, circuitValue, circuit, token, rows, script, redis, admin, redisVersion } = await seedRequestSetup('onionscale-bench-');
  const rowsJson = JSON.stringify(rows);

  // Started side by side (only start-up, nothing is measured yet), then checked one by one, in order.
  for (const name of found.stacks) await admin.set(`bench:${name}:${QUERY_KEY}`, rowsJson);
  const starts = await Promise.allSettled(found.stacks.map((name) => startStack(name, redis, circuitHeader)));
  const stacks: Stack[] = [];
  for (const [i, name] of found.stacks.entries()) {
    const started = starts[i]!;
    if (started.status === 'fulfilled') {
      const st = started.value;
      stacks.push(st);
      try {
        st.cookie = await login(`http://127.0.0.1:${st.port}`, circuit, token);
      } catch (err) {
        st.failure = `login/page check: ${(err as Error).message}`;
      }
    } else {
      stacks.push({ name, port: 0, prefix: '', child: undefined, tail: () => '', cookie: '', failure: `start: ${(started.reason as Error).message}`, rounds: [] });
    }
    const st = stacks.at(-1)!;
    console.log(st.failure ? `  ${name}: FAILED ${st.failure.split('\n')[0]}` : `  ${name}: ready on 127.0.0.1:${st.port}, logged in`);
  }

  const live = () => stacks.filter((st) => st.failure === undefined);
  const urlOf = (st: Stack) => `http://127.0.0.1:${st.port}/page`;
  const headersOf = (st: Stack) => [`Cookie: ${st.cookie}`, `${circuitHeader}: ${circuitValue}`];
  const fail = (st: Stack, why: string) => {
    const gone = st.child && (st.child.exitCode !== null || st.child.signalCode !== null);
    st.failure = gone ? `${why}; the server exited:\n${st.tail()}` : why;
    console.log(`  ${st.name}: FAILED ${why}`);
  };
  const started = performance.now();
  const total = live().length * (s.warmupS + s.rounds * s.durationS);
  console.log(`\nwarm-up ${s.warmupS} s per stack, then ${s.rounds} rounds × ${s.durationS} s per stack (≈ ${Math.ceil(total / 60)} min) …`);
  for (const st of live()) {
    const w = await wrk(s, script, urlOf(st), headersOf(st), s.warmupS);
    const problem = loadProblem(w);
    if (problem) fail(st, `warm-up: ${problem}`);
  }
  let quiet = false;
  for (let round = 1; round <= s.rounds; round++) {
    for (const st of live()) {
      // The previous round's `after` already waited for Redis to go quiet; only the first round (after the
      // warm-up) has to wait here for the last requests in flight.
      const before = quiet ? await commandStats(admin) : await quiescent(admin);
      const w = await wrk(s, script, urlOf(st), headersOf(st), s.durationS);
      const after = await quiescent(admin);
      quiet = true;
      const problem = loadProblem(w);
      if (problem) {
        fail(st, `round ${round}: ${problem}`);
        continue;
      }
      st.rounds.push(roundOf(w, s.connections, commandDelta(before, after)));
    }
    console.log(`  round ${round}/${s.rounds}: ${live().map((st) => `${st.name} ${fmt(st.rounds.at(-1)!.reqPerSec)}`).join(', ')}`);
  }

  const reports = summarize(stacks);
  printTable(reports, s, circuitHeader);
  const result = {
    benchmark: 'request',
    request: 'GET /page by a logged-in user: session read, rate-limit check keyed by the circuit header, cached query (one GET for peers), ~600 B HTML',
    date: new Date().toISOString(),
    machine: machine(),
    node: process.version,
    redis: redisVersion,
    wrk: wrkVersion,
    settings: { ...s, only: s.only ?? null, circuitHeader, circuitValue },
    stacks: reports,
    goals: goals(reports),
    totalSeconds: Math.round((performance.now() - started) / 1000),
  };
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwritten ${RESULTS_FILE.slice(BENCH_DIR.length - 'bench'.length)} (${result.totalSeconds} s of load)`);
  return reports.every((r) => r.ok) ? 0 : 1;
}

runMain(main);
