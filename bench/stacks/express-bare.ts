/**
 * Framework ceiling: Express 5 answering the seed request from memory (no session store, no limiter, no Redis per
 * request), like bare-http. What any Express stack pays before its middleware does anything.
 */
import express from 'express';
import { createClient } from 'redis';
import { QUERY_KEY, USER_ID, announceReady, renderPage, stackEnv, type QueryRow } from './_contract.js';

const env = stackEnv();
const client = createClient({ url: env.redisUrl });
await client.connect();
const rows = JSON.parse((await client.get(env.prefix + QUERY_KEY)) ?? '[]') as QueryRow[];
await client.close();

const app = express();
app.disable('x-powered-by');
app.post('/login', (_req, res) => {
  res.setHeader('set-cookie', 'sid=bare; Path=/; HttpOnly; SameSite=Lax');
  res.json({ ok: true });
});
app.get('/page', (req, res) => {
  if (!req.headers.cookie?.includes('sid=bare')) return void res.status(401).type('text').send('log in first');
  res.type('html').send(renderPage(USER_ID, rows));
});
const server = app.listen(env.port, '127.0.0.1', () => announceReady(() => new Promise((r) => server.close(r))));
