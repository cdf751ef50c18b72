/** onionscale on Fastify 5: the `requestPipeline` plugin (session + circuit limit in one EVALSHA) and the two-tier cache. */
import Fastify from 'fastify';
import { requestPipeline } from '../../src/adapters/fastify.js';
import { USER_ID, announceReady, renderPage, stackEnv } from './_contract.js';
import { onionscaleKit } from './_onionscale.js';

const env = stackEnv();
const kit = await onionscaleKit(env);
const app = Fastify({ logger: false });
await app.register(requestPipeline, { pipeline: kit.pipeline });
app.post('/login', (request, reply) => {
  request.session.regenerate().set('userId', USER_ID);
  return reply.send({ ok: true });
});
app.get('/page', async (request, reply) => {
  const userId = request.session.userId;
  if (userId === undefined) return reply.code(401).type('text/plain').send('log in first');
  return reply.type('text/html; charset=utf-8').send(renderPage(userId, await kit.query()));
});
await app.listen({ port: env.port, host: '127.0.0.1' });
announceReady(async () => {
  await app.close();
  await kit.close();
});
