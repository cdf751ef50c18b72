/**
 * The control socket of a running `up` (`run/control.sock`, 0600 in the 0700 run directory): how `onionscale
 * reload` and `onionscale scale` from another shell ask the supervisor, which owns the children, to act.
 *
 * Why a socket and not signals + a request file: the command gets its answer (progress lines, then success or a
 * coded error) on the same connection, requests cannot be lost or read twice, and only the stack's user can connect
 * (file mode + directory mode; SO_PEERCRED is not needed on top of that).
 *
 * Protocol: the client sends one JSON line `{"op":"reload"}` or `{"op":"scale","app":"web","count":3}`; the server
 * answers with JSON lines `{"progress":"…"}` and one final `{"ok":true,"result":…}` or
 * `{"ok":false,"code":"OSC_ERR_…","message":"…"}`, then closes.
 */
import { chmodSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { ERROR_CODES, OnionscaleError, isOnionscaleError, type ErrorCode } from '../errors.js';

export type ControlRequest = { op: 'reload' } | { op: 'scale'; app: string; count: number } | { op: 'ping' };

export type ControlHandler = (req: ControlRequest, progress: (line: string) => void) => Promise<unknown>;

/** A request line longer than this is not ours. */
const MAX_REQUEST = 4096;

export function parseControlRequest(line: string): ControlRequest {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new OnionscaleError('OSC_ERR_STACK_CONTROL', 'control request is not JSON');
  }
  if (typeof v !== 'object' || v === null) throw new OnionscaleError('OSC_ERR_STACK_CONTROL', 'control request is not an object');
  const r = v as Record<string, unknown>;
  if (r.op === 'reload' || r.op === 'ping') return { op: r.op };
  if (r.op === 'scale') {
    if (typeof r.app !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(r.app)) throw new OnionscaleError('OSC_ERR_STACK_SCALE', 'scale: app must be an app name');
    if (typeof r.count !== 'number' || !Number.isInteger(r.count)) throw new OnionscaleError('OSC_ERR_STACK_SCALE', 'scale: count must be an integer');
    return { op: 'scale', app: r.app, count: r.count };
  }
  throw new OnionscaleError('OSC_ERR_STACK_CONTROL', `unknown control op ${JSON.stringify(String(r.op)).slice(0, 40)}`);
}

export class ControlServer {
  readonly path: string;
  readonly #handler: ControlHandler;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();

  constructor(path: string, handler: ControlHandler) {
    this.path = path;
    this.#handler = handler;
  }

  async start(): Promise<void> {
    rmSync(this.path, { force: true });
    const server = createServer((socket) => this.#serve(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(this.path, 0o600);
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    let buf = '';
    let handled = false;
    const send = (obj: unknown) => {
      if (!socket.destroyed) socket.write(JSON.stringify(obj) + '\n');
    };
    socket.on('data', (chunk: string) => {
      if (handled) return;
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0 && buf.length <= MAX_REQUEST) return;
      handled = true;
      const line = nl < 0 ? '' : buf.slice(0, nl);
      void (async () => {
        try {
          if (nl < 0) throw new OnionscaleError('OSC_ERR_STACK_CONTROL', 'control request too long');
          const req = parseControlRequest(line);
          const result = await this.#handler(req, (progress) => send({ progress }));
          send({ ok: true, result: result ?? null });
        } catch (err) {
          const code: ErrorCode = isOnionscaleError(err) ? err.code : 'OSC_ERR_STACK_CONTROL';
          send({ ok: false, code, message: err instanceof Error ? err.message : String(err) });
        } finally {
          socket.end();
        }
      })();
    });
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}

/** Send one request to the running `up`; `progress` gets its progress lines; resolves with the result. */
export function controlRequest(path: string, req: ControlRequest, progress: (line: string) => void = () => {}, timeoutMs = 10 * 60_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = '';
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      s.destroy();
      fn();
    };
    s.setEncoding('utf8');
    s.setTimeout(timeoutMs, () => finish(() => reject(new OnionscaleError('OSC_ERR_STACK_CONTROL', `no answer from the supervisor in ${timeoutMs} ms`))));
    s.on('connect', () => s.write(JSON.stringify(req) + '\n'));
    s.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { progress?: string; ok?: boolean; result?: unknown; code?: string; message?: string };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          continue;
        }
        if (typeof msg.progress === 'string') progress(msg.progress);
        else if (msg.ok === true) finish(() => resolve(msg.result));
        else if (msg.ok === false) {
          const code: ErrorCode = msg.code && Object.hasOwn(ERROR_CODES, msg.code) ? (msg.code as ErrorCode) : 'OSC_ERR_STACK_CONTROL';
          finish(() => reject(new OnionscaleError(code, msg.message ?? 'failed')));
        }
      }
    });
    s.on('error', (cause: NodeJS.ErrnoException) =>
      finish(() =>
        reject(
          cause.code === 'ENOENT' || cause.code === 'ECONNREFUSED'
            ? new OnionscaleError('OSC_ERR_STACK_NOT_RUNNING', `no running stack answers on ${path}`, { cause })
            : new OnionscaleError('OSC_ERR_STACK_CONTROL', `control socket ${path}: ${cause.message}`, { cause }),
        ),
      ),
    );
    s.on('close', () => finish(() => reject(new OnionscaleError('OSC_ERR_STACK_CONTROL', 'the supervisor closed the connection without an answer'))));
  });
}
