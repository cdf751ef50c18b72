/**
 * Helpers for end-to-end tests of the real stack: run the built CLI, talk to haproxy the way tor does (a PROXY line
 * first), and read the kernel's table of listening sockets.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, type Socket } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, freePortRange } from './ports.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(ROOT, 'dist/cli/main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`onionscale ${args.join(' ')} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

export interface UpProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the output once `text` appears; rejects if the process exits first or time runs out. */
  waitFor: (text: string | RegExp, timeoutMs: number) => Promise<string>;
  exited: Promise<number | null>;
}

export function startUp(args: string[]): UpProcess {
  const child = spawn(process.execPath, [CLI, 'up', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (c: Buffer) => {
    out += c.toString();
    for (const l of listeners) l();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => {
    for (const l of listeners) l();
    r(code);
  }));
  const waitFor = (text: string | RegExp, timeoutMs: number) =>
    new Promise<string>((resolvePromise, reject) => {
      const check = () => {
        if (typeof text === 'string' ? out.includes(text) : text.test(out)) {
          done();
          resolvePromise(out);
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done();
          reject(new Error(`up exited (${child.exitCode ?? child.signalCode}) before printing ${String(text)}:\n${out}`));
        }
      };
      const t = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${String(text)}:\n${out}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  return { child, output: () => out, waitFor, exited };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  raw: string;
}

/** Send raw bytes to a unix socket or TCP port and read until the server closes. */
export function rawExchange(target: { path: string } | { port: number }, payload: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const s = 'path' in target ? connect(target.path) : connect(target.port, '127.0.0.1');
    let data = '';
    s.setTimeout(timeoutMs, () => {
      s.destroy();
      reject(new Error(`no answer in ${timeoutMs} ms; got so far: ${JSON.stringify(data)}`));
    });
    s.on('connect', () => s.write(payload));
    s.on('data', (c: Buffer) => (data += c.toString('latin1')));
    s.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolvePromise(data) : reject(err)));
    s.on('close', () => resolvePromise(data));
  });
}

/** One `Connection: close` HTTP/1.1 request on an open stream (e.g. a SOCKS stream through Tor), read to the close. */
export function requestOverSocket(socket: Socket, host: string, method: string, path: string, timeoutMs: number): Promise<RawResponse> {
  return new Promise((resolvePromise, reject) => {
    let raw = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no HTTP answer in ${timeoutMs} ms: ${JSON.stringify(raw)}`)));
    socket.on('data', (c: Buffer) => (raw += c.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolvePromise(parseResponse(raw)));
    socket.write(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
}

/**
 * One response with a Content-Length read from a kept-alive stream (the request already written): when its first
 * byte arrived, when its last did, its size and its head. Stops listening once the response is complete.
 */
export function readKeptAliveResponse(socket: Socket): Promise<{ first: number; last: number; bytes: number; head: string }> {
  return new Promise((resolvePromise, reject) => {
    let buf = Buffer.alloc(0);
    let first = 0;
    const done = (err?: Error, result?: { first: number; last: number; bytes: number; head: string }) => {
      socket.off('data', onData);
      socket.off('error', done);
      if (err) reject(err);
      else resolvePromise(result!);
    };
    const onData = (c: Buffer) => {
      if (!first) first = performance.now();
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN);
      if (!Number.isFinite(len)) return done(new Error(`no content-length: ${head.slice(0, 200)}`));
      if (buf.length >= end + 4 + len) done(undefined, { first, last: performance.now(), bytes: buf.length, head });
    };
    socket.on('data', onData);
    socket.once('error', done);
  });
}

export function parseResponse(raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const head = end >= 0 ? raw.slice(0, end) : raw;
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = end >= 0 ? raw.slice(end + 4) : '';
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body);
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body, raw };
}

function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const nl = rest.indexOf('\r\n');
    if (nl < 0) return out;
    const size = parseInt(rest.slice(0, nl), 16);
    if (!size) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}

/** A request exactly as tor sends it with HiddenServiceExportCircuitID haproxy: PROXY line, then HTTP. */
export function torRequest(circuitId: number, path: string, extraHeaders: Record<string, string> = {}): string {
  const src = `fc00:dead:beef:4dad::${(circuitId >>> 16).toString(16)}:${(circuitId & 0xffff).toString(16)}`;
  const headers = Object.entries({ Host: 'example.onion', Connection: 'close', ...extraHeaders })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `PROXY TCP6 ${src} ::1 ${circuitId & 0xffff} 80\r\nGET ${path} HTTP/1.1\r\n${headers}\r\n`;
}

export interface Listener {
  address: string;
  port: number;
}

/** Every listening TCP socket on this machine (from /proc/net/tcp and tcp6). */
export function tcpListeners(): Listener[] {
  const out: Listener[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '0A') continue; // LISTEN
      const [addrHex = '', portHex = '0'] = (f[1] ?? '').split(':');
      out.push({ address: decodeAddress(addrHex), port: parseInt(portHex, 16) });
    }
  }
  return out;
}

function decodeAddress(hex: string): string {
  if (hex.length === 8) return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  if (hex === '00000000000000000000000001000000') return '::1';
  if (hex === '00000000000000000000000000000000') return '::';
  if (hex.startsWith('0000000000000000FFFF0000')) return '::ffff:' + decodeAddress(hex.slice(24));
  return hex;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export { isRunning as isPidAlive } from '../../src/supervisor/processes.js';

export interface StackDirOptions {
  /** Temp dir name prefix; keep it short: unix socket paths are limited to 107 bytes. */
  prefix?: string;
  /** The app: the built-in sample (default) or the static folder `public/` (which always exists). */
  app?: 'sample' | 'static';
  /** Redis on a free loopback port (default) or a unix socket in the run directory. */
  redis?: 'tcp' | 'unix';
  /** Extra YAML lines for the `balancer:` section (two-space indented). */
  balancer?: string[];
  /** `dos:` settings of the onion service, as YAML flow text. */
  dos?: string;
  /** A private Tor network's DirAuthority lines; default: one "authority" on a closed loopback port. */
  dirAuthorities?: string[];
  bootstrapWait?: string;
}

export interface StackDir {
  dir: string;
  config: string;
  basePort: number;
  redisPort: number;
}

/**
 * A temp dir with an onionscale.yaml for a 2-instance stack on free loopback ports. Tor never touches the public
 * network: its only directory authorities are the given private ones, or a closed loopback port (never bootstraps).
 */
export async function makeStackDir(o: StackDirOptions = {}): Promise<StackDir> {
  const dir = mkdtempSync(join(tmpdir(), o.prefix ?? 'osc-'));
  mkdirSync(join(dir, 'public'));
  writeFileSync(join(dir, 'public', 'index.html'), '<h1>static onion</h1>');
  const basePort = await freePortRange(2);
  const redisPort = await freePort();
  const dead = await freePort();
  const authorities = o.dirAuthorities ?? [`nowhere orport=${dead} no-v2 v3ident=${'A'.repeat(40)} 127.0.0.1:${dead} ${'B'.repeat(40)}`];
  const config = join(dir, 'onionscale.yaml');
  writeFileSync(
    config,
    [
      'stateDir: state',
      'onion:',
      '  services:',
      '    - name: main',
      '      ports: [80]',
      ...(o.dos ? [`      dos: ${o.dos}`] : []),
      'apps:',
      '  - name: web',
      o.app === 'static' ? '    static: ./public' : '    builtin: sample',
      '    instances: 2',
      `    basePort: ${basePort}`,
      '    readyTimeout: 20s',
      'balancer:',
      '  healthInterval: 300ms',
      ...(o.balancer ?? []).map((l) => `  ${l}`),
      'redis:',
      `  listen: ${o.redis === 'unix' ? 'unix' : `"127.0.0.1:${redisPort}"`}`,
      '  maxmemory: 32mb',
      'tor:',
      '  network:',
      '    dirAuthorities:',
      ...authorities.map((a) => `      - "${a}"`),
      `  bootstrapWait: ${o.bootstrapWait ?? '1s'}`,
      '',
    ].join('\n'),
  );
  return { dir, config, basePort, redisPort };
}

/** `onionscale up -c config`, resolved once it printed its status table (the "tor network:" line). */
export async function upUntilReported(config: string, timeoutMs = 90_000): Promise<UpProcess> {
  const up = startUp(['-c', config]);
  await up.waitFor('tor network:', timeoutMs);
  return up;
}

/** Whatever happened, leave nothing behind: `down`, SIGKILL the `up` process if it still runs, remove the directory. */
export async function tearDownStack(up: UpProcess | undefined, config: string, dir: string): Promise<void> {
  if (up && up.child.exitCode === null) {
    await runCli(['down', '-c', config]).catch(() => {});
    up.child.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
}
