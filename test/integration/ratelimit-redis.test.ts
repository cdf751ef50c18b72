/**
 * The limiter against a real redis-server: the contract suite (now_ms injected), Lua ↔ TypeScript parity on random
 * traffic, Redis TIME mode, NOSCRIPT after SCRIPT FLUSH, TTLs on every key, hot blocks answered without a Redis
 * command (INFO commandstats), the progressive delay in one round trip, and Redis SIGKILLed and restarted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createRateLimiter, type RateLimiter } from '../../src/core/ratelimit/limiter.js';
import { limiterContract } from '../../src/core/ratelimit/limiter-contract.js';
import { LIMIT_SCRIPT } from '../../src/core/ratelimit/lua.js';
import { MemoryLimiter, type AlgoCode } from '../../src/core/ratelimit/memory.js';
import { createProgressiveDelay } from '../../src/core/ratelimit/progressive.js';
import type { Decision, LimitRule } from '../../src/core/ratelimit/types.js';
import { redisPerFile, startRedis } from '../helpers/redis.js';

const fx = redisPerFile();

limiterContract({
  name: 'redis',
  source: 'redis',
  make: async (rules, clock) => {
    const l = createRateLimiter({ rules, clock, redis: { client: fx.client }, prefix: `t:${randomUUID()}:`, hotBlocks: false });
    assert.equal(await l.ready(5000), true);
    return l;
  },
});

/** Calls of one command so far, from INFO commandstats. */
async function calls(command: string): Promise<number> {
  const info = await fx.client.sendCommand<string>(['INFO', 'commandstats']);
  const m = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return m ? Number(m[1]) : 0;
}

test('Lua and MemoryLimiter agree on every number for random multi-rule traffic', async () => {
  const prefix = `parity:${randomUUID()}:`;
  const memory = new MemoryLimiter();
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const algos: AlgoCode[] = ['fw', 'sl', 'sw', 'gcra'];
  let now = 1_700_000_000_000;
  for (let step = 0; step < 600; step++) {
    now += [0, 1, 7, 250, 999, 3000, 20_000][rnd(7)]!;
    const n = 1 + rnd(3);
    const keys: string[] = [];
    const a: AlgoCode[] = [];
    const limits: number[] = [];
    const windows: number[] = [];
    const costs: number[] = [];
    for (let i = 0; i < n; i++) {
      const algo = algos[rnd(4)]!;
      const limit = [1, 3, 7][rnd(3)]!;
      const window = [1000, 3000, 60_000][rnd(3)]!;
      // One key per (algo, limit, window) shape, so state carries over between steps.
      keys.push(`${prefix}${algo}:${limit}:${window}`);
      a.push(algo);
      limits.push(limit);
      windows.push(window);
      costs.push([1, 1, 1, 2, 8][rnd(5)]!);
    }
    if (new Set(keys).size !== keys.length) continue;
    const args = [String(now), ...keys.flatMap((_, i) => [a[i]!, String(limits[i]), String(windows[i]), String(costs[i])])];
    const fromRedis = await fx.client.sendCommand<number[]>(['EVAL', LIMIT_SCRIPT.source, String(keys.length), ...keys, ...args]);
    const fromMemory = memory.limits(keys, a, limits, windows, costs, now);
    assert.deepEqual(fromRedis, fromMemory, `step ${step}: ${JSON.stringify({ keys, costs, now })}`);
  }
});

const fw: LimitRule = { name: 'fw', algorithm: 'fixed-window', limit: 3, window: '60s', by: ['circuit'] };

test('Redis TIME decides windows when no clock is given', async () => {
  const l = createRateLimiter({ rules: [fw], redis: { client: fx.client }, prefix: `time:${randomUUID()}:` });
  const results: Decision[] = [];
  for (let i = 0; i < 4; i++) results.push(await l.check({ circuit: 'main:1' }));
  assert.deepEqual(results.map((d) => [d.allowed, d.source]), [[true, 'redis'], [true, 'redis'], [true, 'redis'], [false, 'redis']]);
  assert.ok(results[3]!.retryAfterMs > 59_000 && results[3]!.retryAfterMs <= 60_000, String(results[3]!.retryAfterMs));
});

test('NOSCRIPT after SCRIPT FLUSH: the script is sent again and the count carries on', async () => {
  const l = createRateLimiter({ rules: [fw], redis: { client: fx.client }, prefix: `flush:${randomUUID()}:`, clock: () => 1_000_000 });
  assert.equal((await l.check({ circuit: 'main:1' })).results[0]!.remaining, 2);
  await fx.client.sendCommand(['SCRIPT', 'FLUSH']);
  const d = await l.check({ circuit: 'main:1' });
  assert.deepEqual([d.source, d.results[0]!.remaining], ['redis', 1]);
  const exists = await fx.client.sendCommand<number[]>(['SCRIPT', 'EXISTS', LIMIT_SCRIPT.sha]);
  assert.deepEqual(exists, [1]);
});

test('every key the limiter writes has a TTL', async () => {
  const prefix = `ttl:${randomUUID()}:`;
  const rules: LimitRule[] = (['fixed-window', 'sliding-log', 'sliding-window', 'gcra'] as const).map((algorithm) => ({ name: algorithm, algorithm, limit: 5, window: '10s', by: ['user'] }));
  const l = createRateLimiter({ rules, redis: { client: fx.client }, prefix });
  assert.equal((await l.check({ user: 'u' })).allowed, true);
  const keys = await fx.client.keys(`${prefix}*`);
  assert.equal(keys.length, 4);
  for (const k of keys) {
    const ttl = Number(await fx.client.pTTL(k));
    assert.ok(ttl > 0 && ttl <= 20_000, `${String(k)}: ttl ${ttl}`);
  }
});

test('hot blocks: a blocked key is answered from memory, with no Redis command, until it unblocks', async () => {
  let now = 2_000_000;
  const l = createRateLimiter({ rules: [{ ...fw, limit: 1 }], redis: { client: fx.client }, prefix: `hot:${randomUUID()}:`, clock: () => now });
  const s = { circuit: 'main:9' };
  assert.equal((await l.check(s)).source, 'redis');
  const blocked = await l.check(s);
  assert.deepEqual([blocked.allowed, blocked.source], [false, 'redis']);
  const before = (await calls('evalsha')) + (await calls('eval'));
  for (let i = 0; i < 200; i++) {
    now += 100;
    const d = await l.check(s);
    assert.deepEqual([d.allowed, d.source, d.retryAfterMs], [false, 'hot', 60_000 - (i + 1) * 100]);
  }
  assert.equal((await calls('evalsha')) + (await calls('eval')), before, 'no script ran while the key was hot-blocked');
  assert.equal((await l.check({ circuit: 'main:10' })).source, 'redis', 'other keys still go to Redis');
  now = 2_060_000;
  const again = await l.check(s);
  assert.deepEqual([again.allowed, again.source], [true, 'redis'], 'at T the key goes back to Redis');
});

test('progressive delay on Redis: one command per call, fx.client by two delayers', async () => {
  let now = 9_000_000;
  const opts = { redis: { client: fx.client }, prefix: `pd:${randomUUID()}:`, clock: () => now };
  const a = createProgressiveDelay(opts);
  const b = createProgressiveDelay(opts);
  const who = { account: 'alice', circuit: 'main:3' };
  // Load both scripts (first use answers NOSCRIPT), then count.
  await a.check({ account: 'warm' });
  await a.failure({ account: 'warm' });
  const before = [await calls('evalsha'), await calls('eval')];
  assert.equal((await a.failure(who)).retryAfterMs, 1000);
  assert.equal((await b.failure(who)).retryAfterMs, 4000, 'the count is fx.client through Redis');
  const d = await a.check({ account: 'alice' });
  assert.deepEqual(d, { allowed: false, retryAfterMs: 4000, source: 'redis' });
  assert.deepEqual([(await calls('evalsha')) - before[0]!, (await calls('eval')) - before[1]!], [3, 0], 'one EVALSHA per operation');
  now += 4000;
  assert.equal((await b.check(who)).allowed, true);
  await b.failure(who);
  await a.success(who);
  assert.equal((await b.check(who)).allowed, true, 'success resets both subjects');
  assert.equal(await fx.client.exists([`${opts.prefix}account=alice`, `${opts.prefix}circuit=main.3`]), 0);
});

test('Redis SIGKILLed: decisions keep coming (local / open / closed), no unhandled rejection; Redis back: used again', async () => {
  const own = await startRedis();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const limiters: RateLimiter[] = [];
  try {
    const make = (onRedisDown: 'local' | 'open' | 'closed'): RateLimiter => {
      const l = createRateLimiter({ rules: [{ ...fw, limit: 2 }], redis: { options: { url: own.url } }, onRedisDown, breakerCooldown: 100, commandTimeout: 200, hotBlocks: false });
      limiters.push(l);
      return l;
    };
    const local = make('local');
    const open = make('open');
    const closed = make('closed');
    for (const l of limiters) assert.equal(await l.ready(5000), true);
    assert.equal((await local.check({ circuit: 'main:1' })).source, 'redis');
    await own.kill();
    const seen: Decision[] = [];
    for (let i = 0; i < 5; i++) seen.push(await local.check({ circuit: 'main:1' }));
    assert.ok(seen.every((d) => d.source === 'memory'), JSON.stringify(seen.map((d) => d.source)));
    assert.deepEqual(seen.map((d) => d.allowed), [true, true, false, false, false], 'the memory limiter enforces the quota itself');
    const o = await open.check({ circuit: 'main:1' });
    const c = await closed.check({ circuit: 'main:1' });
    assert.deepEqual([o.allowed, o.source, c.allowed, c.source], [true, 'open', false, 'closed']);
    assert.ok(c.retryAfterMs > 0);
    await own.restart();
    // Each limiter has its own client, reconnecting on its own schedule: poll each (bounded).
    const backOnRedis = async (l: RateLimiter): Promise<Decision | undefined> => {
      const deadline = Date.now() + 10_000;
      let back: Decision | undefined;
      while (Date.now() < deadline) {
        back = await l.check({ circuit: 'main:2' });
        if (back.source === 'redis') break;
        await new Promise((r) => setTimeout(r, 50));
      }
      return back;
    };
    assert.equal((await backOnRedis(local))?.source, 'redis', 'the limiter reconnected by itself');
    assert.equal((await backOnRedis(closed))?.source, 'redis', 'the fail-closed limiter too');
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    for (const l of limiters) await l.close();
    await own.stop();
  }
});
