/**
 * A real forum stack for tests: `onionscale up` (the built CLI) with `builtin: forum`, N instances, Redis, haproxy,
 * tor with its network disabled (never touches the Tor network) and the dashboard, all on free loopback ports in a
 * temporary directory. A small seed keeps start-up fast; metrics are pushed and collected every 200 ms.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, freePortRange } from '../helpers/ports.js';
import { ROOT, runCli, startUp, type UpProcess } from '../helpers/stack.js';

export const ARTIFACTS = join(ROOT, 'test-artifacts', 'forum');

export interface ForumStack {
  dir: string;
  config: string;
  instancePorts: number[];
  dashboardPort: number;
  /** haproxy's frontend socket (tor's side: PROXY line first). */
  socket: string;
  up: UpProcess;
  stop(): Promise<void>;
}

export async function startForumStack(o: { instances?: number; seedPosts?: number } = {}): Promise<ForumStack> {
  const n = o.instances ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'osc-forum-'));
  const basePort = await freePortRange(n);
  const dashboardPort = await freePort();
  const config = join(dir, 'onionscale.yaml');
  writeFileSync(
    config,
    [
      'stateDir: state',
      'apps:',
      '  - name: web',
      '    builtin: forum',
      `    instances: ${n}`,
      `    basePort: ${basePort}`,
      '    readyTimeout: 30s',
      '    env:',
      '      FORUM_DB: state/forum.db',
      `      FORUM_SEED_POSTS: "${o.seedPosts ?? 400}"`,
      '      FORUM_METRICS_INTERVAL: 200ms',
      'balancer:',
      '  healthInterval: 500ms',
      'redis:',
      '  listen: unix',
      '  maxmemory: 32mb',
      'tor:',
      '  network: disabled',
      '  bootstrapWait: 0s',
      'dashboard:',
      `  port: ${dashboardPort}`,
      '',
    ].join('\n'),
  );
  mkdirSync(ARTIFACTS, { recursive: true });
  // The dashboard inherits the supervisor's environment: collect every 200 ms instead of every second.
  process.env.DASHBOARD_INTERVAL = '200';
  const up = startUp(['-c', config]);
  try {
    await up.waitFor('supervisor: pid', 90_000);
  } catch (err) {
    await runCli(['down', '-c', config]).catch(() => undefined);
    if (up.child.exitCode === null) up.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir,
    config,
    instancePorts: Array.from({ length: n }, (_, i) => basePort + i),
    dashboardPort,
    socket: join(dir, 'state', 'run', 'main.sock'),
    up,
    async stop() {
      if (up.child.exitCode === null) {
        await runCli(['down', '-c', config]).catch(() => undefined);
        if (up.child.exitCode === null) up.child.kill('SIGKILL');
        await up.exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A tiny cookie-keeping HTTP client for one instance (no redirects followed: tests look at them). */
export class Client {
  readonly cookies = new Map<string, string>();
  constructor(
    readonly port: number,
    readonly headers: Record<string, string> = {},
  ) {}

  async request(method: 'GET' | 'POST', path: string, form?: Record<string, string>): Promise<{ status: number; headers: Headers; body: string }> {
    const headers: Record<string, string> = { ...this.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      method,
      headers,
      redirect: 'manual',
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair = ''] = c.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: res.status, headers: res.headers, body: await res.text() };
  }

  get(path: string) {
    return this.request('GET', path);
  }

  /** GET the page with the form, then POST it with the form's CSRF token. */
  async submit(formPage: string, action: string, fields: Record<string, string>) {
    const page = await this.get(formPage);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
    if (!csrf) throw new Error(`no CSRF token on ${formPage} (status ${page.status})`);
    return this.request('POST', action, { csrf, ...fields });
  }
}

export interface Snapshot {
  instance: string;
  ts: number;
  requests: { total: number };
  cache: { l1Hits: number; l2Hits: number; misses: number; loads: number };
  fragments: { hits: number; renders: number };
  limiter: { blocked: number };
  counters: Record<string, number>;
  gauges: Record<string, number>;
}

/** The instances' latest snapshots as the dashboard sees them. */
export async function dashboardState(port: number): Promise<{ instances: { instance: string; latest: Snapshot }[]; services: { name: string; state: string }[] }> {
  const res = await fetch(`http://127.0.0.1:${port}/api/state`);
  return (await res.json()) as { instances: { instance: string; latest: Snapshot }[]; services: { name: string; state: string }[] };
}

/**
 * The snapshot of `instance` once it reflects everything up to now: its request counter has reached `minRequests`
 * and it was taken after this call started (bounded wait).
 */
export async function settledSnapshot(port: number, instance: string, minRequests: number, timeoutMs = 10_000): Promise<Snapshot> {
  const since = Date.now();
  const deadline = since + timeoutMs;
  let last: Snapshot | undefined;
  while (Date.now() < deadline) {
    const s = (await dashboardState(port)).instances.find((i) => i.instance === instance)?.latest;
    if (s) last = s;
    if (s && s.ts > since + 50 && s.requests.total >= minRequests) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no fresh snapshot of ${instance} with ≥ ${minRequests} requests in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

export const circuitHeader = (id: number) => ({ 'X-Onion-Circuit': `fc00:dead:beef:4dad::${(id >>> 16).toString(16)}:${(id & 0xffff).toString(16)}` });
