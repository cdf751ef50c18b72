/**
 * What both onionscale stacks share: ONE node-redis client for sessions, the limiter and the cache (one connection,
 * so the pipeline's script and any cache read go out in one write), the seed request's rate limit keyed by the
 * circuit, and the cached query through the two-tier cache (L1 keeps it for a second; the harness stored it as
 * plain JSON, so the loader reads it with a GET, as the peers do on every request).
 */
import { createClient } from 'redis';
import { createCache } from '../../src/core/cache/index.js';
import { RedisStore } from '../../src/core/cache/redis-store.js';
import { createPipeline } from '../../src/core/pipeline/index.js';
import { createRateLimiter } from '../../src/core/ratelimit/index.js';
import type { AnyRedisClient } from '../../src/core/redis/client.js';
import { createSessions } from '../../src/core/session/index.js';
import { QUERY_KEY, RATE_LIMIT, SESSION_MAX_AGE_MS, SESSION_SECRET, type QueryRow, type StackEnv } from './_contract.js';

export async function onionscaleKit(env: StackEnv) {
  const client = createClient({ url: env.redisUrl }) as AnyRedisClient;
  await client.connect();
  const sessions = createSessions({ secrets: [SESSION_SECRET], redis: { client }, prefix: `${env.prefix}sess:`, ttl: SESSION_MAX_AGE_MS, cookie: { secure: false } });
  const limiter = createRateLimiter({
    redis: { client },
    prefix: `${env.prefix}rl:`,
    rules: [{ name: 'circuit', algorithm: 'fixed-window', limit: RATE_LIMIT.limit, window: RATE_LIMIT.windowMs, by: ['circuit'] }],
  });
  const cache = createCache({ l2: { store: new RedisStore({ client, prefix: `${env.prefix}c:`, commandTimeout: 1000, ownsClient: false }) }, ttl: '1s' });
  const pipeline = createPipeline({ sessions, limiter, circuitHeader: env.circuitHeader });
  const query = (): Promise<QueryRow[]> =>
    cache.getOrSet('front', async () => {
      const raw = await client.get(env.prefix + QUERY_KEY);
      return raw === null ? [] : (JSON.parse(raw) as QueryRow[]);
    });
  const close = async (): Promise<void> => {
    await cache.close();
    await client.close();
  };
  return { pipeline, query, close };
}
