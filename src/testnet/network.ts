/**
 * A private Tor network on 127.0.0.1 (issue 9): 3 directory authorities (each also a relay), N more relays and one
 * client tor with a SocksPort, each with its own DataDirectory under `dir`, every process recorded by PID (+ start
 * time) in `<dir>/testnet.json`. Optional latency emulation: a delaying TCP proxy in front of every relay's ORPort.
 *
 * Order (TOR-TESTNET.md): keys for every node in parallel → equal-weight bandwidth file → authorities and relays →
 * wait until the consensus lists EVERY node Running (a client started on a partial consensus stays broken for
 * minutes) → client (`FetchDirInfoEarly 1`) → bootstrap 100 % → (default) an onion round trip through the client.
 * Every wait polls a condition with a deadline; a node that exits ends the wait at once with the logs' tails.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect as connectTcp, createServer, type AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OnionscaleError } from '../errors.js';
import { findBinary } from '../supervisor/binaries.js';
import { isAlive, refOf } from '../supervisor/processes.js';
import { ControlConnection, torControl, type ControlReply } from './control.js';
import { startLatencyProxy, type LatencyProxy, type ProxyRoute } from './latency-proxy.js';
import { socksConnect } from './socks.js';
import {
  aliveNodes,
  readTestnetState,
  refOfNode,
  removeTestnetState,
  writeTestnetState,
  type NodeState,
  type TestnetState,
} from './state.js';
import { authorityLines, clientLines, commonLines, dirAuthorityLine, relayLines, runningNodes } from './torrc.js';

export interface TestnetOptions {
  /** The state directory (created); every node gets a sub-directory, the state goes to `testnet.json`. */
  dir: string;
  /** Relays besides the 3 authorities (default 2: the smallest network that was reliable here, see docs/testnet.md). */
  relays?: number;
  /** One-way delay per link and direction in ms (default 0: off). */
  latencyMs?: number;
  torBinary?: string;
  torGencertBinary?: string;
  /** How long each wait (consensus, bootstrap, onion) may take (default 90 s). */
  timeoutMs?: number;
  /**
   * Processes outlive this one (own process group, not waited for): the CLI's `testnet up` exits after start-up.
   * Latency proxies then run in a separate detached node process. Default false (tests: everything is a child).
   */
  detached?: boolean;
  /** Every node exits when this PID does (tor's `__OwningControllerProcess`); tests pass `process.pid`. */
  ownerPid?: number;
  /** What `startTestnet` waits for before it resolves (default `onion`). */
  waitFor?: 'onion' | 'bootstrap';
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface Testnet {
  readonly state: TestnetState;
  readonly dir: string;
  /** One entry per authority: the text after `DirAuthority`, ready for `tor.network.dirAuthorities`. */
  readonly dirAuthorityLines: string[];
  /** The client's SocksPort on 127.0.0.1 (IsolateSOCKSAuth: a new username gets a new circuit). */
  readonly socksPort: number;
  /** The client's ControlPort on 127.0.0.1, cookie authentication (`controlCookieFile`). */
  readonly controlPort: number;
  readonly controlCookieFile: string;
  readonly nodes: NodeState[];
  readonly timings: TestnetState['timings'];
  /** Control-port commands on the client; rejects on any non-2xx reply. */
  control(commands: string[], timeoutMs?: number): Promise<ControlReply[]>;
  /** The last lines of every node's log: attach to a failure message. */
  logTail(lines?: number): string;
  /** SIGTERM every process by PID, wait, SIGKILL after 10 s, remove the state file. Idempotent. */
  stop(): Promise<void>;
}

const AUTHORITIES = 3;
const DEFAULT_RELAYS = 2;
/** Names of what `start` creates in the directory: a restart removes exactly these, nothing else. */
const OWNED_ENTRY = /^(auth\d+|relay\d+|client|empty-torrc|bandwidth|latency-proxy\.json|latency-proxy\.log)$/;

function run(file: string, args: string[], stdin: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(t);
      reject(err);
    });
    child.on('exit', (code, sig) => {
      clearTimeout(t);
      if (code === 0) resolvePromise(out);
      else reject(new OnionscaleError('OSC_ERR_TESTNET_START', `${file} ${args.join(' ')} failed (${code ?? sig}):\n${out}`));
    });
    child.stdin.end(stdin);
  });
}

/** Relay identity: tor creates the keys in `dataDir` and writes `fingerprint` ("Nick HEX"). */
async function relayFingerprint(tor: string, dataDir: string, empty: string): Promise<string> {
  // `-f /dev/null` is refused, hence an empty file; `--ORPort 1` makes tor act as a relay and create the keys.
  await run(tor, ['--list-fingerprint', '--DataDirectory', dataDir, '--ORPort', '1', '-f', empty, '--defaults-torrc', empty], '');
  const fp = readFileSync(join(dataDir, 'fingerprint'), 'utf8').trim().split(/\s+/).pop() ?? '';
  if (!/^[0-9A-F]{40}$/.test(fp)) throw new OnionscaleError('OSC_ERR_TESTNET_START', `no relay fingerprint in ${dataDir}: ${JSON.stringify(fp)}`);
  return fp;
}

/** Authority v3 identity: tor-gencert with an empty passphrase; v3ident is the certificate's fingerprint line. */
async function authorityIdent(gencert: string, dataDir: string, dirPort: number): Promise<string> {
  const keys = join(dataDir, 'keys');
  mkdirSync(keys, { recursive: true, mode: 0o700 });
  await run(
    gencert,
    [
      '--create-identity-key', '--passphrase-fd', '0',
      '-i', join(keys, 'authority_identity_key'),
      '-s', join(keys, 'authority_signing_key'),
      '-c', join(keys, 'authority_certificate'),
      '-m', '12',
      '-a', `127.0.0.1:${dirPort}`,
    ],
    '\n',
  );
  const cert = readFileSync(join(keys, 'authority_certificate'), 'utf8');
  const fp = /^fingerprint ([0-9A-F]{40})$/m.exec(cert)?.[1];
  if (!fp) throw new OnionscaleError('OSC_ERR_TESTNET_START', `no fingerprint line in ${join(keys, 'authority_certificate')}`);
  return fp;
}

function httpGet(port: number, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** A loopback port that was free a moment ago, never one handed out before by this `ports`. */
function portAllocator(): () => Promise<number> {
  const taken = new Set<number>();
  return async () => {
    for (;;) {
      const p = await new Promise<number>((resolvePromise, reject) => {
        const srv = createServer();
        srv.unref();
        srv.once('error', reject);
        srv.listen(0, '127.0.0.1', () => {
          const port = (srv.address() as AddressInfo).port;
          srv.close(() => resolvePromise(port));
        });
      });
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, details: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A probe throws only when waiting is pointless (a node died); "not yet" is undefined.
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new OnionscaleError('OSC_ERR_TESTNET_START', `testnet: ${what} not reached in ${timeoutMs} ms\n${details()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function logTailOf(nodes: readonly NodeState[], n = 15): string {
  return nodes
    .map((node) => {
      const text = existsSync(node.log) ? readFileSync(node.log, 'utf8') : '(no log)';
      return `--- ${node.name} (${node.role}, pid ${node.pid})\n${text.trimEnd().split('\n').slice(-n).join('\n')}`;
    })
    .join('\n');
}

/** SIGTERM each recorded process that is still the one we started; wait; SIGKILL what is left after `graceMs`. */
export async function stopNodes(nodes: readonly NodeState[], graceMs = 10_000): Promise<void> {
  const alive = () => nodes.filter((n) => isAlive(refOfNode(n)));
  const send = (sig: NodeJS.Signals) => {
    for (const n of alive()) {
      try {
        process.kill(n.pid, sig);
      } catch {
        // exited in between
      }
    }
  };
  send('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  if (alive().length === 0) return;
  send('SIGKILL');
  const hard = Date.now() + 5_000;
  while (alive().length > 0 && Date.now() < hard) await new Promise((r) => setTimeout(r, 100));
}

/** The proxy script next to this module: `.js` when built, `.ts` under tsx (tests). */
function proxyScript(): { file: string; execArgv: string[] } {
  const here = dirname(fileURLToPath(import.meta.url));
  const js = join(here, 'proxy-main.js');
  if (existsSync(js)) return { file: js, execArgv: [] };
  return { file: join(here, 'proxy-main.ts'), execArgv: ['--import', 'tsx'] };
}

/**
 * Reachability through the client: publish a throw-away onion on the client tor (`ADD_ONION`, key discarded), wait
 * for its descriptor upload, then open a SOCKS stream to it and read a greeting. Proves intro, HSDir and
 * rendezvous circuits all work — what a joining onion service needs. Returns ms spent.
 */
export async function probeOnion(o: { socksPort: number; controlPort: number; cookieFile: string; timeoutMs: number }): Promise<{ ms: number; attempts: number }> {
  const started = Date.now();
  const greeting = 'onionscale-testnet-probe\n';
  const server = createServer((s) => s.end(greeting));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const target = (server.address() as AddressInfo).port;
  const uploaded = new Set<string>();
  const conn = await ControlConnection.open({ port: o.controlPort }, o.cookieFile, {
    onEvent: (line) => {
      const m = /^650 HS_DESC UPLOADED ([a-z2-7]{56}) /.exec(line);
      if (m) uploaded.add(m[1]!);
    },
  });
  let address = '';
  try {
    await conn.command('SETEVENTS HS_DESC');
    const r = await conn.command(`ADD_ONION NEW:ED25519-V3 Flags=DiscardPK Port=80,127.0.0.1:${target}`);
    address = r.lines.find((l) => l.startsWith('ServiceID='))?.slice('ServiceID='.length) ?? '';
    if (!/^[a-z2-7]{56}$/.test(address)) throw new OnionscaleError('OSC_ERR_TESTNET_START', `ADD_ONION gave no ServiceID: ${r.lines.join(' | ')}`);
    const deadline = started + o.timeoutMs;
    await until('the probe onion\'s descriptor upload', o.timeoutMs, () => Promise.resolve(uploaded.has(address) ? true : undefined), () => '');
    const errors: string[] = [];
    for (let attempt = 1; ; attempt++) {
      try {
        const s = await socksConnect({ proxyPort: o.socksPort, host: `${address}.onion`, port: 80, user: `probe-${attempt}`, timeoutMs: Math.max(1_000, Math.min(30_000, deadline - Date.now())) });
        const got = await new Promise<string>((resolvePromise, reject) => {
          let text = '';
          s.setEncoding('latin1');
          s.setTimeout(10_000, () => s.destroy(new Error('no greeting in 10 s')));
          s.on('data', (c: string) => (text += c));
          s.on('error', reject);
          s.on('close', () => resolvePromise(text));
        });
        if (got === greeting) return { ms: Date.now() - started, attempts: attempt };
        errors.push(`attempt ${attempt}: got ${JSON.stringify(got.slice(0, 80))}`);
      } catch (err) {
        errors.push(`attempt ${attempt}: ${(err as Error).message}`);
      }
      if (Date.now() > deadline) {
        throw new OnionscaleError('OSC_ERR_TESTNET_START', `testnet: the probe onion was not reachable in ${o.timeoutMs} ms:\n${errors.join('\n')}`);
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  } finally {
    if (address) await conn.command(`DEL_ONION ${address}`).catch(() => {});
    conn.close();
    server.close();
  }
}

function checkOptions(o: TestnetOptions): { relays: number; latencyMs: number; timeoutMs: number } {
  const problems: string[] = [];
  const relays = o.relays ?? DEFAULT_RELAYS;
  if (!Number.isInteger(relays) || relays < 0 || relays > 20) problems.push(`relays: an integer from 0 to 20 (got ${String(relays)})`);
  const latencyMs = o.latencyMs ?? 0;
  if (!Number.isInteger(latencyMs) || latencyMs < 0 || latencyMs > 5_000) problems.push(`latency: 0 to 5000 ms one way (got ${String(latencyMs)})`);
  const timeoutMs = o.timeoutMs ?? 90_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1_000) problems.push('timeoutMs: an integer >= 1000');
  if (o.ownerPid !== undefined && !(Number.isInteger(o.ownerPid) && o.ownerPid > 0)) problems.push('ownerPid: a positive integer');
  if (problems.length > 0) throw new OnionscaleError('OSC_ERR_TESTNET_OPTIONS', `testnet: ${problems.join('; ')}`, { details: { problems } });
  return { relays, latencyMs, timeoutMs };
}

export async function startTestnet(options: TestnetOptions): Promise<Testnet> {
  const { relays: relayCount, latencyMs, timeoutMs } = checkOptions(options);
  const dir = resolve(options.dir);
  const print = options.log ?? (() => {});
  const tor = findBinary(options.torBinary ?? 'tor', 'tor');
  const gencert = findBinary(options.torGencertBinary ?? 'tor-gencert', 'tor-gencert');

  const previous = readTestnetState(dir);
  if (previous) {
    const alive = aliveNodes(previous);
    if (alive.length > 0) {
      throw new OnionscaleError('OSC_ERR_TESTNET_RUNNING', `a testnet is already running in ${dir} (${alive.length} process(es), e.g. ${alive[0]!.name} pid ${alive[0]!.pid})`, {
        details: { dir },
      });
    }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A fresh network every time: old keys and cached consensuses of a previous run would only confuse the nodes.
  for (const name of readdirSync(dir)) if (OWNED_ENTRY.test(name)) rmSync(join(dir, name), { recursive: true, force: true });
  removeTestnetState(dir);
  const empty = join(dir, 'empty-torrc');
  writeFileSync(empty, '');

  const nodes: NodeState[] = [];
  let state: TestnetState | undefined;
  let proxy: LatencyProxy | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await stopNodes(nodes);
      await proxy?.close();
      removeTestnetState(dir);
    })());
  const logTail = (n?: number) => logTailOf(nodes, n);
  const checkAlive = () => {
    for (const node of nodes) {
      if (!isAlive(refOfNode(node))) throw new OnionscaleError('OSC_ERR_TESTNET_START', `testnet: ${node.name} (pid ${node.pid}) exited\n${logTail()}`);
    }
  };

  const launch = (node: Omit<NodeState, 'pid' | 'startTime' | 'log'>, file: string, args: string[], execArgv: string[] = [], log?: string) => {
    // tor writes its own notice log; anything else (the proxy process) gets its stdout/stderr in `log`.
    const fd = log ? openSync(log, 'a', 0o600) : undefined;
    const child = spawn(file, [...execArgv, ...args], { stdio: fd === undefined ? 'ignore' : ['ignore', fd, fd], detached: options.detached === true });
    if (fd !== undefined) closeSync(fd);
    child.on('error', () => {}); // a missing binary shows up as a node that is not alive
    if (options.detached) child.unref();
    const ref = refOf(child.pid);
    if (!ref) throw new OnionscaleError('OSC_ERR_TESTNET_START', `testnet: could not start ${node.name} (${file})`);
    const full: NodeState = { ...node, pid: ref.pid, startTime: ref.startTime, log: log ?? join(node.dataDir ?? dir, 'notice.log') };
    nodes.push(full);
    if (state) writeTestnetState(dir, state);
    return full;
  };

  const started = Date.now();
  const port = portAllocator();
  try {
    const relays: { name: string; role: 'authority' | 'relay'; dataDir: string; orPort: number; advertised: number; dirPort: number }[] = [];
    for (let i = 0; i < AUTHORITIES + relayCount; i++) {
      const role = i < AUTHORITIES ? 'authority' : 'relay';
      const name = role === 'authority' ? `auth${i}` : `relay${i - AUTHORITIES}`;
      const dataDir = join(dir, name);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      const orPort = await port();
      relays.push({ name, role, dataDir, orPort, advertised: latencyMs > 0 ? await port() : orPort, dirPort: role === 'authority' ? await port() : 0 });
    }
    const socksPort = await port();
    const controlPort = await port();

    print(`keys for ${relays.length} nodes …`);
    // Keys for every node in parallel (2–5 s instead of 5–9 s sequentially).
    const [fingerprints, idents] = await Promise.all([
      Promise.all(relays.map((r) => relayFingerprint(tor, r.dataDir, empty))),
      Promise.all(relays.map((r) => (r.role === 'authority' ? authorityIdent(gencert, r.dataDir, r.dirPort) : Promise.resolve('')))),
    ]);
    const keysMs = Date.now() - started;

    const dirAuthorityLines = relays.flatMap((r, i) =>
      r.role === 'authority' ? [dirAuthorityLine({ name: r.name, orPort: r.advertised, dirPort: r.dirPort, v3ident: idents[i]!, fingerprint: fingerprints[i]! })] : [],
    );
    const bandwidthFile = join(dir, 'bandwidth');
    writeFileSync(bandwidthFile, `${Math.floor(Date.now() / 1000)}\n${fingerprints.map((fp) => `node_id=$${fp} bw=1000`).join('\n')}\n`);

    const controlCookieFile = join(dir, 'client', 'control_auth_cookie');
    // Written from the first launch on and after every one: a `testnet down` from another shell (or after a
    // Ctrl-C of `up`, which leaves the detached nodes running) finds every process while `up` is still waiting.
    state = {
      version: 1,
      dir,
      createdAt: new Date().toISOString(),
      phase: 'starting',
      latencyMs,
      dirAuthorityLines,
      socksPort,
      controlPort,
      controlCookieFile,
      ...(options.ownerPid ? { ownerPid: options.ownerPid } : {}),
      nodes,
      timings: { keys: keysMs, consensus: 0, client: 0 },
      readiness: options.waitFor ?? 'onion',
    };

    if (latencyMs > 0) {
      const routes: ProxyRoute[] = relays.map((r) => ({ listen: r.advertised, target: r.orPort }));
      if (options.detached) {
        const spec = join(dir, 'latency-proxy.json');
        writeFileSync(spec, JSON.stringify({ routes, delayMs: latencyMs, ...(options.ownerPid ? { ownerPid: options.ownerPid } : {}) }));
        const script = proxyScript();
        launch({ name: 'latency-proxy', role: 'proxy' }, process.execPath, [script.file, spec], script.execArgv, join(dir, 'latency-proxy.log'));
        // Wait until every proxy port accepts: tor's first connections must not be refused.
        await until('the latency proxy listening', 15_000, async () => {
          checkAlive();
          const ok = await Promise.all(routes.map((r) => canConnect(r.listen)));
          return ok.every(Boolean) ? true : undefined;
        }, () => logTail());
      } else {
        proxy = await startLatencyProxy({ routes, delayMs: latencyMs });
      }
      print(`latency proxies: ${routes.length}, ${latencyMs} ms each way per link`);
    }

    const launchedAt = Date.now();
    for (const r of relays) {
      const torrc = [
        ...commonLines({ name: r.name, dataDir: r.dataDir, dirAuthorityLines, ownerPid: options.ownerPid }),
        ...relayLines(r.orPort, r.advertised),
        ...(r.role === 'authority' ? authorityLines(r.dirPort, bandwidthFile) : []),
      ];
      const file = join(r.dataDir, 'torrc');
      writeFileSync(file, torrc.join('\n') + '\n');
      launch(
        { name: r.name, role: r.role, dataDir: r.dataDir, orPort: r.orPort, advertisedOrPort: r.advertised, ...(r.dirPort ? { dirPort: r.dirPort } : {}) },
        tor,
        ['-f', file, '--defaults-torrc', empty],
      );
    }
    print(`started ${relays.length} relays (${AUTHORITIES} authorities); waiting for a consensus listing every one Running …`);

    const names = relays.map((r) => r.name);
    const firstAuthority = relays[0]!;
    await until(
      'a consensus listing every node as Running',
      timeoutMs,
      async () => {
        checkAlive();
        // Before the first vote the authority answers 404 or not at all: both mean "not yet".
        const res = await httpGet(firstAuthority.dirPort, '/tor/status-vote/current/consensus-microdesc', 5_000).catch(() => undefined);
        if (res?.status !== 200) return undefined;
        const running = runningNodes(res.body);
        return names.every((n) => running.has(n)) ? true : undefined;
      },
      () => logTail(),
    );
    const consensusMs = Date.now() - launchedAt;

    const clientDir = join(dir, 'client');
    mkdirSync(clientDir, { recursive: true, mode: 0o700 });
    const clientTorrc = join(clientDir, 'torrc');
    writeFileSync(clientTorrc, [...commonLines({ name: 'client', dataDir: clientDir, dirAuthorityLines, ownerPid: options.ownerPid }), ...clientLines(socksPort, controlPort)].join('\n') + '\n');
    launch({ name: 'client', role: 'client', dataDir: clientDir }, tor, ['-f', clientTorrc, '--defaults-torrc', empty]);
    print(`consensus after ${consensusMs} ms; client started, bootstrapping …`);
    const clientLog = join(clientDir, 'notice.log');
    await until(
      'client bootstrapped 100%',
      timeoutMs,
      () => {
        checkAlive();
        const text = existsSync(clientLog) ? readFileSync(clientLog, 'utf8') : '';
        return Promise.resolve(text.includes('Bootstrapped 100%') ? true : undefined);
      },
      () => logTail(),
    );
    const clientMs = Date.now() - launchedAt;
    state.timings.consensus = consensusMs;
    state.timings.client = clientMs;
    writeTestnetState(dir, state);
    if (state.readiness === 'onion') {
      print(`client bootstrapped after ${clientMs} ms; probing an onion round trip …`);
      await probeOnion({ socksPort, controlPort, cookieFile: controlCookieFile, timeoutMs });
      checkAlive();
      state.timings.reachable = Date.now() - launchedAt;
    }
    state.phase = 'ready';
    writeTestnetState(dir, state);
    const ready = state;

    return {
      state: ready,
      dir,
      dirAuthorityLines,
      socksPort,
      controlPort,
      controlCookieFile,
      nodes,
      timings: state.timings,
      control: (commands, ms) => torControl({ port: controlPort }, controlCookieFile, commands, ms),
      logTail,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const s = connectTcp(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolvePromise(true);
    });
    s.once('error', () => resolvePromise(false));
  });
}

/** Stop the testnet recorded in `dir` (by PID + start time only). `false` when nothing was running. */
export async function stopTestnet(dir: string): Promise<{ stopped: number; wasRunning: boolean }> {
  const state = readTestnetState(resolve(dir));
  if (!state) return { stopped: 0, wasRunning: false };
  const alive = aliveNodes(state);
  await stopNodes(alive);
  removeTestnetState(resolve(dir));
  return { stopped: alive.length, wasRunning: alive.length > 0 };
}

export interface NodeStatus extends NodeState {
  alive: boolean;
}

/** What `testnet status` prints: every node with its PID, liveness and ports. `undefined`: no state. */
export function testnetStatus(dir: string): (Omit<TestnetState, 'nodes'> & { nodes: NodeStatus[]; running: boolean }) | undefined {
  const state = readTestnetState(resolve(dir));
  if (!state) return undefined;
  const nodes = state.nodes.map((n) => ({ ...n, alive: isAlive(refOfNode(n)) }));
  return { ...state, nodes, running: nodes.length > 0 && nodes.every((n) => n.alive) };
}
