/**
 * The real thing, end to end: a private Tor network on loopback and `onionscale up` joining it with
 * `tor.network: { testnet: DIR }` (both from `startOnionStack()`, test/helpers/tor-testnet.ts), publishing the
 * sample app as an onion service, and HTTP requests through a Tor client's SOCKS port to the
 * .onion address: client → rendezvous → onionscale's tor → haproxy (PROXY line) → an app instance, which reports
 * the circuit ID tor exported. Nothing leaves 127.0.0.1: every tor runs `TestingTorNetwork 1` with only the private
 * DirAuthority lines. Needs `npm run build` (it runs dist/cli/main.js) and the tor, tor-gencert, haproxy and
 * redis-server binaries.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SocksClient } from 'socks';
import { isPidAlive, parseResponse, runCli, sleep, type RawResponse, type UpProcess } from '../helpers/stack.js';
import { startOnionStack, type OnionStack, type Testnet } from '../helpers/tor-testnet.js';

interface Status {
  running: boolean;
  tor: { reached: boolean; bootstrap: number };
  onions: { hostname?: string; descriptor?: { uploaded: number; failed: number } }[];
  services: { name: string; pid?: number; state: string }[];
}

interface Whoami {
  instance: string;
  circuit: number | null;
  circuitHeader: string | null;
}

/** One HTTP/1.1 GET to `host` through the client's SOCKS port; the username picks the circuit (IsolateSOCKSAuth). */
async function onionGet(socksPort: number, host: string, path: string, user: string, timeoutMs: number): Promise<RawResponse> {
  const { socket } = await SocksClient.createConnection({
    proxy: { host: '127.0.0.1', port: socksPort, type: 5, userId: user, password: 'x' },
    command: 'connect',
    destination: { host, port: 80 },
    timeout: timeoutMs,
  });
  return new Promise((resolve, reject) => {
    let raw = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no HTTP answer in ${timeoutMs} ms: ${JSON.stringify(raw)}`)));
    socket.on('data', (c: Buffer) => (raw += c.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(parseResponse(raw)));
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

/**
 * The descriptor reaches the HSDirs some seconds after `up` returns; until then tor answers SOCKS error 4. Each
 * retry first sends NEWNYM, which makes the client forget which HSDirs it already asked (it would not ask them again
 * for 15 minutes) and any failed introduction points.
 */
async function onionGetWithRetries(
  net: Testnet,
  host: string,
  path: string,
  user: string,
  totalMs: number,
): Promise<{ res: RawResponse; attempts: number; errors: string[] }> {
  const deadline = Date.now() + totalMs;
  const errors: string[] = [];
  for (let attempt = 1; ; attempt++) {
    if (attempt > 1) await net.control(['SIGNAL NEWNYM']);
    const left = deadline - Date.now();
    try {
      const res = await onionGet(net.socksPort, host, path, `${user}-${attempt}`, Math.min(30_000, Math.max(left, 1_000)));
      if (res.status === 200) return { res, attempts: attempt, errors };
      errors.push(`attempt ${attempt}: HTTP ${res.status} ${res.raw.slice(0, 200)}`);
    } catch (err) {
      errors.push(`attempt ${attempt}: ${(err as Error).message}`);
    }
    if (Date.now() >= deadline) {
      throw new Error(`no answer from ${host} in ${totalMs} ms:\n${errors.join('\n')}\n${net.logTail(8)}`);
    }
    // SOCKS error 4 comes back at once; a short pause keeps the retries from spinning while the upload happens.
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

describe('an onion service on a private Tor network', { timeout: 240_000 }, () => {
  let stack: OnionStack | undefined;
  let stackDir = '';
  let config = '';
  let net: Testnet | undefined;
  let up: UpProcess | undefined;
  let hostname = '';
  let pids: number[] = [];
  let reachable = false;
  const timings: Record<string, number> = {};
  const t0 = Date.now();

  before(async () => {
    // TESTNET_RELAYS: relays besides the 3 authorities (default 2, see docs/testnet.md), to compare network sizes.
    const relays = process.env.TESTNET_RELAYS === undefined ? undefined : Number(process.env.TESTNET_RELAYS);
    // The one-call helper: testnet + a stack joining it (tor.network: { testnet }) + a first fetch through Tor.
    stack = await startOnionStack({ prefix: 'osc-e2e-', relays, timeoutMs: 60_000 });
    net = stack.net;
    up = stack.up;
    stackDir = stack.dir;
    config = stack.config;
    timings.testnetReady = stack.timings.testnet;
    timings.upToStatus = stack.timings.up;
  });

  after(async () => {
    // Whatever happened: stop the stack, then the network, then remove the files (idempotent).
    await stack?.stop();
  });

  test('up reports that tor reached the (private) network, and tor uses only it', async (t) => {
    const out = up!.output();
    assert.match(out, /tor network: reached/, out);
    const r = await runCli(['status', '--json', '-c', config]);
    const st = JSON.parse(r.stdout) as Status;
    assert.equal(st.running, true);
    assert.equal(st.tor.reached, true);
    assert.equal(st.tor.bootstrap, 100);
    hostname = st.onions[0]?.hostname ?? '';
    assert.match(hostname, /^[a-z2-7]{56}\.onion$/);
    for (const s of st.services) assert.equal(s.state, 'ready', s.name);
    pids = st.services.map((s) => s.pid ?? -1);
    // The onion service's tor must never try the public network: testing mode, our authorities and no others.
    const torrc = readFileSync(join(stackDir, 'state/run/torrc'), 'utf8');
    assert.match(torrc, /^TestingTorNetwork 1$/m);
    const auths = torrc.split('\n').filter((l) => l.startsWith('DirAuthority '));
    assert.deepEqual(auths, net!.dirAuthorityLines.map((l) => `DirAuthority ${l}`));
    t.diagnostic(`keys ${net!.timings.keys} ms, consensus ${net!.timings.consensus} ms, client ${net!.timings.client} ms`);
    t.diagnostic(`testnet ready after ${timings.testnetReady} ms; up → "tor network: reached" in ${timings.upToStatus} ms`);
  });

  test('the supervisor sees the descriptor published on tor\'s control port', async (t) => {
    const started = Date.now();
    let st: Status | undefined;
    while (Date.now() - started < 120_000) {
      st = JSON.parse((await runCli(['status', '--json', '-c', config])).stdout) as Status;
      if ((st.onions[0]?.descriptor?.uploaded ?? 0) > 0) break;
      await sleep(500);
    }
    assert.ok((st?.onions[0]?.descriptor?.uploaded ?? 0) >= 1, JSON.stringify(st?.onions));
    t.diagnostic(`descriptor published ${Date.now() - started} ms after the status table`);
    const text = (await runCli(['status', '-c', config])).stdout;
    assert.match(text, /descriptor: published \(\d+ uploads? accepted by HSDirs/);
  });

  test('GET /whoami through Tor reaches an instance, which sees the circuit ID tor exported', async (t) => {
    assert.ok(hostname, 'the previous test found the hostname');
    const started = Date.now();
    const { res, attempts, errors } = await onionGetWithRetries(net!, hostname, '/whoami', 'first', 120_000);
    t.diagnostic(`first fetch after ${Date.now() - started} ms (${attempts} attempt(s)); ${Date.now() - t0} ms since start`);
    for (const e of errors) t.diagnostic(e);
    assert.equal(res.status, 200, res.raw);
    const body = JSON.parse(res.body) as Whoami;
    assert.match(body.instance, /^web-[12]$/);
    assert.equal(typeof body.circuit, 'number');
    assert.ok(Number.isInteger(body.circuit) && body.circuit! > 0, `circuit ${body.circuit}`);
    // haproxy passes the PROXY line's source address on: the circuit ID sits in its last 32 bits.
    assert.match(body.circuitHeader ?? '', /^fc00:dead:beef:4dad:/);
    assert.equal(res.headers.server, undefined);
    reachable = true;
  });

  test('a new SOCKS username gets a new circuit (a new ID); the same username keeps its circuit', async (t) => {
    assert.ok(reachable, 'the onion answered in the previous test');
    const started = Date.now();
    const a1 = await onionGetWithRetries(net!, hostname, '/whoami', 'alice', 60_000);
    const a2 = await onionGet(net!.socksPort, hostname, '/whoami', `alice-${a1.attempts}`, 30_000);
    const b = await onionGetWithRetries(net!, hostname, '/whoami', 'bob', 60_000);
    const [ca1, ca2, cb] = [a1.res, a2, b.res].map((r) => {
      assert.equal(r.status, 200, r.raw);
      return (JSON.parse(r.body) as Whoami).circuit;
    });
    t.diagnostic(`three fetches in ${Date.now() - started} ms; circuits alice ${ca1}, ${ca2}; bob ${cb}`);
    assert.equal(typeof ca1, 'number');
    assert.equal(typeof cb, 'number');
    assert.notEqual(ca1, cb, 'different SOCKS usernames, different circuits');
    assert.equal(ca2, ca1, 'same SOCKS username, same circuit');
  });

  test('down stops the stack, stop() the network: no process left', async () => {
    const r = await runCli(['down', '-c', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await up!.exited, 0);
    for (const pid of pids) assert.equal(isPidAlive(pid), false, `pid ${pid} still alive`);
    await stack!.stop();
    for (const node of net!.nodes) assert.equal(isPidAlive(node.pid), false, `${node.name} (pid ${node.pid}) still alive`);
  });
});
