/**
 * What the wrk-driven benchmarks share (request.ts: scenario 1, stack.ts: scenario 2): stack processes that keep
 * the contract in stacks/_contract.ts, the login/page checks, wrk with a JSON summary, Redis commandstats deltas,
 * one cleanup list that stops every process by PID (also on Ctrl-C and errors), medians, the machine.
 * Files starting with `_` are helpers, not scenarios: bench/all.ts never runs them.
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, release, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { configSchema } from '../src/config/schema.js';
import { circuitAddress } from '../src/core/circuit.js';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';
import { freePort } from '../test/helpers/ports.js';
import { USER_ID, type QueryRow } from './stacks/_contract.js';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const STACKS_DIR = join(BENCH_DIR, 'stacks');

// ---------------------------------------------------------------------------------------------------- settings

export function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** The only argument a scenario understands is `--quick`; anything else is a mistake worth stopping for. */
export function quickFlag(argv: string[]): boolean {
  const unknown = argv.filter((a) => a !== '--quick');
  if (unknown.length > 0) throw new Error(`unknown argument ${unknown.join(' ')} (only --quick is understood)`);
  return argv.includes('--quick');
}

// ---------------------------------------------------------------------------------------------------- cleanup

/** Everything started so far, stopped in reverse order exactly once — from `finally`, SIGINT or SIGTERM. */
const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;
/** The wrk run in progress, stopped before anything else so it does not hammer a stack that is going away. */
let currentWrk: ChildProcess | undefined;
let interrupted = false;

export function defer(fn: () => Promise<void> | void): void {
  cleanups.push(async () => fn());
}

export function cleanupAll(): Promise<void> {
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

/** Ctrl-C / SIGTERM: stop wrk and everything deferred, then exit 130. `what` names it in the message. */
export function stopOnSignals(what: string): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      interrupted = true;
      console.error(`\n${sig}: stopping ${what} …`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
}

/** The usual end of a scenario: exit code from `main`, the error's message (not after Ctrl-C), then cleanup. */
export function runMain(main: () => Promise<number>): void {
  main()
    .then(
      (code) => (process.exitCode = code),
      (err: unknown) => {
        if (!interrupted) console.error(err instanceof Error ? err.message : err);
        process.exitCode = 1;
      },
    )
    .finally(() => cleanupAll());
}

export function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** SIGTERM, then SIGKILL after 3 s: the child is ours (we hold its PID), nothing else is touched. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited(child);
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------------- seed request

export interface SeedRequestSetup {
  /** The balancer's default circuit header (src/config/schema.ts) and one request's value of it. */
  circuitHeader: string;
  circuitValue: string;
  circuit: Record<string, string>;
  /** A per-run token in the page, so a stack answering from elsewhere cannot pass the page check. */
  token: string;
  /** The cached query's rows (stored by the caller under each stack's prefix). */
  rows: QueryRow[];
  /** wrk's done() script (prints its summary as JSON), in a temp dir removed at cleanup. */
  script: string;
  tmp: string;
  redis: TestRedis;
  admin: AdminClient;
  redisVersion: string;
}

function adminClient(url: string) {
  return createClient({ url });
}
type AdminClient = ReturnType<typeof adminClient>;

/** What scenarios 1 and 2 share before their stacks start: the request's circuit, rows, wrk script and Redis. */
export async function seedRequestSetup(tmpPrefix: string): Promise<SeedRequestSetup> {
  const circuitHeader = configSchema.parse({}).balancer.circuitHeader;
  const circuitValue = circuitAddress(0x2a_0001);
  const token = randomBytes(6).toString('hex');
  const rows: QueryRow[] = Array.from({ length: 8 }, (_, i) => ({ id: i + 1, title: `Story ${i + 1}: onion news <${token}>` }));
  const tmp = mkdtempSync(join(tmpdir(), tmpPrefix));
  defer(() => rmSync(tmp, { recursive: true, force: true }));
  const script = join(tmp, 'done.lua');
  writeFileSync(script, DONE_LUA);
  const redis = await startRedis();
  defer(() => redis.stop());
  const admin = adminClient(redis.url);
  await admin.connect();
  defer(() => admin.close());
  const redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';
  return { circuitHeader, circuitValue, circuit: { [circuitHeader.toLowerCase()]: circuitValue }, token, rows, script, tmp, redis, admin, redisVersion };
}

// ---------------------------------------------------------------------------------------------------- stacks

export interface Round {
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

export interface Stack {
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

export interface StartOptions {
  /** Key prefix; default `bench:<name>:`. Instances that share one prefix share sessions and cached data. */
  prefix?: string;
  /** Listen port; default a free one. */
  port?: number;
  /** Extra environment for the stack process. */
  env?: Record<string, string>;
}

/** Forks bench/stacks/<name>.ts (contract in stacks/_contract.ts) on a free port and waits for `ready`. */
export async function startStack(name: string, redis: TestRedis, circuitHeader: string, options: StartOptions = {}): Promise<Stack> {
  const port = options.port ?? (await freePort());
  const prefix = options.prefix ?? `bench:${name}:`;
  const child = fork(join(STACKS_DIR, `${name}.ts`), [], {
    cwd: BENCH_DIR,
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...options.env, NODE_ENV: 'production', PORT: String(port), REDIS_URL: redis.url, BENCH_PREFIX: prefix, BENCH_CIRCUIT_HEADER: circuitHeader },
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

/** The checks are bounded too: a stack that hangs fails its check instead of stalling the run. */
const FETCH_TIMEOUT_MS = 10_000;

/**
 * GET /page with `cookie` answers 200 with the user and this run's query rows (`token`): the numbers measure the
 * real request, not an error page.
 */
export async function checkPage(base: string, circuit: Record<string, string>, cookie: string, token: string): Promise<void> {
  const page = await fetch(`${base}/page`, { headers: { ...circuit, cookie }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  const body = await page.text();
  if (page.status !== 200) throw new Error(`GET ${base}/page with the login cookie answered ${page.status}: ${body.slice(0, 200)}`);
  if (!body.includes(`user ${USER_ID}`) || !body.includes(token)) {
    throw new Error(`GET ${base}/page body lacks "user ${USER_ID}" or this run's query rows: ${body.slice(0, 200)}`);
  }
}

/**
 * The checks that make the numbers mean something: without the cookie the page is refused (the session is
 * really read), /login hands out a cookie, and with it the page carries the user and this run's query rows.
 * Returns the Cookie header wrk replays.
 */
export async function login(base: string, circuit: Record<string, string>, token: string): Promise<string> {
  const anon = await fetch(`${base}/page`, { headers: circuit, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  await anon.text();
  if (anon.status !== 401) throw new Error(`GET /page without a session answered ${anon.status}, expected 401`);
  const res = await fetch(`${base}/login`, { method: 'POST', headers: circuit, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  await res.text();
  const cookies = res.headers.getSetCookie().map((c) => c.split(';')[0]!.trim());
  if (res.status !== 200 || cookies.length === 0) throw new Error(`POST /login answered ${res.status} with ${cookies.length} Set-Cookie headers, expected 200 and a cookie`);
  const cookie = cookies.join('; ');
  await checkPage(base, circuit, cookie, token);
  return cookie;
}

// ---------------------------------------------------------------------------------------------------- wrk

/** wrk's own summary as one JSON line (requests, duration, p50/p99 in µs, errors): no parsing of its units. */
export const DONE_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK_JSON {"requests":%.0f,"durationUs":%.0f,"p50Us":%.1f,"p99Us":%.1f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
`;

export interface WrkSettings {
  connections: number;
  threads: number;
}

export interface WrkResult {
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

/** `wrk -v`'s first line; throws a message saying how to install wrk when it is missing. */
export function wrkVersion(): string {
  const v = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
  if (v.error) throw new Error(`wrk is needed (Debian/Ubuntu: sudo apt-get install wrk): ${v.error.message}`);
  return (v.stdout + v.stderr).split('\n')[0]!.trim();
}

/** One bounded wrk run (`seconds`) against `url` with `script` (DONE_LUA written to a file). */
export async function wrk(s: WrkSettings, script: string, url: string, headers: string[], seconds: number): Promise<WrkResult> {
  const args = ['-t', String(s.threads), '-c', String(s.connections), '-d', `${seconds}s`, '--latency', '-s', script];
  for (const h of headers) args.push('-H', h);
  args.push(url);
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
export function loadProblem(r: WrkResult): string | undefined {
  if (r.status > 0) return `${r.status} non-2xx responses under load`;
  if (r.connect + r.read + r.write > 0) return `socket errors under load: connect ${r.connect}, read ${r.read}, write ${r.write}`;
  if (r.requests === 0) return 'no request completed';
  return undefined;
}

/** A measured round from wrk's summary and the Redis commands of its window. */
export function roundOf(w: WrkResult, connections: number, commands: Map<string, number>): Round {
  return {
    requests: w.requests,
    reqPerSec: w.requests / (w.durationUs / 1e6),
    p50Ms: w.p50Us / 1000,
    p99Ms: w.p99Us / 1000,
    timeouts: w.timeout,
    served: w.requests + connections,
    commands,
  };
}

// ---------------------------------------------------------------------------------------------------- redis stats

/** All the harness asks of its own client. */
export interface RedisClient {
  info(section: string): Promise<string>;
}

/** Calls per command from INFO commandstats (`cmdstat_get:calls=12,…`; subcommands as `client|setinfo`). */
export async function commandStats(client: RedisClient): Promise<Map<string, number>> {
  const text = await client.info('commandstats');
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

export const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

/**
 * commandstats once Redis has been idle for 300 ms (at most 5 s): the requests in flight when wrk stopped are done.
 * A shorter quiet window is not enough: Express's last requests were seen issuing their EXPIRE > 50 ms after a
 * quiet gap, and landed in the next stack's round.
 */
export async function quiescent(client: RedisClient): Promise<Map<string, number>> {
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
export function commandDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, calls] of after) {
    const d = calls - (before.get(name) ?? 0);
    if (d > 0 && name !== 'info') out.set(name, d);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------- figures

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface RoundSummary {
  rounds: number;
  reqPerSec: { median: number; min: number; max: number; perRound: number[] };
  latencyMs: { p50: number; p99: number };
  commandsPerRequest: number;
  /** EVALSHA/EVAL calls per request: the calls a client sent for script work (their inner commands are in commandsPerRequest). */
  scriptCallsPerRequest: number;
  commandsPerRequestByName: Record<string, number>;
  /** Raw calls per command over all measured rounds (shows rare ones that round to 0 per request). */
  commandCalls: Record<string, number>;
  requestsServed: number;
  timeouts: number;
}

/** Medians over rounds (p50/p99: the median of each round's percentile), spread = min–max req/s. */
export function summarizeRounds(rounds: Round[]): RoundSummary {
  const rps = rounds.map((r) => r.reqPerSec);
  const totalServed = rounds.reduce((a, r) => a + r.served, 0);
  const byName = new Map<string, number>();
  for (const r of rounds) for (const [n, c] of r.commands) byName.set(n, (byName.get(n) ?? 0) + c);
  return {
    rounds: rounds.length,
    reqPerSec: { median: median(rps), min: Math.min(...rps), max: Math.max(...rps), perRound: rps.map((x) => Math.round(x)) },
    latencyMs: { p50: median(rounds.map((r) => r.p50Ms)), p99: median(rounds.map((r) => r.p99Ms)) },
    commandsPerRequest: median(rounds.map((r) => sum(r.commands) / r.served)),
    scriptCallsPerRequest: median(rounds.map((r) => ((r.commands.get('evalsha') ?? 0) + (r.commands.get('eval') ?? 0)) / r.served)),
    commandsPerRequestByName: Object.fromEntries([...byName].sort((a, b) => b[1] - a[1]).map(([n, c]) => [n, Math.round((c / totalServed) * 1000) / 1000])),
    commandCalls: Object.fromEntries([...byName].sort((a, b) => b[1] - a[1])),
    requestsServed: totalServed,
    timeouts: rounds.reduce((a, r) => a + r.timeouts, 0),
  };
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** `1.23×`, or `–` where there is no reference. */
export const ratioCell = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : `${fmt(x, 2)}×`);

/** The figure cells every wrk table prints for a row: req/s, spread, p50 ms, p99 ms, Redis cmds/req. */
export function roundCells(r: Pick<RoundSummary, 'reqPerSec' | 'latencyMs' | 'commandsPerRequest'>): string[] {
  return [fmt(r.reqPerSec.median), `${fmt(r.reqPerSec.min)}–${fmt(r.reqPerSec.max)}`, fmt(r.latencyMs.p50, 2), fmt(r.latencyMs.p99, 2), fmt(r.commandsPerRequest, 2)];
}

/** Prints an aligned text table: first column left, the others right. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((l) => (l[i] ?? '').length)));
  const print = (cells: string[]) => console.log(cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  print(header);
  print(widths.map((w) => '-'.repeat(w)));
  for (const row of rows) print(row);
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  arch: string;
}

export function machine(): Machine {
  const cpu = cpus();
  return { cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), os: `${platform()} ${release()}`, arch: arch() };
}
