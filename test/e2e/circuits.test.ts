/**
 * Over real onion circuits, with the product's own commands (issue 9): `onionscale testnet up --latency` starts a
 * detached private Tor network (every relay behind a delaying proxy), `onionscale up` joins it with
 * `tor.network: { testnet: DIR }` and publishes a small app (test/e2e/app.ts: per-circuit rate limit, SSE over the
 * event bus on Redis) with the intro-DoS and PoW defenses on. Then, through the testnet client's SOCKS port:
 * two isolated SOCKS identities arrive on different circuits, the per-circuit limit blocks one and not the other, the
 * blocked circuit is closed with CLOSECIRCUIT on the service tor's control port, an SSE stream loses its circuit
 * mid-stream and catches up with Last-Event-ID. ONE network for the whole file (~1 min here).
 *
 * Cleanup: the testnet gets `--owner-pid <this pid>` — every tor (and the proxy process) exits by itself when this
 * process dies, even if `after` never runs. Needs `npm run build` and tor, tor-gencert, haproxy, redis-server.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { ROOT, isPidAlive, parseResponse, requestOverSocket, runCli, sleep, startUp, type RawResponse, type UpProcess } from '../helpers/stack.js';
import { freePort, freePortRange } from '../helpers/ports.js';
import { testnetStackYaml } from '../helpers/tor-testnet.js';
import { socksConnect } from '../../src/testnet/socks.js';
import { ControlConnection, parseCircuitStatus, torControl } from '../../src/testnet/control.js';
import { runningNodes } from '../../src/testnet/torrc.js';
import type { TestnetState } from '../../src/testnet/state.js';

const LATENCY_MS = 20;

interface Status {
  running: boolean;
  tor: { reached: boolean; bootstrap: number; network: string };
  onions: { hostname?: string; descriptor?: { uploaded: number } }[];
  services: { name: string; pid?: number; state: string }[];
}

/**
 * A SOCKS stream to the onion, retried (bounded: 3 attempts) when tor cannot open it: right after a CLOSECIRCUIT, or
 * while circuits are slow to build on a loaded machine, tor answers "general failure" or nothing — a browser retries
 * too. HTTP-level failures are never retried.
 */
async function onionStream(socksPort: number, host: string, user: string, timeoutMs: number): Promise<Socket> {
  const errors: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await socksConnect({ proxyPort: socksPort, host, port: 80, user, timeoutMs });
    } catch (err) {
      errors.push(`attempt ${attempt}: ${(err as Error).message}`);
      await sleep(1_000);
    }
  }
  throw new Error(`no SOCKS stream to ${host}:\n${errors.join('\n')}`);
}

async function onionRequest(socksPort: number, host: string, method: string, path: string, user: string, timeoutMs = 30_000): Promise<RawResponse> {
  return requestOverSocket(await onionStream(socksPort, host, user, timeoutMs), host, method, path, timeoutMs);
}

/** An SSE stream through Tor: frames as they arrive, the head, and when the stream closed. */
interface SseStream {
  socket: Socket;
  headers: () => Record<string, string>;
  events: { id?: string; event?: string; data?: string }[];
  lastId: () => string | undefined;
  waitFor: (pred: (e: { id?: string; data?: string }) => boolean, timeoutMs: number) => Promise<{ id?: string; data?: string }>;
  closed: Promise<void>;
}

async function openSse(socksPort: number, host: string, user: string, lastEventId?: string): Promise<SseStream> {
  const socket = await onionStream(socksPort, host, user, 30_000);
  let buf = '';
  let head: Record<string, string> | undefined;
  let lastId: string | undefined;
  const events: SseStream['events'] = [];
  const listeners = new Set<() => void>();
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  socket.on('error', () => {});
  let raw = Buffer.alloc(0);
  let chunked = false;
  socket.on('data', (c: Buffer) => {
    raw = Buffer.concat([raw, c]);
    if (!head) {
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      head = parseResponse(raw.subarray(0, end + 4).toString('latin1')).headers;
      chunked = head['transfer-encoding'] === 'chunked';
      raw = raw.subarray(end + 4);
    }
    if (!chunked) {
      buf += raw.toString('utf8');
      raw = Buffer.alloc(0);
    }
    // Chunked transfer coding (RFC 9112 §7.1): size line, data, CRLF; consume only complete chunks.
    while (chunked) {
      const nl = raw.indexOf('\r\n');
      if (nl < 0) break;
      const size = parseInt(raw.subarray(0, nl).toString('latin1'), 16);
      if (!(size > 0) || raw.length < nl + 2 + size + 2) break;
      buf += raw.subarray(nl + 2, nl + 2 + size).toString('utf8');
      raw = raw.subarray(nl + 2 + size + 2);
    }
    let sep: number;
    while ((sep = buf.indexOf('\n\n')) >= 0) {
      const frame = buf.slice(0, sep);
      buf = buf.slice(sep + 2);
      const e: { id?: string; event?: string; data?: string } = {};
      for (const line of frame.replace(/\r/g, '').split('\n')) {
        if (line.startsWith('id:')) e.id = line.slice(3).trim();
        else if (line.startsWith('data:')) e.data = (e.data === undefined ? '' : e.data + '\n') + line.slice(5).trimStart();
        else if (line.startsWith('event:')) e.event = line.slice(6).trim();
      }
      if (e.id !== undefined) lastId = e.id;
      if (e.data !== undefined) events.push(e);
      for (const l of listeners) l();
    }
  });
  socket.write(
    `GET /events?channels=feed HTTP/1.1\r\nHost: ${host}\r\nAccept: text/event-stream\r\n${lastEventId ? `Last-Event-ID: ${lastEventId}\r\n` : ''}\r\n`,
  );
  const waitFor: SseStream['waitFor'] = (pred, timeoutMs) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = events.find(pred);
        if (hit) {
          done();
          resolve(hit);
        }
      };
      const t = setTimeout(() => {
        done();
        reject(new Error(`SSE: no matching event in ${timeoutMs} ms; got ${JSON.stringify(events)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  return { socket, headers: () => head ?? {}, events, lastId: () => lastId, waitFor, closed };
}

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

describe('onion circuits on `onionscale testnet` (latency emulation on)', { timeout: 300_000 }, () => {
  let dir = '';
  let netDir = '';
  let config = '';
  let stackDir = '';
  let up: UpProcess | undefined;
  let state: TestnetState | undefined;
  let socksPort = 0;
  let hostname = '';
  let stackPids: number[] = [];
  const timings: Record<string, number> = {};

  const serviceControl = () =>
    ControlConnection.open({ path: join(stackDir, 'state/run/tor-control.sock') }, join(stackDir, 'state/tor/control_auth_cookie'));

  /** The descriptor takes a moment after `up`; before each retry NEWNYM makes the client forget failed lookups. */
  async function withRetries(method: string, path: string, user: string, totalMs: number): Promise<{ res: RawResponse; attempts: number }> {
    const deadline = Date.now() + totalMs;
    const errors: string[] = [];
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) await torControl({ port: state!.controlPort }, state!.controlCookieFile, ['SIGNAL NEWNYM']).catch(() => {});
      try {
        const res = await onionRequest(socksPort, hostname, method, path, `${user}-${attempt}`, Math.min(30_000, Math.max(deadline - Date.now(), 1_000)));
        if (res.status > 0) return { res, attempts: attempt };
        errors.push(`attempt ${attempt}: empty answer`);
      } catch (err) {
        errors.push(`attempt ${attempt}: ${(err as Error).message}`);
      }
      if (Date.now() >= deadline) throw new Error(`no answer from ${hostname} in ${totalMs} ms:\n${errors.join('\n')}`);
      await sleep(1_000);
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'osc-tn-'));
    netDir = join(dir, 'net');
    stackDir = join(dir, 's');
    mkdirSync(stackDir);
    const t0 = Date.now();
    const r = await runCli(['testnet', 'up', '--dir', netDir, '--latency', `${LATENCY_MS}ms`, '--owner-pid', String(process.pid)], 200_000);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    timings.testnetUp = Date.now() - t0;
    socksPort = Number(/^SOCKS_PORT=(\d+)$/m.exec(r.stdout)?.[1]);
    state = JSON.parse(readFileSync(join(netDir, 'testnet.json'), 'utf8')) as TestnetState;

    const basePort = await freePortRange(2);
    const redisPort = await freePort();
    config = join(stackDir, 'onionscale.yaml');
    writeFileSync(
      config,
      testnetStackYaml({
        dos: '{ introDefense: { rate: 25, burst: 200 }, pow: { queueRate: 250, queueBurst: 2500 } }',
        apps: [
          '  - name: web',
          `    command: ${JSON.stringify([process.execPath, '--import', 'tsx', join(ROOT, 'test/e2e/app.ts')])}`,
          `    cwd: ${JSON.stringify(ROOT)}`,
          '    instances: 2',
          `    basePort: ${basePort}`,
          '    readyTimeout: 30s',
          `    env: { E2E_RUN: "r${process.pid}" }`,
        ],
        redisPort,
      }),
    );
    const upStarted = Date.now();
    up = startUp(['-c', config]);
    await up.waitFor('tor network:', 150_000);
    timings.upToReached = Date.now() - upStarted;
    const st = JSON.parse((await runCli(['status', '--json', '-c', config])).stdout) as Status;
    hostname = st.onions[0]?.hostname ?? '';
    stackPids = st.services.map((s) => s.pid ?? -1);
  });

  after(async () => {
    if (up && up.child.exitCode === null && up.child.signalCode === null) {
      await runCli(['down', '-c', config]).catch(() => {});
      const killer = setTimeout(() => up?.child.kill('SIGKILL'), 20_000);
      await up.exited;
      clearTimeout(killer);
    }
    if (netDir) await runCli(['testnet', 'down', '--dir', netDir]).catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('testnet up: every node alive by PID, relays advertise the delaying proxies, the stack joined it', async (t) => {
    t.diagnostic(`testnet up (CLI, latency ${LATENCY_MS} ms/link/direction) in ${timings.testnetUp} ms: ${JSON.stringify(state!.timings)}`);
    t.diagnostic(`onionscale up → "tor network: reached" in ${timings.upToReached} ms`);
    assert.ok(socksPort > 0);
    assert.equal(state!.readiness, 'onion');
    assert.ok((state!.timings.reachable ?? 0) > 0, 'up waited for an onion round trip');
    const st = await runCli(['testnet', 'status', '--json', '--dir', netDir]);
    assert.equal(st.code, 0, st.stdout);
    const s = JSON.parse(st.stdout) as { running: boolean; nodes: { name: string; role: string; alive: boolean; orPort?: number; advertisedOrPort?: number }[] };
    assert.equal(s.running, true);
    assert.deepEqual(s.nodes.map((n) => n.role).sort(), ['authority', 'authority', 'authority', 'client', 'proxy', 'relay', 'relay']);
    for (const n of s.nodes) assert.equal(n.alive, true, n.name);
    // The consensus must list each relay at the proxy's port: then every circuit hop crosses a delaying proxy.
    const auth = state!.nodes.find((n) => n.role === 'authority')!;
    const consensus = await httpGet(auth.dirPort!, '/tor/status-vote/current/consensus-microdesc');
    const relays = s.nodes.filter((n) => n.role === 'authority' || n.role === 'relay');
    assert.equal(runningNodes(consensus).size, relays.length);
    for (const n of relays) {
      assert.notEqual(n.advertisedOrPort, n.orPort);
      assert.match(consensus, new RegExp(`^r ${n.name} \\S+ \\S+ \\S+ 127\\.0\\.0\\.1 ${n.advertisedOrPort} `, 'm'), `${n.name} at its proxy port`);
    }
    const text = await runCli(['testnet', 'status', '--dir', netDir]);
    assert.match(text.stdout, /running \(7\/7 processes alive\)/);

    // The stack's tor uses exactly the testnet's authorities, in testing mode, with both DoS defenses.
    assert.match(up!.output(), /tor network: reached \(private test network/);
    const torrc = readFileSync(join(stackDir, 'state/run/torrc'), 'utf8');
    assert.match(torrc, /^TestingTorNetwork 1$/m);
    assert.deepEqual(
      torrc.split('\n').filter((l) => l.startsWith('DirAuthority ')),
      state!.dirAuthorityLines.map((l) => `DirAuthority ${l}`),
    );
    assert.match(hostname, /^[a-z2-7]{56}\.onion$/);
  });

  test('HiddenServiceEnableIntroDoSDefense and HiddenServicePoWDefensesEnabled: accepted by this tor, service reachable', async (t) => {
    const modules = execFileSync('tor', ['--list-modules'], { encoding: 'utf8' });
    assert.match(modules, /^pow: yes$/m, 'this tor has the PoW module (else tor would refuse the option)');
    const torrc = readFileSync(join(stackDir, 'state/run/torrc'), 'utf8');
    for (const line of ['HiddenServiceEnableIntroDoSDefense 1', 'HiddenServiceEnableIntroDoSRatePerSec 25', 'HiddenServicePoWDefensesEnabled 1', 'HiddenServicePoWQueueRate 250']) {
      assert.ok(torrc.includes(`\n${line}\n`), line);
    }
    const st = JSON.parse((await runCli(['status', '--json', '-c', config])).stdout) as Status;
    assert.equal(st.services.find((s) => s.name === 'tor')?.state, 'ready', 'tor started with the options (it exits on a refused one)');
    const started = Date.now();
    const { res, attempts } = await withRetries('GET', '/whoami', 'first', 150_000);
    t.diagnostic(`first fetch ${Date.now() - started} ms after up (${attempts} attempt(s))`);
    assert.equal(res.status, 200, res.raw);
    const body = JSON.parse(res.body) as { instance: string; circuit: number };
    assert.match(body.instance, /^web-[12]$/);
    assert.ok(Number.isInteger(body.circuit) && body.circuit > 0);
    assert.equal(res.headers.server, undefined);
  });

  test('per-circuit rate limit: blocks one circuit, not another; CLOSECIRCUIT drops the blocked one', async (t) => {
    assert.ok(hostname);
    const a = [];
    for (let i = 0; i < 4; i++) a.push(await onionRequest(socksPort, hostname, 'GET', '/limited', 'alice'));
    const bodies = a.map((r) => JSON.parse(r.body) as { circuit: number; remaining: number });
    assert.deepEqual(a.map((r) => r.status), [200, 200, 200, 429], a.map((r) => r.raw.slice(0, 120)).join('\n'));
    const aliceCircuit = bodies[0]!.circuit;
    for (const b of bodies) assert.equal(b.circuit, aliceCircuit, 'one SOCKS identity, one circuit');

    const bob = await onionRequest(socksPort, hostname, 'GET', '/limited', 'bob');
    const bobBody = JSON.parse(bob.body) as { circuit: number; remaining: number };
    assert.equal(bob.status, 200, bob.raw);
    assert.notEqual(bobBody.circuit, aliceCircuit, 'another SOCKS identity arrives on another circuit');
    assert.equal(bobBody.remaining, 2);

    // The circuit ID haproxy exported is the service tor's own circuit ID: find it there and close it.
    const ctl = await serviceControl();
    try {
      const before = parseCircuitStatus(await ctl.getInfo('circuit-status'));
      const circ = before.find((c) => c.id === aliceCircuit);
      assert.ok(circ, `circuit ${aliceCircuit} in the service tor's circuit-status: ${JSON.stringify(before)}`);
      assert.equal(circ.purpose, 'HS_SERVICE_REND');
      await ctl.command(`CLOSECIRCUIT ${aliceCircuit}`);
      const gone = parseCircuitStatus(await ctl.getInfo('circuit-status'));
      assert.equal(gone.find((c) => c.id === aliceCircuit && c.status !== 'CLOSED'), undefined);
    } finally {
      ctl.close();
    }
    // The same identity now needs a new rendezvous circuit: a new ID with a fresh quota. Bob is untouched.
    // The client learns of the close asynchronously (a DESTROY cell over 6 delayed links): a stream attached to the
    // dying circuit in between fails with SOCKS reply 1, which a browser would retry too.
    let again: RawResponse | undefined;
    const errors: string[] = [];
    for (let attempt = 1; attempt <= 5 && !again; attempt++) {
      again = await onionRequest(socksPort, hostname, 'GET', '/limited', 'alice').catch((err: Error) => {
        errors.push(err.message);
        return sleep(500).then(() => undefined);
      });
    }
    assert.ok(again, errors.join('\n'));
    if (errors.length) t.diagnostic(`after CLOSECIRCUIT: ${errors.join('; ')}`);
    const againBody = JSON.parse(again.body) as { circuit: number };
    assert.equal(again.status, 200, again.raw);
    assert.notEqual(againBody.circuit, aliceCircuit);
    const bob2 = await onionRequest(socksPort, hostname, 'GET', '/limited', 'bob');
    assert.equal(bob2.status, 200);
    assert.equal((JSON.parse(bob2.body) as { circuit: number }).circuit, bobBody.circuit);
    t.diagnostic(`alice ${aliceCircuit} → closed → ${againBody.circuit}; bob ${bobBody.circuit}`);
  });

  test('SSE over Tor: a published event arrives, the circuit drops mid-stream, Last-Event-ID catches up', async (t) => {
    assert.ok(hostname);
    const sse = await openSse(socksPort, hostname, 'reader');
    const publish = async (text: string) => {
      const r = await onionRequest(socksPort, hostname, 'POST', `/publish?text=${text}`, 'writer');
      assert.equal(r.status, 200, r.raw);
      return (JSON.parse(r.body) as { id: string }).id;
    };
    // Wait until the stream is live (the bus sends its position as an `id:` frame after subscribing): an event
    // published before that would only be in the replay.
    const deadline = Date.now() + 30_000;
    while (sse.lastId() === undefined && Date.now() < deadline) await sleep(50);
    const circuit = Number(sse.headers()['x-circuit-id']);
    assert.ok(circuit > 0, JSON.stringify(sse.headers()));
    assert.match(sse.headers()['content-type'] ?? '', /^text\/event-stream/);
    const id1 = await publish('one');
    const e1 = await sse.waitFor((e) => e.data?.includes('"one"') ?? false, 30_000);
    assert.equal(e1.id, id1);

    const ctl = await serviceControl();
    try {
      await ctl.command(`CLOSECIRCUIT ${circuit}`);
    } finally {
      ctl.close();
    }
    await Promise.race([sse.closed, sleep(30_000).then(() => assert.fail('the stream did not end when its circuit was closed'))]);
    const missed = [await publish('two'), await publish('three')];
    const last = sse.lastId();
    assert.ok(last, 'the stream gave event ids');

    const again = await openSse(socksPort, hostname, 'reader', last);
    try {
      await again.waitFor((e) => e.data?.includes('"three"') ?? false, 30_000);
      const got = again.events.filter((e) => e.data?.includes('"text"'));
      assert.deepEqual(got.map((e) => e.id), missed, 'exactly the missed events, in order, no duplicate of "one"');
      assert.notEqual(Number(again.headers()['x-circuit-id']), circuit, 'a new circuit');
      t.diagnostic(`stream on circuit ${circuit} dropped; reconnect on ${again.headers()['x-circuit-id']} replayed ${missed.length} events`);
    } finally {
      again.socket.destroy();
    }
  });

  test('down stops the stack; testnet down stops every node by PID', async () => {
    const r = await runCli(['down', '-c', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await up!.exited, 0);
    for (const pid of stackPids) assert.equal(isPidAlive(pid), false, `pid ${pid} still alive`);
    const d = await runCli(['testnet', 'down', '--dir', netDir]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /stopped 7 process\(es\)/);
    for (const n of state!.nodes) assert.equal(isPidAlive(n.pid), false, `${n.name} (pid ${n.pid}) still alive`);
    const st = await runCli(['testnet', 'status', '--dir', netDir]);
    assert.equal(st.code, 3);
    // A stack that wants the testnet now gets a clear, coded error instead of a tor that never bootstraps.
    const render = await runCli(['render', 'tor', '-c', config]);
    assert.equal(render.code, 1);
    assert.match(render.stderr, /OSC_ERR_TESTNET_NOT_UP/);
  });
});
