/**
 * The event bus in its in-memory mode (same replay rules as Redis, see memory-transport.ts) over real node:http
 * streams on 127.0.0.1: headers, channels, authorization, replay, resets, slow readers, heartbeats, clean-up.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getActiveResourcesInfo } from 'node:process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createEventBus, type EventBus } from './bus.js';
import type { EventBusOptions } from './types.js';
import { EVENTS_CHANNEL, type EventsDiagnostic } from './diagnostics.js';
import { DEFAULT_HEARTBEAT_MS } from './options.js';
import { parseEventId } from './ids.js';
import { openSse, type SseClient } from './sse-client.fixture.js';
import { renderHaproxyConfig } from '../../render/haproxy.js';
import { model } from '../../render/model.fixture.js';
import { parseDuration } from '../../units.js';

const CHANNELS: EventBusOptions['channels'] = {
  new_messages: { replay: true },
  ticker: {},
  'user:*': { replay: { maxLen: 50, maxAge: '1h' } },
  short: { replay: { maxLen: 2 } },
};

async function setup(t: TestContext, options: EventBusOptions = {}): Promise<{ bus: EventBus; url: (q: string) => string; server: Server }> {
  const bus = createEventBus({
    redis: false,
    channels: CHANNELS,
    userOf: (req) => {
      const h = (req as { headers: Record<string, string | undefined> }).headers['x-user'];
      return h === undefined ? undefined : h;
    },
    ...options,
  });
  const server = createServer((req, res) => void bus.handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  t.after(async () => {
    bus.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { bus, server, url: (q) => `http://127.0.0.1:${port}/events?${q}` };
}

const datas = (c: SseClient, from = 0) => c.events.slice(from).map((e) => `${e.event}:${e.data}`);

test('options: every problem at once, OSC_ERR_EVENTS_OPTIONS', () => {
  assert.throws(
    () => createEventBus({ redis: false, prefix: 'a b', maxPayloadBytes: -1, heartbeat: 'soon', channels: { 'bad name!': {}, ok: { replay: { maxLen: 0 } } } }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'OSC_ERR_EVENTS_OPTIONS');
      for (const p of ['prefix', 'maxPayloadBytes', 'heartbeat', 'bad name!', 'replay.maxLen']) assert.match(err.message, new RegExp(p.replace(/[.!]/g, '\\$&')));
      return true;
    },
  );
  assert.throws(() => createEventBus({ redis: false, maxPayloadBytes: 1024 * 1024, maxBufferBytes: 1024 * 1024 }), /twice maxPayloadBytes/);
});

test('publish validates channel names and payloads; a closed bus refuses', async () => {
  const bus = createEventBus({ redis: false, maxPayloadBytes: 100, maxBufferBytes: 4096 });
  for (const name of ['', 'a b', 'x'.repeat(129), 'new\nline', 'star*', 'é']) {
    await assert.rejects(bus.publish(name, 1), { code: 'OSC_ERR_EVENTS_CHANNEL' }, JSON.stringify(name));
  }
  await assert.rejects(bus.publish('ok', 'x'.repeat(200)), { code: 'OSC_ERR_EVENTS_PAYLOAD' });
  await assert.rejects(bus.publish('ok', undefined), { code: 'OSC_ERR_EVENTS_PAYLOAD' });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  await assert.rejects(bus.publish('ok', cyclic), { code: 'OSC_ERR_EVENTS_PAYLOAD' });
  assert.equal(await bus.publish('ok', { fine: true }), undefined, 'not replayable: no id');
  await bus.close();
  await bus.close();
  await assert.rejects(bus.publish('ok', 1), { code: 'OSC_ERR_EVENTS_CLOSED' });
});

test('one stream carries several channels: headers, retry hint, a position id, then live events with ids', async (t) => {
  const { bus, url } = await setup(t);
  const c = await openSse(url('channels=new_messages,ticker'));
  t.after(() => c.close());
  assert.equal(c.status, 200);
  assert.match(String(c.headers['content-type']), /^text\/event-stream/);
  assert.equal(c.headers['cache-control'], 'no-store');
  assert.equal(c.headers['x-accel-buffering'], 'no');
  await c.until((x) => x.lastId !== undefined, 2000, 'a position');
  assert.equal(c.retry, 2000);
  assert.ok(parseEventId(c.lastId), c.lastId);
  const id1 = await bus.publish('new_messages', { text: 'hi' });
  await bus.publish('ticker', 7);
  await bus.publish('elsewhere', 'not for us');
  const id2 = await bus.publish('new_messages', 'two');
  await c.until((x) => x.events.length >= 3);
  assert.deepEqual(datas(c), ['new_messages:{"text":"hi"}', 'ticker:7', 'new_messages:"two"']);
  assert.deepEqual(c.events.map((e) => e.id), [id1, id1, id2], 'ticker has no id: the browser keeps the last one');
  assert.equal(bus.stats().openStreams, 1);
});

test('bad requests: 400 for bad channel lists, 403 for unknown, internal and other users\' channels', async (t) => {
  const { bus, url } = await setup(t, { maxChannelsPerStream: 3 });
  bus.cacheBus('cache.inv');
  const cases: [string, number, string, Record<string, string>?][] = [
    ['', 400, 'OSC_ERR_EVENTS_CHANNEL'],
    ['channels=a%20b', 400, 'OSC_ERR_EVENTS_CHANNEL'],
    ['channels=a,b,c,d', 400, 'OSC_ERR_EVENTS_CHANNEL'],
    ['channels=not_configured', 403, 'OSC_ERR_EVENTS_FORBIDDEN'],
    ['channels=cache.inv', 403, 'OSC_ERR_EVENTS_FORBIDDEN'],
    ['channels=user:1', 403, 'OSC_ERR_EVENTS_FORBIDDEN'],
    ['channels=new_messages,user:1', 403, 'OSC_ERR_EVENTS_FORBIDDEN', { 'x-user': '2' }],
    ['channels=user:', 403, 'OSC_ERR_EVENTS_FORBIDDEN', { 'x-user': '' }],
  ];
  for (const [q, status, code, headers] of cases) {
    const c = await openSse(url(q), { headers: headers ?? {} });
    assert.equal(c.status, status, q);
    assert.equal((JSON.parse(c.body) as { error: string }).error, code, q);
  }
  const own = await openSse(url('channels=user:2'), { headers: { 'x-user': '2' } });
  t.after(() => own.close());
  assert.equal(own.status, 200);
});

test('the authorize hook narrows but can never open another user\'s channel', async (t) => {
  const { url } = await setup(t, { authorize: ({ channel }) => channel !== 'ticker' });
  assert.equal((await openSse(url('channels=ticker'))).status, 403);
  assert.equal((await openSse(url('channels=user:1'), { headers: { 'x-user': '2' } })).status, 403, 'hook says yes, userOf says no');
  const hookThrows = await setup(t, { authorize: () => Promise.reject(new Error('db down')) });
  assert.equal((await openSse(hookThrows.url('channels=new_messages'))).status, 403, 'a failing hook refuses');
});

test('reconnect with Last-Event-ID: exactly the missed events, in order, across channels, then live', async (t) => {
  const { bus, url } = await setup(t);
  const headers = { 'x-user': '9' };
  const a = await openSse(url('channels=new_messages,user:9'), { headers });
  await bus.publish('new_messages', 0);
  await a.until((x) => x.events.length === 1);
  const last = a.lastId!;
  a.close();
  await bus.publish('user:9', 'one');
  await bus.publish('new_messages', 'two');
  await bus.publish('user:8', 'not yours');
  await bus.publish('ticker', 'not subscribed');
  await bus.publish('user:9', 'three');
  const b = await openSse(url('channels=new_messages,user:9'), { headers, lastEventId: last });
  t.after(() => b.close());
  await b.until((x) => x.events.length >= 3);
  assert.deepEqual(datas(b), ['user:9:"one"', 'new_messages:"two"', 'user:9:"three"']);
  await bus.publish('new_messages', 'live');
  await b.until((x) => x.events.length >= 4);
  assert.deepEqual(datas(b, 3), ['new_messages:"live"']);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(b.events.length, 4, 'no duplicates');
  assert.equal(bus.stats().replayed, 3);
});

test('Last-Event-ID that cannot be honoured: reset event with the reason, a fresh position, then live', async (t) => {
  let now = 1_800_000_000_000;
  const { bus, url } = await setup(t, { now: () => now, channels: { ...CHANNELS, aged: { replay: { maxLen: 100, maxAge: '10s' } } } });
  const seen: EventsDiagnostic[] = [];
  const listener = (m: unknown) => seen.push(m as EventsDiagnostic);
  subscribe(EVENTS_CHANNEL, listener);
  t.after(() => unsubscribe(EVENTS_CHANNEL, listener));
  const first = await openSse(url('channels=short,aged'));
  await first.until((x) => x.lastId !== undefined);
  const start = first.lastId!;
  first.close();
  const reasonFor = async (lastEventId: string, q = 'channels=short'): Promise<string> => {
    const c = await openSse(url(q), { lastEventId });
    await c.until((x) => x.events.length >= 1);
    c.close();
    assert.equal(c.events[0]!.event, 'osc/reset');
    assert.ok(parseEventId(c.lastId), 'the reset carries a fresh position');
    return (JSON.parse(c.events[0]!.data) as { reason: string }).reason;
  };
  assert.equal(await reasonFor('garbage'), 'malformed');
  assert.equal(await reasonFor('x'.repeat(500)), 'malformed');
  assert.equal(await reasonFor('zzzz_1-0'), 'foreign');
  const epoch = start.split('_')[0]!;
  assert.equal(await reasonFor(`${epoch}_9999999999999-0`), 'future');
  for (let i = 0; i < 3; i++) await bus.publish('short', i);
  assert.equal(await reasonFor(start), 'stale', 'maxLen 2: one event after the id was trimmed');
  // Age: an event, then 11 s later another publish trims it (MINID); the old id is now below the floor.
  await bus.publish('aged', 'old');
  const mid = await openSse(url('channels=aged'));
  await mid.until((x) => x.lastId !== undefined);
  mid.close();
  const afterOld = mid.lastId!;
  now += 11_000;
  await bus.publish('aged', 'new');
  assert.equal(await reasonFor(start, 'channels=aged'), 'stale');
  // A quiet channel, asked from an id older than maxAge: what expired is unknown, so reset.
  now += 60_000;
  assert.equal(await reasonFor(afterOld, 'channels=aged'), 'stale');
  const live = await openSse(url('channels=short'), { lastEventId: 'garbage' });
  t.after(() => live.close());
  await live.until((x) => x.events.length === 1);
  await bus.publish('short', 'after reset');
  await live.until((x) => x.events.length === 2);
  assert.equal(live.events[1]!.data, '"after reset"');
  assert.ok(seen.some((e) => e.type === 'reset' && e.reason === 'future'));
  assert.ok(bus.stats().resets >= 7);
});

test('too many events to replay: reset (too-many) instead of a flood', async (t) => {
  const { bus, url } = await setup(t, { maxReplay: 5 });
  const a = await openSse(url('channels=new_messages'));
  await a.until((x) => x.lastId !== undefined);
  a.close();
  for (let i = 0; i < 6; i++) await bus.publish('new_messages', i);
  const b = await openSse(url('channels=new_messages'), { lastEventId: a.lastId! });
  t.after(() => b.close());
  await b.until((x) => x.events.length >= 1);
  assert.deepEqual(JSON.parse(b.events[0]!.data), { reason: 'too-many' });
});

test('a stalled reader is cut off at maxBufferBytes while another keeps receiving everything', async (t) => {
  const { bus, url } = await setup(t, { maxPayloadBytes: 16 * 1024, maxBufferBytes: 256 * 1024 });
  const stalled = await openSse(url('channels=ticker'));
  const healthy = await openSse(url('channels=ticker'));
  t.after(() => healthy.close());
  await new Promise((r) => setTimeout(r, 20));
  stalled.pause();
  const big = 'x'.repeat(15_000);
  let sent = 0;
  // Loopback socket buffers hold a few MB before the server side queues anything: keep going until it is cut off.
  while (bus.stats().droppedSlow === 0 && sent < 2000) {
    await bus.publish('ticker', big);
    sent++;
    await healthy.until((x) => x.events.length === sent, 5000, `${sent} events`);
  }
  assert.equal(bus.stats().droppedSlow, 1, `cut off after ${sent} events`);
  await healthy.until((x) => x.events.length === sent, 5000, 'every event');
  await bus.publish('ticker', 'after');
  await healthy.until((x) => x.events.length === sent + 1);
  assert.equal(bus.stats().openStreams, 1);
  stalled.resume();
  await stalled.until((x) => x.ended, 5000, 'the end of the stalled stream');
});

test('heartbeats: comments and fresh positions at the heartbeat interval', async (t) => {
  const { url } = await setup(t, { heartbeat: 100 });
  const c = await openSse(url('channels=new_messages'));
  t.after(() => c.close());
  await c.until((x) => x.lastId !== undefined);
  const first = parseEventId(c.lastId)!;
  await c.until((x) => x.comments >= 2, 3000, 'two heartbeats');
  await c.until((x) => parseEventId(x.lastId)!.seq !== first.seq || parseEventId(x.lastId)!.ms !== first.ms, 3000, 'a newer position');
  assert.equal(c.events.length, 0, 'positions are not events');
});

test('closing streams leaves no stream, subscription or timer behind', async (t) => {
  const timers = () => getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const { bus, url } = await setup(t, { heartbeat: 100 });
  const clients = await Promise.all([1, 2, 3].map(() => openSse(url('channels=new_messages,ticker'))));
  await Promise.all(clients.map((c) => c.until((x) => x.lastId !== undefined)));
  assert.equal(bus.stats().openStreams, 3);
  assert.equal(bus.stats().subscribedChannels, 2);
  assert.ok(timers() > before, 'heartbeat running');
  for (const c of clients) c.close();
  for (let i = 0; i < 100 && bus.stats().openStreams > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual({ open: bus.stats().openStreams, subs: bus.stats().subscribedChannels }, { open: 0, subs: 0 });
  assert.equal(timers(), before, 'heartbeat stopped');
});

test('close() ends open streams cleanly; handle() after close answers 503', async (t) => {
  const { bus, url } = await setup(t);
  const c = await openSse(url('channels=ticker'));
  await bus.close();
  await c.until((x) => x.ended, 2000, 'end');
  const after = await openSse(url('channels=ticker'));
  assert.equal(after.status, 503);
  assert.equal((JSON.parse(after.body) as { error: string }).error, 'OSC_ERR_EVENTS_CLOSED');
});

test('cacheBus over the memory bus: messages between two caches, malformed ones reported, internal channel guarded', async () => {
  const bus = createEventBus({ redis: false });
  const a = bus.cacheBus('cache');
  const b = bus.cacheBus('cache');
  const got: unknown[] = [];
  const errors: unknown[] = [];
  b.subscribe((m) => got.push(m));
  b.onError((e) => errors.push(e));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(a.connected, true);
  a.publish({ origin: 'A', keys: ['k:1'], tag: 't' });
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(got, [{ origin: 'A', keys: ['k:1'], tag: 't' }]);
  await assert.rejects(bus.publish('cache', 'x'), { code: 'OSC_ERR_EVENTS_CHANNEL' });
  await a.close();
  await b.close();
  assert.equal(bus.stats().subscribedChannels, 0);
  assert.deepEqual(errors, []);
  await bus.close();
});

test('the default heartbeat is shorter than every haproxy timeout that would cut an idle stream', () => {
  const cfg = renderHaproxyConfig(model('{}'));
  for (const name of ['client', 'server', 'tunnel']) {
    const m = new RegExp(`^\\s*timeout ${name} (\\S+)$`, 'm').exec(cfg);
    assert.ok(m, `timeout ${name} rendered`);
    const ms = parseDuration(m[1]!);
    assert.ok(ms !== undefined && DEFAULT_HEARTBEAT_MS * 2 <= ms, `heartbeat ${DEFAULT_HEARTBEAT_MS} ms vs timeout ${name} ${m[1]}`);
  }
});
