/**
 * onionscale on Fastify 5: the `requestPipeline` plugin (session + circuit limit in one EVALSHA) and the two-tier cache.
 * GET /healthz answers 200 before Fastify (as examples/forum and the built-in instances do): haproxy's health check
 * (bench/stack.ts) carries no session and no circuit header, so it must not go through the pipeline.
 */
import { createServer } from 'node:http';
import Fastify from 'fastify';
import { requestPipeline } from '../../src/adapters/fastify.js';
import { USER_ID, announceReady, renderPage, stackEnv } from './_contract.js';
import { onionscaleKit } from './_onionscale.js';

const env = stackEnv();
const kit = await onionscaleKit(env);
const healthPath = process.env.ONIONSCALE_HEALTH_PATH ?? '/healthz';
const app = Fastify({
  logger: false,
  serverFactory: (handler) =>
    createServer((req, res) => {
      if (req.url === healthPath) res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('ok\n');
      else handler(req, res);
    }),
});
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
