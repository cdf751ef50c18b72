/**
 * Sessions on a real redis-server: the store contract, and what only Redis shows (the key holds no session id,
 * the TTL is the idle timeout, NOSCRIPT recovery).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOwnedClient } from '../../src/core/redis/client.js';
import { createSessions } from '../../src/core/session/index.js';
import { RedisSessionStore } from '../../src/core/session/store.js';
import { sessionStoreContract } from '../../src/core/session/store-contract.js';
import { redisPerFile } from '../helpers/redis.js';

const fx = redisPerFile();

sessionStoreContract({
  name: 'redis',
  make: async (clock) => {
    const client = createOwnedClient({ url: fx.redis.url });
    await new Promise<void>((resolve) => (client.isReady ? resolve() : client.once('ready', () => resolve())));
    return new RedisSessionStore({ client, ownsClient: true, commandTimeout: 2000, now: clock });
  },
});

const SECRET = 'a-test-secret-that-is-long-enough-0123456789';

test('a saved session lives in one hash under a hashed key with the idle timeout as TTL; SCRIPT FLUSH is survived', async () => {
  const sessions = createSessions({ secrets: [SECRET], redis: { options: { url: fx.redis.url } }, ttl: '10m', prefix: 'osc:sess:t1:' });
  try {
    const s = await sessions.open({ headers: {} });
    s.set('userId', 'u1').set('theme', 'dark');
    const cookie = sessions.cookieHeader(s, { headers: {} });
    await s.save();
    assert.match(cookie ?? '', /^osc_sid=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
    const keys = await fx.client.keys('osc:sess:t1:*');
    assert.equal(keys.length, 1);
    assert.ok(!keys[0]!.includes(s.id), 'the Redis key does not contain the session id');
    assert.equal(await fx.client.type(keys[0]!), 'hash');
    assert.deepEqual(await fx.client.hGet(keys[0]!, 'userId'), '"u1"');
    const ttl = Number(await fx.client.pTTL(keys[0]!));
    assert.ok(ttl > 590_000 && ttl <= 600_000, `ttl ${ttl}`);

    await fx.client.scriptFlush();
    const again = await sessions.open({ headers: { cookie: cookie!.split(';')[0] } });
    assert.equal(again.isNew, false);
    assert.equal(again.get('theme'), 'dark');
  } finally {
    await sessions.close();
  }
});
