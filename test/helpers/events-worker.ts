/**
 * One app instance with an event bus on a real Redis, in its own process, driven over IPC by events-workers.ts:
 * an HTTP server on 127.0.0.1 serving `bus.handle()` (the test's identity comes from an `x-user` header — a
 * stand-in for a session), plus ops to publish, read stats, and run a two-tier cache on `bus.cacheBus()`.
 * Diagnostics the tests wait for and any unhandled error are pushed to the parent as `{ type: 'event' | 'unhandled' }`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { subscribe } from 'node:diagnostics_channel';
import { createClient } from 'redis';
import { createEventBus, type EventBus } from '../../src/core/events/bus.js';
import { EVENTS_CHANNEL, type EventsDiagnostic } from '../../src/core/events/diagnostics.js';
import type { EventBusOptions } from '../../src/core/events/types.js';
import { createCache } from '../../src/core/cache/factory.js';
import type { Cache } from '../../src/core/cache/cache.js';
import { RedisStore } from '../../src/core/cache/redis-store.js';
import type { AnyRedisClient } from '../../src/core/redis/client.js';
import { push, serveIpc } from './ipc-serve.js';


let bus: EventBus | undefined;
let server: Server | undefined;
let cache: Cache | undefined;
let cacheClient: AnyRedisClient | undefined;

process.on('unhandledRejection', (reason) => push({ type: 'unhandled', reason: String(reason) }));
process.on('uncaughtException', (err) => push({ type: 'unhandled', reason: String(err) }));

subscribe(EVENTS_CHANNEL, (m) => {
  const e = m as EventsDiagnostic;
  if (e.type === 'published' || e.type === 'delivered' || e.type === 'replayed') return;
  push({ type: 'event', event: e.type === 'error' ? { type: 'error', op: e.op, error: String(e.error) } : e });
});

const ops: Record<string, (a: Record<string, unknown>) => Promise<unknown>> = {
  async init(a) {
    bus = createEventBus({
      redis: { options: { url: String(a.url) } },
      prefix: String(a.prefix),
      channels: a.channels as EventBusOptions['channels'],
      userOf: (req) => {
        const user = (req as { headers: Record<string, string | undefined> }).headers['x-user'];
        return user === '' ? undefined : user;
      },
      ...(a.maxBufferBytes ? { maxBufferBytes: Number(a.maxBufferBytes) } : {}),
      ...(a.heartbeat ? { heartbeat: Number(a.heartbeat) } : {}),
    });
    server = createServer((req, res) => void bus!.handle(req, res));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const ready = await bus.ready(10_000);
    return { port: (server.address() as AddressInfo).port, ready };
  },
  publish: (a) => bus!.publish(String(a.channel), a.data),
  stats: () => Promise.resolve(bus!.stats()),
  async cacheInit(a) {
    cacheClient = createClient({ url: String(a.url) }) as AnyRedisClient;
    cacheClient.on('error', () => {});
    await cacheClient.connect();
    const store = new RedisStore({ client: cacheClient, prefix: String(a.prefix), commandTimeout: 1000, ownsClient: false });
    cache = createCache({ name: String(a.name), prefix: String(a.prefix), l2: { store, bus: bus!.cacheBus('cache.inv') } });
    return cache.ready(10_000);
  },
  cacheGet: (a) => cache!.get(String(a.key)),
  cacheSet: (a) => cache!.set(String(a.key), a.value),
  async close() {
    await cache?.close();
    await cacheClient?.close();
    await bus?.close();
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    return true;
  },
};

serveIpc(ops, () => ops.close!({}));
