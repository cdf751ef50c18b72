/**
 * The SSE adapters on real Express 5 and Fastify 5 servers (in-memory bus): the same stream, the framework's
 * request reaching `userOf` (a session-like `request.session.userId` set by a preceding middleware/hook), fixed
 * route channels, and clean-up when the client goes away.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { createEventBus, type EventBus } from '../../src/core/events/bus.js';
import { sse } from '../../src/adapters/express-events.js';
import { sseHandler } from '../../src/adapters/fastify-events.js';
import { openSse } from '../../src/core/events/sse-client.fixture.js';

const channels = { news: { replay: true }, 'user:*': { replay: true } };

async function expressApp(t: TestContext, bus: EventBus): Promise<string> {
  const app = express();
  app.use((req, _res, next) => {
    const user = req.headers['x-user'];
    (req as unknown as { session: { userId?: string } }).session = typeof user === 'string' ? { userId: user } : {};
    next();
  });
  app.get('/events', sse(bus));
  app.get('/news', sse(bus, { channels: ['news'] }));
  const server: Server = await new Promise((r) => {
    const s = app.listen(0, '127.0.0.1', () => r(s));
  });
  t.after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function fastifyApp(t: TestContext, bus: EventBus): Promise<string> {
  const app = Fastify();
  app.decorateRequest('session', null as never);
  app.addHook('onRequest', (request, _reply, done) => {
    const user = request.headers['x-user'];
    (request as unknown as { session: { userId?: string } }).session = typeof user === 'string' ? { userId: user } : {};
    done();
  });
  app.get('/events', sseHandler(bus));
  app.get('/news', sseHandler(bus, { channels: ['news'] }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(async () => {
    app.server.closeAllConnections();
    await app.close();
  });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

for (const [name, make] of [['express', expressApp], ['fastify', fastifyApp]] as const) {
  test(`${name}: SSE stream with the session user, fixed route channels, 403 for another user, clean-up`, async (t) => {
    const bus = createEventBus({ redis: false, channels });
    t.after(() => bus.destroy());
    const base = await make(t, bus);
    const mine = await openSse(`${base}/events?channels=news,user:7`, { headers: { 'x-user': '7' } });
    assert.equal(mine.status, 200);
    assert.match(String(mine.headers['content-type']), /^text\/event-stream/);
    const fixed = await openSse(`${base}/news?channels=user:8`);
    assert.equal(fixed.status, 200, 'the route fixes the channels; the query is ignored');
    const other = await openSse(`${base}/events?channels=user:8`, { headers: { 'x-user': '7' } });
    assert.equal(other.status, 403);
    await Promise.all([mine, fixed].map((c) => c.until((x) => x.lastId !== undefined)));
    await bus.publish('user:8', 'not for 7');
    await bus.publish('user:7', 'for 7');
    await bus.publish('news', 'n');
    await mine.until((x) => x.events.length === 2);
    await fixed.until((x) => x.events.length === 1);
    assert.deepEqual(mine.events.map((e) => `${e.event}:${e.data}`), ['user:7:"for 7"', 'news:"n"']);
    assert.deepEqual(fixed.events.map((e) => e.data), ['"n"']);
    mine.close();
    fixed.close();
    for (let i = 0; i < 100 && bus.stats().openStreams > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(bus.stats().openStreams, 0);
    assert.equal(bus.stats().subscribedChannels, 0);
  });
}
