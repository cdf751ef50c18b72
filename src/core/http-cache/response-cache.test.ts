import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { gunzipSync } from 'node:zlib';
import { OnionscaleError } from '../../errors.js';
import { HTTP_CACHE_CHANNEL, type HttpCacheEvent } from './diagnostics.js';
import { createMemoryBackend } from './memory-backend.js';
import { createResponseCache, type Lookup, type Miss, type ResponseCache } from './response-cache.js';
import type { CacheRequest, CapturedResponse, OutgoingHeaders, ResponseCacheBackend, ResponseCacheOptions, ServedResponse } from './types.js';

const html = (s: string) => ({ status: 200, headers: { 'content-type': 'text/html' }, body: Buffer.from(s) });
const req = (url = '/', headers: Record<string, string> = {}, method = 'GET'): CacheRequest => ({ method, url, headers: { host: 'x.onion', ...headers } });
const cacheWith = (o: Partial<ResponseCacheOptions> = {}) => createResponseCache({ backend: createMemoryBackend(), ...o });

function missOf(l: Lookup): Miss {
  if (l.kind !== 'miss') assert.fail(`expected a miss, got ${l.kind}`);
  return l.miss;
}
function hitOf(l: Lookup) {
  if (l.kind !== 'hit') assert.fail(`expected a hit, got ${l.kind}`);
  return l.response;
}

/** complete() then commit() with the headers "sent", as an adapter does. */
async function fill(cache: ResponseCache, miss: Miss, captured: CapturedResponse, sent?: OutgoingHeaders): Promise<ServedResponse> {
  const { response, commit } = await cache.complete(miss, captured);
  await commit(sent ?? response.headers);
  return response;
}

function recordEvents(): { events: HttpCacheEvent[]; stop(): void } {
  const events: HttpCacheEvent[] = [];
  const fn = (m: unknown) => events.push(m as HttpCacheEvent);
  subscribe(HTTP_CACHE_CHANNEL, fn);
  return { events, stop: () => unsubscribe(HTTP_CACHE_CHANNEL, fn) };
}

test('miss → complete → hit, with diagnostics that never carry the URL', async () => {
  const rec = recordEvents();
  try {
    const cache = cacheWith({ name: 'pages' });
    const miss = missOf(await cache.lookup(req('/secret-token-abc')));
    const first = await fill(cache, miss, html('<p>1</p>'));
    assert.equal(first.headers['x-cache'], 'MISS');
    const hit = hitOf(await cache.lookup(req('/secret-token-abc')));
    assert.equal(hit.body?.toString(), '<p>1</p>');
    const kinds = rec.events.filter((e) => e.cache === 'pages').map((e) => e.event);
    assert.deepEqual(kinds, ['miss', 'store', 'hit']);
    assert.ok(!JSON.stringify(rec.events).includes('secret-token'), 'events hold hashed keys only');
  } finally {
    rec.stop();
  }
});

test('a failing backend never fails a request', async () => {
  const down: ResponseCacheBackend = {
    get: () => Promise.reject(new Error('ECONNREFUSED')),
    set: () => Promise.reject(new Error('ECONNREFUSED')),
    deleteByTag: () => Promise.reject(new Error('ECONNREFUSED')),
  };
  const rec = recordEvents();
  try {
    const cache = createResponseCache({ backend: down, name: 'down' });
    const miss = missOf(await cache.lookup(req('/')));
    const served = await fill(cache, miss, html('ok'));
    assert.equal(served.status, 200);
    assert.equal(served.body?.toString(), 'ok');
    assert.deepEqual(rec.events.filter((e) => e.cache === 'down' && e.event === 'error').map((e) => (e as { op: string }).op), ['get', 'set']);
    await assert.rejects(cache.invalidateTag('t'), /ECONNREFUSED/, 'invalidation failures surface to the caller');
  } finally {
    rec.stop();
  }
});

test('foreign or tampered entries are misses, not crashes', async () => {
  const backend = createMemoryBackend();
  const cache = createResponseCache({ backend });
  const miss = missOf(await cache.lookup(req('/t')));
  await fill(cache, miss, html('<p>' + 'compress me '.repeat(200) + '</p>'));
  hitOf(await cache.lookup(req('/t', { 'accept-encoding': 'gzip' })));
  const stored = (await backend.get(miss.key)) as Record<string, unknown>;
  for (const bad of [
    'a string',
    { ...stored, v: 2 },
    { ...stored, headers: [['x-evil', 'a\r\nb']] },
    { ...stored, bodies: {} },
    { ...stored, hash: '../../etc' },
    // Identity clients need a decompression; a body that does not decompress is a miss. (A fresh hash, since
    // decompressed bodies are remembered by hash.)
    { ...stored, hash: 'fresh-hash', bodies: { gzip: Buffer.from('not gzip').toString('base64') } },
  ]) {
    await backend.set(miss.key, bad, { ttl: 60_000 });
    const l = await cache.lookup(req('/t'));
    assert.equal(l.kind, 'miss', JSON.stringify(bad).slice(0, 80));
    cache.release((l as { miss: Miss }).miss);
  }
});

test('s-maxage from the app overrides the ttl; tags reach the backend', async () => {
  const seen: { ttl: number; tags?: string[] }[] = [];
  const mem = createMemoryBackend();
  const backend: ResponseCacheBackend = { ...mem, get: (k) => mem.get(k), deleteByTag: (t) => mem.deleteByTag(t), set: (k, v, o) => (seen.push(o), mem.set(k, v, o)) };
  const cache = createResponseCache({ backend, ttl: '10s', tags: (r) => [`path:${r.url}`] });
  await fill(cache, missOf(await cache.lookup(req('/a'))), html('a'));
  await fill(cache, missOf(await cache.lookup(req('/b'))), { ...html('b'), headers: { 'cache-control': 'public, s-maxage=300' } });
  assert.deepEqual(seen, [
    { ttl: 10_000, tags: ['path:/a'] },
    { ttl: 300_000, tags: ['path:/b'] },
  ]);
});

test('per-request ttl, tags and filters that refuse or throw bypass', async () => {
  const cache = cacheWith({
    ttl: (r) => (r.url.startsWith('/live') ? undefined : '1m'),
    tags: (r) => {
      if (r.url === '/throw') throw new Error('bug in tags');
      return r.url === '/badtag' ? ['has space'] : [];
    },
    shouldCache: (r) => {
      if (r.url === '/filter-throw') throw new Error('bug');
      return true;
    },
  });
  assert.deepEqual(await cache.lookup(req('/live')), { kind: 'bypass', reason: 'ttl', headers: { 'x-cache': 'BYPASS' } });
  assert.equal(((await cache.lookup(req('/throw'))) as { reason: string }).reason, 'tags');
  assert.equal(((await cache.lookup(req('/badtag'))) as { reason: string }).reason, 'tags');
  assert.equal(((await cache.lookup(req('/filter-throw'))) as { reason: string }).reason, 'filtered');
  await assert.rejects(cache.invalidateTag('a\nb'), (e: unknown) => e instanceof OnionscaleError && e.code === 'OSC_ERR_CACHE_KEY');
});

test('coalescing: followers wait for the filler, time out, or go on when it gives up', async () => {
  const cache = cacheWith({ coalesceTimeout: 50 });
  const owner = missOf(await cache.lookup(req('/c')));
  // The owner never completes: the follower gives up after the timeout and runs the app itself.
  const follower = missOf(await cache.lookup(req('/c')));
  cache.release(follower); // not the owner: must not free the owner's slot
  const waiting = cache.lookup(req('/c'));
  cache.release(owner, 'streaming');
  const next = missOf(await waiting);
  const stored = await fill(cache, next, html('c'));
  assert.equal(stored.headers['x-cache'], 'MISS');
  hitOf(await cache.lookup(req('/c')));
  // Without coalescing every concurrent request is its own miss.
  const off = cacheWith({ coalesceTimeout: 0 });
  missOf(await off.lookup(req('/d')));
  missOf(await off.lookup(req('/d')));
});

test('compression: threshold, content type and configured codings', async () => {
  const cache = cacheWith({ compression: { encodings: ['gzip'], threshold: '1kb' } });
  const big = 'word '.repeat(1000);
  await fill(cache, missOf(await cache.lookup(req('/big'))), html(big));
  const gz = hitOf(await cache.lookup(req('/big', { 'accept-encoding': 'br, gzip' })));
  assert.equal(gz.headers['content-encoding'], 'gzip');
  assert.equal(gunzipSync(gz.body!).toString(), big);
  assert.equal(gz.headers.vary, 'accept-encoding');
  await fill(cache, missOf(await cache.lookup(req('/small'))), html('tiny'));
  const small = hitOf(await cache.lookup(req('/small', { 'accept-encoding': 'gzip' })));
  assert.equal(small.headers['content-encoding'], undefined);
  assert.equal(small.headers.vary, undefined, 'no coding stored, nothing varies');
  const png = { status: 200, headers: { 'content-type': 'image/png' }, body: Buffer.alloc(5000, 7) };
  await fill(cache, missOf(await cache.lookup(req('/png'))), png);
  assert.equal(hitOf(await cache.lookup(req('/png', { 'accept-encoding': 'gzip' }))).headers['content-encoding'], undefined);
  const none = cacheWith({ compression: false });
  await fill(none, missOf(await none.lookup(req('/big'))), html(big));
  assert.equal(hitOf(await none.lookup(req('/big', { 'accept-encoding': 'gzip' }))).headers['content-encoding'], undefined);
});

test('status header, Age and 304 rules', async () => {
  const quiet = cacheWith({ statusHeader: false, age: false });
  await fill(quiet, missOf(await quiet.lookup(req('/q'))), html('q'));
  const q = hitOf(await quiet.lookup(req('/q')));
  assert.equal(q.headers['x-cache'], undefined);
  assert.equal(q.headers.age, undefined);
  const named = cacheWith({ statusHeader: 'X-Onion-Cache' });
  await fill(named, missOf(await named.lookup(req('/n'))), { status: 404, headers: { 'content-type': 'text/html' }, body: Buffer.from('gone') });
  const n = hitOf(await named.lookup(req('/n', { 'if-none-match': '*' })));
  assert.equal(n.status, 404, 'conditionals only apply to 2xx');
  assert.equal(n.headers['x-onion-cache'], 'HIT');
  const served = await fill(named, missOf(await named.lookup(req('/m'))), html('m'));
  const cond = hitOf(await named.lookup(req('/m', { 'if-none-match': served.headers.etag as string })));
  assert.equal(cond.status, 304);
  assert.equal(cond.body, null);
  assert.equal(cond.headers['content-type'], undefined);
});

test('stored headers drop framing, validators and cookies; HEAD keeps Content-Length', async () => {
  const cache = cacheWith();
  const miss = missOf(await cache.lookup(req('/h')));
  await fill(cache, miss, {
    status: 200,
    headers: { 'content-type': 'text/plain', 'content-length': 1, etag: 'W/"inode-123"', 'x-custom': ['a', 'b'], connection: 'close', date: 'x' },
    body: Buffer.from('h'),
  });
  const head = hitOf(await cache.lookup(req('/h', {}, 'HEAD')));
  assert.deepEqual(head.headers['x-custom'], ['a', 'b']);
  assert.equal(head.headers.connection, undefined);
  assert.equal(head.headers.date, undefined);
  assert.notEqual(head.headers.etag, 'W/"inode-123"', 'the app’s validator is replaced by the body hash');
  assert.equal(head.headers['content-length'], '1');
  const h = missOf(await cache.lookup(req('/nothing-yet')));
  cache.release(h);
  assert.equal(((await cache.lookup(req('/cold', {}, 'HEAD'))) as { reason: string }).reason, 'head-miss');
});

test('a Set-Cookie added while sending (writeHead hooks) keeps the response out of the store', async () => {
  const cache = cacheWith();
  const miss = missOf(await cache.lookup(req('/late')));
  const served = await fill(cache, miss, html('page with a fresh session'), { 'content-type': 'text/html', 'set-cookie': 'sid=new' });
  assert.equal(served.status, 200);
  const next = await cache.lookup(req('/late'));
  assert.equal(next.kind, 'miss', 'not stored');
  const private_ = missOf(await cache.lookup(req('/late2')));
  await fill(cache, private_, html('x'), { 'cache-control': 'private' });
  assert.equal((await cache.lookup(req('/late2'))).kind, 'miss');
});

test('identity clients decompress once per body, not once per hit', async () => {
  for (const identityCacheSize of [undefined, 0]) {
    const backend = createMemoryBackend();
    const cache = createResponseCache({ backend, identityCacheSize });
    const text = '<p>' + 'plain please '.repeat(300) + '</p>';
    const miss = missOf(await cache.lookup(req('/i', { 'accept-encoding': 'gzip' })));
    await fill(cache, miss, html(text));
    assert.equal(hitOf(await cache.lookup(req('/i'))).body?.toString(), text);
    // Break the stored compressed copy: only a remembered identity body can still answer.
    const stored = (await backend.get(miss.key)) as { bodies: Record<string, string> };
    await backend.set(miss.key, { ...stored, bodies: { gzip: Buffer.from('junk').toString('base64') } }, { ttl: 60_000 });
    const again = await cache.lookup(req('/i'));
    if (identityCacheSize === 0) assert.equal(again.kind, 'miss', 'without the LRU every identity hit decompresses');
    else assert.equal(hitOf(again).body?.toString(), text);
    if (again.kind === 'miss') cache.release(again.miss);
  }
});
