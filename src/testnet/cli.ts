/**
 * `onionscale testnet up|down|status` (issue 9). `up` starts a detached private Tor network in the state directory
 * and returns once an onion round trip through its client works; `down` stops it by PID (+ start time) only;
 * `status` prints every node. The CLI exits after `up`, so the nodes cannot use `__OwningControllerProcess` of the
 * CLI: they run until `down` — or, with `--owner-pid PID` (what tests pass: their own PID), until that process exits.
 */
import { resolve } from 'node:path';
import type { StackModel } from '../config/model.js';
import { OnionscaleError } from '../errors.js';
import { parseDuration } from '../units.js';
import { testnetDirOf } from './join.js';
import { startTestnet, stopTestnet, testnetStatus } from './network.js';

export interface TestnetCliValues {
  dir?: string | undefined;
  relays?: string | undefined;
  latency?: string | undefined;
  'owner-pid'?: string | undefined;
  wait?: string | undefined;
  json?: boolean | undefined;
}

export interface TestnetIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

export const TESTNET_HELP = `  testnet up [--dir DIR] [--relays N] [--latency 40ms] [--wait onion|bootstrap] [--owner-pid PID]
                            start a private Tor network on 127.0.0.1 (3 authorities + N relays + a client);
                            prints the client's SOCKS port; join it with tor.network: testnet
  testnet status [--dir DIR] [--json]
  testnet down [--dir DIR]  stop it (by PID)`;

function usage(message: string): OnionscaleError {
  return new OnionscaleError('OSC_ERR_CLI_USAGE', message);
}

function intOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,7}$/.test(text)) throw new OnionscaleError('OSC_ERR_TESTNET_OPTIONS', `--${name} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

/** `--latency 40ms` / `40` (ms): the one-way delay added per link and direction. */
export function parseLatency(text: string | undefined): number {
  if (text === undefined) return 0;
  const ms = /^\d+$/.test(text) ? Number(text) : parseDuration(text);
  if (ms === undefined || ms > 5_000) throw new OnionscaleError('OSC_ERR_TESTNET_OPTIONS', `--latency must be a duration from 0 to 5s such as 40ms, got "${text}"`);
  return ms;
}

export async function testnetCommand(
  sub: string | undefined,
  values: TestnetCliValues,
  loadModel: () => StackModel,
  io: TestnetIo,
): Promise<number> {
  const dir = values.dir ? resolve(values.dir) : testnetDirOf(loadModel());
  switch (sub) {
    case 'up': {
      const wait = values.wait ?? 'onion';
      if (wait !== 'onion' && wait !== 'bootstrap') throw new OnionscaleError('OSC_ERR_TESTNET_OPTIONS', `--wait must be onion or bootstrap, got "${wait}"`);
      const latencyMs = parseLatency(values.latency);
      const ownerPid = intOption('owner-pid', values['owner-pid']);
      const t0 = Date.now();
      const net = await startTestnet({
        dir,
        relays: intOption('relays', values.relays),
        latencyMs,
        detached: true,
        ...(ownerPid ? { ownerPid } : {}),
        waitFor: wait,
        log: (line) => io.out(`  … ${line}`),
      });
      const t = net.timings;
      io.out(
        wait === 'onion'
          ? `testnet up in ${Date.now() - t0} ms: an onion round trip through the client works (${t.reachable} ms after launch)`
          : `testnet up in ${Date.now() - t0} ms: consensus lists every node Running, client bootstrapped (onion reachability not checked)`,
      );
      io.out(`  dir     ${dir}`);
      io.out(`  socks   127.0.0.1:${net.socksPort}  (a new SOCKS username gets a new circuit)`);
      io.out(`  control 127.0.0.1:${net.controlPort}  cookie ${net.controlCookieFile}`);
      io.out(`  nodes   ${net.nodes.length} processes${latencyMs ? `, latency ${latencyMs} ms each way per link` : ''}`);
      io.out('join it with `tor.network: testnet` (or { testnet: DIR }); stop it with `onionscale testnet down`');
      io.out(`SOCKS_PORT=${net.socksPort}`);
      return 0;
    }
    case 'down': {
      const r = await stopTestnet(dir);
      io.out(r.wasRunning ? `stopped ${r.stopped} process(es) of the testnet in ${dir}` : `no testnet running in ${dir}`);
      return 0;
    }
    case 'status': {
      const st = testnetStatus(dir);
      if (!st) {
        io.out(values.json ? JSON.stringify({ running: false, dir }) : `no testnet in ${dir}`);
        return 3;
      }
      if (values.json) {
        io.out(JSON.stringify(st, null, 2));
        return st.running ? 0 : 3;
      }
      const alive = st.nodes.filter((n) => n.alive).length;
      const what = st.running ? (st.phase === 'ready' ? 'running' : 'starting') : alive === 0 ? 'stopped' : 'partly running';
      io.out(`testnet ${dir}: ${what} (${alive}/${st.nodes.length} processes alive)`);
      io.out(`  socks 127.0.0.1:${st.socksPort}  control 127.0.0.1:${st.controlPort}  latency ${st.latencyMs ? `${st.latencyMs} ms each way per link` : 'off'}`);
      io.out(`  ${'node'.padEnd(14)}${'role'.padEnd(11)}${'pid'.padEnd(9)}${'alive'.padEnd(7)}${'orport'.padEnd(8)}${'advertised'.padEnd(12)}dirport`);
      for (const n of st.nodes) {
        io.out(
          `  ${n.name.padEnd(14)}${n.role.padEnd(11)}${String(n.pid).padEnd(9)}${(n.alive ? 'yes' : 'no').padEnd(7)}${String(n.orPort ?? '-').padEnd(8)}${String(n.advertisedOrPort ?? '-').padEnd(12)}${n.dirPort ?? '-'}`,
        );
      }
      return st.running ? 0 : 3;
    }
    default:
      throw usage(`testnet what? one of: up, down, status (got ${sub ?? 'nothing'})`);
  }
}
