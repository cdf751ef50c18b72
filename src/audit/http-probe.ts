/**
 * Raw HTTP/1.1 exchanges with a balancer frontend, byte for byte as tor sends them (a PROXY v1 line first), so the
 * audit sees exactly what an onion visitor sees. Raw sockets rather than an HTTP client: a client cannot send the
 * PROXY line, and the audit must also see what happens when it is missing.
 */
import { connect } from 'node:net';
import type { ResolvedListen } from '../config/model.js';

export interface HttpHead {
  status: number;
  /** In order, duplicates kept; names lower-cased. */
  headers: [string, string][];
  raw: string;
}

/** Send `payload`, read until the server closes (or `maxBytes`), never throw: errors resolve as `{ error }`. */
export function exchange(
  listen: ResolvedListen,
  payload: string,
  timeoutMs = 5000,
  maxBytes = 256 * 1024,
): Promise<{ data: string } | { error: string; data: string }> {
  return new Promise((resolve) => {
    const s = listen.kind === 'unix' ? connect(listen.path) : connect(listen.port, listen.host);
    let data = '';
    let settled = false;
    const done = (r: { data: string } | { error: string; data: string }) => {
      if (settled) return;
      settled = true;
      s.destroy();
      resolve(r);
    };
    s.setTimeout(timeoutMs, () => done(data ? { data } : { error: `no answer in ${timeoutMs} ms`, data }));
    s.on('connect', () => s.write(payload));
    s.on('data', (c: Buffer) => {
      data += c.toString('latin1');
      if (data.length >= maxBytes) done({ data });
    });
    s.on('error', (err: NodeJS.ErrnoException) =>
      // A reset after (or instead of) an answer is how a balancer refuses: what was read so far is the answer.
      done(err.code === 'ECONNRESET' || err.code === 'EPIPE' ? { data } : { error: err.code ?? err.message, data }),
    );
    s.on('close', () => done({ data }));
  });
}

export function parseHead(raw: string): HttpHead | undefined {
  const end = raw.indexOf('\r\n\r\n');
  const head = end >= 0 ? raw.slice(0, end) : raw;
  const [statusLine = '', ...lines] = head.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!m) return undefined;
  const headers: [string, string][] = [];
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers.push([l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()]);
  }
  return { status: Number(m[1]), headers, raw };
}

/** tor's PROXY line for a circuit (HiddenServiceExportCircuitID haproxy): the 32-bit ID in the last two groups. */
export function proxyLine(circuitId: number, virtPort: number): string {
  const src = `fc00:dead:beef:4dad::${(circuitId >>> 16).toString(16)}:${(circuitId & 0xffff).toString(16)}`;
  return `PROXY TCP6 ${src} ::1 ${circuitId & 0xffff} ${virtPort}\r\n`;
}

export function getRequest(host: string, extraHeaders: Record<string, string> = {}): string {
  const headers = Object.entries({ Host: host, 'User-Agent': 'onionscale-audit', Connection: 'close', ...extraHeaders })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return `GET / HTTP/1.1\r\n${headers}\r\n`;
}
