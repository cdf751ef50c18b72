import { test } from 'node:test';
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { ChaosStore } from './chaos-store.js';
import { CACHE_CHANNEL, type CacheEvent } from './channels.js';
import { createCache } from './factory.js';
import { queryKey } from './keys.js';
import { MemoryBus, MemoryBusHub } from './memory-bus.js';
import { MemoryStore } from './memory-store.js';
import type { CacheOptions } from './types.js';

const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two or more caches sharing one memory L2 and one memory bus: instances in one process. */
function cluster(n: number, extra: Partial<CacheOptions> = {}) {
  let now = 1_000_000;
  const store = new MemoryStore({ now: () => now });
  const hub = new MemoryBusHub();
  const caches = Array.from({ length: n }, () =>
    createCache({ ...extra, now: () => now, l2: { store, bus: new MemoryBus(hub) } }),
  );
  return {
    store,
    hub,
    caches,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

function events(): { list: CacheEvent[]; stop: () => void } {
  const list: CacheEvent[] = [];
  const fn = (m: unknown) => list.push(m as CacheEvent);
  subscribe(CACHE_CHANNEL, fn);
  return { list, stop: () => unsubscribe(CACHE_CHANNEL, fn) };
}

test('getOrSet runs the loader once, then serves L1', async () => {
  const { caches } = cluster(1);
  const c = caches[0]!;
  let calls = 0;
  const load = () => {
    calls++;
    return { n: calls };
  };
  assert.deepEqual(await c.getOrSet('a', load), { n: 1 });
  assert.deepEqual(await c.getOrSet('a', load), { n: 1 });
  assert.equal(calls, 1);
  assert.deepEqual(await c.get('a'), { n: 1 });
});

test('concurrent cold getOrSet in one process shares one loader call', async () => {
  const c = createCache({ l2: false });
  let calls = 0;
  const results = await Promise.all(
    Array.from({ length: 50 }, () =>
      c.getOrSet('hot', async () => {
        calls++;
        await sleep(10);
        return 42;
      }),
    ),
  );
  assert.equal(calls, 1);
  assert.ok(results.every((r) => r === 42));
});

test('get/set/delete round trip; get of a missing key is undefined', async () => {
  const { caches } = cluster(1);
  const c = caches[0]!;
  assert.equal(await c.get('x'), undefined);
  await c.set('x', [1, 'two', null]);
  assert.deepEqual(await c.get('x'), [1, 'two', null]);
  await c.delete('x');
  assert.equal(await c.get('x'), undefined);
  await c.set('n', null);
  assert.equal(await c.get('n'), null, 'null is a value');
});

test('ttl: a value expires; without grace the loader runs again', async () => {
  const { caches, advance } = cluster(1);
  const c = caches[0]!;
  let calls = 0;
  const load = () => ++calls;
  assert.equal(await c.getOrSet('t', load, { ttl: 100 }), 1);
  advance(99);
  assert.equal(await c.getOrSet('t', load, { ttl: 100 }), 1);
  advance(1);
  assert.equal(await c.get('t'), undefined);
  assert.equal(await c.getOrSet('t', load, { ttl: 100 }), 2);
});

test('grace: stale is served while exactly one refresh runs; then the fresh value', async () => {
  const { caches, advance } = cluster(1);
  const c = caches[0]!;
  let calls = 0;
  let release: () => void = () => {};
  const load = async () => {
    calls++;
    if (calls > 1) await new Promise<void>((r) => (release = r));
    return `v${calls}`;
  };
  assert.equal(await c.getOrSet('g', load, { ttl: 100, grace: 1000 }), 'v1');
  advance(150);
  const stale = await Promise.all([1, 2, 3].map(() => c.getOrSet('g', load, { ttl: 100, grace: 1000 })));
  assert.deepEqual(stale, ['v1', 'v1', 'v1']);
  await sleep(5);
  assert.equal(calls, 2, 'one refresh for three stale reads');
  assert.equal(await c.get('g'), undefined, 'get serves fresh values only');
  release();
  await sleep(5);
  assert.equal(await c.getOrSet('g', load, { ttl: 100, grace: 1000 }), 'v2');
  assert.equal(calls, 2);
});

test('grace: a failing refresh keeps serving stale, with backoff; past grace the loader error reaches the caller', async () => {
  const { caches, advance } = cluster(1, { graceBackoff: 500 });
  const c = caches[0]!;
  const ev = events();
  try {
    let calls = 0;
    let fail = false;
    const load = () => {
      calls++;
      if (fail) throw new Error('db down');
      return 'good';
    };
    await c.getOrSet('f', load, { ttl: 100, grace: 2000 });
    fail = true;
    advance(200);
    assert.equal(await c.getOrSet('f', load, { ttl: 100, grace: 2000 }), 'good');
    await sleep(5);
    assert.equal(calls, 2);
    assert.ok(ev.list.some((e) => e.event === 'error' && e.op === 'refresh'));
    // Inside the backoff: no new attempt.
    advance(100);
    assert.equal(await c.getOrSet('f', load, { ttl: 100, grace: 2000 }), 'good');
    await sleep(5);
    assert.equal(calls, 2);
    // After the backoff: one more attempt, still stale on failure.
    advance(500);
    assert.equal(await c.getOrSet('f', load, { ttl: 100, grace: 2000 }), 'good');
    await sleep(5);
    assert.equal(calls, 3);
    // Past the grace period the value is gone and the loader error is the caller's.
    advance(2000);
    await assert.rejects(c.getOrSet('f', load, { ttl: 100, grace: 2000 }), /db down/);
  } finally {
    ev.stop();
  }
});

test('invalidation: delete/set on one instance evicts the other instance L1', async () => {
  const { caches } = cluster(2);
  const [a, b] = [caches[0]!, caches[1]!];
  await a.set('shared', 'one');
  assert.equal(await b.get('shared'), 'one'); // now in b's L1
  await a.set('shared', 'two');
  await tick();
  assert.equal(await b.get('shared'), 'two', 'set broadcast: b dropped its L1 copy and read L2');
  await a.delete('shared');
  await tick();
  assert.equal(await b.get('shared'), undefined);
});

test('deleteByTag removes tagged entries everywhere and leaves others', async () => {
  const { caches } = cluster(2);
  const [a, b] = [caches[0]!, caches[1]!];
  await a.set('u1', 1, { tags: ['users'] });
  await a.set('u2', 2, { tags: ['users', 'admins'] });
  await a.set('p1', 3, { tags: ['posts'] });
  assert.equal(await b.get('u1'), 1);
  assert.equal(await b.get('u2'), 2);
  await b.deleteByTag('users');
  await tick();
  assert.equal(await a.get('u1'), undefined);
  assert.equal(await a.get('u2'), undefined);
  assert.equal(await b.get('u1'), undefined);
  assert.equal(await a.get('p1'), 3);
});

test('deleteByTag works on L1 alone (no L2)', async () => {
  const c = createCache({ l2: false });
  await c.set('a', 1, { tags: ['t'] });
  await c.set('b', 2, { tags: ['t', 'u'] });
  await c.set('c', 3);
  await c.deleteByTag('t');
  assert.equal(await c.get('a'), undefined);
  assert.equal(await c.get('b'), undefined);
  assert.equal(await c.get('c'), 3);
});

test('L2 hit: a value written by one instance is read by another, then from its own L1', async () => {
  const { caches } = cluster(2);
  const ev = events();
  try {
    await caches[0]!.set('k', { deep: [1] });
    assert.deepEqual(await caches[1]!.get('k'), { deep: [1] });
    assert.deepEqual(await caches[1]!.get('k'), { deep: [1] });
    const hits = ev.list.filter((e) => e.event === 'hit' && e.cache === 'default').map((e) => (e as { tier: string }).tier);
    assert.deepEqual(hits, ['l2', 'l1']);
  } finally {
    ev.stop();
  }
});

test('cross-instance single-flight (memory L2): concurrent cold requests on 3 caches run the loader once', async () => {
  const { caches } = cluster(3);
  let calls = 0;
  const load = async () => {
    calls++;
    await sleep(30);
    return 'v';
  };
  const all = await Promise.all(Array.from({ length: 30 }, (_, i) => caches[i % 3]!.getOrSet('cold', load)));
  assert.equal(calls, 1);
  assert.ok(all.every((v) => v === 'v'));
});

test('a failing loader on the lock holder lets a waiter take over', async () => {
  const { caches } = cluster(2, { lock: { wait: 2000 } });
  const [a, b] = [caches[0]!, caches[1]!];
  let bCalls = 0;
  const pa = a.getOrSet('x', async () => {
    await sleep(20);
    throw new Error('a failed');
  });
  await sleep(5); // a holds the lock now
  const pb = b.getOrSet('x', () => {
    bCalls++;
    return 'from b';
  });
  await assert.rejects(pa, /a failed/);
  assert.equal(await pb, 'from b');
  assert.equal(bCalls, 1);
});

test('waiters give up after lock.wait and load themselves', async () => {
  const { caches } = cluster(2, { lock: { wait: 50, ttl: 10_000 } });
  const [a, b] = [caches[0]!, caches[1]!];
  let release: () => void = () => {};
  const pa = a.getOrSet('slow', () => new Promise<string>((r) => (release = () => r('a'))));
  await sleep(5);
  assert.equal(await b.getOrSet('slow', () => 'b'), 'b');
  release();
  assert.equal(await pa, 'a');
});

test('bad keys are rejected with OSC_ERR_CACHE_KEY, or hashed when asked', async () => {
  const c = createCache({ l2: false });
  for (const bad of ['', 'a b', 'a\nb', 'a*', 'tab\t', 'x'.repeat(1025), 'é'.repeat(600)]) {
    await assert.rejects(c.get(bad), { code: 'OSC_ERR_CACHE_KEY' }, JSON.stringify(bad.slice(0, 20)));
    await assert.rejects(c.set(bad, 1), { code: 'OSC_ERR_CACHE_KEY' });
    await assert.rejects(c.getOrSet(bad, () => 1), { code: 'OSC_ERR_CACHE_KEY' });
  }
  await assert.rejects(c.get(42 as unknown as string), { code: 'OSC_ERR_CACHE_KEY' });
  await assert.rejects(c.set('ok', 1, { tags: ['bad tag'] }), { code: 'OSC_ERR_CACHE_KEY' });
  await assert.rejects(c.deleteByTag('*'), { code: 'OSC_ERR_CACHE_KEY' });
  assert.equal(await c.getOrSet('x'.repeat(1024), () => 'max ok'), 'max ok');
  await c.set('a b\n*', 'hashed', { hashKey: true });
  assert.equal(await c.get('a b\n*', { hashKey: true }), 'hashed');
  const hashing = createCache({ l2: false, hashKeys: true });
  await hashing.set('x'.repeat(5000), 'long');
  assert.equal(await hashing.get('x'.repeat(5000)), 'long');
});

test('undefined values are refused; unserializable and too large values get coded errors', async () => {
  const c = createCache({ l2: false, maxValueBytes: 100 });
  await assert.rejects(c.set('u', undefined), { code: 'OSC_ERR_CACHE_VALUE_UNDEFINED' });
  await assert.rejects(c.getOrSet('u', () => undefined), { code: 'OSC_ERR_CACHE_VALUE_UNDEFINED' });
  await assert.rejects(c.set('big', 'x'.repeat(200)), { code: 'OSC_ERR_CACHE_VALUE_TOO_LARGE' });
  await assert.rejects(c.set('big', 'é'.repeat(60)), { code: 'OSC_ERR_CACHE_VALUE_TOO_LARGE' }, 'bytes, not characters');
  await assert.rejects(c.set('bi', 10n), { code: 'OSC_ERR_CACHE_SERIALIZE' });
  // A too-large loader result is still the right answer for the caller, just not cached.
  let calls = 0;
  const big = () => {
    calls++;
    return 'y'.repeat(200);
  };
  assert.equal((await c.getOrSet('big', big)).length, 200);
  assert.equal((await c.getOrSet('big', big)).length, 200);
  assert.equal(calls, 2);
  await assert.rejects(c.set('k', 1, { ttl: -1 }), { code: 'OSC_ERR_CACHE_OPTIONS' });
  await assert.rejects(c.getOrSet('k', 'nope' as unknown as () => number), { code: 'OSC_ERR_CACHE_OPTIONS' });
});

test('durations may be strings: ttl "2s" equals 2000 ms; bad strings are coded errors', async () => {
  const { caches, advance } = cluster(1);
  const c = caches[0]!;
  let calls = 0;
  const load = () => ++calls;
  assert.equal(await c.getOrSet('d', load, { ttl: '2s' }), 1);
  advance(1999);
  assert.equal(await c.getOrSet('d', load, { ttl: '2s' }), 1);
  advance(1);
  assert.equal(await c.getOrSet('d', load, { ttl: '2s' }), 2);
  await assert.rejects(c.set('k', 1, { ttl: 'soon' }), { code: 'OSC_ERR_CACHE_OPTIONS' });
  assert.throws(() => createCache({ l2: false, ttl: '1 minute' }), { code: 'OSC_ERR_CACHE_OPTIONS' });
  createCache({ l2: false, ttl: '5m', grace: '1h', lock: { ttl: '10s', wait: '3s' } }).destroy();
});

test('invalid cache options are reported together', () => {
  assert.throws(
    () => createCache({ l2: false, ttl: -5, grace: Number.NaN, prefix: 'has space', l1: { maxEntries: 0 } }),
    (err: Error & { code?: string }) =>
      err.code === 'OSC_ERR_CACHE_OPTIONS' && /ttl/.test(err.message) && /grace/.test(err.message) && /prefix/.test(err.message) && /maxEntries/.test(err.message),
  );
});

test('query helper keys by sha256 of sql + params', async () => {
  const c = createCache({ l2: false });
  let calls = 0;
  const rows = () => {
    calls++;
    return [{ id: 1 }];
  };
  assert.deepEqual(await c.query('SELECT * FROM t WHERE id = ?', [1], rows), [{ id: 1 }]);
  await c.query('SELECT * FROM t WHERE id = ?', [1], rows);
  await c.query('SELECT * FROM t WHERE id = ?', [2], rows);
  assert.equal(calls, 2);
  assert.match(queryKey('SELECT 1', []), /^query:[0-9a-f]{64}$/);
  assert.notEqual(queryKey('SELECT 1', [1]), queryKey('SELECT 1', ['1']));
  assert.deepEqual(await c.get(queryKey('SELECT * FROM t WHERE id = ?', [2])), [{ id: 1 }]);
});

test('L2 failing: callers get loader values, no throw; the breaker stops calling L2 during its cooldown', async () => {
  const chaos = new ChaosStore(new MemoryStore());
  const c = createCache({ l2: { store: chaos }, breakerCooldown: 60_000 });
  const ev = events();
  try {
    chaos.failWith = new Error('ECONNRESET');
    assert.equal(await c.getOrSet('a', () => 'loaded'), 'loaded');
    const callsAfterFirst = [...chaos.calls.values()].reduce((a, b) => a + b, 0);
    assert.equal(await c.getOrSet('b', () => 'loaded b'), 'loaded b');
    await c.set('c', 1);
    await c.delete('c');
    await c.deleteByTag('t');
    assert.equal(await c.get('zzz'), undefined);
    assert.equal([...chaos.calls.values()].reduce((a, b) => a + b, 0), callsAfterFirst, 'no L2 call while open');
    assert.equal(await c.get('a'), 'loaded', 'L1 keeps working');
    assert.ok(ev.list.some((e) => e.event === 'error'));
    assert.ok(ev.list.some((e) => e.event === 'l2-state' && !e.up));
    // Availability back: breaker closes, pending invalidations replay, L2 is used again.
    chaos.failWith = undefined;
    chaos.setAvailable(true);
    await sleep(5);
    assert.ok(chaos.count('delete') >= 1, 'deferred delete replayed');
    await c.set('d', 'in l2');
    assert.equal(await chaos.get('k:d').then((raw) => raw?.endsWith('"in l2"')), true);
  } finally {
    ev.stop();
  }
});

test('a slow L2 costs at most commandTimeout-like latency once, then is bypassed', async () => {
  const chaos = new ChaosStore(new MemoryStore());
  const c = createCache({ l2: { store: chaos }, breakerCooldown: 60_000 });
  chaos.latencyMs = 30;
  chaos.failWith = new Error('timeout');
  await c.getOrSet('a', () => 1);
  const before = chaos.count('get');
  for (let i = 0; i < 20; i++) await c.getOrSet(`k${i}`, () => i);
  assert.equal(chaos.count('get'), before);
});

test('bus reconnect drops L1 (it may have missed invalidations)', async () => {
  const { caches, hub } = cluster(2);
  const [a, b] = [caches[0]!, caches[1]!];
  const ev = events();
  try {
    await a.set('k', 'old');
    assert.equal(await b.get('k'), 'old');
    hub.setConnected(false);
    await a.set('k', 'new'); // b misses this message
    await tick();
    assert.equal(b.stats().l1Entries, 1);
    hub.setConnected(true);
    assert.equal(b.stats().l1Entries, 0);
    assert.equal(await b.get('k'), 'new');
    assert.ok(ev.list.some((e) => e.event === 'l1-clear' && e.reason === 'bus-reconnect'));
  } finally {
    ev.stop();
  }
});

test('diagnostics: miss, hit l1, hit l2, stale, load events', async () => {
  const { caches, advance } = cluster(2, { name: 'diag' });
  const ev = events();
  try {
    await caches[0]!.getOrSet('d', () => 1, { ttl: 10, grace: 1000 });
    await caches[0]!.getOrSet('d', () => 1, { ttl: 10, grace: 1000 });
    await caches[1]!.getOrSet('d', () => 1, { ttl: 10, grace: 1000 });
    advance(20);
    await caches[1]!.getOrSet('d', () => 2, { ttl: 10, grace: 1000 });
    const kinds = ev.list.filter((e) => e.cache === 'diag').map((e) => e.event + ('tier' in e ? `:${e.tier}` : ''));
    for (const k of ['miss', 'load', 'set', 'hit:l1', 'hit:l2', 'stale:l1']) assert.ok(kinds.includes(k), `${k} in ${kinds.join(',')}`);
  } finally {
    ev.stop();
  }
});

test('L1 is bounded by entries and bytes', async () => {
  const c = createCache({ l2: false, l1: { maxEntries: 3, maxBytes: 1_000_000 } });
  for (let i = 0; i < 10; i++) await c.set(`e${i}`, i);
  assert.equal(c.stats().l1Entries, 3);
  const small = createCache({ l2: false, l1: { maxEntries: 100, maxBytes: 100 } });
  for (let i = 0; i < 10; i++) await small.set(`b${i}`, 'x'.repeat(30)); // 32 bytes serialized
  assert.ok(small.stats().l1Bytes <= 100);
  assert.equal(small.stats().l1Entries, 3);
});

test('close drains loads in flight, is idempotent, and later calls reject with OSC_ERR_CACHE_CLOSED', async () => {
  const c = createCache({ l2: false });
  const pending = c.getOrSet('slow', async () => {
    await sleep(20);
    return 'done';
  });
  await c.close();
  assert.equal(await pending, 'done');
  await c.close();
  c.destroy();
  await assert.rejects(c.getOrSet('x', () => 1), { code: 'OSC_ERR_CACHE_CLOSED' });
  await assert.rejects(c.set('x', 1), { code: 'OSC_ERR_CACHE_CLOSED' });
});

test('loader timeout rejects with OSC_ERR_CACHE_LOADER_TIMEOUT', async () => {
  const c = createCache({ l2: false });
  await assert.rejects(
    c.getOrSet('t', () => new Promise((r) => setTimeout(r, 1000)), { timeout: 20 }),
    { code: 'OSC_ERR_CACHE_LOADER_TIMEOUT' },
  );
});
