/**
 * The pipeline without Redis (sessions and limits in memory: the sequential path), and its option checks. The
 * one-round-trip path on real Redis is test/integration/pipeline-redis.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { circuitAddress } from '../circuit.js';
import { isOnionscaleError } from '../../errors.js';
import { createRateLimiter } from '../ratelimit/index.js';
import { createSessions } from '../session/index.js';
import { createPipeline } from './index.js';
import { refusalOf } from './refusal.js';

const SECRET = 'pipeline-unit-secret-that-is-long-enough-01234';
const at = (id: number, cookie?: string) => ({ method: 'GET', url: '/', headers: { 'x-onion-circuit': circuitAddress(id), ...(cookie ? { cookie } : {}) } });

test('memory mode: a user-keyed rule follows the session user; optional rules skip anonymous visitors', async () => {
  const sessions = createSessions({ secrets: [SECRET], redis: false });
  const limiter = createRateLimiter({
    redis: false,
    rules: [
      { name: 'c', algorithm: 'fixed-window', limit: 100, window: '1m', by: ['circuit'] },
      { name: 'u', algorithm: 'fixed-window', limit: 2, window: '1m', by: ['user'], optional: true },
    ],
  });
  const pipeline = createPipeline({ sessions, limiter });
  const anon = await pipeline.run(at(1));
  assert.equal(anon.decision?.allowed, true);
  assert.deepEqual(anon.decision?.results.map((r) => r.rule), ['c'], 'no user: the optional user rule is skipped');
  anon.session.set('userId', 'dana');
  const cookie = sessions.cookieHeader(anon.session, at(1))!.split(';')[0]!;
  await sessions.save(anon.session);
  const seen = [];
  for (let i = 0; i < 3; i++) seen.push((await pipeline.run(at(2 + i, cookie))).decision?.allowed);
  assert.deepEqual(seen, [true, true, false], "dana's quota holds whatever circuit she uses");
});

test('a non-optional user rule refuses anonymous requests with 400, counting nothing', async () => {
  const sessions = createSessions({ secrets: [SECRET], redis: false });
  const limiter = createRateLimiter({ redis: false, rules: [{ name: 'u', algorithm: 'gcra', limit: 5, window: '1s', by: ['user'] }] });
  const { decision } = await createPipeline({ sessions, limiter }).run(at(1));
  assert.deepEqual(decision?.missing, ['user']);
  const refusal = refusalOf(decision);
  assert.equal(refusal?.status, 400);
  assert.equal((JSON.parse(refusal?.body ?? '{}') as { error?: string }).error, 'OSC_ERR_RATELIMIT_SUBJECT');
});

test('the session keeps its ~u bookkeeping to itself', async () => {
  const sessions = createSessions({ secrets: [SECRET], redis: false });
  const s = await sessions.open({ headers: {} });
  s.set('userId', 'weird user:*');
  const userKey = s.pending()?.set.find(([n]) => n === '~u')?.[1];
  assert.match(userKey ?? '', /^~[A-Za-z0-9_-]{22}$/, 'a user id that is not key-safe is stored hashed');
  const cookie = sessions.cookieHeader(s, { headers: {} })!.split(';')[0]!;
  await sessions.save(s);
  const again = await sessions.open({ headers: { cookie } });
  assert.deepEqual(again.toJSON(), { userId: 'weird user:*' });
  again.delete('userId');
  assert.ok(again.pending()!.del.includes('~u'), 'logging out drops the key form too');
});

test("noCircuit: 'shared' limits requests without a circuit header as one subject instead of refusing them", async () => {
  const sessions = createSessions({ secrets: [SECRET], redis: false });
  const limiter = createRateLimiter({ redis: false, rules: [{ name: 'c', algorithm: 'fixed-window', limit: 2, window: '1m', by: ['circuit'] }] });
  const bare = { method: 'POST', url: '/login', headers: {} };
  const refused = await createPipeline({ sessions, limiter }).run(bare);
  assert.deepEqual(refused.decision?.missing, ['circuit']);
  const shared = createPipeline({ sessions, limiter, noCircuit: 'shared' });
  const seen = [];
  for (let i = 0; i < 3; i++) seen.push((await shared.run(bare)).decision?.allowed);
  assert.deepEqual(seen, [true, true, false]);
  assert.equal((await shared.run(at(9))).decision?.allowed, true, 'a request with a circuit has its own quota');
});

test('bad options are reported together with a code', () => {
  assert.throws(
    () => createPipeline({ sessions: {} as never, circuitHeader: 'bad header', prefetch: () => 'k' }),
    (err: unknown) => isOnionscaleError(err) && err.code === 'OSC_ERR_PIPELINE_OPTIONS' && /sessions/.test(err.message) && /circuitHeader/.test(err.message) && /prefetch: needs `cache`/.test(err.message),
  );
});
