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
 *   env: BENCH_DURATION (s, default 5), BENCH_ROUNDS (5), BENCH_WARMUP (s, 3), BENCH_CONNECTIONS (50),
 *        BENCH_THREADS (1), BENCH_STACKS (comma list of stack names; default all)
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, arch, totalmem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { configSchema } from '../src/config/schema.js';
import { circuitAddress } from '../src/core/circuit.js';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';
import { freePort } from '../test/helpers/ports.js';
import { QUERY_KEY, USER_ID, type QueryRow } from './stacks/_contract.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const STACKS_DIR = join(BENCH_DIR, 'stacks');
const RESULTS_FILE = join(BENCH_DIR, 'results', 'request.json');
/** Shown first, in this order; any other stack file follows alphabetically. */
const ORDER = ['bare-http', 'bare-http-get', 'express-bare', 'fastify-bare', 'express-peer', 'fastify-peer', 'onionscale-http', 'onionscale-express', 'onionscale-fastify'];
const EXPRESS_PEER = 'express-peer';
const BARE_GET = 'bare-http-get';

// ---------------------------------------------------------------------------------------------------- settings

interface Settings {
  durationS: number;
  rounds: number;
  warmupS: number;
  connections: number;
  threads: number;
  only: string[] | undefined;
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

function settings(argv: string[]): Settings {
  const unknown = argv.filter((a) => a !== '--quick');
  if (unknown.length > 0) throw new Error(`unknown argument ${unknown.join(' ')} (only --quick is understood)`);
  const quick = argv.includes('--quick');
  const only = process.env.BENCH_STACKS?.split(',').map((s) => s.trim()).filter(Boolean);
  return {
    durationS: positiveInt('BENCH_DURATION', quick ? 2 : 5),
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

// ---------------------------------------------------------------------------------------------------- cleanup

/** Everything started so far, stopped in reverse order exactly once — from `finally`, SIGINT or SIGTERM. */
const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;
/** The wrk run in progress, stopped before anything else so it does not hammer a stack that is going away. */
let currentWrk: ChildProcess | undefined;
function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    if (currentWrk) await stopChild(currentWrk);
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error('cleanup:', err);
      }
    }
  })();
  return cleaning;
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    console.error(`\n${sig}: stopping wrk, the stacks and redis-server …`);
    void cleanupAll().finally(() => process.exit(130));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** SIGTERM, then SIGKILL after 3 s: the child is ours (we hold its PID), nothing else is touched. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited(child);
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------------- stacks

interface Stack {
  name: string;
  port: number;
  prefix: string;
  /** Undefined when it never started. */
  child: ChildProcess | undefined;
  /** Last output of the child (stderr and stdout after `ready`), for failure messages. */
  tail(): string;
  cookie: string;
  failure: string | undefined;
  rounds: Round[];
}

interface Round {
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  timeouts: number;
  /**
   * Requests the server handled: wrk's completed ones plus the one each connection still had in flight when wrk
   * stopped (closed-loop load: every connection always has one outstanding; the server finishes it and its Redis
   * commands land in the same INFO window). Dividing by wrk's count alone overstated commands/req by c/requests.
   */
  served: number;
  commands: Map<string, number>;
}

async function startStack(name: string, redis: TestRedis, circuitHeader: string): Promise<Stack> {
  const port = await freePort();
  const prefix = `bench:${name}:`;
  const child = fork(join(STACKS_DIR, `${name}.ts`), [], {
    cwd: BENCH_DIR,
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_ENV: 'production', PORT: String(port), REDIS_URL: redis.url, BENCH_PREFIX: prefix, BENCH_CIRCUIT_HEADER: circuitHeader },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  cleanups.push(() => stopChild(child));
  let log = '';
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-4000));
  child.stderr!.on('data', keep);
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no "ready" within 30 s\n${log}`)), 30_000);
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (/^ready$/m.test(buf)) {
        clearTimeout(timer);
        child.stdout!.off('data', onData).on('data', keep);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`exited (${signal ?? code}) before "ready"\n${buf}${log}`));
    });
  });
  return { name, port, prefix, child, tail: () => log, cookie: '', failure: undefined, rounds: [] };
}

/**
 * The checks that make the numbers mean something: without the cookie the page is refused (the session is
 * really read), /login hands out a cookie, and with it the page carries the user and this run's query rows.
 * Returns the Cookie header wrk replays.
 */
async function login(stack: Stack, circuit: Record<string, string>, token: string): Promise<string> {
  const base = `http://127.0.0.1:${stack.port}`;
  const anon = await fetch(`${base}/page`, { headers: circuit });
  await anon.text();
  if (anon.status !== 401) throw new Error(`GET /page without a session answered ${anon.status}, expected 401`);
  const res = await fetch(`${base}/login`, { method: 'POST', headers: circuit });
  await res.text();
  const cookies = res.headers.getSetCookie().map((c) => c.split(';')[0]!.trim());
  if (res.status !== 200 || cookies.length === 0) throw new Error(`POST /login answered ${res.status} with ${cookies.length} Set-Cookie headers, expected 200 and a cookie`);
  const cookie = cookies.join('; ');
  const page = await fetch(`${base}/page`, { headers: { ...circuit, cookie } });
  const body = await page.text();
  if (page.status !== 200) throw new Error(`GET /page with the login cookie answered ${page.status}: ${body.slice(0, 200)}`);
  if (!body.includes(`user ${USER_ID}`) || !body.includes(token)) {
    throw new Error(`GET /page body lacks "user ${USER_ID}" or this run's query rows: ${body.slice(0, 200)}`);
  }
  return cookie;
}

// ---------------------------------------------------------------------------------------------------- wrk

const DONE_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%.0f,"durationUs":%.0f,"p50Us":%.1f,"p99Us":%.1f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;

interface WrkResult {
  requests: number;
  durationUs: number;
  p50Us: number;
  p99Us: number;
  connect: number;
  read: number;
  write: number;
  /** Responses with status ≥ 400 (wrk's "Non-2xx or 3xx responses"). */
  status: number;
  timeout: number;
}

async function wrk(s: Settings, script: string, stack: Stack, headers: string[], seconds: number): Promise<WrkResult> {
  const args = ['-t', String(s.threads), '-c', String(s.connections), '-d', `${seconds}s`, '--latency', '-s', script];
  for (const h of headers) args.push('-H', h);
  args.push(`http://127.0.0.1:${stack.port}/page`);
  const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  currentWrk = child;
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  currentWrk = undefined;
  const line = /^WRK_JSON (.*)$/m.exec(out);
  if (code !== 0 || !line) throw new Error(`wrk exited ${code} without a summary:\n${out}`);
  return JSON.parse(line[1]!) as WrkResult;
}

/** A failed load run's reason, or undefined: non-2xx responses and broken connections invalidate a round. */
function loadProblem(r: WrkResult): string | undefined {
  if (r.status > 0) return `${r.status} non-2xx responses under load`;
  if (r.connect + r.read + r.write > 0) return `socket errors under load: connect ${r.connect}, read ${r.read}, write ${r.write}`;
  if (r.requests === 0) return 'no request completed';
  return undefined;
}

// ---------------------------------------------------------------------------------------------------- redis stats

/** All the harness asks of its own client. */
interface RedisClient {
  info(section: string): Promise<string>;
}

/** Calls per command from INFO commandstats (`cmdstat_get:calls=12,…`; subcommands as `client|setinfo`). */
async function commandStats(client: RedisClient): Promise<Map<string, number>> {
  const text = await client.info('commandstats');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

/**
 * commandstats once Redis has been idle for 300 ms (at most 5 s): the requests in flight when wrk stopped are done.
 * A shorter quiet window is not enough: Express's last requests were seen issuing their EXPIRE > 50 ms after a
 * quiet gap, and landed in the next stack's round.
 */
async function quiescent(client: RedisClient): Promise<Map<string, number>> {
  let last = await commandStats(client);
  let quietSince = Date.now();
  for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 50));
    const now = await commandStats(client);
    if (sum(commandDelta(last, now)) > 0) quietSince = Date.now();
    else if (Date.now() - quietSince >= 300) return now;
    last = now;
  }
  return last;
}

/** Commands run between two snapshots, without the harness's own INFO. */
function commandDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, calls] of after) {
    const d = calls - (before.get(name) ?? 0);
    if (d > 0 && name !== 'info') out.set(name, d);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- report

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

interface StackReport {
  name: string;
  file: string;
  ok: boolean;
  error?: string;
  rounds: number;
  reqPerSec?: { median: number; min: number; max: number; perRound: number[] };
  latencyMs?: { p50: number; p99: number };
  commandsPerRequest?: number;
  /** EVALSHA/EVAL calls per request: the calls a client sent for script work (their inner commands are in commandsPerRequest). */
  scriptCallsPerRequest?: number;
  commandsPerRequestByName?: Record<string, number>;
  /** Raw calls per command over all measured rounds (shows rare ones that round to 0 per request). */
  commandCalls?: Record<string, number>;
  requestsServed?: number;
  timeouts?: number;
  ratios?: { vsExpressPeer: number | null; vsBareHttpGet: number | null };
}

function summarize(stacks: Stack[]): StackReport[] {
  const base: StackReport[] = stacks.map((st) => {
    const file = `bench/stacks/${st.name}.ts`;
    if (st.failure !== undefined || st.rounds.length === 0) {
      return { name: st.name, file, ok: false, error: st.failure ?? 'no measured round', rounds: st.rounds.length };
    }
    const rps = st.rounds.map((r) => r.reqPerSec);
    const totalServed = st.rounds.reduce((a, r) => a + r.served, 0);
    const byName = new Map<string, number>();
    for (const r of st.rounds) for (const [n, c] of r.commands) byName.set(n, (byName.get(n) ?? 0) + c);
    return {
      name: st.name,
      file,
      ok: true,
      rounds: st.rounds.length,
      reqPerSec: { median: median(rps), min: Math.min(...rps), max: Math.max(...rps), perRound: rps.map((x) => Math.round(x)) },
      latencyMs: { p50: median(st.rounds.map((r) => r.p50Ms)), p99: median(st.rounds.map((r) => r.p99Ms)) },
      commandsPerRequest: median(st.rounds.map((r) => sum(r.commands) / r.served)),
      scriptCallsPerRequest: median(st.rounds.map((r) => ((r.commands.get('evalsha') ?? 0) + (r.commands.get('eval') ?? 0)) / r.served)),
      commandsPerRequestByName: Object.fromEntries(
        [...byName].sort((a, b) => b[1] - a[1]).map(([n, c]) => [n, Math.round((c / totalServed) * 1000) / 1000]),
      ),
      commandCalls: Object.fromEntries([...byName].sort((a, b) => b[1] - a[1])),
      requestsServed: totalServed,
      timeouts: st.rounds.reduce((a, r) => a + r.timeouts, 0),
    };
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

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ratio = (x: number | null | undefined) => (x === null || x === undefined ? '–' : `${fmt(x, 2)}×`);

function printTable(reports: StackReport[], s: Settings, circuitHeader: string): void {
  console.log(`\nGET /page logged in (session + rate limit on ${circuitHeader} + cached query), wrk -t${s.threads} -c${s.connections} -d${s.durationS}s,`);
  console.log(`${s.rounds} alternating rounds after a ${s.warmupS} s warm-up; medians, spread = min–max over rounds\n`);
  const header = ['stack', 'req/s', 'spread', 'p50 ms', 'p99 ms', 'cmds/req', `÷ ${EXPRESS_PEER}`, `÷ ${BARE_GET}`];
  const rows = reports.map((r) =>
    r.ok
      ? [
          r.name,
          fmt(r.reqPerSec!.median),
          `${fmt(r.reqPerSec!.min)}–${fmt(r.reqPerSec!.max)}`,
          fmt(r.latencyMs!.p50, 2),
          fmt(r.latencyMs!.p99, 2),
          fmt(r.commandsPerRequest!, 2),
          ratio(r.ratios?.vsExpressPeer),
          ratio(r.ratios?.vsBareHttpGet),
        ]
      : [r.name, 'FAILED', '', '', '', '', '', ''],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((l) => l[i]!.length)));
  const print = (cells: string[]) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  print(header);
  print(widths.map((w) => '-'.repeat(w)));
  for (const row of rows) print(row);
  console.log('\nRedis commands per request (INFO commandstats; commands inside Lua scripts count one by one):');
  for (const r of reports) {
    if (r.ok) {
      const parts = Object.entries(r.commandCalls!).map(([n, c]) => (c / r.requestsServed! >= 0.005 ? `${n} ${fmt(c / r.requestsServed!, 2)}` : `${n} ×${c} in all`));
      console.log(`  ${r.name.padEnd(widths[0]!)}  ${parts.length > 0 ? parts.join(', ') : 'none'}${r.timeouts ? `  (wrk timeouts: ${r.timeouts})` : ''}`);
    } else {
      console.log(`  ${r.name.padEnd(widths[0]!)}  FAILED: ${r.error!.split('\n')[0]}`);
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
  const wrkVersion = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (wrkVersion.error) throw new Error(`wrk is needed (apt-get install wrk): ${wrkVersion.error.message}`);

  const circuitHeader = configSchema.parse({}).balancer.circuitHeader;
  const circuitValue = circuitAddress(0x2a_0001);
  const circuit = { [circuitHeader.toLowerCase()]: circuitValue };
  const token = randomBytes(6).toString('hex');
  const rows: QueryRow[] = Array.from({ length: 8 }, (_, i) => ({ id: i + 1, title: `Story ${i + 1}: onion news <${token}>` }));
  const rowsJson = JSON.stringify(rows);

  const tmp = mkdtempSync(join(tmpdir(), 'onionscale-bench-'));
  cleanups.push(() => Promise.resolve(rmSync(tmp, { recursive: true, force: true })));
  const script = join(tmp, 'done.lua');
  writeFileSync(script, DONE_LUA);

  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const admin = createClient({ url: redis.url });
  await admin.connect();
  cleanups.push(() => admin.close());
  const redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';

  const stacks: Stack[] = [];
  for (const name of found.stacks) {
    await admin.set(`bench:${name}:${QUERY_KEY}`, rowsJson);
    try {
      const st = await startStack(name, redis, circuitHeader);
      stacks.push(st);
      try {
        st.cookie = await login(st, circuit, token);
      } catch (err) {
        st.failure = `login/page check: ${(err as Error).message}`;
      }
    } catch (err) {
      stacks.push({ name, port: 0, prefix: '', child: undefined, tail: () => '', cookie: '', failure: `start: ${(err as Error).message}`, rounds: [] });
    }
    const st = stacks.at(-1)!;
    console.log(st.failure ? `  ${name}: FAILED ${st.failure.split('\n')[0]}` : `  ${name}: ready on 127.0.0.1:${st.port}, logged in`);
  }

  const live = () => stacks.filter((st) => st.failure === undefined);
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
    const w = await wrk(s, script, st, headersOf(st), s.warmupS);
    const problem = loadProblem(w);
    if (problem) fail(st, `warm-up: ${problem}`);
  }
  for (let round = 1; round <= s.rounds; round++) {
    for (const st of live()) {
      const before = await quiescent(admin); // the previous run's last requests (warm-up included) are done
      const w = await wrk(s, script, st, headersOf(st), s.durationS);
      const after = await quiescent(admin);
      const problem = loadProblem(w);
      if (problem) {
        fail(st, `round ${round}: ${problem}`);
        continue;
      }
      st.rounds.push({
        requests: w.requests,
        reqPerSec: w.requests / (w.durationUs / 1e6),
        p50Ms: w.p50Us / 1000,
        p99Ms: w.p99Us / 1000,
        timeouts: w.timeout,
        served: w.requests + s.connections,
        commands: commandDelta(before, after),
      });
    }
    console.log(`  round ${round}/${s.rounds}: ${live().map((st) => `${st.name} ${fmt(st.rounds.at(-1)!.reqPerSec)}`).join(', ')}`);
  }

  const reports = summarize(stacks);
  printTable(reports, s, circuitHeader);
  const cpu = cpus();
  const result = {
    benchmark: 'request',
    request: 'GET /page by a logged-in user: session read, rate-limit check keyed by the circuit header, cached query (one GET for peers), ~600 B HTML',
    date: new Date().toISOString(),
    machine: { cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), os: `${platform()} ${release()}`, arch: arch() },
    node: process.version,
    redis: redisVersion,
    wrk: (wrkVersion.stdout + wrkVersion.stderr).split('\n')[0]!.trim(),
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

main()
  .then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      if (!interrupted) console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    },
  )
  .finally(() => cleanupAll());
