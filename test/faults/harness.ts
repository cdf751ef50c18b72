/**
 * The fault suite's harness: a real stack (redis, 3 instances of test/faults/app.ts, haproxy, tor on a private
 * "network" it never reaches) started by the built CLI, and a steady, bounded loopback load of mixed requests sent
 * to haproxy's frontend exactly as tor sends them (PROXY line first, one connection per stream).
 */
import { connect } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigFile } from '../../src/config/load.js';
import type { StackModel } from '../../src/config/model.js';
import { readState, type StackState } from '../../src/supervisor/state-file.js';
import { freePort, freePortRange } from '../helpers/ports.js';
import { ROOT, makeStackDir, parseResponse, runCli, sleep, startUp, type UpProcess } from '../helpers/stack.js';
import { writeFileSync } from 'node:fs';

export interface FaultStack {
  dir: string;
  /** While this file exists, a (re)starting instance exits at once. */
  holdFile: string;
  config: string;
  sock: string;
  model: StackModel;
  up: UpProcess;
  state: () => StackState;
  pidOf: (service: string) => number;
  stop: () => Promise<void>;
}

/** Start the stack; `instances` of the fault app (default 3). */
export async function startFaultStack(o: { instances?: number; healthInterval?: string; prefix?: string } = {}): Promise<FaultStack> {
  const base = await makeStackDir({ prefix: o.prefix ?? 'osc-f-' });
  const basePort = await freePortRange(o.instances ?? 3);
  const redisPort = await freePort();
  const dead = await freePort();
  // Our own config: the fault app as a command, N instances, fast health checks, AOF Redis on TCP.
  writeFileSync(
    base.config,
    [
      'stateDir: state',
      'onion:',
      '  services:',
      '    - name: main',
      '      ports: [80]',
      'apps:',
      '  - name: web',
      `    command: ["${process.execPath}", "--import", "tsx", "${join(ROOT, 'test/faults/app.ts')}"]`,
      `    cwd: "${ROOT}"`,
      `    instances: ${o.instances ?? 3}`,
      `    env: { FAULTS_HOLD: "${join(base.dir, 'hold-instances')}" }`,
      `    basePort: ${basePort}`,
      '    readyTimeout: 30s',
      'balancer:',
      `  healthInterval: ${o.healthInterval ?? '500ms'}`,
      '  retries: 3',
      '  timeouts: { connect: 1s }',
      '  perCircuit: { requestRate: 100000, maxConnections: 1000 }',
      'redis:',
      `  listen: "127.0.0.1:${redisPort}"`,
      '  maxmemory: 32mb',
      '  appendonly: true',
      'tor:',
      '  network:',
      '    dirAuthorities:',
      `      - "nowhere orport=${dead} no-v2 v3ident=${'A'.repeat(40)} 127.0.0.1:${dead} ${'B'.repeat(40)}"`,
      '  bootstrapWait: 1s',
      '',
    ].join('\n'),
  );
  const up = startUp(['-c', base.config]);
  try {
    await up.waitFor('tor network:', 120_000);
  } catch (err) {
    up.child.kill('SIGKILL');
    throw err;
  }
  const model = loadConfigFile(base.config);
  const state = () => {
    const s = readState(model.paths.stateFile);
    if (!s) throw new Error('no state file');
    return s;
  };
  return {
    dir: base.dir,
    holdFile: join(base.dir, 'hold-instances'),
    config: base.config,
    sock: join(base.dir, 'state/run/main.sock'),
    model,
    up,
    state,
    pidOf: (name) => {
      const pid = state().services.find((s) => s.name === name)?.pid;
      if (!pid) throw new Error(`no pid for ${name}`);
      return pid;
    },
    stop: async () => {
      if (up.child.exitCode === null) {
        await runCli(['down', '-c', base.config]).catch(() => {});
        up.child.kill('SIGKILL');
      }
      rmSync(base.dir, { recursive: true, force: true });
    },
  };
}

export interface Req {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface Res {
  status: number;
  headers: Record<string, string>;
  body: string;
}

let circuitSeq = 0x1000;

/** One request as tor sends it: PROXY line with a circuit address, then HTTP/1.1, Connection: close. */
export function torExchange(sock: string, r: Req, timeoutMs = 15_000, circuit = ++circuitSeq): Promise<Res> {
  const src = `fc00:dead:beef:4dad::${((circuit >>> 16) & 0xffff).toString(16)}:${(circuit & 0xffff).toString(16)}`;
  const body = r.body ?? '';
  const headers = { Host: 'faults.onion', Connection: 'close', ...(r.method === 'POST' ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}), ...r.headers };
  const payload = `PROXY TCP6 ${src} ::1 ${circuit & 0xffff} 80\r\n${r.method} ${r.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`;
  return new Promise((resolve, reject) => {
    const s = connect(sock);
    let data = '';
    s.setTimeout(timeoutMs, () => s.destroy(new Error('timeout')));
    s.on('connect', () => s.write(payload));
    s.on('data', (c: Buffer) => (data += c.toString('latin1')));
    s.on('error', reject);
    s.on('close', (hadError) => {
      if (hadError) return;
      const p = parseResponse(data);
      if (!p.status) reject(new Error(`no HTTP response (${JSON.stringify(data.slice(0, 80))})`));
      else resolve({ status: p.status, headers: p.headers, body: p.body });
    });
  });
}

export type Kind = 'page' | 'me' | 'post' | 'limited' | 'sse' | 'whoami';

export interface Sample {
  kind: Kind;
  at: number;
  ms: number;
  status: number;
  error?: string;
  body?: string;
}

export interface LoadReport {
  total: number;
  byKind: Record<string, { ok: number; failed: number }>;
  failures: Sample[];
  samples: Sample[];
  /** Requests per second over the run. */
  rate: number;
}

/** Idempotent kinds (GET): haproxy may retry them on another instance, so none may fail. */
export const IDEMPOTENT: readonly Kind[] = ['page', 'me', 'limited', 'sse', 'whoami'];

/**
 * A steady load: `concurrency` loops, each sending a request, then the next after `pauseMs` (bounded rate, so a
 * 2-core machine keeps up). `cookie` is a logged-in session (for /me). Stop with the returned `stop()`.
 */
export function startLoad(sock: string, o: { concurrency?: number; pauseMs?: number; cookie?: string; mix?: Kind[] } = {}) {
  const mix: Kind[] = o.mix ?? ['page', 'page', 'page', 'me', 'post', 'limited', 'whoami', 'page', 'sse'];
  const samples: Sample[] = [];
  let running = true;
  const t0 = Date.now();
  const one = async (kind: Kind, i: number): Promise<void> => {
    const req: Req =
      kind === 'page'
        ? { method: 'GET', path: `/page/${i % 20}` }
        : kind === 'me'
          ? { method: 'GET', path: '/me', headers: o.cookie ? { Cookie: o.cookie } : {} }
          : kind === 'post'
            ? { method: 'POST', path: '/post', body: 'x=1' }
            : kind === 'limited'
              ? { method: 'GET', path: '/limited' }
              : kind === 'sse'
                ? { method: 'GET', path: '/sse?ms=600' }
                : { method: 'GET', path: '/whoami' };
    const at = Date.now();
    try {
      const r = await torExchange(sock, req);
      const bad = r.status >= 500 || (kind === 'sse' && !r.body.includes('event: end')) || (kind === 'me' && o.cookie !== undefined && !r.body.includes('"user":"'));
      samples.push({ kind, at, ms: Date.now() - at, status: r.status, ...(bad ? { error: `HTTP ${r.status}`, body: r.body.slice(0, 200) } : {}), ...(kind === 'limited' ? { body: r.body } : {}) });
    } catch (err) {
      samples.push({ kind, at, ms: Date.now() - at, status: 0, error: err instanceof Error ? err.message : String(err) });
    }
  };
  const loops = Array.from({ length: o.concurrency ?? 6 }, async (_, w) => {
    let i = w;
    while (running) {
      await one(mix[i % mix.length]!, i);
      i += o.concurrency ?? 6;
      await sleep(o.pauseMs ?? 20);
    }
  });
  return {
    samples,
    async stop(): Promise<LoadReport> {
      running = false;
      await Promise.all(loops);
      const byKind: Record<string, { ok: number; failed: number }> = {};
      for (const s of samples) {
        const k = (byKind[s.kind] ??= { ok: 0, failed: 0 });
        if (s.error) k.failed++;
        else k.ok++;
      }
      return { total: samples.length, byKind, failures: samples.filter((s) => s.error), samples, rate: Math.round((samples.length / (Date.now() - t0)) * 1000) };
    },
  };
}

/** Failures among the given kinds. */
export const failed = (r: LoadReport, kinds: readonly Kind[]) => r.failures.filter((f) => kinds.includes(f.kind));

/** A logged-in session cookie (`osc_sid=…`). */
export async function login(sock: string, user: string): Promise<string> {
  const r = await torExchange(sock, { method: 'POST', path: `/login?user=${user}` });
  const c = r.headers['set-cookie'];
  if (r.status !== 200 || !c) throw new Error(`login failed: ${r.status} ${r.body}`);
  return c.split(';')[0]!;
}

export function figures(name: string, fig: Record<string, unknown>): void {
  // One line per fault, easy to grep from CI logs: `FIGURES <name> {json}`.
  console.log(`FIGURES ${name} ${JSON.stringify(fig)}`);
}

export function summary(r: LoadReport) {
  return { requests: r.total, rps: r.rate, failed: r.failures.length, byKind: r.byKind };
}

/** RSS in KiB of a process (from /proc/<pid>/status), or undefined when it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
