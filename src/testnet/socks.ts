/**
 * SOCKS5 CONNECT with a domain name (RFC 1928) and username/password auth (RFC 1929): the hostname is resolved by
 * tor, never locally — the only way to reach a .onion. With tor's `IsolateSOCKSAuth` (on by default) every username
 * gets its own circuit. Just enough for the testnet's probe and the e2e tests; no BIND/UDP.
 */
import { connect, type Socket } from 'node:net';
import { OnionscaleError } from '../errors.js';

export interface SocksConnectOptions {
  proxyPort: number;
  proxyHost?: string;
  host: string;
  port: number;
  /** Picks the circuit (IsolateSOCKSAuth). Default `onionscale`. */
  user?: string;
  timeoutMs?: number;
}

/** RFC 1928 §6 reply codes; tor uses 4 for "onion not found / descriptor not fetched yet" and 6 for a timeout. */
const REPLY: Record<number, string> = {
  1: 'general failure',
  2: 'not allowed',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
};

export class SocksError extends OnionscaleError {
  readonly reply: number | undefined;
  constructor(message: string, reply?: number) {
    super('OSC_ERR_TESTNET_SOCKS', message, { details: reply === undefined ? {} : { reply } });
    this.reply = reply;
  }
}

/** Resolves with a connected socket (the SOCKS handshake done) to `host:port` through the proxy. */
export function socksConnect(o: SocksConnectOptions): Promise<Socket> {
  const user = Buffer.from(o.user ?? 'onionscale');
  const pass = Buffer.from('x');
  const host = Buffer.from(o.host);
  if (user.length > 255 || host.length > 255) return Promise.reject(new SocksError('SOCKS username and host are at most 255 bytes'));
  const timeoutMs = o.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const s = connect(o.proxyPort, o.proxyHost ?? '127.0.0.1');
    let buf = Buffer.alloc(0);
    let stage: 'method' | 'auth' | 'connect' = 'method';
    const fail = (err: Error) => {
      finished = true;
      clearTimeout(t);
      s.destroy();
      reject(err);
    };
    const t = setTimeout(() => fail(new SocksError(`SOCKS: no connection to ${o.host}:${o.port} in ${timeoutMs} ms`)), timeoutMs);
    s.on('error', (err) => fail(new SocksError(`SOCKS proxy 127.0.0.1:${o.proxyPort}: ${err.message}`)));
    s.on('close', () => fail(new SocksError(`SOCKS proxy closed the connection during the ${stage} stage`)));
    s.on('connect', () => s.write(Buffer.from([5, 1, 2])));
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (stage === 'method') {
        if (buf.length < 2) return;
        if (buf[0] !== 5 || buf[1] !== 2) return fail(new SocksError('SOCKS proxy refused username/password authentication'));
        buf = buf.subarray(2);
        stage = 'auth';
        s.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]));
      }
      if (stage === 'auth') {
        if (buf.length < 2) return;
        if (buf[1] !== 0) return fail(new SocksError('SOCKS authentication failed'));
        buf = buf.subarray(2);
        stage = 'connect';
        const portBytes = Buffer.from([(o.port >> 8) & 0xff, o.port & 0xff]);
        s.write(Buffer.concat([Buffer.from([5, 1, 0, 3, host.length]), host, portBytes]));
      }
      if (stage === 'connect') {
        if (buf.length < 5) return;
        const rep = buf[1]!;
        if (rep !== 0) return fail(new SocksError(`SOCKS: ${o.host}:${o.port}: ${REPLY[rep] ?? `error ${rep}`} (reply ${rep})`, rep));
        const atyp = buf[3];
        const len = atyp === 1 ? 10 : atyp === 4 ? 22 : 7 + buf[4]!;
        if (buf.length < len) return;
        const rest = buf.subarray(len);
        clearTimeout(t);
        finished = true;
        // Paused-mode reading during the handshake: removing the 'readable' listener returns the socket to its
        // initial state, so the caller's 'data' listener (or pipe) gets every byte after the reply, `rest` first.
        s.removeListener('readable', onReadable);
        s.removeAllListeners('close');
        s.removeAllListeners('error');
        s.removeAllListeners('connect');
        if (rest.length > 0) s.unshift(rest);
        resolve(s);
      }
    };
    let finished = false;
    const onReadable = () => {
      let chunk: Buffer | null;
      while (!finished && (chunk = s.read() as Buffer | null) !== null) onData(chunk);
    };
    s.on('readable', onReadable);
  });
}
