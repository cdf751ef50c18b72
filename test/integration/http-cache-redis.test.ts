// Two app instances (one Express, one Fastify) share one real redis-server through the two-tier cache
// (createCache: L1 per instance, Redis L2, invalidation bus) as the response cache's backend: what one stores the
// other serves byte for byte, tag invalidation on one evicts the other's L1, and a dead Redis degrades to
// per-instance caching instead of errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { request } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { createClient } from 'redis';
import { responseCache as expressCache } from '../../src/adapters/express.js';
import { responseCache as fastifyPlugin } from '../../src/adapters/fastify.js';
import type { ResponseCacheBackend, ResponseCacheOptions } from '../../src/core/http-cache/types.js';
import { createCache, type Cache } from '../../src/core/cache/index.js';
import { startRedis } from '../helpers/redis.js';

// No offline queue: while Redis is down, commands fail at once and requests go uncached instead of stalling.
const newClient = (url: string) => createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy: () => 100 } });
type Client = ReturnType<typeof newClient>;

function get(base: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
    const req = request(`${base}${path}`, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

test('express and fastify instances share entries through a real Redis', { timeout: 60_000 }, async () => {
  const redis = await startRedis();
  const clients: Client[] = [];
  const caches: Cache[] = [];
  const twoTier = (client: Client) => {
    const cache = createCache({ l2: { client } });
    caches.push(cache);
    return cache;
  };
  let expressServer: Server | undefined;
  const fastify = Fastify();
  try {
    const connect = async () => {
      const c = newClient(redis.url);
      c.on('error', () => {});
      await c.connect();
      clients.push(c);
      return c;
    };
    let renders = 0;
    const body = (id: string) => `<h1>item ${id}</h1>${'<p>same page from any instance</p>'.repeat(100)} render=${++renders}`;
    const options = (backend: ResponseCacheBackend): ResponseCacheOptions => ({
      backend,
      ttl: '1m',
      tags: (req) => [`item:${new URL(req.url, 'http://x').searchParams.get('id') ?? 'none'}`],
      keyHost: false, // the two instances listen on different ports, so their Host headers differ
    });

    const app = express();
    const mwA = expressCache(options(twoTier(await connect())));
    app.use(mwA);
    app.get('/item', (req, res) => void res.type('html').send(body(String(req.query.id as string))));
    expressServer = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => expressServer!.once('listening', () => r()));
    const a = `http://127.0.0.1:${(expressServer.address() as AddressInfo).port}`;

    await fastify.register(fastifyPlugin, options(twoTier(await connect())));
    fastify.get('/item', (req, reply) => reply.type('text/html').send(body(String((req.query as { id: string }).id))));
    const b = await fastify.listen({ port: 0, host: '127.0.0.1' });

    const first = await get(a, '/item?id=7', { 'accept-encoding': 'br' });
    assert.equal(first.headers['x-cache'], 'MISS');
    // The entry is stored after the response went out (never delaying it): wait, bounded, until it is in Redis.
    const watcher = await connect();
    for (const until = Date.now() + 5000; Date.now() < until; ) {
      if ((await watcher.keys('*')).some((k) => k.includes('http:'))) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const shared = await get(b, '/item?id=7', { 'accept-encoding': 'br' });
    assert.equal(shared.headers['x-cache'], 'HIT', 'the other instance serves the stored entry');
    assert.ok(shared.body.equals(first.body), 'byte-identical stored brotli');
    assert.equal(shared.headers.etag, first.headers.etag);
    assert.equal(renders, 1);

    const inspector = await connect();
    const keys = (await inspector.keys('*')).filter((k) => k.includes('http:'));
    assert.equal(keys.length, 1, String(keys));
    assert.match(keys[0]!, /^osc:cache:.*http:[\w-]{43}$/, 'keys are hashes, nothing from the URL');

    await fastify.responseCache.invalidateTag('item:7');
    // The eviction of A's memory tier travels over pub/sub (asynchronous by design, ~1 ms; longer on a busy box):
    // poll, bounded, until A stops serving the old entry.
    let again = await get(a, '/item?id=7');
    for (let i = 0; i < 60 && again.headers['x-cache'] !== 'MISS'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      again = await get(a, '/item?id=7');
    }
    assert.equal(again.headers['x-cache'], 'MISS', 'invalidation on one instance reaches the other within 3 s');
    assert.match(again.body.toString(), /render=2$/);

    await redis.kill();
    const down = await get(a, '/item?id=8');
    const down2 = await get(b, '/item?id=8');
    assert.equal(down.status, 200);
    assert.equal(down2.status, 200);
    assert.match(down2.body.toString(), /render=4$/, 'uncached but served while Redis is down');

    await redis.restart();
    for (const c of clients) {
      const deadline = Date.now() + 10_000;
      while (!c.isReady && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(c.isReady, 'client reconnected');
    }
    // The cache's breaker may hold L2 off for its cooldown after the outage, and an entry is stored after its
    // response went out: poll, bounded, until the other instance serves one from Redis.
    let back = await get(b, '/item?id=9');
    for (let i = 0; i < 60 && back.headers['x-cache'] !== 'HIT'; i++) {
      await get(a, '/item?id=9');
      await new Promise((r) => setTimeout(r, 50));
      back = await get(b, '/item?id=9');
    }
    assert.equal(back.headers['x-cache'], 'HIT', 'caching resumes after Redis comes back (within 3 s)');
  } finally {
    await fastify.close();
    if (expressServer) {
      expressServer.closeAllConnections();
      await new Promise<void>((r) => expressServer!.close(() => r()));
    }
    for (const c of caches) await c.close();
    for (const c of clients) c.destroy();
    await redis.stop();
  }
});
