/**
 * A private Tor network on 127.0.0.1 for end-to-end tests: 3 directory authorities (each also a relay), N more
 * relays and one client tor with a SocksPort, each with its own DataDirectory under `dir`. Nothing here can reach
 * the public network: every torrc has `TestingTorNetwork 1` and only the private DirAuthority lines.
 *
 * Settings, order and traps come from /work/shared/TOR-TESTNET.md (measured with Debian's tor 0.4.9.11). The short
 * version: equal bandwidth weights, wait until the consensus lists EVERY node Running before any client starts,
 * clients start late with `FetchDirInfoEarly 1`; never a fixed sleep, always a polled condition.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './ports.js';

export interface TestnetOptions {
  /** An empty (or new) directory; every node gets a sub-directory. */
  dir: string;
  /** Relays besides the 3 authorities (default 2: the smallest network that was reliable here, see docs/testnet.md). */
  relays?: number;
  /** tor binary (default: `tor` on PATH). */
  torBinary?: string;
  /** How long to wait for the consensus and the client's bootstrap, each (default 90 s). */
  timeoutMs?: number;
}

export interface TestnetNode {
  name: string;
  role: 'authority' | 'relay' | 'client';
  pid: number;
  dataDir: string;
  /** tor's notice log, for failure messages. */
  log: string;
}

export interface Testnet {
  /** One entry per authority: the text after `DirAuthority`, ready for `tor.network.dirAuthorities`. */
  dirAuthorityLines: string[];
  /** The client's SocksPort on 127.0.0.1 (IsolateSOCKSAuth is on: a new username gets a new circuit). */
  socksPort: number;
  /** The client's ControlPort on 127.0.0.1, cookie authentication (`controlCookieFile`). */
  controlPort: number;
  controlCookieFile: string;
  /**
   * Run control-port commands on the client (cookie auth, then each command, then QUIT) and return tor's replies.
   * Rejects on any reply that is not 250. E.g. `control(['SIGNAL NEWNYM'])` forgets the client's onion state.
   */
  control: (commands: string[], timeoutMs?: number) => Promise<string>;
  nodes: TestnetNode[];
  /** Milliseconds from launching the tor processes: first full consensus, client bootstrapped. */
  timings: { keys: number; consensus: number; client: number };
  /** The last lines of every node's log: attach to a failure message. */
  logTail: (lines?: number) => string;
  /** SIGTERM every tor by PID and wait for it to exit (SIGKILL after 10 s). Idempotent. */
  stop: () => Promise<void>;
}

const AUTHORITIES = 3;

/** Lines every node shares. `ShutdownWaitLength 0`: relays exit at once on SIGTERM instead of draining 30 s. */
function commonLines(name: string, dataDir: string, dirAuthorityLines: string[]): string[] {
  return [
    'TestingTorNetwork 1',
    `DataDirectory ${dataDir}`,
    `Nickname ${name}`,
    'RunAsDaemon 0',
    `Log notice file ${join(dataDir, 'notice.log')}`,
    'ShutdownWaitLength 0',
    'PathsNeededToBuildCircuits 0.67',
    // Dies with the test process, even when the test runner is killed before `stop()` runs.
    `__OwningControllerProcess ${process.pid}`,
    ...dirAuthorityLines.map((l) => `DirAuthority ${l}`),
  ];
}

function relayLines(orPort: number): string[] {
  return [
    'SocksPort 0',
    `ORPort 127.0.0.1:${orPort}`,
    'Address 127.0.0.1',
    'AssumeReachable 1',
    'ExitRelay 0',
    'ExitPolicy reject *:*',
  ];
}

function authorityLines(dirPort: number, bandwidthFile: string): string[] {
  return [
    `DirPort 127.0.0.1:${dirPort}`,
    'AuthoritativeDirectory 1',
    'V3AuthoritativeDirectory 1',
    // Every relay may be a guard and an HSDir: in a 5-node network tor would otherwise have too few.
    'TestingDirAuthVoteGuard *',
    'TestingDirAuthVoteHSDir *',
    'TestingV3AuthInitialVotingInterval 5',
    'TestingV3AuthInitialVoteDelay 2',
    'TestingV3AuthInitialDistDelay 2',
    'V3AuthVotingInterval 10',
    'V3AuthVoteDelay 2',
    'V3AuthDistDelay 2',
    'V3AuthNIntervalsValid 2',
    'AuthDirVoteStableGuaranteeMinUptime 0',
    'AuthDirVoteStableGuaranteeMTBF 0',
    // Equal weights: without them early onion circuits pick the same authority as guard and last hop and fail.
    `V3BandwidthsFile ${bandwidthFile}`,
  ];
}

function run(file: string, args: string[], stdin: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
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
      if (code === 0) resolve(out);
      else reject(new Error(`${file} ${args.join(' ')} failed (${code ?? sig}):\n${out}`));
    });
    child.stdin.end(stdin);
  });
}

/** Relay identity: tor creates the keys in `dataDir` and writes `fingerprint` ("Nick HEX"). */
async function relayFingerprint(tor: string, dataDir: string, empty: string): Promise<string> {
  // `-f /dev/null` is refused, hence an empty file; `--ORPort 1` makes tor act as a relay and create the keys.
  await run(tor, ['--list-fingerprint', '--DataDirectory', dataDir, '--ORPort', '1', '-f', empty, '--defaults-torrc', empty], '');
  const fp = readFileSync(join(dataDir, 'fingerprint'), 'utf8').trim().split(/\s+/).pop() ?? '';
  if (!/^[0-9A-F]{40}$/.test(fp)) throw new Error(`no relay fingerprint in ${dataDir}: ${JSON.stringify(fp)}`);
  return fp;
}

/** Authority v3 identity: tor-gencert with an empty passphrase; v3ident is the certificate's fingerprint line. */
async function authorityIdent(dataDir: string, dirPort: number): Promise<string> {
  const keys = join(dataDir, 'keys');
  mkdirSync(keys, { recursive: true, mode: 0o700 });
  await run(
    'tor-gencert',
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
  if (!fp) throw new Error(`no fingerprint line in ${join(keys, 'authority_certificate')}`);
  return fp;
}

function httpGet(port: number, path: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Nicknames the microdesc consensus lists with the Running flag. */
export function runningNodes(consensus: string): Set<string> {
  const running = new Set<string>();
  let current: string | undefined;
  for (const line of consensus.split('\n')) {
    if (line.startsWith('r ')) current = line.split(' ')[1];
    else if (line.startsWith('s ') && current && line.split(' ').includes('Running')) running.add(current);
  }
  return running;
}

/** One control connection: AUTHENTICATE with the cookie, the commands, QUIT; every reply must be 250. */
export function torControl(port: number, cookieFile: string, commands: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const cookie = readFileSync(cookieFile).toString('hex');
    const lines = [`AUTHENTICATE ${cookie}`, ...commands, 'QUIT'];
    const s = connect(port, '127.0.0.1');
    let buf = '';
    let replies = 0;
    let transcript = '';
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`control port: no reply in ${timeoutMs} ms: ${transcript}`)));
    s.on('connect', () => s.write(lines.map((l) => `${l}\r\n`).join('')));
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      // A reply ends with a line "NNN " (space, not '-' or '+'); count them to know when every command answered.
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        transcript += line + '\n';
        if (/^\d{3} /.test(line)) {
          if (!line.startsWith('250')) {
            s.destroy();
            reject(new Error(`control port: ${lines[replies]?.split(' ')[0] ?? '?'} failed: ${line}`));
            return;
          }
          replies++;
        }
      }
    });
    s.on('error', reject);
    s.on('close', () => (replies >= lines.length ? resolve(transcript) : reject(new Error(`control port closed early: ${transcript}`))));
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, details: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // A probe throws only when waiting is pointless (a node died); "not yet" is undefined.
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`testnet: ${what} not reached in ${timeoutMs} ms\n${details()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function startTestnet(options: TestnetOptions): Promise<Testnet> {
  const tor = options.torBinary ?? 'tor';
  const relayCount = options.relays ?? 2;
  if (!Number.isInteger(relayCount) || relayCount < 0) throw new Error(`testnet: relays must be an integer >= 0, got ${relayCount}`);
  const timeoutMs = options.timeoutMs ?? 90_000;
  const dir = options.dir;
  mkdirSync(dir, { recursive: true });
  const empty = join(dir, 'empty-torrc');
  writeFileSync(empty, '');

  const children: { node: TestnetNode; child: ChildProcess; exited: Promise<void> }[] = [];
  const nodes: TestnetNode[] = [];
  const logTail = (n = 15) =>
    nodes
      .map((node) => {
        const text = existsSync(node.log) ? readFileSync(node.log, 'utf8') : '(no log)';
        return `--- ${node.name} (${node.role}, pid ${node.pid})\n${text.trimEnd().split('\n').slice(-n).join('\n')}`;
      })
      .join('\n');
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await Promise.all(
        children.map(async ({ child, exited }) => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(t);
        }),
      );
    })());

  const checkAlive = () => {
    for (const { child, node } of children) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`testnet: ${node.name} exited (${child.exitCode ?? child.signalCode})\n${logTail()}`);
      }
    }
  };

  const launch = (node: Omit<TestnetNode, 'pid' | 'log'>, torrc: string[]) => {
    const file = join(node.dataDir, 'torrc');
    writeFileSync(file, torrc.join('\n') + '\n');
    const child = spawn(tor, ['-f', file, '--defaults-torrc', empty], { stdio: 'ignore' });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.on('error', () => {}); // a missing binary shows up as a failed wait with the log tail
    const full: TestnetNode = { ...node, pid: child.pid ?? -1, log: join(node.dataDir, 'notice.log') };
    nodes.push(full);
    children.push({ node: full, child, exited });
  };

  try {
    const started = Date.now();
    // Ports first, all distinct (freePort may hand back a port it just gave if nothing holds it).
    const taken = new Set<number>();
    const port = async () => {
      for (;;) {
        const p = await freePort();
        if (!taken.has(p)) {
          taken.add(p);
          return p;
        }
      }
    };
    const relays: { name: string; role: 'authority' | 'relay'; dataDir: string; orPort: number; dirPort: number }[] = [];
    for (let i = 0; i < AUTHORITIES + relayCount; i++) {
      const role = i < AUTHORITIES ? 'authority' : 'relay';
      const name = role === 'authority' ? `auth${i}` : `relay${i - AUTHORITIES}`;
      const dataDir = join(dir, name);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      relays.push({ name, role, dataDir, orPort: await port(), dirPort: role === 'authority' ? await port() : 0 });
    }
    const socksPort = await port();
    const controlPort = await port();

    // Keys for every node in parallel (2–5 s instead of 5–9 s sequentially).
    const [fingerprints, idents] = await Promise.all([
      Promise.all(relays.map((r) => relayFingerprint(tor, r.dataDir, empty))),
      Promise.all(relays.map((r) => (r.role === 'authority' ? authorityIdent(r.dataDir, r.dirPort) : Promise.resolve('')))),
    ]);
    const keysMs = Date.now() - started;

    const dirAuthorityLines = relays
      .map((r, i) => ({ r, i }))
      .filter(({ r }) => r.role === 'authority')
      .map(({ r, i }) => `${r.name} orport=${r.orPort} no-v2 v3ident=${idents[i]} 127.0.0.1:${r.dirPort} ${fingerprints[i]}`);

    const bandwidthFile = join(dir, 'bandwidth');
    writeFileSync(
      bandwidthFile,
      `${Math.floor(Date.now() / 1000)}\n${fingerprints.map((fp) => `node_id=$${fp} bw=1000`).join('\n')}\n`,
    );

    const launchedAt = Date.now();
    for (const r of relays) {
      launch({ name: r.name, role: r.role, dataDir: r.dataDir }, [
        ...commonLines(r.name, r.dataDir, dirAuthorityLines),
        ...relayLines(r.orPort),
        ...(r.role === 'authority' ? authorityLines(r.dirPort, bandwidthFile) : []),
      ]);
    }

    // A client started on a consensus that lacks relays stays broken for minutes: wait for all of them, Running.
    const names = relays.map((r) => r.name);
    const firstAuthority = relays[0]!;
    await until(
      'a consensus listing every node as Running',
      timeoutMs,
      async () => {
        checkAlive();
        // Before the first vote the authority answers 404 or not at all: both mean "not yet".
        const res = await httpGet(firstAuthority.dirPort, '/tor/status-vote/current/consensus-microdesc', 5_000).catch(
          () => undefined,
        );
        if (res?.status !== 200) return undefined;
        const running = runningNodes(res.body);
        return names.every((n) => running.has(n)) ? true : undefined;
      },
      () => logTail(),
    );
    const consensusMs = Date.now() - launchedAt;

    const clientDir = join(dir, 'client');
    mkdirSync(clientDir, { recursive: true, mode: 0o700 });
    launch({ name: 'client', role: 'client', dataDir: clientDir }, [
      ...commonLines('client', clientDir, dirAuthorityLines),
      `SocksPort 127.0.0.1:${socksPort}`,
      `ControlPort 127.0.0.1:${controlPort}`,
      'CookieAuthentication 1',
      'FetchDirInfoEarly 1',
    ]);
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

    return {
      dirAuthorityLines,
      socksPort,
      controlPort,
      controlCookieFile: join(clientDir, 'control_auth_cookie'),
      control: (commands, ms) => torControl(controlPort, join(clientDir, 'control_auth_cookie'), commands, ms),
      nodes,
      timings: { keys: keysMs, consensus: consensusMs, client: clientMs },
      logTail,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
