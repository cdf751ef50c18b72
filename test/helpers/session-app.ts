/**
 * An app instance for multi-process session tests: `node --import tsx session-app.ts <express|fastify>` with
 * REDIS_URL, SESSION_TTL in the environment; listens on 127.0.0.1:0 and prints `listening <port>`.
 * Routes: POST /login?user=, GET /all, POST /set?field=&value=&delay=.
 */
import express from 'express';
import Fastify from 'fastify';
import { createSessions, type Session } from '../../src/core/session/index.js';
import { session as expressSession } from '../../src/adapters/express.js';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import { CONTRACT_SECRET, SESSION_ROUTES } from '../../src/core/session/adapter-contract.js';

const sessions = createSessions({
  secrets: [CONTRACT_SECRET],
  redis: { options: { url: process.env.REDIS_URL! } },
  ttl: process.env.SESSION_TTL ?? '1h',
});
const query = (url: string) => new URLSearchParams(url.split('?')[1] ?? '');
const handle = (path: string, s: Session, url: string) => SESSION_ROUTES.find((r) => r.path === path)!.handle(s, query(url));

if (process.argv[2] === 'fastify') {
  const app = Fastify();
  await app.register(fastifySession, { sessions });
  for (const r of SESSION_ROUTES) app.route({ method: r.method, url: r.path, handler: (req) => handle(r.path, req.session, req.url) });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  console.log(`listening ${new URL(url).port}`);
} else {
  const app = express();
  app.use(expressSession(sessions));
  for (const r of SESSION_ROUTES) {
    app[r.method === 'GET' ? 'get' : 'post'](r.path, (req, res, next) => {
      Promise.resolve(handle(r.path, req.session, req.url)).then((b) => res.json(b), next);
    });
  }
  const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as { port: number }).port}`));
}
