/**
 * The one contract suite for the limiter's two engines (STYLE.md §3): registered from `limiter.test.ts` (memory)
 * and `test/integration/ratelimit-redis.test.ts` (real Redis, now_ms injected). Exact quota at window edges for
 * all four algorithms, multi-rule all-or-nothing, costs, missing subject parts. Clocks are injected, never slept.
 * Every decision must come from the engine under test (`source`), so a silent fallback fails the suite.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RateLimiter } from './limiter.js';
import type { Decision, DecisionSource, LimitRule, Subject } from './types.js';

export interface LimiterContractOptions {
  name: string;
  source: DecisionSource;
  /** A fresh limiter (own key space) with these rules and this clock. */
  make: (rules: LimitRule[], clock: () => number) => Promise<RateLimiter>;
}

/** A multiple of every window used below, so epoch-aligned windows start exactly at T0. */
const T0 = 1_700_000_040_000;

export function limiterContract({ name, source, make }: LimiterContractOptions): void {
  const withLimiter = (title: string, rules: LimitRule[], body: (l: RateLimiter, at: (ms: number) => void, check: (s?: Subject, cost?: number) => Promise<Decision>) => Promise<void>): void => {
    void test(`${name} limiter contract: ${title}`, async () => {
      let now = T0;
      const limiter = await make(rules, () => now);
      const check = async (s: Subject = { user: 'u1' }, cost?: number): Promise<Decision> => {
        const d = await limiter.check(s, cost === undefined ? {} : { cost });
        if (!d.missing) assert.equal(d.source, source, `decision answered by ${d.source}, not ${source}`);
        return d;
      };
      try {
        await body(limiter, (ms) => (now = T0 + ms), check);
      } finally {
        await limiter.close();
      }
    });
  };
  const allowedN = async (check: () => Promise<Decision>, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) assert.equal((await check()).allowed, true, `request ${i + 1} of ${n} should pass`);
  };

  const rule = (algorithm: LimitRule['algorithm'], limit: number, window: number | string): LimitRule => ({ name: 'r', algorithm, limit, window, by: ['user'] });

  withLimiter('fixed window: exactly limit per window, reset at the edge', [rule('fixed-window', 3, '60s')], async (_l, at, check) => {
    const first = await check();
    assert.deepEqual([first.allowed, first.results[0]!.remaining, first.results[0]!.resetMs], [true, 2, 60_000]);
    await allowedN(check, 2);
    const blocked = await check();
    assert.equal(blocked.allowed, false);
    assert.equal(blocked.retryAfterMs, 60_000);
    assert.equal(blocked.blockedBy?.rule, 'r');
    at(59_999);
    assert.equal((await check()).retryAfterMs, 1, 'still blocked 1 ms before the edge');
    at(60_000);
    await allowedN(check, 3);
    assert.equal((await check()).allowed, false);
  });

  withLimiter('sliding log: an entry counts for exactly one window', [rule('sliding-log', 3, '60s')], async (_l, at, check) => {
    await allowedN(check, 1);
    at(10_000);
    await allowedN(check, 1);
    at(20_000);
    const third = await check();
    assert.deepEqual([third.allowed, third.results[0]!.remaining, third.results[0]!.resetMs], [true, 0, 40_000]);
    at(30_000);
    const blocked = await check();
    assert.deepEqual([blocked.allowed, blocked.retryAfterMs], [false, 30_000]);
    at(59_999);
    assert.equal((await check()).retryAfterMs, 1);
    at(60_000);
    await allowedN(check, 1);
    assert.deepEqual([(await check()).allowed, (await check()).retryAfterMs], [false, 10_000]);
  });

  withLimiter('sliding-window counter: previous window weighs in until the exact ms', [rule('sliding-window', 3, '60s')], async (_l, at, check) => {
    await allowedN(check, 3);
    const blocked = await check();
    // Next window, previous count 3: one more fits once 3·(60000 − e)/60000 ≤ 2, i.e. e ≥ 20000.
    assert.deepEqual([blocked.allowed, blocked.retryAfterMs], [false, 80_000]);
    at(60_000);
    assert.equal((await check()).retryAfterMs, 20_000, 'start of next window: previous still weighs fully');
    at(79_999);
    assert.equal((await check()).allowed, false);
    at(80_000);
    await allowedN(check, 1);
    assert.equal((await check()).allowed, false);
    at(120_000);
    // Window 2 starts: previous (window 1) had 1 request, so 2 fit right away, not 3.
    await allowedN(check, 2);
    assert.equal((await check()).allowed, false);
  });

  withLimiter('GCRA: burst of limit, then one every window/limit ms', [rule('gcra', 3, '60s')], async (_l, at, check) => {
    await allowedN(check, 3);
    const blocked = await check();
    assert.deepEqual([blocked.allowed, blocked.retryAfterMs, blocked.results[0]!.remaining], [false, 20_000, 0]);
    at(19_999);
    assert.equal((await check()).retryAfterMs, 1);
    at(20_000);
    await allowedN(check, 1);
    assert.equal((await check()).retryAfterMs, 20_000);
    at(200_000);
    const fresh = await check();
    assert.deepEqual([fresh.allowed, fresh.results[0]!.remaining], [true, 2], 'a long pause refills the burst, never more');
  });

  withLimiter('GCRA: fractional emission interval stays exact (9 per 3 s: one every 333.3 ms)', [rule('gcra', 9, 3000)], async (_l, at, check) => {
    await allowedN(check, 9);
    assert.equal((await check()).retryAfterMs, 334);
    at(333);
    assert.equal((await check()).allowed, false);
    at(334);
    await allowedN(check, 1);
    assert.equal((await check()).allowed, false);
    at(667);
    await allowedN(check, 1);
  });

  withLimiter(
    'several rules: all-or-nothing, a blocked request consumes nothing',
    [
      { name: 'wide', algorithm: 'fixed-window', limit: 5, window: '60s', by: ['user'] },
      { name: 'narrow', algorithm: 'sliding-log', limit: 2, window: '60s', by: ['user'] },
      { name: 'rate', algorithm: 'gcra', limit: 10, window: '60s', by: ['user'] },
    ],
    async (limiter, _at, check) => {
      await allowedN(check, 2);
      const blocked = await check();
      assert.equal(blocked.allowed, false);
      assert.equal(blocked.blockedBy?.rule, 'narrow');
      assert.deepEqual(
        blocked.results.map((r) => [r.rule, r.allowed, r.remaining]),
        [
          ['wide', true, 3],
          ['narrow', false, 0],
          ['rate', true, 8],
        ],
      );
      const wide = await limiter.check({ user: 'u1' }, { rules: ['wide'] });
      assert.equal(wide.results[0]!.remaining, 2, 'the blocked requests took nothing from "wide"');
      const rate = await limiter.check({ user: 'u1' }, { rules: ['rate'] });
      assert.equal(rate.results[0]!.remaining, 7);
    },
  );

  withLimiter('subjects are separate quotas; costs count in units', [{ ...rule('fixed-window', 3, '60s'), by: ['circuit', 'route'] }], async (_l, _at, check) => {
    const a = { circuit: 'main:17', route: '/login' };
    assert.equal((await check(a, 2)).results[0]!.remaining, 1);
    assert.deepEqual([(await check(a, 2)).allowed, (await check(a, 1)).allowed], [false, true]);
    assert.equal((await check({ circuit: 'main:18', route: '/login' })).results[0]!.remaining, 2, 'another circuit');
    assert.equal((await check({ circuit: 'other:17', route: '/login' })).results[0]!.remaining, 2, 'same circuit id, other tor instance');
    const huge = await check({ circuit: 'main:19', route: '/login' }, 4);
    assert.deepEqual([huge.allowed, huge.retryAfterMs], [false, 60_000], 'a cost above the limit never passes');
  });

  withLimiter(
    'a missing subject part refuses the decision, unless the rule is optional',
    [
      { name: 'circ', algorithm: 'fixed-window', limit: 1, window: '60s', by: ['circuit'] },
      { name: 'usr', algorithm: 'fixed-window', limit: 1, window: '60s', by: ['user'], optional: true },
    ],
    async (limiter, _at, check) => {
      const refused = await check({ user: 'u1' });
      assert.deepEqual([refused.allowed, refused.missing, refused.results], [false, ['circuit'], []]);
      const anon = await check({ circuit: 'main:1' });
      assert.deepEqual([anon.allowed, anon.results.map((r) => r.rule)], [true, ['circ']]);
      assert.equal((await limiter.check({ circuit: 'main:1', user: '' })).allowed, false, 'empty counts as missing; circ is used up');
    },
  );
}
