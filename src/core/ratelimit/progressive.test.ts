import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createProgressiveDelay } from './progressive.js';

test('progressive delay (memory): min(n², max) s after the last failure, per account and per circuit, reset on success', async () => {
  let now = 5_000_000;
  const pd = createProgressiveDelay({ redis: false, clock: () => now, max: '30s', forgetAfter: '1h' });
  const who = { account: 'alice', circuit: 'main:7' };
  assert.deepEqual(await pd.check(who), { allowed: true, retryAfterMs: 0, source: 'memory' });
  assert.equal((await pd.failure(who)).retryAfterMs, 1000);
  assert.equal((await pd.check(who)).retryAfterMs, 1000);
  now += 999;
  assert.equal((await pd.check(who)).allowed, false);
  now += 1;
  assert.equal((await pd.check(who)).allowed, true);
  assert.equal((await pd.failure(who)).retryAfterMs, 4000);
  for (let i = 3; i <= 6; i++) assert.equal((await pd.failure(who)).retryAfterMs, Math.min(i * i, 30) * 1000);
  // The circuit is refused for any account, the account from any circuit.
  assert.equal((await pd.check({ account: 'bob', circuit: 'main:7' })).retryAfterMs, 30_000);
  assert.equal((await pd.check({ account: 'alice', circuit: 'main:8' })).retryAfterMs, 30_000);
  assert.equal((await pd.check({ account: 'bob', circuit: 'main:8' })).allowed, true);
  await pd.success(who);
  assert.equal((await pd.check(who)).allowed, true);
  assert.equal((await pd.failure(who)).retryAfterMs, 1000, 'count starts over after success');
  now += 3_600_000;
  assert.equal((await pd.failure(who)).retryAfterMs, 1000, 'forgotten after forgetAfter');
  await assert.rejects(pd.check({}), { code: 'OSC_ERR_RATELIMIT_SUBJECT' });
  await assert.rejects(pd.check({ circuit: 'nonsense' }), { code: 'OSC_ERR_RATELIMIT_SUBJECT' });
  assert.throws(() => createProgressiveDelay({ redis: false, max: 'x' }), { code: 'OSC_ERR_RATELIMIT_OPTIONS' });
});
