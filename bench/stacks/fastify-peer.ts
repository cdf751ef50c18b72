/**
 * The Fastify peer stack, configured as the plugins' READMEs recommend:
 *   fastify 5 + @fastify/cookie + @fastify/session (saveUninitialized: false, rolling: true — its default, so the
 *   session is saved again with SET and its cookie re-sent on every request) with a connect-redis 9 store on a
 *   node-redis client, and @fastify/rate-limit with its `redis` option (an ioredis client with the connectTimeout
 *   and maxRetriesPerRequest its docs advise), keyed by the circuit header through keyGenerator. The limiter is
 *   registered first, so its onRequest hook runs before the session's. The cached query is one GET through the
 *   node-redis client.
 */
import Fastify from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import fastifyRateLimit from '@fastify/rate-limit';
import { RedisStore as SessionStore } from 'connect-redis';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import {
  QUERY_KEY,
  RATE_LIMIT,
  SESSION_MAX_AGE_MS,
  SESSION_SECRET,
  USER_ID,
  announceReady,
  circuitKey,
  renderPage,
  stackEnv,
  type QueryRow,
} from './_contract.js';

declare module 'fastify' {
  interface Session {
    userId?: string;
  }
}

const env = stackEnv();
const client = createClient({ url: env.redisUrl });
await client.connect();
const ioredis = new Redis(env.redisUrl, { connectTimeout: 500, maxRetriesPerRequest: 1 });
const queryKey = env.prefix + QUERY_KEY;

const app = Fastify({ logger: false });
await app.register(fastifyRateLimit, {
  global: true,
  max: RATE_LIMIT.limit,
  timeWindow: RATE_LIMIT.windowMs,
  redis: ioredis,
  nameSpace: `${env.prefix}rl:`,
  keyGenerator: (request) => circuitKey(request.headers[env.circuitHeader]),
});
await app.register(fastifyCookie);
await app.register(fastifySession, {
  secret: SESSION_SECRET,
  store: new SessionStore({ client, prefix: `${env.prefix}sess:` }),
  saveUninitialized: false,
  rolling: true,
  cookie: { maxAge: SESSION_MAX_AGE_MS, httpOnly: true, sameSite: 'lax', secure: false }, // http onion: see README
});

app.post('/login', (request, reply) => {
  request.session.set('userId', USER_ID);
  return reply.send({ ok: true });
});

app.get('/page', async (request, reply) => {
  const userId = request.session.get('userId');
  if (userId === undefined) return reply.code(401).type('text/plain').send('log in first');
  const raw = await client.get(queryKey);
  const rows = raw === null ? [] : (JSON.parse(raw) as QueryRow[]);
  return reply.type('text/html; charset=utf-8').send(renderPage(userId, rows));
});

await app.listen({ port: env.port, host: '127.0.0.1' });
announceReady(async () => {
  await app.close();
  await client.close();
  ioredis.disconnect();
});
