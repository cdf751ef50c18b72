/**
 * node:http glue shared by adapters whose framework writes straight to `ServerResponse` (Express): writing a
 * served response, and capturing what the app writes on a miss.
 *
 * Capturing wraps `writeHead`/`write`/`end`/`flushHeaders` on the one response object and restores them as soon
 * as the outcome is known. The body is buffered only while the response may still be stored; the moment the
 * status, headers or size rule it out (SSE, Set-Cookie, over maxBodySize, …) everything buffered is flushed and
 * the rest streams straight through, so a long-lived stream is never held back.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Miss, ResponseCache } from './response-cache.js';
import type { BypassReason, ServedResponse } from './types.js';

/** Writes a complete response. `replace` first removes headers set earlier (the served set is already complete). */
export function writeServed(res: ServerResponse, served: ServedResponse, replace = false): void {
  if (replace) for (const name of res.getHeaderNames()) res.removeHeader(name);
  for (const [name, value] of Object.entries(served.headers)) res.setHeader(name, value);
  res.statusCode = served.status;
  if (served.body === null) res.end();
  else res.end(served.body);
}

type Callback = (err?: Error | null) => void;
type Chunk = string | Buffer | Uint8Array;

function toBuffer(chunk: Chunk, encoding?: BufferEncoding): Buffer {
  if (typeof chunk === 'string') return Buffer.from(chunk, encoding ?? 'utf8');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Applies `writeHead`'s optional headers argument (object or flat `[name, value, …]` list) to the response. */
function applyHeaders(res: ServerResponse, headers: unknown): void {
  if (!headers || typeof headers !== 'object') return;
  if (Array.isArray(headers)) {
    const merged = new Map<string, string[]>();
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = String(headers[i]).toLowerCase();
      const list = merged.get(name) ?? [];
      list.push(String(headers[i + 1]));
      merged.set(name, list);
    }
    for (const [name, list] of merged) res.setHeader(name, list.length === 1 ? list[0]! : list);
    return;
  }
  for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) if (value !== undefined) res.setHeader(name, value);
}

export function captureResponse(res: ServerResponse, cache: ResponseCache, miss: Miss): void {
  // Saved as found (possibly another middleware's wrappers) and only ever put back onto the same object, so `this`
  // stays right.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = { writeHead: res.writeHead, write: res.write, end: res.end, flushHeaders: res.flushHeaders };
  const chunks: Buffer[] = [];
  let size = 0;
  let state: 'buffering' | 'passing' | 'ending' = 'buffering';
  let admitted = false;

  const restore = (): void => {
    res.writeHead = original.writeHead;
    res.write = original.write;
    res.end = original.end;
    res.flushHeaders = original.flushHeaders;
  };

  const passThrough = (reason: BypassReason): void => {
    state = 'passing';
    restore();
    cache.release(miss, reason);
    if (!res.headersSent) {
      for (const [name, value] of Object.entries(cache.bypassHeaders())) res.setHeader(name, value);
    }
    for (const chunk of chunks.splice(0)) res.write(chunk);
  };

  // Checked once headers are final (first writeHead/write/end): later setHeader calls cannot happen in node either.
  const admit = (): boolean => {
    if (admitted) return state === 'buffering';
    admitted = true;
    const reason = cache.admit(miss, res.statusCode, res.getHeaders());
    if (reason) passThrough(reason);
    return state === 'buffering';
  };

  res.on('close', () => {
    // Client gone before the response finished: let waiting requests go on without this one.
    if (state === 'buffering') {
      restore();
      cache.release(miss);
    }
  });

  res.writeHead = function writeHead(this: ServerResponse, status: number, ...rest: unknown[]) {
    res.statusCode = status;
    let headers = rest[0];
    if (typeof headers === 'string') {
      res.statusMessage = headers;
      headers = rest[1];
    }
    applyHeaders(res, headers);
    if (admit()) return res;
    // Not storable: send the head now, a stream (SSE) may not write its first byte for a while.
    return res.writeHead(res.statusCode, res.statusMessage);
  };

  res.flushHeaders = function flushHeaders() {
    // Sending headers early means the app streams; a stream is not a cacheable page.
    if (state === 'buffering') passThrough('streaming');
    res.flushHeaders();
  };

  res.write = function write(chunk: Chunk, encodingOrCb?: BufferEncoding | Callback, cb?: Callback): boolean {
    const encoding = typeof encodingOrCb === 'string' ? encodingOrCb : undefined;
    const callback = typeof encodingOrCb === 'function' ? encodingOrCb : cb;
    if (!admit()) return callback ? res.write(chunk, encoding ?? 'utf8', callback) : res.write(chunk, encoding ?? 'utf8');
    const buf = toBuffer(chunk, encoding);
    chunks.push(buf);
    size += buf.length;
    if (size > cache.options.maxBodySize) passThrough('too-large');
    if (callback) process.nextTick(callback);
    return true;
  } as ServerResponse['write'];

  res.end = function end(chunkOrCb?: Chunk | Callback, encodingOrCb?: BufferEncoding | Callback, cb?: Callback) {
    const chunk = typeof chunkOrCb === 'function' ? undefined : chunkOrCb;
    const encoding = typeof encodingOrCb === 'string' ? encodingOrCb : undefined;
    const callback = typeof chunkOrCb === 'function' ? chunkOrCb : typeof encodingOrCb === 'function' ? encodingOrCb : cb;
    if (!admit()) {
      if (chunk === undefined || chunk === null) return res.end(callback);
      return res.end(chunk, encoding ?? 'utf8', callback);
    }
    if (chunk !== undefined && chunk !== null) chunks.push(toBuffer(chunk, encoding));
    state = 'ending';
    restore();
    const body = Buffer.concat(chunks.splice(0));
    const captured = { status: res.statusCode, headers: res.getHeaders(), body };
    const send = (served: ServedResponse): boolean => {
      if (res.destroyed) return false;
      writeServed(res, served, true);
      if (callback) res.once('finish', () => callback());
      return true;
    };
    void cache.complete(miss, captured).then(
      ({ response, commit }) => {
        let sent = false;
        try {
          sent = send(response);
        } finally {
          // After end(): writeHead hooks (express-session's Set-Cookie) have run, so these are the headers sent.
          if (sent) void commit(res.getHeaders());
          else cache.release(miss);
        }
      },
      () => {
        // complete() does not reject; if it ever did, the client still gets what the app wrote.
        cache.release(miss, 'error');
        send({ status: captured.status, headers: captured.headers as ServedResponse['headers'], body });
      },
    );
    return res;
  } as ServerResponse['end'];
}
