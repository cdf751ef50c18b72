/**
 * Ceiling with Redis: node:http plus exactly one Redis GET per request (the cached query, through node-redis, the
 * client onionscale uses). onionscale's goal is to be no slower than this while it also reads the session and
 * checks the rate limit: at most one round trip per request, like this stack. The "session" is only the presence
 * of the cookie /login set.
 */
import { createServer } from 'node:http';
import { createClient } from 'redis';
import { QUERY_KEY, USER_ID, announceReady, renderPage, stackEnv, type QueryRow } from './_contract.js';

const env = stackEnv();
const client = createClient({ url: env.redisUrl });
await client.connect();
const queryKey = env.prefix + QUERY_KEY;

const server = createServer((req, res) => {
  if (req.url === '/login' && req.method === 'POST') {
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'sid=bare; Path=/; HttpOnly; SameSite=Lax' });
    res.end('{"ok":true}');
  } else if (req.url === '/page' && req.method === 'GET') {
    if (!req.headers.cookie?.includes('sid=bare')) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('log in first');
      return;
    }
    client.get(queryKey).then(
      (raw) => {
        const rows = raw === null ? [] : (JSON.parse(raw) as QueryRow[]);
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(renderPage(USER_ID, rows));
      },
      () => res.writeHead(503, { 'content-type': 'text/plain' }).end('redis unavailable'),
    );
  } else {
    res.writeHead(404).end();
  }
});
server.listen(env.port, '127.0.0.1', () =>
  announceReady(async () => {
    await new Promise((r) => server.close(r));
    await client.close();
  }),
);
