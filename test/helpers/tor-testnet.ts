/**
 * The private Tor network for tests: a thin wrapper over the product's `src/testnet/` (what `onionscale testnet up`
 * runs), with the one difference a test needs — every node gets `__OwningControllerProcess <test pid>`, so tor
 * exits by itself if the test process dies before `stop()` (and the in-process latency proxies die with it).
 * Nothing here can reach the public network: every torrc has `TestingTorNetwork 1` and only the private
 * DirAuthority lines. See docs/testnet.md.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { socksConnect } from '../../src/testnet/socks.js';
import { freePort, freePortRange } from './ports.js';
import { requestOverSocket, runCli, startUp, type RawResponse, type UpProcess } from './stack.js';
import { startTestnet as startProductTestnet, type Testnet as ProductTestnet } from '../../src/testnet/network.js';
import { torControl as productTorControl } from '../../src/testnet/control.js';
import type { NodeState } from '../../src/testnet/state.js';

export { runningNodes } from '../../src/testnet/torrc.js';
export { probeOnion } from '../../src/testnet/network.js';

export interface TestnetOptions {
  /** An empty (or new) directory; every node gets a sub-directory. */
  dir: string;
  /** Relays besides the 3 authorities (default 2: the smallest network that was reliable here, see docs/testnet.md). */
  relays?: number | undefined;
  /** One-way delay per link and direction in ms (default 0: off). */
  latencyMs?: number;
  /** tor binary (default: `tor` on PATH). */
  torBinary?: string;
  /** How long each wait may take (default 90 s). */
  timeoutMs?: number;
  /** Wait for an onion round trip through the client too (default: only consensus + client bootstrap). */
  waitFor?: 'onion' | 'bootstrap';
}

export type TestnetNode = NodeState;

export interface Testnet extends Omit<ProductTestnet, 'control'> {
  /**
   * Run control-port commands on the client (cookie auth, then each command, then QUIT) and return tor's replies
   * as text. Rejects on any reply that is not 2xx. E.g. `control(['SIGNAL NEWNYM'])` forgets the client's onion state.
   */
  control: (commands: string[], timeoutMs?: number) => Promise<string>;
}

export async function startTestnet(options: TestnetOptions): Promise<Testnet> {
  const net = await startProductTestnet({
    dir: options.dir,
    relays: options.relays,
    latencyMs: options.latencyMs ?? 0,
    ...(options.torBinary ? { torBinary: options.torBinary } : {}),
    timeoutMs: options.timeoutMs ?? 90_000,
    ownerPid: process.pid,
    waitFor: options.waitFor ?? 'bootstrap',
  });
  return {
    ...net,
    stop: () => net.stop(),
    logTail: (n?: number) => net.logTail(n),
    control: async (commands, ms) => (await net.control(commands, ms)).map((r) => r.lines.join('\n')).join('\n'),
  };
}

/** Control-port commands on any tor with a cookie ControlPort on 127.0.0.1 (TCP port) or a unix socket (path). */
export async function torControl(target: number | string, cookieFile: string, commands: string[], timeoutMs = 10_000): Promise<string> {
  const replies = await productTorControl(typeof target === 'number' ? { port: target } : { path: target }, cookieFile, commands, timeoutMs);
  return replies.map((r) => r.lines.join('\n')).join('\n');
}

export interface OnionStack {
  net: Testnet;
  /** The stack's directory (config `onionscale.yaml`, state in `state/`). */
  dir: string;
  config: string;
  up: UpProcess;
  /** `<56 chars>.onion` */
  hostname: string;
  /** One HTTP/1.1 request to the onion through the testnet client; `user` picks the circuit (IsolateSOCKSAuth). */
  request: (method: string, path: string, user: string, timeoutMs?: number) => Promise<RawResponse>;
  /** Milliseconds: testnet ready, `up` → tor reached, first successful fetch after that. */
  timings: { testnet: number; up: number; firstFetch: number; firstFetchAttempts: number };
  /** `onionscale down`, then the testnet; idempotent; never throws. */
  stop: () => Promise<void>;
}

export interface OnionStackOptions extends Omit<TestnetOptions, 'dir'> {
  /** Short temp-dir prefix (unix socket paths are limited to 107 bytes). */
  prefix?: string;
  /** YAML of the `apps:` list, 2-space indented entries (default: the builtin sample with 2 instances). */
  apps?: string[];
  /** `dos:` of the onion service as YAML flow text. */
  dos?: string;
}

/**
 * "The stack reachable over Tor" in one call: a testnet (owner = this process), a stack config joining it with
 * `tor.network: { testnet: DIR }`, `onionscale up` (the built CLI), and a first successful `GET /healthz` through
 * the client (retried while the descriptor is uploaded, NEWNYM before each retry). Call `stop()` in `after`.
 */
/**
 * The onionscale.yaml of a stack that joins the testnet in `../net` (relative to the config file): one onion
 * service on port 80, the given `apps:` lines, Redis on a loopback port, fast health checks.
 */
export function testnetStackYaml(o: { apps: string[]; redisPort: number; dos?: string; balancer?: string[] }): string {
  return [
    'stateDir: state',
    'onion:',
    '  services:',
    '    - name: main',
    '      ports: [80]',
    ...(o.dos ? [`      dos: ${o.dos}`] : []),
    'apps:',
    ...o.apps,
    'balancer:',
    ...(o.balancer ?? ['  healthInterval: 500ms']),
    'redis:',
    `  listen: "127.0.0.1:${o.redisPort}"`,
    '  maxmemory: 32mb',
    'tor:',
    // Relative to the config file: the stack joins the testnet by its state directory.
    '  network: { testnet: ../net }',
    '  bootstrapWait: 90s',
    '',
  ].join('\n');
}

export async function startOnionStack(o: OnionStackOptions = {}): Promise<OnionStack> {
  const dir = mkdtempSync(join(tmpdir(), o.prefix ?? 'osc-os-'));
  const t0 = Date.now();
  const net = await startTestnet({ ...o, dir: join(dir, 'net') });
  const testnetMs = Date.now() - t0;
  const stackDir = join(dir, 's');
  mkdirSync(stackDir);
  const config = join(stackDir, 'onionscale.yaml');
  writeFileSync(
    config,
    testnetStackYaml({
      apps: o.apps ?? ['  - name: web', '    builtin: sample', '    instances: 2', `    basePort: ${await freePortRange(2)}`],
      redisPort: await freePort(),
      ...(o.dos ? { dos: o.dos } : {}),
    }),
  );
  const upStarted = Date.now();
  const up = startUp(['-c', config]);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (up.child.exitCode === null && up.child.signalCode === null) {
        await runCli(['down', '-c', config]).catch(() => {});
        const killer = setTimeout(() => up.child.kill('SIGKILL'), 20_000);
        await up.exited;
        clearTimeout(killer);
      }
      await net.stop();
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    await up.waitFor('tor network:', 150_000);
    const upMs = Date.now() - upStarted;
    const st = JSON.parse((await runCli(['status', '--json', '-c', config])).stdout) as { onions: { hostname?: string }[] };
    const hostname = st.onions[0]?.hostname ?? '';
    const request = async (method: string, path: string, user: string, timeoutMs = 30_000): Promise<RawResponse> => {
      const socket = await socksConnect({ proxyPort: net.socksPort, host: hostname, port: 80, user, timeoutMs });
      return requestOverSocket(socket, hostname, method, path, timeoutMs);
    };
    const fetchStarted = Date.now();
    const errors: string[] = [];
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) await net.control(['SIGNAL NEWNYM']).catch(() => '');
      const res = await request('GET', '/healthz', `first-${attempt}`).catch((err: Error) => {
        errors.push(`attempt ${attempt}: ${err.message}`);
        return undefined;
      });
      if (res?.status === 200) {
        return { net, dir: stackDir, config, up, hostname, request, stop, timings: { testnet: testnetMs, up: upMs, firstFetch: Date.now() - fetchStarted, firstFetchAttempts: attempt } };
      }
      if (res) errors.push(`attempt ${attempt}: HTTP ${res.status}`);
      if (Date.now() - fetchStarted > 120_000) throw new Error(`${hostname} not reachable in 120 s:\n${errors.join('\n')}\n${net.logTail(8)}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  } catch (err) {
    await stop();
    throw err;
  }
}
