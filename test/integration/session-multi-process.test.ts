/**
 * Sessions shared by separate instance processes (one Express, one Fastify) on one real redis-server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { spawnForTest } from '../helpers/process.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const APP = fileURLToPath(new URL('../helpers/session-app.ts', import.meta.url));
let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(() => redis?.stop());

async function instance(t: { after: (fn: () => Promise<void>) => void }, framework: string, ttl = '1h'): Promise<string> {
  process.env.REDIS_URL = redis.url;
  process.env.SESSION_TTL = ttl;
  const p = spawnForTest(t, process.execPath, ['--import', 'tsx', APP, framework]);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const m = /listening (\d+)/.exec(p.log());
    if (m) return `http://127.0.0.1:${m[1]}`;
    if (p.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`instance did not start:\n${p.log()}`);
}

const call = async (base: string, method: string, path: string, cookie?: string) => {
  const res = await fetch(base + path, { method, headers: cookie ? { cookie } : {} });
  return { body: (await res.json()), setCookie: res.headers.get('set-cookie') };
};

test('a session made on one instance is read and written on another; concurrent writes on both survive', async (t) => {
  const [a, b] = await Promise.all([instance(t, 'express'), instance(t, 'fastify')]);
  const login = await call(a, 'POST', '/login?user=alice');
  const cookie = login.setCookie!.split(';')[0]!;
  assert.deepEqual((await call(b, 'GET', '/all', cookie)).body, { userId: 'alice' }, 'B reads what A wrote');

  for (let round = 0; round < 5; round++) {
    await Promise.all([
      call(a, 'POST', `/set?field=fromA&value=${round}&delay=20`, cookie),
      call(b, 'POST', `/set?field=fromB&value=${round}&delay=20`, cookie),
    ]);
    assert.deepEqual((await call(a, 'GET', '/all', cookie)).body, { userId: 'alice', fromA: String(round), fromB: String(round) }, `round ${round}`);
  }
});

test('an expired session is gone on every instance', async (t) => {
  const [a, b] = await Promise.all([instance(t, 'express', '1s'), instance(t, 'fastify', '1s')]);
  const cookie = (await call(a, 'POST', '/login?user=bob')).setCookie!.split(';')[0]!;
  assert.deepEqual((await call(b, 'GET', '/all', cookie)).body, { userId: 'bob' });
  await new Promise((r) => setTimeout(r, 1300));
  assert.deepEqual((await call(a, 'GET', '/all', cookie)).body, {});
  assert.deepEqual((await call(b, 'GET', '/all', cookie)).body, {});
});
