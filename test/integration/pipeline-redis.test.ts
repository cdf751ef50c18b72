/**
 * The request pipeline on a real redis-server, through Express and Fastify: a logged-in request costs ONE Redis
 * round trip (session load + rate limits + the route's cache read), counted two ways — the client's writes seen by a
 * TCP proxy in front of Redis, and the server's INFO commandstats. Then what the pipeline answers by itself: 400
 * without a circuit header, 429 with Retry-After and RateLimit headers per circuit, user-keyed limits (the user is
 * only known inside the script) across two sessions of one user, forged cookies as anonymous visitors.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server as HttpServer } from 'node:http';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { createClient } from 'redis';
import { circuitAddress } from '../../src/core/circuit.js';
import { createCache } from '../../src/core/cache/index.js';
import type { Cache } from '../../src/core/cache/cache.js';
import { RedisStore } from '../../src/core/cache/redis-store.js';
import type { AnyRedisClient } from '../../src/core/redis/client.js';
import { createRateLimiter } from '../../src/core/ratelimit/index.js';
import type { LimitRule } from '../../src/core/ratelimit/types.js';
import { createSessions } from '../../src/core/session/index.js';
import { createPipeline, type RequestPipeline } from '../../src/core/pipeline/index.js';
import { requestPipeline as expressPipeline } from '../../src/adapters/express.js';
import { requestPipeline as fastifyPipeline } from '../../src/adapters/fastify.js';
import { redisPerFile } from '../helpers/redis.js';

const SECRET = 'pipeline-test-secret-that-is-long-enough-0123';
const HEADER = 'x-onion-circuit';

/** A TCP proxy that counts the chunks each client writes (one chunk = one write = one round trip's request). */
interface CountingProxy {
  port: number;
  writes: () => number;
  close: () => Promise<void>;
}

async function countingProxy(target: number): Promise<CountingProxy> {
  let writes = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(target, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      writes++;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const done = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done).on('error', done);
    upstream.on('close', done).on('error', done);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    writes: () => writes,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

const fx = redisPerFile();

async function commandStats(): Promise<Record<string, number>> {
  const info = await fx.client.sendCommand<string>(['INFO', 'commandstats']);
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

interface Kit {
  client: AnyRedisClient;
  proxy: CountingProxy;
  pipeline: RequestPipeline;
  cache: Cache;
  loads: { count: number };
  close: () => Promise<void>;
}

async function kit(prefix: string, rules: LimitRule[]): Promise<Kit> {
  const proxy = await countingProxy(fx.redis.port);
  const client = createClient({ url: `redis://:${fx.redis.password}@127.0.0.1:${proxy.port}` }) as AnyRedisClient;
  await client.connect();
  const sessions = createSessions({ secrets: [SECRET], redis: { client }, prefix: `${prefix}sess:` });
  const limiter = createRateLimiter({ redis: { client }, prefix: `${prefix}rl:`, rules });
  // No invalidation bus on this client: its subscriber connection would be a second (idle) connection, not
  // another round trip, but the test counts every write through the proxy.
  const cache = createCache({ l2: { store: new RedisStore({ client, prefix: `${prefix}c:`, commandTimeout: 2000, ownsClient: false }) }, prefix: `${prefix}c:` });
  const pipeline = createPipeline({
    sessions,
    limiter,
    limits: (req) => (req.url.startsWith('/login') ? { rules: rules.filter((r) => !r.by.includes('user')).map((r) => r.name) } : {}),
    cache,
    prefetch: (req) => {
      const n = new URL(req.url, 'http://x').searchParams.get('n');
      return n === null ? undefined : `item:${n}`;
    },
  });
  return {
    client,
    proxy,
    pipeline,
    cache,
    loads: { count: 0 },
    close: async () => {
      await cache.close();
      await sessions.close();
      await limiter.close();
      await client.close();
      await proxy.close();
    },
  };
}

type Serve = (k: Kit) => Promise<{ base: string; close: () => Promise<void> }>;

const serveExpress: Serve = async (k) => {
  const app = express();
  app.use(expressPipeline(k.pipeline));
  app.post('/login', (req, res) => {
    req.session.regenerate().set('userId', typeof req.query.user === 'string' ? req.query.user : 'alice');
    res.json({ ok: true });
  });
  app.get('/page', async (req, res) => {
    if (req.session.userId === undefined) return void res.status(401).send('log in first');
    const n = typeof req.query.n === 'string' ? req.query.n : '0';
    const item = await k.cache.getOrSet(`item:${n}`, () => {
      k.loads.count++;
      return { n, loaded: true };
    });
    res.json({ user: req.session.userId, item });
  });
  const server = await new Promise<HttpServer>((r) => {
    const s = app.listen(0, '127.0.0.1', () => r(s));
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
};

const serveFastify: Serve = async (k) => {
  const app = Fastify();
  await app.register(fastifyPipeline, { pipeline: k.pipeline });
  app.post('/login', (req, reply) => {
    req.session.regenerate().set('userId', (req.query as { user?: string }).user ?? 'alice');
    return reply.send({ ok: true });
  });
  app.get('/page', async (req, reply) => {
    if (req.session.userId === undefined) return reply.code(401).send('log in first');
    const n = String((req.query as { n?: string }).n ?? '0');
    const item = await k.cache.getOrSet(`item:${n}`, () => {
      k.loads.count++;
      return { n, loaded: true };
    });
    return { user: req.session.userId, item };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
};

const circuit = (id: number) => ({ [HEADER]: circuitAddress(id) });

async function login(base: string, circuitId: number, user = 'alice'): Promise<string> {
  const res = await fetch(`${base}/login?user=${user}`, { method: 'POST', headers: circuit(circuitId) });
  assert.equal(res.status, 200, await res.text());
  const cookie = res.headers.get('set-cookie');
  assert.ok(cookie, 'login sets the session cookie');
  return cookie.split(';')[0]!;
}

for (const [framework, serve] of [
  ['express', serveExpress],
  ['fastify', serveFastify],
] as const) {
  describe(`request pipeline on ${framework}`, () => {
    test('a logged-in, rate-limited request with a cached read costs one Redis round trip', async () => {
      const prefix = `p:${framework}:rt:`;
      // No GCRA here: its Lua reads with GET, and the count of GETs below is the cache's.
      const k = await kit(prefix, [
        { name: 'circuit', algorithm: 'sliding-log', limit: 1000, window: '10s', by: ['circuit'] },
        { name: 'daily', algorithm: 'fixed-window', limit: 100_000, window: '1d', by: ['circuit'] },
        { name: 'user', algorithm: 'sliding-window', limit: 1000, window: '1m', by: ['user'], optional: true },
      ]);
      const app = await serve(k);
      try {
        const cookie = await login(app.base, 7);
        // Entries another instance stored: in Redis, not in this instance's L1.
        const writer = createCache({ l2: { options: { url: fx.redis.url } }, prefix: `${prefix}c:` });
        assert.ok(await writer.ready(), 'the writing instance reached Redis');
        const N = 20;
        for (let n = 0; n <= N; n++) await writer.set(`item:${n}`, { n: String(n), from: 'redis' });
        await writer.close();
        // Warm-up: the first EVALSHA of a fresh Redis is answered NOSCRIPT and resent as EVAL.
        const warm = await fetch(`${app.base}/page?n=0`, { headers: { ...circuit(7), cookie } });
        assert.equal(warm.status, 200);

        await fx.client.sendCommand(['CONFIG', 'RESETSTAT']);
        const before = k.proxy.writes();
        for (let n = 1; n <= N; n++) {
          const res = await fetch(`${app.base}/page?n=${n}`, { headers: { ...circuit(7), cookie } });
          assert.equal(res.status, 200);
          const body = (await res.json()) as { user: string; item: { n: string; from?: string } };
          assert.equal(body.user, 'alice');
          assert.deepEqual(body.item, { n: String(n), from: 'redis' }, 'the handler got the prefetched entry');
          assert.match(res.headers.get('ratelimit') ?? '', /"circuit";r=\d+;t=\d+, "daily";r=\d+;t=\d+, "user";r=\d+/);
        }
        const writes = k.proxy.writes() - before;
        const stats = await commandStats();
        assert.equal(writes, N, `client writes for ${N} requests: ${writes}`);
        assert.equal(stats.evalsha, N, `one script per request (${JSON.stringify(stats)})`);
        assert.equal(stats.get, N, 'one cache read per request, pipelined with the script');
        assert.equal(k.loads.count, 0, 'no loader ran: every read was a hit');
        assert.equal(stats.hgetall, N, 'the session was loaded inside the script');
        // The user rule's key was built in Lua from the session's ~u field.
        assert.equal((await fx.client.keys(`${prefix}rl:user:user=alice`)).length, 1);
      } finally {
        await app.close();
        await k.close();
      }
    });

    test('no circuit header → 400 OSC_ERR_CIRCUIT_REQUIRED; over the limit → 429 with Retry-After, per circuit', async () => {
      const k = await kit(`p:${framework}:lim:`, [{ name: 'burst', algorithm: 'fixed-window', limit: 3, window: '1m', by: ['circuit'] }]);
      const app = await serve(k);
      try {
        const none = await fetch(`${app.base}/page`);
        assert.equal(none.status, 400);
        assert.equal(((await none.json()) as { error: string }).error, 'OSC_ERR_CIRCUIT_REQUIRED');
        const forged = await fetch(`${app.base}/page`, { headers: { [HEADER]: '10.0.0.1' } });
        assert.equal(forged.status, 400, 'a header that is not a tor circuit address counts as none');

        const statuses: number[] = [];
        let last: Response | undefined;
        for (let i = 0; i < 4; i++) {
          last = await fetch(`${app.base}/page`, { headers: circuit(11) });
          statuses.push(last.status);
          if (i < 3) await last.text();
        }
        assert.deepEqual(statuses, [401, 401, 401, 429], 'three anonymous requests reach the handler, the fourth is limited');
        const body = (await last!.json()) as { error: string };
        assert.equal(body.error, 'OSC_ERR_RATELIMITED');
        assert.ok(Number(last!.headers.get('retry-after')) >= 1);
        assert.equal(last!.headers.get('ratelimit-policy'), '"burst";q=3;w=60');
        assert.match(last!.headers.get('ratelimit') ?? '', /^"burst";r=0;t=\d+$/);
        // Now a hot block: answered from memory — no script, and not even the route's cache prefetch reaches Redis.
        await fx.client.sendCommand(['CONFIG', 'RESETSTAT']);
        const hot = await fetch(`${app.base}/page?n=3`, { headers: circuit(11) });
        assert.equal(hot.status, 429);
        await hot.text();
        const stats = await commandStats();
        assert.deepEqual(Object.keys(stats).filter((c) => c !== 'info' && c !== 'config|resetstat'), [], `a blocked circuit cost Redis: ${JSON.stringify(stats)}`);
        const other = await fetch(`${app.base}/page`, { headers: circuit(12) });
        assert.equal(other.status, 401, 'another circuit has its own quota');
        await other.text();
      } finally {
        await app.close();
        await k.close();
      }
    });

    test('a user-keyed limit holds across two sessions of one user; forged cookies are anonymous, never a 500', async () => {
      const k = await kit(`p:${framework}:user:`, [
        { name: 'circuit', algorithm: 'gcra', limit: 1000, window: '10s', by: ['circuit'] },
        { name: 'per-user', algorithm: 'sliding-log', limit: 3, window: '1m', by: ['user'], optional: true },
      ]);
      const app = await serve(k);
      try {
        const a = await login(app.base, 21, 'bob');
        const b = await login(app.base, 22, 'bob');
        assert.notEqual(a, b);
        const statuses: number[] = [];
        for (const [cookie, id] of [[a, 21], [b, 22], [a, 21], [b, 22]] as const) {
          const res = await fetch(`${app.base}/page?n=x`, { headers: { ...circuit(id), cookie } });
          statuses.push(res.status);
          await res.text();
        }
        assert.deepEqual(statuses, [200, 200, 200, 429], "bob's quota is shared by both of his sessions");
        const carol = await login(app.base, 23, 'carol');
        const res = await fetch(`${app.base}/page?n=x`, { headers: { ...circuit(23), cookie: carol } });
        assert.equal(res.status, 200, 'another user is not affected');
        await res.text();

        for (const cookie of [`osc_sid=${a.split('=')[1]!.slice(0, 50)}`, `osc_sid=${'A'.repeat(43)}.${'B'.repeat(43)}`, `osc_sid=${'x'.repeat(6000)}`, 'osc_sid=%E0%A4%A']) {
          const r = await fetch(`${app.base}/page`, { headers: { ...circuit(24), cookie } });
          assert.equal(r.status, 401, `forged cookie ${cookie.slice(0, 30)}… → anonymous`);
          await r.text();
        }
      } finally {
        await app.close();
        await k.close();
      }
    });
  });
}

test('Redis unreachable: the session is degraded and the limiter answers locally; no 500', async () => {
  const proxy = await countingProxy(fx.redis.port);
  const client = createClient({ url: `redis://:${fx.redis.password}@127.0.0.1:${proxy.port}`, disableOfflineQueue: true }) as AnyRedisClient;
  client.on('error', () => {});
  await client.connect();
  const sessions = createSessions({ secrets: [SECRET], redis: { client }, prefix: 'p:down:sess:' });
  const limiter = createRateLimiter({ redis: { client }, prefix: 'p:down:rl:', rules: [{ name: 'c', algorithm: 'fixed-window', limit: 2, window: '1m', by: ['circuit'] }] });
  const pipeline = createPipeline({ sessions, limiter });
  try {
    await proxy.close(); // every connection through the proxy dies; node-redis keeps reconnecting in the background
    await new Promise((r) => setTimeout(r, 50));
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await pipeline.run({ method: 'GET', url: '/', headers: circuit(5) }));
    assert.deepEqual(results.map((r) => r.decision?.allowed), [true, true, false], 'the local limiter keeps the quota');
    assert.ok(results.every((r) => r.decision?.source === 'memory'));
  } finally {
    await limiter.close();
    await sessions.close();
    client.destroy();
  }
});
