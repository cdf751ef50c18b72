/**
 * A small client for tor's control port (control-spec.txt): cookie authentication, one command at a time, async
 * events (`650 …`) to a callback. Used by the testnet (probe onion, NEWNYM) and by tests that close circuits on an
 * onion service's tor (`CLOSECIRCUIT <id>`). TCP (`{ port }`) or a unix socket (`{ path }`).
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { OnionscaleError } from '../errors.js';

export type ControlTarget = { port: number; host?: string } | { path: string };

export interface ControlReply {
  /** The status code of the final line (250 = OK). */
  status: number;
  /** Every line of the reply without the `NNN-`/`NNN ` prefix; data blocks (`NNN+`) inline. */
  lines: string[];
}

interface Pending {
  command: string;
  resolve: (r: ControlReply) => void;
  reject: (e: Error) => void;
}

export class ControlConnection {
  readonly #socket: Socket;
  readonly #queue: Pending[] = [];
  readonly #onEvent: ((line: string) => void) | undefined;
  #buf = '';
  #lines: string[] = [];
  #inData = false;
  #closed: Error | undefined;

  private constructor(socket: Socket, onEvent?: (line: string) => void) {
    this.#socket = socket;
    this.#onEvent = onEvent;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#onData(chunk));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('control connection closed')));
  }

  /** Connect and authenticate with the cookie file. Rejects with OSC_ERR_TESTNET_CONTROL. */
  static async open(target: ControlTarget, cookieFile: string, options: { onEvent?: (line: string) => void; timeoutMs?: number } = {}): Promise<ControlConnection> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    let cookie: string;
    try {
      cookie = readFileSync(cookieFile).toString('hex');
    } catch (cause) {
      throw new OnionscaleError('OSC_ERR_TESTNET_CONTROL', `cannot read tor's control cookie ${cookieFile}`, { cause });
    }
    const socket = 'path' in target ? connect(target.path) : connect(target.port, target.host ?? '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        socket.destroy();
        reject(new OnionscaleError('OSC_ERR_TESTNET_CONTROL', `control port did not accept a connection in ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(t);
        resolve();
      });
      socket.once('error', (cause) => {
        clearTimeout(t);
        reject(new OnionscaleError('OSC_ERR_TESTNET_CONTROL', `cannot connect to tor's control port: ${cause.message}`, { cause }));
      });
    });
    const conn = new ControlConnection(socket, options.onEvent);
    await conn.command(`AUTHENTICATE ${cookie}`, timeoutMs);
    return conn;
  }

  /** Send one command; resolves with a 2xx reply, rejects (OSC_ERR_TESTNET_CONTROL) otherwise. */
  command(line: string, timeoutMs = 10_000): Promise<ControlReply> {
    if (/[\r\n]/.test(line)) return Promise.reject(new OnionscaleError('OSC_ERR_TESTNET_CONTROL', 'a control command must be one line'));
    if (this.#closed) return Promise.reject(new OnionscaleError('OSC_ERR_TESTNET_CONTROL', this.#closed.message));
    const verb = line.split(' ')[0] ?? '';
    return new Promise<ControlReply>((resolve, reject) => {
      const t = setTimeout(() => {
        this.#socket.destroy();
        reject(new OnionscaleError('OSC_ERR_TESTNET_CONTROL', `${verb}: no reply in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#queue.push({
        command: verb,
        resolve: (r) => {
          clearTimeout(t);
          if (r.status >= 200 && r.status < 300) resolve(r);
          else reject(new OnionscaleError('OSC_ERR_TESTNET_CONTROL', `${verb} failed: ${r.status} ${r.lines.join(' | ')}`, { details: { status: r.status } }));
        },
        reject: (e) => {
          clearTimeout(t);
          reject(new OnionscaleError('OSC_ERR_TESTNET_CONTROL', `${verb}: ${e.message}`, { cause: e }));
        },
      });
      this.#socket.write(`${line}\r\n`);
    });
  }

  /** `GETINFO key` → the value (single-line or data block). */
  async getInfo(key: string): Promise<string> {
    const r = await this.command(`GETINFO ${key}`);
    const out: string[] = [];
    for (const l of r.lines) {
      if (l.startsWith(`${key}=`)) out.push(l.slice(key.length + 1));
      else if (l !== 'OK' && l !== `${key}=`) out.push(l);
    }
    return out.join('\n').trim();
  }

  close(): void {
    this.#closed ??= new Error('control connection closed');
    this.#socket.end('QUIT\r\n');
    // tor closes after QUIT; never let a silent peer keep the socket (and the process) alive.
    setTimeout(() => this.#socket.destroy(), 1000).unref();
  }

  #fail(err: Error): void {
    this.#closed ??= err;
    for (const p of this.#queue.splice(0)) p.reject(err);
  }

  #onData(chunk: string): void {
    this.#buf += chunk;
    if (this.#buf.length > 4 * 1024 * 1024) {
      this.#socket.destroy(new Error('control reply too large'));
      return;
    }
    let nl: number;
    while ((nl = this.#buf.indexOf('\r\n')) >= 0) {
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 2);
      if (this.#inData) {
        if (line === '.') this.#inData = false;
        else this.#lines.push(line.startsWith('..') ? line.slice(1) : line);
        continue;
      }
      const m = /^(\d{3})([ +-])(.*)$/.exec(line);
      if (!m) continue;
      const [, code = '0', sep, rest = ''] = m;
      if (code === '650') {
        // Async events are never interleaved with a reply's lines; multi-line events are rare and not needed here.
        if (sep === ' ') this.#onEvent?.(line);
        continue;
      }
      this.#lines.push(rest);
      if (sep === '+') this.#inData = true;
      else if (sep === ' ') {
        const lines = this.#lines;
        this.#lines = [];
        this.#queue.shift()?.resolve({ status: Number(code), lines });
      }
    }
  }
}

/** One connection for a few commands: authenticate, run them in order, quit. Returns every reply. */
export async function torControl(target: ControlTarget, cookieFile: string, commands: string[], timeoutMs = 10_000): Promise<ControlReply[]> {
  const conn = await ControlConnection.open(target, cookieFile, { timeoutMs });
  try {
    const out: ControlReply[] = [];
    for (const c of commands) out.push(await conn.command(c, timeoutMs));
    return out;
  } finally {
    conn.close();
  }
}

export interface CircuitInfo {
  id: number;
  status: string;
  purpose?: string;
  hsState?: string;
  rendQuery?: string;
}

/** Parse `GETINFO circuit-status` (one circuit per line: `ID STATUS PATH KEY=VALUE…`). */
export function parseCircuitStatus(text: string): CircuitInfo[] {
  const out: CircuitInfo[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    const id = Number(f[0]);
    if (!f[0] || !Number.isInteger(id) || !f[1]) continue;
    const kv = Object.fromEntries(f.slice(2).filter((x) => x.includes('=')).map((x) => [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)]));
    out.push({ id, status: f[1], purpose: kv.PURPOSE, hsState: kv.HS_STATE, rendQuery: kv.REND_QUERY });
  }
  return out;
}
