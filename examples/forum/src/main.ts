/**
 * Entry point of one forum instance (run by `onionscale up` as `builtin: forum`, or by hand):
 *
 *   PORT=8081 FORUM_DB=/tmp/forum.db node dist/forum/main.js
 *
 * Environment: PORT, HOST (127.0.0.1), ONIONSCALE_REDIS + ONIONSCALE_REDIS_PASSWORD_FILE (set by onionscale; without
 * them everything runs in memory, one instance), ONIONSCALE_CIRCUIT_HEADER, ONIONSCALE_HEALTH_PATH,
 * FORUM_DB (default .onionscale/forum.db under the working directory), FORUM_SEED_POSTS (default 100000; used only
 * when the database is new), FORUM_METRICS_INTERVAL (default 1s), FORUM_SECURE_COOKIES=1 (Secure cookies; Tor
 * Browser treats http onions as secure contexts), FORUM_TOR_INSTANCE (default main).
 */
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { createClient } from 'redis';
import { redisOptionsFromEnv } from 'onionscale';
import { createInstanceMetrics } from 'onionscale/metrics';
import { createForum } from './app.js';
import { openForumDb } from './db.js';

const env = process.env;
const instance = env.ONIONSCALE_INSTANCE ?? 'forum';
const log = (line: string) => console.log(`${instance}: ${line}`);

function intEnv(name: string, fallback: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0 || n > max) {
    console.error(`${name}=${raw} must be an integer between 0 and ${max}`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const host = env.HOST ?? '127.0.0.1';
  const port = intEnv('PORT', 8081, 65535);
  const healthPath = env.ONIONSCALE_HEALTH_PATH ?? '/healthz';
  const file = resolve(env.FORUM_DB ?? '.onionscale/forum.db');

  const db = await openForumDb({ file, seedPosts: intEnv('FORUM_SEED_POSTS', 100_000, 5_000_000), log });

  const redisOptions = redisOptionsFromEnv();
  const redis = redisOptions
    ? createClient({ ...redisOptions, disableOfflineQueue: true, socket: { ...redisOptions.socket, connectTimeout: 2000 } })
    : undefined;
  if (redis) {
    redis.on('error', () => {});
    // Redis is started before the instances; a Redis that is not there yet is retried by node-redis itself.
    await Promise.race([redis.connect().catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
  }
  const metrics = createInstanceMetrics({ redis: redis ? { client: redis } : false, interval: env.FORUM_METRICS_INTERVAL ?? '1s' });
  const forum = createForum({
    db,
    redis,
    metrics,
    circuitHeader: env.ONIONSCALE_CIRCUIT_HEADER ?? 'X-Onion-Circuit',
    torInstance: env.FORUM_TOR_INSTANCE ?? 'main',
    secureCookies: env.FORUM_SECURE_COOKIES === '1',
  });

  const server = createServer((req, res) => {
    if (req.url === healthPath) {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('ok\n');
      return;
    }
    forum.app(req, res);
  });
  server.headersTimeout = 15_000;
  server.requestTimeout = 60_000;
  server.on('error', (err) => {
    console.error(`cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  });
  server.listen(port, host, () => log(`listening on ${host}:${port} (db ${file})`));

  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    // Ending the SSE streams first lets browsers reconnect (to another instance) and lets close() finish.
    void forum
      .close()
      .then(() => metrics.close())
      .then(() => redis?.close())
      .catch(() => undefined)
      .finally(() => {
        db.close();
        process.exit(0);
      });
    server.close();
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  console.error(`${instance}: cannot start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
