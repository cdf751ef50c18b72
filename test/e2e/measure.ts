/**
 * Measurements over real onion circuits on the private testnet (issue 9), with and without latency emulation:
 * time to a reachable onion from cold, TTFB and full page time (new circuit vs warm circuit vs keep-alive), and the
 * number of sequential round trips these take. Not a test (no assertions on speed): prints a table and JSON.
 *
 *   npm run build && node --import tsx test/e2e/measure.ts [latencyMs …]      (default: 0 40)
 *
 * Runs the product: `startTestnet` (src/testnet) with the owner PID set (nothing outlives this script), the built
 * CLI's `onionscale up` joining it with `tor.network: { testnet: DIR }`, test/e2e/app.ts as the app.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { ROOT, readKeptAliveResponse } from '../helpers/stack.js';
import { freePort, freePortRange } from '../helpers/ports.js';
import { testnetStackYaml } from '../helpers/tor-testnet.js';
import { startTestnet } from '../../src/testnet/network.js';
import { socksConnect } from '../../src/testnet/socks.js';
import { torControl } from '../../src/testnet/control.js';

const SAMPLES = Number(process.env.SAMPLES ?? 7);

// The CLI from source (tsx), not dist/: a rebuild of dist/ by someone else in the same checkout must not break a
// run that takes minutes.
const CLI = [join(ROOT, 'src/cli/main.ts')];
function cli(args: string[]): { done: Promise<{ code: number | null; out: string }>; waitFor: (text: string, ms: number) => Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', ...CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (c: Buffer) => {
    out += c.toString();
    for (const w of waiters) w();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const done = new Promise<{ code: number | null; out: string }>((r) => child.on('exit', (code) => r({ code, out })));
  const waitFor = (text: string, ms: number) =>
    new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no "${text}" in ${ms} ms:\n${out}`)), ms);
      const check = () => {
        if (out.includes(text)) {
          clearTimeout(t);
          waiters.delete(check);
          resolve();
        }
      };
      waiters.add(check);
      void done.then(() => reject(new Error(`exited before "${text}":\n${out}`)));
      check();
    });
  return { done, waitFor };
}
const runCli = async (args: string[]) => (await cli(args).done).out;

interface Timed {
  /** SOCKS CONNECT until tor's reply: circuit (if new) + stream BEGIN/CONNECTED. */
  connect: number;
  /** Request written → first response byte. */
  ttfb: number;
  /** Request written → last byte of the body. */
  body: number;
  /** connect + body: what a browser waits for one page. */
  total: number;
  bytes: number;
}

async function timedGet(socksPort: number, host: string, path: string, user: string, reuse?: Socket): Promise<{ t: Timed; socket: Socket }> {
  const c0 = performance.now();
  const socket = reuse ?? (await socksConnect({ proxyPort: socksPort, host, port: 80, user, timeoutMs: 60_000 }));
  const c1 = performance.now();
  const got = readKeptAliveResponse(socket);
  const w = performance.now();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`);
  const r = await got;
  return { t: { connect: c1 - c0, ttfb: r.first - w, body: r.last - w, total: r.last - c0, bytes: r.bytes }, socket };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};
const med = (ts: Timed[], k: keyof Timed) => Math.round(median(ts.map((t) => t[k])));

async function measure(latencyMs: number) {
  const dir = mkdtempSync(join(tmpdir(), 'osc-m-'));
  const stackDir = join(dir, 's');
  mkdirSync(stackDir);
  const t0 = Date.now();
  const net = await startTestnet({ dir: join(dir, 'net'), latencyMs, ownerPid: process.pid, waitFor: 'onion' });
  const testnetReady = Date.now() - t0;
  const config = join(stackDir, 'onionscale.yaml');
  writeFileSync(
    config,
    testnetStackYaml({
      apps: [
        '  - name: web',
        `    command: ${JSON.stringify([process.execPath, '--import', 'tsx', join(ROOT, 'test/e2e/app.ts')])}`,
        `    cwd: ${JSON.stringify(ROOT)}`,
        '    instances: 2',
        `    basePort: ${await freePortRange(2)}`,
        '    readyTimeout: 30s',
      ],
      redisPort: await freePort(),
    }),
  );
  const upAt = Date.now();
  const up = cli(['up', '-c', config]);
  try {
    await up.waitFor('tor network:', 150_000);
    const st = JSON.parse(await runCli(['status', '--json', '-c', config])) as { onions: { hostname: string }[] };
    const host = st.onions[0]!.hostname;
    // First successful page from cold (retrying while the descriptor is uploaded; NEWNYM before each retry).
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        const { socket } = await timedGet(net.socksPort, host, '/page', `first-${attempts}`);
        socket.destroy();
        break;
      } catch {
        if (Date.now() - upAt > 180_000) throw new Error('onion not reachable in 180 s');
        await torControl({ port: net.controlPort }, net.controlCookieFile, ['SIGNAL NEWNYM']).catch(() => {});
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    const firstPage = { fromLaunch: Date.now() - t0, fromUp: Date.now() - upAt, attempts };

    const cold: Timed[] = [];
    const warmStream: Timed[] = [];
    const keepAlive: Timed[] = [];
    const rtt: Timed[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      // New SOCKS identity → new circuit: introduction + rendezvous + stream + request.
      const a = await timedGet(net.socksPort, host, '/page', `cold-${i}`);
      cold.push(a.t);
      // Same identity, new stream on the warm circuit: BEGIN/CONNECTED + request.
      const b = await timedGet(net.socksPort, host, '/page', `cold-${i}`);
      warmStream.push(b.t);
      // Same stream again (HTTP keep-alive): the request alone.
      const c = await timedGet(net.socksPort, host, '/page', `cold-${i}`, b.socket);
      keepAlive.push(c.t);
      // One round trip over the circuit: a tiny response on the kept-alive stream.
      const d = await timedGet(net.socksPort, host, '/whoami', `cold-${i}`, b.socket);
      rtt.push(d.t);
      a.socket.destroy();
      b.socket.destroy();
    }
    // Coldest visit: NEWNYM purges the client's onion state (descriptor cache too), so the descriptor is fetched
    // from an HSDir again before introduction and rendezvous. tor allows one NEWNYM per 10 s.
    const fresh: Timed[] = [];
    for (let i = 0; i < Math.min(3, SAMPLES); i++) {
      await new Promise((r) => setTimeout(r, 10_500));
      await torControl({ port: net.controlPort }, net.controlCookieFile, ['SIGNAL NEWNYM']);
      const e = await timedGet(net.socksPort, host, '/page', `fresh-${i}`);
      fresh.push(e.t);
      e.socket.destroy();
    }
    const oneRtt = median(rtt.map((t) => t.body));
    const row = (name: string, ts: Timed[]) => ({
      case: name,
      connectMs: med(ts, 'connect'),
      ttfbMs: med(ts, 'ttfb'),
      bodyMs: med(ts, 'body'),
      totalMs: med(ts, 'total'),
      roundTrips: Math.round((median(ts.map((t) => t.total)) / oneRtt) * 10) / 10,
      bytes: ts[0]?.bytes ?? 0,
    });
    return {
      latencyMs,
      onionRttMs: Math.round(oneRtt),
      testnet: { readyMs: testnetReady, ...net.timings },
      upToReachedMs: firstPage.fromUp,
      firstPage,
      rows: [row('after NEWNYM (+ descriptor)', fresh), row('new circuit (cold)', cold), row('warm circuit, new stream', warmStream), row('warm stream (keep-alive)', keepAlive)],
    };
  } finally {
    await runCli(['down', '-c', config]).catch(() => {});
    await up.done;
    await net.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const latencies = process.argv.slice(2).map(Number);
const results = [];
for (const l of latencies.length ? latencies : [0, 40]) {
  const r = await measure(l);
  results.push(r);
  console.log(`\nlatency ${r.latencyMs} ms one way per link → onion RTT ${r.onionRttMs} ms (median of ${SAMPLES})`);
  console.log(`  testnet: keys ${r.testnet.keys} ms, consensus ${r.testnet.consensus} ms, client ${r.testnet.client} ms, probe onion reachable ${r.testnet.reachable} ms after launch`);
  console.log(`  stack: first page ${r.firstPage.fromLaunch} ms after launching the testnet, ${r.firstPage.fromUp} ms after \`up\` (${r.firstPage.attempts} attempt(s))`);
  console.log(`  ${'case'.padEnd(28)}${'connect'.padStart(9)}${'ttfb'.padStart(7)}${'body'.padStart(7)}${'total'.padStart(7)}${'RTTs'.padStart(6)}`);
  for (const x of r.rows) console.log(`  ${x.case.padEnd(28)}${String(x.connectMs).padStart(9)}${String(x.ttfbMs).padStart(7)}${String(x.bodyMs).padStart(7)}${String(x.totalMs).padStart(7)}${String(x.roundTrips).padStart(6)}`);
}
console.log('\n' + JSON.stringify(results));
