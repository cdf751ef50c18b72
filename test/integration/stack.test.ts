/**
 * The walking stack, for real: redis-server, two sample instances, haproxy and tor, started by the built CLI in a
 * temporary directory on free loopback ports. Tor points at a private "network" whose only authority is a closed
 * loopback port, so it never contacts the public network and never bootstraps: `up` must still finish and say so.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import {
  isPidAlive,
  makeStackDir,
  parseResponse,
  rawExchange,
  runCli,
  sleep,
  startUp,
  tcpListeners,
  tearDownStack,
  upUntilReported,
  torRequest,
  type UpProcess,
} from '../helpers/stack.js';

interface State {
  phase: string;
  services: { name: string; kind: string; state: string; pid?: number; restarts: number }[];
  onions: { service: string; hostname?: string; descriptor?: { uploaded: number; failed: number } }[];
  tor: { reached: boolean; bootstrap: number };
}

const stackDir = (variant: 'sample-tcp-redis' | 'static-unix-redis' = 'sample-tcp-redis') =>
  makeStackDir(
    variant === 'static-unix-redis'
      ? { app: 'static', redis: 'unix', dos: '{ introDefense: {}, pow: {}, maxStreams: 20 }', balancer: ['retries: 3', 'perCircuit: { requestRate: 5, window: 10s }'] }
      : { dos: '{ introDefense: {}, pow: {}, maxStreams: 20 }', balancer: ['retries: 3'] },
  );

async function status(config: string): Promise<State & { running: boolean }> {
  const r = await runCli(['status', '--json', '-c', config]);
  return JSON.parse(r.stdout) as State & { running: boolean };
}

async function get(sock: string, path: string, circuit = 0x50, headers: Record<string, string> = {}) {
  return parseResponse(await rawExchange({ path: sock }, torRequest(circuit, path, headers)));
}

describe('onionscale up: the whole stack', () => {
  let dir = '';
  let config = '';
  let basePort = 0;
  let redisPort = 0;
  let up: UpProcess;
  let sock = '';
  let allPids: number[] = [];
  /** GET / until it answers `status` (at most `tries` times, `ms` apart); the last response either way. */
  const getUntil = async (status: number, tries: number, ms: number) => {
    let res = await get(sock, '/');
    for (let i = 1; i < tries && res.status !== status; i++) {
      await sleep(ms);
      res = await get(sock, '/');
    }
    return res;
  };

  before(async () => {
    ({ dir, config, basePort, redisPort } = await stackDir());
    sock = join(dir, 'state/run/main.sock');
    up = await upUntilReported(config);
  });

  after(() => tearDownStack(up, config, dir));

  test('every service comes up and the printed onion address is the hostname file', async () => {
    const out = up.output();
    const st = await status(config);
    assert.equal(st.running, true);
    assert.equal(st.phase, 'running');
    assert.deepEqual(st.services.map((s) => s.name), ['redis', 'web-1', 'web-2', 'haproxy', 'tor']);
    for (const s of st.services) {
      assert.equal(s.state, 'ready', s.name);
      assert.ok(s.pid && isPidAlive(s.pid), `${s.name} pid alive`);
      assert.match(out, new RegExp(`^${s.name}\\s+ready\\s+${s.pid}\\s`, 'm'));
    }
    allPids = st.services.map((s) => s.pid!);
    const hsDir = join(dir, 'state/tor/hs/main');
    const hostname = readFileSync(join(hsDir, 'hostname'), 'utf8').trim();
    assert.match(hostname, /^[a-z2-7]{56}\.onion$/);
    assert.equal(st.onions[0]!.hostname, hostname);
    assert.match(out, new RegExp(`onion main: http://${hostname.replace('.', '\\.')}`));
    assert.equal(statSync(hsDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(hsDir, 'hs_ed25519_secret_key')).mode & 0o077, 0);
    // No Tor network here: up finished anyway and says so, and the onion is reported as not published.
    assert.equal(st.tor.reached, false);
    assert.match(out, /tor network: NOT reached yet/);
    assert.match(out, /descriptor: not published yet/);
    assert.deepEqual(st.onions[0]!.descriptor, { uploaded: 0, failed: 0 });
    // tor's control port is a unix socket in the 0700 run directory; nothing on TCP.
    assert.ok(statSync(join(dir, 'state/run/tor-control.sock')).isSocket());
  });

  test('a request with the PROXY line tor sends reaches an instance, which sees the circuit ID', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const res = await get(sock, '/whoami', 0x50 + i);
      assert.equal(res.status, 200, res.raw);
      const body = JSON.parse(res.body) as { instance: string; circuit: number };
      assert.equal(body.circuit, 0x50 + i);
      seen.add(body.instance);
      assert.equal(res.headers.server, undefined);
      assert.equal(res.headers['x-powered-by'], undefined);
    }
    assert.deepEqual([...seen].sort(), ['web-1', 'web-2'], 'both instances serve');
  });

  test('a forged circuit header from the client is overwritten', async () => {
    const res = await get(sock, '/whoami', 0x1234, { 'X-Onion-Circuit': 'fc00:dead:beef:4dad::6:6' });
    const body = JSON.parse(res.body) as { circuit: number; circuitHeader: string };
    assert.equal(body.circuit, 0x1234);
    // haproxy writes the address in canonical form (fc00:dead:beef:4dad::1234); the forged value is gone.
    assert.match(body.circuitHeader, /^fc00:dead:beef:4dad::(0:)?1234$/);
  });

  test('a request without a PROXY line is refused', async () => {
    const raw = await rawExchange({ path: sock }, 'GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.doesNotMatch(raw, /^HTTP\/1\.[01] 200/);
    assert.doesNotMatch(raw, /web-\d/);
    // Malformed PROXY lines are refused too, and the balancer keeps serving well-formed ones.
    for (const bad of ['PROXY TCP6 not-an-address ::1 1 80\r\n', 'PROXY TCP6 fc00:dead:beef:4dad::0:50\r\n', 'PROXY ' + 'x'.repeat(300) + '\r\n']) {
      const r = await rawExchange({ path: sock }, `${bad}GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.doesNotMatch(r, /web-\d/, JSON.stringify(bad));
    }
    assert.equal((await get(sock, '/whoami', 0x77)).status, 200);
  });

  test('redis requires the password and everything listens on loopback only', async () => {
    const anon = createClient({ socket: { host: '127.0.0.1', port: redisPort, reconnectStrategy: false } });
    anon.on('error', () => {});
    await assert.rejects(anon.connect(), /NOAUTH|WRONGPASS/);
    const passwordFile = join(dir, 'state/secrets/redis.password');
    assert.equal(statSync(passwordFile).mode & 0o777, 0o600);
    const password = readFileSync(passwordFile, 'utf8').trim();
    assert.ok(password.length >= 32);
    const c = createClient({ socket: { host: '127.0.0.1', port: redisPort }, password });
    await c.connect();
    const info = await c.info('memory');
    assert.match(info, /maxmemory_policy:allkeys-lru/);
    assert.match(await c.info('persistence'), /aof_enabled:1/);
    c.destroy();
    for (const port of [redisPort, basePort, basePort + 1]) {
      const socks = tcpListeners().filter((l) => l.port === port);
      assert.ok(socks.length > 0, `something listens on ${port}`);
      for (const s of socks) assert.match(s.address, /^(127\.0\.0\.1|::1)$/, `port ${port} bound to ${s.address}`);
    }
    // The password never reaches a log file.
    for (const name of ['redis', 'web-1', 'web-2', 'haproxy', 'tor']) {
      const log = join(dir, `state/logs/${name}.log`);
      if (existsSync(log)) assert.ok(!readFileSync(log, 'utf8').includes(password), `${name}.log leaks the password`);
    }
    assert.ok(!up.output().includes(password));
  });

  test('the haproxy runtime API answers on a 0600 unix socket (and nothing else exposes it)', async () => {
    const admin = join(dir, 'state/run/haproxy-admin.sock');
    assert.equal(statSync(admin).mode & 0o777, 0o600);
    const servers = await rawExchange({ path: admin }, 'show servers state app-web\n');
    assert.match(servers, /app-web \d+ web-1 127\.0\.0\.1/);
    assert.match(servers, /app-web \d+ web-2 127\.0\.0\.1/);
  });

  test('kill one instance: requests keep succeeding and the supervisor restarts it', async () => {
    const before = await status(config);
    const victim = before.services.find((s) => s.name === 'web-1')!;
    process.kill(victim.pid!, 'SIGKILL');
    for (let i = 0; i < 20; i++) {
      const res = await get(sock, '/whoami', 0x900 + i);
      assert.equal(res.status, 200, `request ${i} during the outage: ${res.raw.slice(0, 200)}`);
    }
    let after: State | undefined;
    for (let i = 0; i < 100; i++) {
      after = await status(config);
      const w = after.services.find((s) => s.name === 'web-1')!;
      if (w.state === 'ready' && w.pid !== victim.pid) break;
      await sleep(100);
    }
    const w = after!.services.find((s) => s.name === 'web-1')!;
    assert.equal(w.state, 'ready');
    assert.notEqual(w.pid, victim.pid);
    assert.ok(w.restarts >= 1);
    allPids.push(w.pid!);
  });

  test('kill all instances: the "site is down" page with 503, then the site comes back', async () => {
    const st = await status(config);
    for (const s of st.services.filter((x) => x.kind === 'app')) process.kill(s.pid!, 'SIGKILL');
    const down = await getUntil(503, 50, 50);
    assert.equal(down.status, 503);
    assert.match(down.body, /temporarily down/i);
    assert.doesNotMatch(down.raw, /haproxy|redis|node|tor\b|version/i);
    const back = await getUntil(200, 150, 100);
    assert.equal(back.status, 200);
    const now = await status(config);
    allPids.push(...now.services.filter((x) => x.kind === 'app').map((s) => s.pid!));
  });

  test('down from another shell leaves no process and no listening socket', async () => {
    const r = await runCli(['down', '-c', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await up.exited, 0);
    for (const pid of allPids) assert.equal(isPidAlive(pid), false, `pid ${pid} still alive`);
    const ports = new Set([redisPort, basePort, basePort + 1]);
    assert.deepEqual(tcpListeners().filter((l) => ports.has(l.port)), []);
    assert.equal(existsSync(sock), false);
    const st = await runCli(['status', '-c', config]);
    assert.equal(st.code, 3);
    assert.match(st.stdout, /not running/);
  });
});

describe('onionscale up: Ctrl-C and bad configs', () => {
  test('static mode behind the same balancer; SIGINT stops everything in reverse order, no process left', async () => {
    const { dir, config } = await stackDir('static-unix-redis');
    try {
      const up = startUp(['-c', config]);
      await up.waitFor('tor network:', 90_000);
      const sock = join(dir, 'state/run/main.sock');
      const page = await get(sock, '/');
      assert.equal(page.status, 200, page.raw);
      assert.equal(page.body, '<h1>static onion</h1>');
      assert.match(page.headers.etag ?? '', /^"[A-Za-z0-9_-]{27}"$/);
      assert.equal((await get(sock, '/../onionscale.yaml')).status, 404);
      // Per-circuit request limit (5 per 10 s here): circuit 7 is cut off with a plain 429, circuit 8 is not.
      const codes: number[] = [];
      for (let i = 0; i < 7; i++) codes.push((await get(sock, '/', 7)).status);
      assert.deepEqual(codes.slice(0, 5), [200, 200, 200, 200, 200]);
      assert.equal(codes[6], 429);
      const limited = await get(sock, '/', 7);
      assert.equal(limited.status, 429);
      assert.doesNotMatch(limited.raw, /haproxy/i);
      assert.equal((await get(sock, '/', 8)).status, 200);
      // Redis on a unix socket in the 0700 run directory, still with a password.
      const redisSock = join(dir, 'state/run/redis.sock');
      const anon = createClient({ socket: { path: redisSock, tls: false, reconnectStrategy: false } });
      anon.on('error', () => {});
      await assert.rejects(anon.connect(), /NOAUTH/);
      assert.equal(statSync(join(dir, 'state/run')).mode & 0o777, 0o700);
      const st = await status(config);
      const pids = st.services.map((s) => s.pid!);
      up.child.kill('SIGINT');
      assert.equal(await up.exited, 0);
      const out = up.output();
      const order = ['tor', 'haproxy', 'web-2', 'web-1', 'redis'].map((n) => out.indexOf(`stopping ${n}`));
      assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1]!)), `reverse order:\n${out}`);
      for (const pid of pids) assert.equal(isPidAlive(pid), false, `pid ${pid} still alive`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('Ctrl-C while the stack is still starting stops what started and starts nothing more', async () => {
    const { dir, config, basePort, redisPort } = await stackDir();
    try {
      const up = startUp(['-c', config]);
      await up.waitFor(/✓ redis .* pid \d+/, 30_000);
      up.child.kill('SIGINT');
      assert.equal(await up.exited, 0);
      const pids = [...up.output().matchAll(/ pid (\d+)/g)].map((m) => Number(m[1]));
      assert.ok(pids.length >= 1);
      for (const pid of pids) assert.equal(isPidAlive(pid), false, `pid ${pid} still alive`);
      await sleep(300);
      const ports = new Set([redisPort, basePort, basePort + 1]);
      assert.deepEqual(tcpListeners().filter((l) => ports.has(l.port)), [], 'nothing listens on the stack ports');
      assert.equal(existsSync(join(dir, 'state/run/main.sock')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('supervisor SIGKILLed: tor dies with it, and `down` stops what it left behind', async () => {
    const { dir, config } = await stackDir();
    try {
      const up = startUp(['-c', config]);
      await up.waitFor('tor network:', 90_000);
      const st = await status(config);
      up.child.kill('SIGKILL');
      await up.exited;
      const left = await status(config);
      assert.equal(left.running, false, 'status notices the dead supervisor');
      const r = await runCli(['down', '-c', config]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /leftover/);
      for (const s of st.services) assert.equal(isPidAlive(s.pid!), false, `${s.name} (pid ${s.pid}) still alive`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a bad config gives every problem at once and exit code 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'osc-'));
    try {
      const config = join(dir, 'onionscale.yaml');
      writeFileSync(
        config,
        'apps:\n  - { name: web, builtin: sample, instances: two, basePort: 9000 }\n  - { name: api, builtin: sample, basePort: 9000, colour: 1 }\n  - { name: x, command: "a\\nb", basePort: 9100 }\n  - { name: y, builtin: sample, basePort: 9200 }\nredis: { listen: 9200 }\n',
      );
      const r = await runCli(['up', '-c', config]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /4 problems/);
      assert.match(r.stderr, /apps\[0\]\.instances: expected number, got string \[OSC_ERR_CONFIG_TYPE\]/);
      assert.match(r.stderr, /apps\[1\]\.colour: unknown key \[OSC_ERR_CONFIG_UNKNOWN_KEY\]/);
      assert.match(r.stderr, /apps\[2\]\.command: must not contain newlines or control characters \[OSC_ERR_CONFIG_CONTROL_CHAR\]/);
      assert.match(r.stderr, /redis\.listen: 127\.0\.0\.1:9200 is already used by apps\[3\] \(instance y-1\) \[OSC_ERR_CONFIG_PORT_CLASH\]/);
      assert.equal(existsSync(join(dir, '.onionscale')), false, 'nothing was started or created');
      const check = await runCli(['check', '-c', join(dir, 'missing.yaml')]);
      assert.equal(check.code, 2);
      assert.match(check.stderr, /OSC_ERR_CONFIG_NOT_FOUND/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
