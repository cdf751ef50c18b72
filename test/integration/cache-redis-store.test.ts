/**
 * The store contract suite against a real redis-server, plus what only Redis can show: the Lua scripts' atomicity
 * assumptions, key layout under the prefix, and the owned client's lifecycle.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createOwnedClient } from '../../src/core/redis/client.js';
import { GET_OR_LOCK } from '../../src/core/cache/lua.js';
import { RedisStore } from '../../src/core/cache/redis-store.js';
import { storeContract } from '../../src/core/cache/store-contract.js';
import { redisPerFile, startRedis } from '../helpers/redis.js';

const fx = redisPerFile();

storeContract({
  name: 'redis',
  // A fresh prefix per test keeps each one "empty"; each store owns its own client so close() is exercised.
  make: async () => {
    const client = createOwnedClient({ url: fx.redis.url });
    const store = new RedisStore({ client, prefix: `t:${randomUUID()}:`, ownsClient: true });
    const deadline = Date.now() + 5000;
    while (!store.available && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    return store;
  },
});

test('redis store: key layout under the prefix, tag sets expire with their members', async () => {
  const prefix = `layout:${randomUUID()}:`;
  const store = new RedisStore({ client: fx.client, prefix });
  await store.set('k:a', 'v', 5000, ['t1']);
  assert.equal(await fx.client.get(`${prefix}k:a`), 'v');
  assert.deepEqual(await fx.client.sMembers(`${prefix}t:t1`), ['k:a']);
  const ttl = Number(await fx.client.pTTL(`${prefix}t:t1`));
  assert.ok(ttl > 0 && ttl <= 5000, `tag set ttl ${ttl}`);
  await store.set('k:b', 'w', 20_000, ['t1']);
  assert.ok(Number(await fx.client.pTTL(`${prefix}t:t1`)) > 5000, 'tag set lives as long as its longest member');
  const token = await store.acquireLock('k:a', 5000);
  assert.equal(await fx.client.get(`${prefix}l:k:a`), token);
  await store.close();
  assert.equal(fx.client.isReady, true, 'a store never closes a client it was given');
});

test('redis store: scripts are reloaded after SCRIPT FLUSH (NOSCRIPT fallback)', async () => {
  const store = new RedisStore({ client: fx.client, prefix: `flush:${randomUUID()}:` });
  await store.set('k:a', '1', 5000, ['t']);
  await fx.client.scriptFlush();
  await store.set('k:b', '2', 5000, ['t']);
  assert.deepEqual((await store.deleteByTag('t')).sort(), ['k:a', 'k:b']);
  await store.close();
});

test('redis store: a dead Redis makes an owned client unavailable and commands reject fast', async () => {
  const own = await startRedis();
  const client = createOwnedClient({ url: own.url });
  const store = new RedisStore({ client, prefix: 'dead:', ownsClient: true, commandTimeout: 10_000 });
  try {
    while (!store.available) await new Promise((r) => setTimeout(r, 10));
    const seen: boolean[] = [];
    store.onAvailability((a) => seen.push(a));
    await own.kill();
    const deadline = Date.now() + 5000;
    while (store.available && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(store.available, false);
    const t0 = performance.now();
    await assert.rejects(store.get('k:a'));
    assert.ok(performance.now() - t0 < 5000, 'no offline queue: rejected without waiting for the 10 s timeout');
    await own.restart();
    while (!store.available && Date.now() < deadline + 5000) await new Promise((r) => setTimeout(r, 10));
    assert.equal(store.available, true);
    assert.deepEqual(seen.slice(0, 1), [false]);
    assert.equal(seen.at(-1), true);
    await store.set('k:a', 'back', 5000);
    assert.equal(await store.get('k:a'), 'back');
  } finally {
    await store.close();
    await own.stop();
  }
});

test('redis store: the Lua fallback of getOrLock (for Redis < 7.0) has the same semantics as SET NX GET', async () => {
  const key = `lua:${randomUUID()}`;
  const run = () => fx.client.eval(GET_OR_LOCK.source, { keys: [key], arguments: ['\u0000lock:t1', '5000'] });
  assert.equal(await run(), null, 'absent: marker set, caller holds the lock');
  assert.equal(await fx.client.get(key), '\u0000lock:t1');
  assert.ok(Number(await fx.client.pTTL(key)) > 0, 'the marker expires');
  assert.equal(await run(), '\u0000lock:t1', 'held: the marker comes back (someone else loads)');
  await fx.client.set(key, 'value');
  assert.equal(await run(), 'value');
  // And the native path agrees on this server.
  const viaSet = await fx.client.sendCommand(['SET', `${key}:n`, 'm', 'NX', 'PX', '5000', 'GET']);
  assert.equal(viaSet, null);
});
