/**
 * ONE behaviour suite for every framework adapter (STYLE.md §3): each runner starts a real app on 127.0.0.1:0
 * with the adapter and the neutral routes below, and the suite talks to it over real sockets. Raw bytes come from
 * node:http (fetch would decode them); one test uses fetch as a browser-like client.
 *
 * Test support only: imported by src/adapters/*.test.ts, never by library code.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { createMemoryBackend, type MemoryBackend } from './memory-backend.js';
import type { IncomingHeaders, ResponseCacheOptions } from './types.js';

export interface ContractReply {
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string;
  /** Streamed in chunks instead of `body`. */
  stream?: AsyncIterable<string>;
}

export interface ContractRoute {
  method: 'GET' | 'POST';
  path: string;
  handle(req: { query: URLSearchParams; headers: IncomingHeaders }): ContractReply | Promise<ContractReply>;
  /**
   * A Set-Cookie the framework's session machinery adds while the response is being sent, after the handler
   * finished: Express through a writeHead hook (what on-headers, used by express-session, does), Fastify through
   * an onSend hook registered after the cache plugin (what @fastify/session does).
   */
  lateSetCookie?: string;
}

export interface ContractServer {
  /** http://127.0.0.1:<port> */
  url: string;
  invalidateTag(tag: string): Promise<void>;
  close(): Promise<void>;
}

export type StartServer = (options: ResponseCacheOptions, routes: readonly ContractRoute[]) => Promise<ContractServer>;

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function raw(base: string, path: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: init.method ?? 'GET', headers: init.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

const BIG_HTML = '<li class="item">onion service row, compressible text</li>\n'.repeat(400); // ≈ 24 KB
const MAX_BODY = 64 * 1024;

class Gate {
  private open!: () => void;
  readonly opened = new Promise<void>((r) => (this.open = r));
  release(): void {
    this.open();
  }
}

export function runAdapterContract(name: string, start: StartServer): void {
  describe(`response cache contract: ${name}`, () => {
    const renders = new Map<string, number>();
    const count = (key: string): number => {
      const n = (renders.get(key) ?? 0) + 1;
      renders.set(key, n);
      return n;
    };
    const streamGate = new Gate();
    const slowGate = new Gate();
    let slowEntered!: () => void;
    const slowStarted = new Promise<void>((r) => (slowEntered = r));

    const page = (path: string, extra: ContractReply = {}): ContractRoute => ({
      method: 'GET',
      path,
      handle: () => ({ headers: { 'content-type': 'text/html; charset=utf-8' }, body: `<p>${path} render=${count(path)}</p>`, ...extra }),
    });
    const routes: ContractRoute[] = [
      page('/page'),
      page('/head-page'),
      page('/head-cold'),
      page('/etag'),
      page('/session'),
      page('/auth'),
      page('/query'),
      page('/bad'),
      page('/private', { headers: { 'content-type': 'text/html', 'cache-control': 'private, max-age=60' } }),
      page('/cookie', { headers: { 'content-type': 'text/html', 'set-cookie': ['a=1; Path=/', 'b=2; Path=/'] } }),
      { ...page('/late-cookie'), lateSetCookie: 'sid=fresh; HttpOnly; Path=/' },
      page('/missing', { status: 404 }),
      page('/boom', { status: 500 }),
      {
        method: 'GET',
        path: '/big',
        handle: () => ({ headers: { 'content-type': 'text/html; charset=utf-8' }, body: `<!-- render=${count('/big')} -->\n${BIG_HTML}` }),
      },
      {
        method: 'GET',
        path: '/identity',
        handle: () => ({ headers: { 'content-type': 'text/html; charset=utf-8' }, body: `<!-- render=${count('/identity')} -->\n${BIG_HTML}` }),
      },
      {
        method: 'GET',
        path: '/fetch',
        handle: () => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ render: count('/fetch'), rows: BIG_HTML }) }),
      },
      {
        method: 'GET',
        path: '/items',
        handle: ({ query }) => ({ headers: { 'content-type': 'text/plain' }, body: `item ${query.get('id')} render=${count(`/items?${query.get('id')}`)}` }),
      },
      {
        method: 'GET',
        path: '/greet',
        handle: ({ headers }) => {
          const lang = headers['x-lang'] === 'fr' ? 'fr' : 'en';
          return { headers: { 'content-type': 'text/plain' }, body: `${lang === 'fr' ? 'bonjour' : 'hello'} render=${count(`/greet:${lang}`)}` };
        },
      },
      {
        method: 'GET',
        path: '/huge',
        handle: () => ({ headers: { 'content-type': 'text/plain' }, body: `render=${count('/huge')}\n` + 'x'.repeat(MAX_BODY * 3) }),
      },
      { method: 'GET', path: '/empty', handle: () => ({ status: 204, body: (count('/empty'), '') }) },
      {
        method: 'GET',
        path: '/stream',
        handle: () => ({
          headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-transform' },
          stream: (async function* () {
            yield 'data: first\n\n';
            await streamGate.opened;
            yield 'data: last\n\n';
          })(),
        }),
      },
      {
        method: 'GET',
        path: '/slow',
        handle: async () => {
          const n = count('/slow');
          slowEntered();
          await slowGate.opened;
          return { headers: { 'content-type': 'text/plain' }, body: `slow render=${n}` };
        },
      },
      { method: 'POST', path: '/page', handle: () => ({ headers: { 'content-type': 'text/plain' }, body: `post render=${count('POST /page')}` }) },
    ];

    let server: ContractServer;
    let backend: MemoryBackend;
    const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => raw(server.url, path, { method, headers });

    before(async () => {
      backend = createMemoryBackend();
      server = await start(
        {
          backend,
          ttl: '1m',
          vary: ['x-lang'],
          maxBodySize: MAX_BODY,
          tags: (req) => {
            const id = new URL(req.url, 'http://local').searchParams.get('id');
            return id ? [`item:${id}`] : [];
          },
        },
        routes,
      );
    });
    after(async () => {
      streamGate.release();
      slowGate.release();
      await server.close();
    });

    test('first GET is a MISS, the next a HIT with the same body and an Age', async () => {
      const a = await get('/page');
      const b = await get('/page');
      assert.equal(a.status, 200);
      assert.equal(a.headers['x-cache'], 'MISS');
      assert.equal(b.headers['x-cache'], 'HIT');
      assert.equal(b.body.toString(), '<p>/page render=1</p>');
      assert.equal(b.body.toString(), a.body.toString());
      assert.match(String(b.headers.age), /^\d+$/);
      assert.match(String(b.headers['content-type']), /^text\/html/);
      assert.equal(renders.get('/page'), 1);
    });

    test('HEAD reads the GET entry; HEAD on a cold key stores nothing', async () => {
      const g = await get('/head-page');
      const h = await get('/head-page', {}, 'HEAD');
      assert.equal(h.status, 200);
      assert.equal(h.headers['x-cache'], 'HIT');
      assert.equal(h.body.length, 0);
      assert.equal(h.headers['content-length'], String(g.body.length));
      assert.equal(h.headers.etag, g.headers.etag);
      const cold = await get('/head-cold', {}, 'HEAD');
      assert.equal(cold.status, 200);
      assert.notEqual(cold.headers['x-cache'], 'HIT');
      const after = await get('/head-cold');
      assert.equal(after.headers['x-cache'], 'MISS');
      assert.equal(after.body.toString(), '<p>/head-cold render=2</p>');
    });

    test('br and gzip are compressed once and served as stored', async () => {
      const first = await get('/big', { 'accept-encoding': 'gzip, deflate, br' });
      assert.equal(first.headers['x-cache'], 'MISS');
      assert.equal(first.headers['content-encoding'], 'br');
      assert.match(String(first.headers.vary), /accept-encoding/i);
      const br = await get('/big', { 'accept-encoding': 'br' });
      const gz = await get('/big', { 'accept-encoding': 'gzip' });
      const br2 = await get('/big', { 'accept-encoding': 'br;q=1, gzip;q=0.5' });
      assert.equal(br.headers['x-cache'], 'HIT');
      assert.equal(gz.headers['x-cache'], 'HIT');
      assert.equal(gz.headers['content-encoding'], 'gzip');
      const expected = `<!-- render=1 -->\n${BIG_HTML}`;
      assert.equal(brotliDecompressSync(br.body).toString(), expected);
      assert.equal(gunzipSync(gz.body).toString(), expected);
      assert.ok(br.body.length < expected.length / 4, 'stored compressed');
      assert.ok(br.body.equals(first.body) && br2.body.equals(br.body), 'the same stored bytes every time');
      assert.equal(br.headers['content-length'], String(br.body.length));
      assert.equal(renders.get('/big'), 1);
    });

    test('clients that accept no stored coding get identity bytes', async () => {
      const expected = `<!-- render=1 -->\n${BIG_HTML}`;
      await get('/identity', { 'accept-encoding': 'gzip' });
      const variants: Record<string, string>[] = [{}, { 'accept-encoding': 'identity' }, { 'accept-encoding': 'br;q=0, gzip;q=0' }, { 'accept-encoding': 'deflate' }];
      for (const headers of variants) {
        const r = await get('/identity', headers);
        assert.equal(r.headers['x-cache'], 'HIT');
        assert.equal(r.headers['content-encoding'], undefined, JSON.stringify(headers));
        assert.equal(r.body.toString(), expected);
        assert.equal(r.headers['content-length'], String(Buffer.byteLength(expected)));
      }
      assert.equal(renders.get('/identity'), 1);
    });

    test('fetch (a decoding client) reads the stored compressed entry', async () => {
      const a = await fetch(`${server.url}/fetch`);
      const b = await fetch(`${server.url}/fetch`);
      assert.equal(a.headers.get('x-cache'), 'MISS');
      assert.equal(b.headers.get('x-cache'), 'HIT');
      assert.ok(b.headers.get('content-encoding'), 'fetch asked for and got a compressed copy');
      assert.deepEqual(await b.json(), { render: 1, rows: BIG_HTML });
      await a.body?.cancel();
    });

    test('strong ETag per coding; If-None-Match answers 304', async () => {
      const a = await get('/etag');
      const etag = String(a.headers.etag);
      assert.match(etag, /^"[\w-]+"$/);
      const b = await get('/etag', { 'if-none-match': etag });
      assert.equal(b.status, 304);
      assert.equal(b.body.length, 0);
      assert.equal(b.headers.etag, etag);
      const weak = await get('/etag', { 'if-none-match': `"nope", W/${etag}` });
      assert.equal(weak.status, 304);
      const other = await get('/etag', { 'if-none-match': '"something-else"' });
      assert.equal(other.status, 200);
      const big = await get('/big', { 'accept-encoding': 'br' });
      const bigId = await get('/big');
      assert.notEqual(big.headers.etag, bigId.headers.etag, 'each coding has its own strong tag');
      const cross = await get('/big', { 'accept-encoding': 'gzip', 'if-none-match': String(big.headers.etag) });
      assert.equal(cross.status, 304);
      assert.equal(renders.get('/etag'), 1);
    });

    test('responses that set cookies are never stored', async () => {
      const a = await get('/cookie');
      const b = await get('/cookie');
      assert.equal(b.headers['x-cache'], 'BYPASS');
      assert.deepEqual(b.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
      assert.equal(a.body.toString(), '<p>/cookie render=1</p>');
      assert.equal(b.body.toString(), '<p>/cookie render=2</p>');
    });

    test('a Set-Cookie added by session middleware while sending is never stored', async () => {
      const a = await get('/late-cookie');
      assert.equal(a.headers['set-cookie']?.[0], 'sid=fresh; HttpOnly; Path=/');
      const b = await get('/late-cookie');
      assert.notEqual(b.headers['x-cache'], 'HIT');
      assert.equal(b.body.toString(), '<p>/late-cookie render=2</p>');
      assert.equal(b.headers['set-cookie']?.[0], 'sid=fresh; HttpOnly; Path=/', 'each visitor gets its own cookie');
    });

    test('requests with a session cookie or Authorization bypass; other cookies do not', async () => {
      await get('/session');
      const s = await get('/session', { cookie: 'theme=dark; sid=s%3Asecret' });
      assert.equal(s.headers['x-cache'], 'BYPASS');
      assert.equal(s.body.toString(), '<p>/session render=2</p>');
      const other = await get('/session', { cookie: 'theme=dark' });
      assert.equal(other.headers['x-cache'], 'HIT');
      assert.equal(other.body.toString(), '<p>/session render=1</p>');
      const auth = await get('/auth', { authorization: 'Bearer x' });
      assert.equal(auth.headers['x-cache'], 'BYPASS');
      const anon = await get('/auth');
      assert.equal(anon.headers['x-cache'], 'MISS', 'the authorized response was not stored');
    });

    test('POST bypasses and does not touch the GET entry', async () => {
      const p1 = await get('/page', {}, 'POST');
      const p2 = await get('/page', {}, 'POST');
      assert.equal(p1.body.toString(), 'post render=1');
      assert.equal(p2.body.toString(), 'post render=2');
      assert.equal(p2.headers['x-cache'], 'BYPASS');
      const g = await get('/page');
      assert.equal(g.body.toString(), '<p>/page render=1</p>');
    });

    test('invalidateTag drops tagged entries only', async () => {
      await get('/items?id=1');
      await get('/items?id=2');
      assert.equal((await get('/items?id=1')).headers['x-cache'], 'HIT');
      await server.invalidateTag('item:1');
      const one = await get('/items?id=1');
      assert.equal(one.headers['x-cache'], 'MISS');
      assert.equal(one.body.toString(), 'item 1 render=2');
      const two = await get('/items?id=2');
      assert.equal(two.headers['x-cache'], 'HIT');
      assert.equal(two.body.toString(), 'item 2 render=1');
    });

    test('query order does not split entries', async () => {
      await get('/query?b=2&a=1');
      const r = await get('/query?a=1&b=2');
      assert.equal(r.headers['x-cache'], 'HIT');
      const other = await get('/query?a=1&b=3');
      assert.equal(other.headers['x-cache'], 'MISS');
    });

    test('vary headers are part of the key', async () => {
      const en = await get('/greet', { 'x-lang': 'en' });
      const fr = await get('/greet', { 'x-lang': 'fr' });
      assert.equal(en.headers['x-cache'], 'MISS');
      assert.equal(fr.headers['x-cache'], 'MISS');
      const en2 = await get('/greet', { 'x-lang': 'en' });
      const fr2 = await get('/greet', { 'x-lang': 'fr' });
      assert.equal(en2.body.toString(), 'hello render=1');
      assert.equal(fr2.body.toString(), 'bonjour render=1');
      assert.equal(fr2.headers['x-cache'], 'HIT');
      assert.match(String(fr2.headers.vary), /x-lang/i);
    });

    test('bodies over maxBodySize pass through uncached and intact', async () => {
      const a = await get('/huge');
      const b = await get('/huge');
      assert.equal(a.body.length, 'render=1\n'.length + MAX_BODY * 3);
      assert.ok(b.body.toString().startsWith('render=2\n'));
      assert.equal(b.headers['x-cache'], 'BYPASS');
    });

    test('status rules: 404 is stored, 500 and private responses are not, 204 has no body', async () => {
      await get('/missing');
      const m = await get('/missing');
      assert.equal(m.status, 404);
      assert.equal(m.headers['x-cache'], 'HIT');
      await get('/boom');
      const e = await get('/boom');
      assert.equal(e.status, 500);
      assert.equal(e.body.toString(), '<p>/boom render=2</p>');
      await get('/private');
      const p = await get('/private');
      assert.equal(p.headers['x-cache'], 'BYPASS');
      assert.equal(p.body.toString(), '<p>/private render=2</p>');
      await get('/empty');
      const n = await get('/empty');
      assert.equal(n.status, 204);
      assert.equal(n.headers['x-cache'], 'HIT');
      assert.equal(n.body.length, 0);
      assert.equal(renders.get('/empty'), 1);
    });

    test('event streams are passed through as they are written, never buffered', async () => {
      const first = await new Promise<string>((resolve, reject) => {
        const req = request(`${server.url}/stream`, { agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
            // Only the first event was written; the second waits for the gate this test opens below.
            if (text.includes('first') && !text.includes('last')) {
              assert.notEqual(res.headers['x-cache'], 'HIT');
              streamGate.release();
            }
          });
          res.on('end', () => resolve(text));
          res.on('error', reject);
        });
        req.setTimeout(10_000, () => req.destroy(new Error('stream was buffered')));
        req.on('error', reject);
        req.end();
      });
      assert.equal(first, 'data: first\n\ndata: last\n\n');
    });

    test('concurrent misses for one key render once (in-process coalescing)', async () => {
      const a = get('/slow');
      await slowStarted;
      const rest = [get('/slow'), get('/slow'), get('/slow')];
      // Give the followers time to arrive; whenever they do, they must not render again.
      await new Promise((r) => setTimeout(r, 100));
      slowGate.release();
      const all = await Promise.all([a, ...rest]);
      for (const r of all) assert.equal(r.body.toString(), 'slow render=1');
      assert.equal(renders.get('/slow'), 1);
      assert.deepEqual(all.map((r) => r.headers['x-cache']), ['MISS', 'HIT', 'HIT', 'HIT']);
    });

    test('malformed headers and oversized URLs never crash the server', async () => {
      const hostile: Record<string, string>[] = [
        { 'accept-encoding': ';;;q=abc, br;q=2, ,,, *;q=-1, gzip;q=0.x' },
        { 'accept-encoding': 'x'.repeat(4000) },
        { 'if-none-match': 'W/"unterminated' },
        { 'if-none-match': '*garbage*, "' },
        { 'if-none-match': '"a",'.repeat(500) },
        { cookie: ';;==;sid' },
        { 'x-lang': '\u00ff\u00fe' },
      ];
      for (const headers of hostile) {
        const r = await get('/bad', headers);
        assert.ok(r.status === 200 || r.status === 304, `${JSON.stringify(headers).slice(0, 60)} → ${r.status}`);
      }
      const long = await get(`/bad?pad=${'a'.repeat(3000)}`);
      assert.equal(long.status, 200);
      assert.equal(long.headers['x-cache'], 'BYPASS');
      const still = await get('/page');
      assert.equal(still.headers['x-cache'], 'HIT');
      assert.ok(backend.size > 0);
    });
  });
}
