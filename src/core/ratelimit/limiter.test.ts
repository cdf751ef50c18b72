import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createRateLimiter } from './limiter.js';
import { limiterContract } from './limiter-contract.js';
import { RATELIMIT_CHANNEL, type RateLimitEvent } from './channels.js';
import { encodeKeyPart as encodeValue } from '../redis/key-part.js';
import { ruleKey, circuitSubject, resolveRules } from './keys.js';
import { OnionscaleError } from '../../errors.js';
import { circuitAddress } from '../circuit.js';

limiterContract({
  name: 'memory',
  source: 'memory',
  make: (rules, clock) => Promise.resolve(createRateLimiter({ rules, redis: false, clock, hotBlocks: false })),
});

const codeOf = (fn: () => unknown): { code: string; message: string } => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof OnionscaleError, String(err));
    return { code: err.code, message: err.message };
  }
  throw new Error('did not throw');
};

test('rules: every problem reported at once with OSC_ERR_RATELIMIT_OPTIONS', () => {
  const { code, message } = codeOf(() =>
    createRateLimiter({
      redis: false,
      rules: [
        { name: 'ok', algorithm: 'gcra', limit: 10, window: '1s', by: ['user'] },
        { name: 'ok', algorithm: 'token-bucket' as never, limit: 0, window: 'soon', by: ['ip' as never, 'user', 'user'], cost: -1 },
        { name: 'bad name:*', algorithm: 'fixed-window', limit: 1.5, window: 1000, by: 'user' as never, colour: 1 } as never,
      ],
      onRedisDown: 'maybe' as never,
    }),
  );
  assert.equal(code, 'OSC_ERR_RATELIMIT_OPTIONS');
  for (const part of [
    'rules[1].name: "ok" is used by another rule',
    'rules[1].algorithm',
    'rules[1].limit',
    'rules[1].window',
    'rules[1].by: unknown part "ip"',
    'rules[1].by: "user" twice',
    'rules[1].cost',
    'rules[2].colour: unknown key',
    'rules[2].name',
    'rules[2].limit',
    'rules[2].by: an array',
    'onRedisDown',
  ]) {
    assert.ok(message.includes(part), `missing "${part}" in:\n${message}`);
  }
  assert.equal(codeOf(() => createRateLimiter({ rules: [], redis: false })).code, 'OSC_ERR_RATELIMIT_OPTIONS');
  assert.match(codeOf(() => resolveRules([{ name: 'x', algorithm: 'gcra', limit: 1e9, window: '7d', by: [] }])).message, /2\^50/);
});

test('subjects: bad parts and malformed circuits give OSC_ERR_RATELIMIT_SUBJECT; unknown rule names are option errors', async () => {
  const l = createRateLimiter({ redis: false, rules: [{ name: 'c', algorithm: 'fixed-window', limit: 5, window: '1s', by: ['circuit'] }] });
  await assert.rejects(l.check({ ip: '1.2.3.4' } as never), { code: 'OSC_ERR_RATELIMIT_SUBJECT' });
  await assert.rejects(l.check({ user: 42 } as never), { code: 'OSC_ERR_RATELIMIT_SUBJECT' });
  await assert.rejects(l.check({ circuit: '17' }), { code: 'OSC_ERR_RATELIMIT_SUBJECT' });
  await assert.rejects(l.check({ circuit: 'main:99999999999' }), { code: 'OSC_ERR_RATELIMIT_SUBJECT' });
  await assert.rejects(l.check({ circuit: 'a b:1' }), { code: 'OSC_ERR_RATELIMIT_SUBJECT' });
  await assert.rejects(l.check({ circuit: 'main:1' }, { rules: ['nope'] }), { code: 'OSC_ERR_RATELIMIT_OPTIONS' });
  await assert.rejects(l.check({ circuit: 'main:1' }, { cost: 0 }), { code: 'OSC_ERR_RATELIMIT_OPTIONS' });
  assert.equal((await l.check({ circuit: 'main:1' })).allowed, true);
});

test('keys: readable values kept, anything that could inject is hashed; circuit subject from the haproxy header', () => {
  const [r] = resolveRules([{ name: 'login', algorithm: 'sliding-log', limit: 5, window: '1m', by: ['circuit', 'user', 'route'] }]);
  assert.equal(ruleKey('osc:rl:', r!, { circuit: 'main:4711', user: 'alice@example', route: '/login' }), 'osc:rl:login:circuit=main.4711:user=alice@example:route=/login');
  for (const evil of ['a:b', 'x*', 'a\nb', 'user=b', '~abc', 'x'.repeat(65), 'é', '']) {
    const enc = encodeValue(evil);
    assert.match(enc, /^~[A-Za-z0-9_-]{22}$/, JSON.stringify(evil));
  }
  assert.notEqual(encodeValue('a:b'), encodeValue('a:c'));
  assert.equal(encodeValue('x'.repeat(100_000)).length, 23, 'huge ids become short keys');
  assert.equal(circuitSubject('main', circuitAddress(0x12345678)), `main:${0x12345678}`);
  assert.equal(circuitSubject('main', undefined), undefined);
  assert.equal(circuitSubject('main', 'not-an-address'), undefined);
});

test('plan / settle: the pieces a bigger script composes, settle of a bad reply falls back', () => {
  let now = 1_000_000;
  const l = createRateLimiter({ redis: false, clock: () => now, rules: [{ name: 'a', algorithm: 'fixed-window', limit: 2, window: 1000, by: ['session'] }] });
  const plan = l.plan({ session: 's1' });
  assert.deepEqual([plan.keys, plan.now, plan.args], [['osc:rl:a:session=s1'], '1000000', ['fw', '2', '1000', '1']]);
  const d = l.settle(plan, [0, 0, 500, 500]);
  assert.deepEqual([d.allowed, d.retryAfterMs, d.source, d.blockedBy?.rule], [false, 500, 'redis', 'a']);
  const bad = l.settle(plan, 'OK');
  assert.equal(bad.source, 'memory', 'a malformed reply is answered by the fallback');
  now += 1;
  assert.equal(l.plan({}).decision?.missing?.[0], 'session');
});

test('diagnostics: decisions published on onionscale:ratelimit', async () => {
  const seen: RateLimitEvent[] = [];
  const fn = (m: unknown): void => void seen.push(m as RateLimitEvent);
  subscribe(RATELIMIT_CHANNEL, fn);
  try {
    const l = createRateLimiter({ name: 'diag', redis: false, rules: [{ name: 'a', algorithm: 'gcra', limit: 1, window: '1m', by: ['user'] }] });
    await l.check({ user: 'u' });
    await l.check({ user: 'u' });
    assert.deepEqual(
      seen.filter((e) => e.limiter === 'diag').map((e) => (e.event === 'decision' ? [e.allowed, e.source, e.blockedBy] : e.event)),
      [
        [true, 'memory', undefined],
        [false, 'memory', 'a'],
      ],
    );
  } finally {
    unsubscribe(RATELIMIT_CHANNEL, fn);
  }
});
