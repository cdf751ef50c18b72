/**
 * Framework ceiling: Fastify 5 answering the seed request from memory (no session store, no limiter, no Redis per
 * request), like bare-http. What any Fastify stack pays before its plugins do anything.
 */
import Fastify from 'fastify';
import { createClient } from 'redis';
import { QUERY_KEY, USER_ID, announceReady, renderPage, stackEnv, type QueryRow } from './_contract.js';

const env = stackEnv();
const client = createClient({ url: env.redisUrl });
await client.connect();
const rows = JSON.parse((await client.get(env.prefix + QUERY_KEY)) ?? '[]') as QueryRow[];
await client.close();

const app = Fastify({ logger: false });
app.post('/login', (_request, reply) => reply.header('set-cookie', 'sid=bare; Path=/; HttpOnly; SameSite=Lax').send({ ok: true }));
app.get('/page', (request, reply) => {
  if (!request.headers.cookie?.includes('sid=bare')) return reply.code(401).type('text/plain').send('log in first');
  return reply.type('text/html; charset=utf-8').send(renderPage(USER_ID, rows));
});
await app.listen({ port: env.port, host: '127.0.0.1' });
announceReady(() => app.close());
