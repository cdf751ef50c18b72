/**
 * The Express peer stack, configured as the libraries' READMEs recommend:
 *   express 5 + express-session (resave: false, saveUninitialized: false, rolling: false — its default; the
 *   session's TTL is still refreshed on every request by connect-redis's touch, an EXPIRE) with connect-redis 9 on
 *   a node-redis client, and express-rate-limit (standardHeaders 'draft-8') with rate-limit-redis over the same
 *   client's sendCommand. The limiter runs first (a rejected request costs no session read) and is keyed by the
 *   circuit header through keyGenerator, as its docs show for proxy headers. The cached query is one GET through
 *   the same client.
 */
import express from 'express';
import session from 'express-session';
import { RedisStore as SessionStore } from 'connect-redis';
import { rateLimit } from 'express-rate-limit';
import { RedisStore as RateLimitStore, type RedisReply } from 'rate-limit-redis';
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

declare module 'express-session' {
  interface SessionData {
    userId?: string;
  }
}

const env = stackEnv();
const client = createClient({ url: env.redisUrl });
await client.connect();
const queryKey = env.prefix + QUERY_KEY;

const app = express();
app.use(
  rateLimit({
    windowMs: RATE_LIMIT.windowMs,
    limit: RATE_LIMIT.limit,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    keyGenerator: (req) => circuitKey(req.headers[env.circuitHeader]),
    store: new RateLimitStore({
      sendCommand: (...args: string[]) => client.sendCommand<RedisReply>(args),
      prefix: `${env.prefix}rl:`,
    }),
  }),
);
app.use(
  session({
    store: new SessionStore({ client, prefix: `${env.prefix}sess:` }),
    secret: SESSION_SECRET,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    cookie: { maxAge: SESSION_MAX_AGE_MS, httpOnly: true, sameSite: 'lax', secure: false }, // http onion: see README
  }),
);

app.post('/login', (req, res) => {
  req.session.userId = USER_ID;
  res.json({ ok: true });
});

app.get('/page', async (req, res) => {
  const userId = req.session.userId;
  if (userId === undefined) {
    res.status(401).type('text').send('log in first');
    return;
  }
  const raw = await client.get(queryKey);
  const rows = raw === null ? [] : (JSON.parse(raw) as QueryRow[]);
  res.type('html').send(renderPage(userId, rows));
});

const server = app.listen(env.port, '127.0.0.1', () =>
  announceReady(async () => {
    await new Promise((r) => server.close(r));
    await client.close();
  }),
);
