/**
 * Ceiling without Redis: node:http answering the seed request from memory. The query result is read from Redis
 * once at start (the harness wrote it there) and kept parsed, so a request costs no Redis command at all — the
 * fastest any stack here could be. The "session" is only the presence of the cookie /login set (no store).
 */
import { createServer } from 'node:http';
import { createClient } from 'redis';
import { QUERY_KEY, USER_ID, announceReady, renderPage, stackEnv, type QueryRow } from './_contract.js';

const env = stackEnv();
const client = createClient({ url: env.redisUrl });
await client.connect();
const raw = await client.get(env.prefix + QUERY_KEY);
await client.close();
if (raw === null) throw new Error(`${env.prefix}${QUERY_KEY} is not in Redis: the harness writes it before starting a stack`);
const rows = JSON.parse(raw) as QueryRow[];

const server = createServer((req, res) => {
  if (req.url === '/login' && req.method === 'POST') {
    res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'sid=bare; Path=/; HttpOnly; SameSite=Lax' });
    res.end('{"ok":true}');
  } else if (req.url === '/page' && req.method === 'GET') {
    if (!req.headers.cookie?.includes('sid=bare')) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('log in first');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(renderPage(USER_ID, rows));
  } else {
    res.writeHead(404).end();
  }
});
server.listen(env.port, '127.0.0.1', () => announceReady(() => new Promise((r) => server.close(r))));
