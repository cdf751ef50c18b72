/**
 * `npm run bench [-- --quick]` (issue 8): every scenario in order — request, stack, cache, ratelimit, sse — each as
 * its own child process (so no scenario's processes, JIT or GC disturb the next), then report.ts, which writes
 * BENCHMARKS.md, bench/results/summary.json and bench/charts/*.svg.
 *
 * - `--quick` is passed to every scenario (each decides what quick means: fewer and shorter rounds).
 * - bench's own dependencies (the peers) are installed with `npm --prefix bench ci` when missing or older than
 *   bench/package-lock.json.
 * - A failing scenario is reported (its last error lines, in the run summary and in BENCHMARKS.md) and the others
 *   still run; the exit code is then 1.
 * - Bounded: each scenario has a time cap; past it, its whole process group (the scenario, its servers, wrk,
 *   redis-server — all started by it) is stopped by the group's PID: SIGTERM, then SIGKILL. Ctrl-C does the same.
 * - bench/results/run.json records the command, the time, and per scenario: exit code, seconds, and the load
 *   average before it started (the machine may be shared; the report says so).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const RUN_FILE = join(BENCH_DIR, 'results', 'run.json');
const SCENARIOS = ['request', 'stack', 'cache', 'ratelimit', 'sse', 'forum', 'onion'] as const;
/** Left out of `--quick` (the 2-minute developer run): starting a private Tor network alone takes ~20–30 s. */
const FULL_ONLY = new Set<string>(['onion']);

const argv = process.argv.slice(2);
const unknown = argv.filter((a) => a !== '--quick');
if (unknown.length > 0) {
  console.error(`unknown argument ${unknown.join(' ')} (only --quick is understood: npm run bench -- --quick)`);
  process.exit(2);
}
const QUICK = argv.includes('--quick');
/** Per-scenario cap. The full run of every scenario is ~1–5 min, quick ~10–40 s; the cap only catches hangs. */
const CAP_MS = (QUICK ? 2 : 8) * 60_000;

let current: ChildProcess | undefined;
let interrupted = false;

/** Signals the child's process group (it was spawned detached: its own group, led by its PID). */
function signalGroup(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, sig);
  } catch {
    // the group is gone already
  }
}

/** SIGTERM to the group, SIGKILL after 5 s; resolves when the child itself has exited. */
async function stopGroup(child: ChildProcess): Promise<void> {
  signalGroup(child, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }, 5000);
  if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  clearTimeout(timer);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    console.error(`\n${sig}: stopping the running scenario …`);
    const c = current;
    void (c ? stopGroup(c) : Promise.resolve()).finally(() => process.exit(130));
  });
}

interface Outcome {
  id: string;
  ok: boolean;
  exitCode: number | null;
  seconds: number;
  loadAverage: number[];
  error?: string;
}

/** Runs bench/<file> with bench's tsx, output passed through; keeps the last lines of stderr for the summary. */
async function runScript(id: string, file: string, args: string[]): Promise<Outcome> {
  const loadAverage = loadavg().map((x) => Math.round(x * 100) / 100);
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: BENCH_DIR, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  current = child;
  let errTail = '';
  child.stdout.on('data', (d: Buffer) => process.stdout.write(d));
  child.stderr.on('data', (d: Buffer) => {
    process.stderr.write(d);
    errTail = (errTail + d.toString()).slice(-2000);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    console.error(`\n${id}: still running after ${CAP_MS / 60_000} min: stopping it`);
    void stopGroup(child);
  }, CAP_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('close', (c, s) => r([c, s])));
  clearTimeout(timer);
  current = undefined;
  // A scenario that exited while something of its group still runs (a server it failed to stop): stop that too.
  signalGroup(child, 'SIGKILL');
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  const ok = code === 0 && !timedOut;
  const lastLines = errTail.trim().split('\n').filter(Boolean).slice(-3).join(' / ').slice(0, 400);
  const error = ok ? undefined : timedOut ? `stopped after ${CAP_MS / 60_000} min` : `exit ${code ?? signal}${lastLines ? `: ${lastLines}` : ''}`;
  return { id, ok, exitCode: code, seconds, loadAverage, ...(error ? { error } : {}) };
}

/** bench's dependencies, installed when missing or older than its lockfile (as scripts/setup.sh does for the root). */
function ensureDeps(): void {
  const marker = join(BENCH_DIR, 'node_modules', '.package-lock.json');
  const lock = join(BENCH_DIR, 'package-lock.json');
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  console.log('bench: npm --prefix bench ci (the peers and load tools, bench/package.json)');
  const r = spawnSync('npm', ['--prefix', BENCH_DIR, 'ci', '--no-audit', '--no-fund', '--loglevel=error'], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`npm --prefix bench ci failed (${r.error?.message ?? `exit ${r.status}`}); nothing was measured`);
    process.exit(1);
  }
}

async function main(): Promise<number> {
  ensureDeps();
  const missing = [
    ['wrk', ['-v'], 'scenarios request and stack (Debian/Ubuntu: sudo apt-get install wrk)'],
    ['haproxy', ['-v'], 'scenario stack (Debian/Ubuntu: sudo apt-get install haproxy; scripts/setup.sh installs it)'],
    ['redis-server', ['--version'], 'every scenario (scripts/setup.sh installs it)'],
  ].filter(([bin, args]) => spawnSync(bin as string, args as string[], { stdio: 'ignore' }).error !== undefined);
  for (const [bin, , what] of missing) console.error(`bench: ${String(bin)} is not installed; it is needed by ${String(what)}. Those scenarios will fail; the others still run.`);

  const command = `npm run bench${QUICK ? ' -- --quick' : ''}`;
  const started = new Date().toISOString();
  const t0 = performance.now();
  const outcomes: Outcome[] = [];
  const writeRun = () => {
    mkdirSync(dirname(RUN_FILE), { recursive: true });
    writeFileSync(RUN_FILE, JSON.stringify({ command, quick: QUICK, started, finished: new Date().toISOString(), scenarios: outcomes }, null, 2) + '\n');
  };
  for (const id of SCENARIOS) {
    if (interrupted) break;
    if (QUICK && FULL_ONLY.has(id)) {
      console.log(`\n━━━ ${id}: left out of --quick (run \`npm --prefix bench run ${id}\` or the full \`npm run bench\`) ━━━`);
      continue;
    }
    console.log(`\n━━━ ${id} (bench/${id}.ts${QUICK ? ' --quick' : ''}) ━━━`);
    const o = await runScript(id, `${id}.ts`, QUICK ? ['--quick'] : []);
    outcomes.push(o);
    writeRun(); // after each scenario: an interrupted run still leaves an honest record
    console.log(`━━━ ${id}: ${o.ok ? 'ok' : 'FAILED'} in ${o.seconds} s`);
  }
  console.log('\n━━━ report ━━━');
  const report = await runScript('report', 'report.ts', []);
  const total = Math.round((performance.now() - t0) / 1000);
  console.log(`\n${command}: ${total} s`);
  for (const o of outcomes) console.log(`  ${o.id.padEnd(10)} ${o.ok ? 'ok    ' : 'FAILED'} ${String(o.seconds).padStart(6)} s${o.error ? `  ${o.error}` : ''}`);
  if (!report.ok) console.log(`  report     FAILED ${report.error ?? ''}`);
  else console.log('  written BENCHMARKS.md, bench/results/summary.json, bench/charts/');
  return outcomes.every((o) => o.ok) && report.ok ? 0 : 1;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
