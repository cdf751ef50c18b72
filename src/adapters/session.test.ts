// The shared session contract against real Express 5 and Fastify 5 apps on 127.0.0.1:0.
import express from 'express';
import Fastify from 'fastify';
import { runSessionContract } from '../core/session/adapter-contract.js';
import { session as expressSession } from './express.js';
import { session as fastifySession } from './fastify.js';

runSessionContract('express', (options, routes) => {
  const app = express();
  app.use(expressSession(options));
  for (const r of routes) {
    app[r.method === 'GET' ? 'get' : 'post'](r.path, (req, res, next) => {
      Promise.resolve(r.handle(req.session, new URLSearchParams(req.url.split('?')[1] ?? ''))).then((body) => res.json(body), next);
    });
  }
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
});

runSessionContract('fastify', async (options, routes) => {
  const app = Fastify();
  await app.register(fastifySession, options);
  for (const r of routes) {
    app.route({ method: r.method, url: r.path, handler: (req) => r.handle(req.session, new URLSearchParams(req.url.split('?')[1] ?? '')) });
  }
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
});
