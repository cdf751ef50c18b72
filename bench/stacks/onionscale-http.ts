/**
 * onionscale on plain node:http: the request pipeline (session + circuit limit in one EVALSHA) and the two-tier
 * cache, with `bindSession` for the cookie and the save — the library without a framework, to set against
 * bare-http-get (node:http + one GET: the ceiling).
 */
import { createServer } from 'node:http';
import { refusalOf, limitHeaders } from '../../src/core/pipeline/index.js';
import { bindSession } from '../../src/core/session/node-response.js';
import { USER_ID, announceReady, renderPage, stackEnv } from './_contract.js';
import { onionscaleKit } from './_onionscale.js';

const env = stackEnv();
const kit = await onionscaleKit(env);
const server = createServer((req, res) => {
  const info = { headers: req.headers, method: req.method ?? 'GET', url: req.url ?? '/' };
  kit.pipeline.run(info).then(async ({ session, decision }) => {
    const refusal = refusalOf(decision);
    if (refusal) return void res.writeHead(refusal.status, refusal.headers).end(refusal.body);
    for (const [name, value] of Object.entries(limitHeaders(decision))) res.setHeader(name, value);
    bindSession(kit.pipeline.sessions, session, info, res);
    if (req.url === '/login' && req.method === 'POST') {
      session.regenerate().set('userId', USER_ID);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    } else if (req.url === '/page' && req.method === 'GET') {
      const userId = session.userId;
      if (userId === undefined) return void res.writeHead(401, { 'content-type': 'text/plain' }).end('log in first');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(renderPage(userId, await kit.query()));
    } else res.writeHead(404).end();
  }).catch(() => {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
server.listen(env.port, '127.0.0.1', () =>
  announceReady(async () => {
    await new Promise((r) => server.close(r));
    await kit.close();
  }),
);
