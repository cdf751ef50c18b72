/**
 * The event bus across two instance processes on one real Redis: publish on A → stream on B; a reader that
 * reconnects to the OTHER instance with Last-Event-ID gets exactly what it missed, then live events; per-user
 * channel isolation; a stalled reader is cut off while the others keep receiving; resets from the Lua floors;
 * Redis SIGKILLed and restarted: subscriptions come back, no instance crashes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { spawnEventsWorker, type EventsWorker } from '../helpers/events-workers.js';
import { openSse, type SseClient } from '../../src/core/events/sse-client.fixture.js';
import type { EventBusStats } from '../../src/core/events/types.js';

let redis: TestRedis;
let a: EventsWorker;
let b: EventsWorker;
const ports: Record<string, number> = {};
const clients: SseClient[] = [];

const CHANNELS = { new_messages: { replay: true }, ticker: {}, 'user:*': { replay: { maxLen: 100 } }, short: { replay: { maxLen: 2 } } };

before(async () => {
  redis = await startRedis();
  [a, b] = await Promise.all([spawnEventsWorker(), spawnEventsWorker()]);
  const prefix = `ev:${randomUUID()}:`;
  for (const [name, w] of [['a', a], ['b', b]] as const) {
    const r = await w.call<{ port: number; ready: boolean }>('init', { url: redis.url, prefix, channels: CHANNELS, maxBufferBytes: 256 * 1024 });
    assert.equal(r.ready, true, `${name} subscribed`);
    ports[name] = r.port;
  }
});

after(async () => {
  for (const c of clients) c.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

async function open(on: 'a' | 'b', channels: string, options: { lastEventId?: string; user?: string } = {}): Promise<SseClient> {
  const c = await openSse(`http://127.0.0.1:${ports[on]}/events?channels=${channels}`, {
    ...(options.lastEventId ? { lastEventId: options.lastEventId } : {}),
    headers: options.user ? { 'x-user': options.user } : {},
  });
  clients.push(c);
  return c;
}

const datas = (c: SseClient, from = 0) => c.events.slice(from).map((e) => `${e.event}:${e.data}`);

test('publish on A reaches streams on B and on A, with the same id', async () => {
  const onB = await open('b', 'new_messages,ticker');
  const onA = await open('a', 'new_messages');
  await Promise.all([onB, onA].map((c) => c.until((x) => x.lastId !== undefined, 5000, 'a position')));
  const id = await a.call<string>('publish', { channel: 'new_messages', data: { text: 'from A' } });
  await a.call('publish', { channel: 'ticker', data: 1 });
  await onB.until((x) => x.events.length === 2);
  await onA.until((x) => x.events.length === 1);
  assert.deepEqual(datas(onB), ['new_messages:{"text":"from A"}', 'ticker:1']);
  assert.equal(onB.events[0]!.id, id);
  assert.equal(onA.events[0]!.id, id);
  onB.close();
  onA.close();
});

test('disconnect, 3 events published on A, reconnect to B with Last-Event-ID: exactly those 3, then live', async () => {
  const first = await open('a', 'new_messages,user:5', { user: '5' });
  await first.until((x) => x.lastId !== undefined, 5000, 'a position');
  await a.call('publish', { channel: 'new_messages', data: 'before' });
  await first.until((x) => x.events.length === 1);
  const last = first.lastId!;
  first.close();
  await a.call('publish', { channel: 'new_messages', data: 'm1' });
  await a.call('publish', { channel: 'user:5', data: 'm2' });
  await a.call('publish', { channel: 'user:6', data: 'someone else' });
  await a.call('publish', { channel: 'new_messages', data: 'm3' });
  const again = await open('b', 'new_messages,user:5', { user: '5', lastEventId: last });
  await again.until((x) => x.events.length === 3, 5000, 'the replay');
  assert.deepEqual(datas(again), ['new_messages:"m1"', 'user:5:"m2"', 'new_messages:"m3"']);
  await b.call('publish', { channel: 'user:5', data: 'live from B' });
  await a.call('publish', { channel: 'new_messages', data: 'live from A' });
  await again.until((x) => x.events.length === 5, 5000, 'live events');
  assert.deepEqual(datas(again, 3), ['user:5:"live from B"', 'new_messages:"live from A"']);
  // A round trip through Redis after the last publish: anything duplicated would have arrived by now.
  const probe = await open('b', 'ticker');
  await a.call('publish', { channel: 'ticker', data: 'probe' });
  await probe.until((x) => x.events.length === 1);
  assert.equal(again.events.length, 5, 'no duplicates');
  const ids = again.events.map((e) => e.id!);
  assert.equal(new Set(ids).size, 5);
  again.close();
  probe.close();
});

test('per-user channels: a user reads only their own, on every instance', async () => {
  const u1 = await open('b', 'user:1', { user: '1' });
  const forged = await open('b', 'user:2', { user: '1' });
  const anonymous = await open('a', 'user:1');
  assert.equal(u1.status, 200);
  assert.equal(forged.status, 403);
  assert.equal(JSON.parse(forged.body).error, 'OSC_ERR_EVENTS_FORBIDDEN');
  assert.equal(anonymous.status, 403);
  await u1.until((x) => x.lastId !== undefined);
  await a.call('publish', { channel: 'user:2', data: 'for 2' });
  await a.call('publish', { channel: 'user:1', data: 'for 1' });
  await u1.until((x) => x.events.length >= 1);
  assert.deepEqual(datas(u1), ['user:1:"for 1"']);
  u1.close();
});

test('a stalled reader on B is cut off; readers on B and A keep receiving everything', async () => {
  const stalled = await open('b', 'ticker');
  const healthyB = await open('b', 'ticker');
  const healthyA = await open('a', 'ticker');
  await new Promise((r) => setTimeout(r, 100)); // SUBSCRIBE of the new streams confirmed (ticker has no position id)
  stalled.pause();
  const big = 'y'.repeat(30_000);
  let sent = 0;
  let stats = await b.call<EventBusStats>('stats');
  const droppedBefore = stats.droppedSlow;
  while (stats.droppedSlow === droppedBefore && sent < 1000) {
    await a.call('publish', { channel: 'ticker', data: big });
    sent++;
    await healthyB.until((x) => x.events.length === sent, 5000, `event ${sent} on B`);
    stats = await b.call<EventBusStats>('stats');
  }
  assert.equal(stats.droppedSlow, droppedBefore + 1, `cut off after ${sent} events of 30 KB`);
  await b.waitFor((e) => e.event?.type === 'dropped-slow');
  await a.call('publish', { channel: 'ticker', data: 'after' });
  await healthyB.until((x) => x.events.length === sent + 1);
  await healthyA.until((x) => x.events.length === sent + 1);
  stalled.resume();
  await stalled.until((x) => x.ended, 5000, 'the end of the stalled stream');
  healthyA.close();
  healthyB.close();
});

test('Lua floors and ids: trimmed, future and foreign positions get a reset event, then live', async () => {
  const c = await open('a', 'short');
  await c.until((x) => x.lastId !== undefined);
  const start = c.lastId!;
  c.close();
  for (let i = 0; i < 3; i++) await a.call('publish', { channel: 'short', data: i });
  const reason = async (lastEventId: string): Promise<string> => {
    const r = await open('b', 'short', { lastEventId });
    await r.until((x) => x.events.length >= 1);
    r.close();
    assert.equal(r.events[0]!.event, 'osc/reset');
    return (JSON.parse(r.events[0]!.data) as { reason: string }).reason;
  };
  assert.equal(await reason(start), 'stale');
  const epoch = start.split('_')[0]!;
  assert.equal(await reason(`${epoch}_99999999999999-0`), 'future');
  assert.equal(await reason('zz_1-0'), 'foreign');
  assert.equal(await reason('1-0'), 'malformed');
  // Within maxLen: the last two are replayed exactly.
  const mid = await open('a', 'short');
  await mid.until((x) => x.lastId !== undefined);
  mid.close();
  await a.call('publish', { channel: 'short', data: 'x' });
  await a.call('publish', { channel: 'short', data: 'y' });
  const ok = await open('b', 'short', { lastEventId: mid.lastId! });
  await ok.until((x) => x.events.length === 2);
  assert.deepEqual(datas(ok), ['short:"x"', 'short:"y"']);
  ok.close();
});

test('a two-tier cache on bus.cacheBus() invalidates across the two processes', async () => {
  const prefix = `evc:${randomUUID()}:`;
  assert.equal(await a.call('cacheInit', { url: redis.url, prefix, name: 'A' }), true);
  assert.equal(await b.call('cacheInit', { url: redis.url, prefix, name: 'B' }), true);
  await a.call('cacheSet', { key: 'k', value: 'v1' });
  assert.equal(await b.call('cacheGet', { key: 'k' }), 'v1', 'from L2, now in B\'s L1');
  await a.call('cacheSet', { key: 'k', value: 'v2' });
  let seen: unknown;
  for (let i = 0; i < 100 && (seen = await b.call('cacheGet', { key: 'k' })) !== 'v2'; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen, 'v2', 'B dropped its L1 copy on A\'s invalidation');
  const forbidden = await open('a', 'cache.inv');
  assert.equal(forbidden.status, 403, 'the internal channel is not readable over SSE');
});

test('Redis SIGKILLed and restarted: no crash, subscriptions come back, open streams are told (data lost) and go on', async () => {
  const replayable = await open('b', 'new_messages');
  const ephemeral = await open('b', 'ticker');
  await replayable.until((x) => x.lastId !== undefined);
  await new Promise((r) => setTimeout(r, 100));
  const markB = b.pushed.length;
  await redis.kill();
  await b.waitFor((e) => e.event?.type === 'redis-state' && e.event.up === false, 10_000);
  await assert.rejects(a.call('publish', { channel: 'new_messages', data: 'while down' }));
  await redis.restart();
  await b.waitFor((e) => b.pushed.indexOf(e) >= markB && e.event?.type === 'redis-state' && e.event.up === true, 15_000);
  // This Redis keeps no data (no AOF/RDB): the bus's epoch changed, so the stream is told it cannot be replayed.
  await replayable.until((x) => x.events.some((e) => e.event === 'osc/reset'), 10_000, 'a reset after the restart');
  assert.deepEqual(JSON.parse(replayable.events.find((e) => e.event === 'osc/reset')!.data), { reason: 'foreign' });
  let published = false;
  for (let i = 0; i < 100 && !published; i++) {
    published = await a.call('publish', { channel: 'ticker', data: 'after restart' }).then(() => true, () => false);
    if (!published) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(published, 'A publishes again');
  await ephemeral.until((x) => x.events.some((e) => e.data === '"after restart"'), 10_000, 'live events after the restart');
  await a.call('publish', { channel: 'new_messages', data: 'replayable after restart' });
  await replayable.until((x) => x.events.some((e) => e.data === '"replayable after restart"'), 10_000);
  assert.equal(a.child.exitCode, null, 'A alive');
  assert.equal(b.child.exitCode, null, 'B alive');
  assert.deepEqual([...a.pushed, ...b.pushed].filter((e) => e.type === 'unhandled'), []);
});
