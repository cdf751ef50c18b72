/**
 * The app the fault suite runs (3 instances under onionscale `up`, `command: node --import tsx test/faults/app.ts`):
 * the library's parts a real site uses, each on a route the load generator hits.
 *
 *   GET  /page/<n>     cacheable page: cache.getOrSet (L1 + Redis L2, grace) — must never fail
 *   GET  /me           logged-in page: session read (cookie osc_sid)
 *   POST /login?user=  create a session (Redis)
 *   POST /post         a write: a Redis INCR (may fail with 503 while Redis is down: not idempotent, not retried)
 *   GET  /limited      rate limiter per circuit; answers which source decided (redis | memory)
 *   GET  /sse          a short event stream (ticks every 200 ms for ?ms=)
 *   GET  /whoami       instance name and pid
 *   GET  /circuit      the circuit header as the instance received it (set by haproxy)
 */
import { existsSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createClient } from 'redis';
import { createCache } from '../../src/core/cache/factory.js';
import { circuitIdOf } from '../../src/core/circuit.js';
import { createRateLimiter } from '../../src/core/ratelimit/index.js';
import { redisOptionsFromEnv } from '../../src/core/redis/env.js';
import { bindSession } from '../../src/core/session/node-response.js';
import { createSessions } from '../../src/core/session/sessions.js';
import { runInstance } from '../../src/instances/runner.js';

const instance = process.env.ONIONSCALE_INSTANCE ?? 'fault-app';
// The fault suite keeps every instance down by creating this file: a restarted instance exits at once, like an
// app that cannot start (connections to its port are refused meanwhile).
if (process.env.FAULTS_HOLD && existsSync(process.env.FAULTS_HOLD)) {
  console.error('held down by the fault suite');
  process.exit(1);
}
const header = (process.env.ONIONSCALE_CIRCUIT_HEADER ?? 'X-Onion-Circuit').toLowerCase();
const redisOptions = redisOptionsFromEnv()!;

const cache = createCache({ name: 'faults', l2: { options: redisOptions, commandTimeout: 250 }, ttl: '2s', grace: '10m', breakerCooldown: 500 });
const sessions = createSessions({ secrets: ['fault-suite-secret-0123456789abcdef0123456789'], redis: { options: redisOptions }, ttl: '1h', commandTimeout: '500ms' });
const limiter = createRateLimiter({
  rules: [{ name: 'circuit', algorithm: 'sliding-window', limit: 100_000, window: '10s', by: ['circuit'] }],
  redis: { options: redisOptions },
  onRedisDown: 'local',
});
const redis = createClient({ ...redisOptions, disableOfflineQueue: true, socket: { ...redisOptions.socket, connectTimeout: 1000 } });
redis.on('error', () => {});
redis.connect().catch(() => {});

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
};

runInstance(
  async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://onion.invalid');
    const path = url.pathname;
    if (req.method === 'GET' && path.startsWith('/page/')) {
      const n = path.slice(6).replace(/[^0-9]/g, '').slice(0, 4) || '0';
      const page = await cache.getOrSet(`page:${n}`, () => Promise.resolve({ n, html: `<h1>page ${n}</h1>`, by: instance, at: Date.now() }));
      json(res, 200, page);
      return;
    }
    if (path === '/whoami') return json(res, 200, { instance, pid: process.pid });
    if (path === '/circuit') return json(res, 200, { circuit: circuitIdOf(req.headers[header]) ?? null, raw: req.headers[header] ?? null });
    if (path === '/me' || path === '/login') {
      const info = { headers: req.headers };
      const session = await sessions.open(info);
      bindSession(sessions, session, info, res);
      if (path === '/login' && req.method === 'POST') {
        session.regenerate();
        session.set('userId', url.searchParams.get('user') ?? 'anon');
        return json(res, 200, { login: true });
      }
      if (session.degraded) return json(res, 503, { error: 'session store unavailable' });
      return json(res, 200, { user: session.userId ?? null, instance });
    }
    if (path === '/post' && req.method === 'POST') {
      if (!redis.isReady) return json(res, 503, { error: 'redis unavailable' });
      return json(res, 200, { posts: await redis.incr('faults:posts') });
    }
    if (path === '/limited') {
      const circuit = circuitIdOf(req.headers[header]);
      const d = await limiter.check({ circuit: `t:${circuit ?? 0}` });
      return json(res, d.allowed ? 200 : 429, { source: d.source });
    }
    if (path === '/sse') {
      const ms = Math.min(10_000, Number(url.searchParams.get('ms') ?? 1000) || 1000);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      let i = 0;
      const t = setInterval(() => res.write(`id: ${++i}\ndata: tick\n\n`), 200);
      setTimeout(() => {
        clearInterval(t);
        res.end('event: end\ndata: bye\n\n');
      }, ms);
      res.on('close', () => clearInterval(t));
      return;
    }
    json(res, 404, { error: 'not found' });
  },
  async () => {
    await Promise.allSettled([cache.close(), sessions.close(), limiter.close(), redis.isOpen ? redis.close() : Promise.resolve()]);
  },
);
