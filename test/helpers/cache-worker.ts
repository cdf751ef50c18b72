/**
 * A cache instance in its own process, driven by a test over IPC (`child_process.fork`, see cache-workers.ts).
 * Each request `{ id, op, args }` gets one reply `{ id, ok, value | error }`; cache events the tests care about and
 * any unhandled rejection are pushed as `{ type: 'event' | 'unhandled', ... }` with a wall-clock timestamp.
 */
import { subscribe } from 'node:diagnostics_channel';
import { CACHE_CHANNEL, type CacheEvent } from '../../src/core/cache/channels.js';
import { createCache } from '../../src/core/cache/factory.js';
import type { Cache } from '../../src/core/cache/cache.js';
import { push, serveIpc } from './ipc-serve.js';


const now = () => performance.timeOrigin + performance.now();
let cache: Cache | undefined;
let loaderCalls = 0;

process.on('unhandledRejection', (reason) => push({ type: 'unhandled', at: now(), reason: String(reason) }));
process.on('uncaughtException', (err) => push({ type: 'unhandled', at: now(), reason: String(err) }));

subscribe(CACHE_CHANNEL, (m) => {
  const e = m as CacheEvent;
  if (e.event === 'hit' || e.event === 'miss' || e.event === 'set' || e.event === 'load') return;
  const summary: Record<string, unknown> = { ...e };
  if (e.event === 'error') summary.error = String(e.error);
  push({ type: 'event', at: now(), event: summary });
});

const ops: Record<string, (a: Record<string, unknown>) => Promise<unknown>> = {
  async init(a) {
    cache = createCache({
      name: String(a.name),
      prefix: String(a.prefix),
      l2: { options: { url: String(a.url) }, commandTimeout: 1000 },
      breakerCooldown: Number(a.breakerCooldown ?? 200),
      lock: { wait: Number(a.lockWait ?? 3000) },
    });
    return cache.ready(10_000);
  },
  async getOrSet(a) {
    return cache!.getOrSet(
      String(a.key),
      async () => {
        loaderCalls++;
        await new Promise((r) => setTimeout(r, Number(a.delayMs ?? 0)));
        return a.value;
      },
      { ttl: Number(a.ttl ?? 60_000) },
    );
  },
  get: (a) => cache!.get(String(a.key)),
  set: (a) => cache!.set(String(a.key), a.value, a.tags ? { tags: a.tags as string[] } : {}),
  delete: (a) => cache!.delete(String(a.key)),
  deleteByTag: (a) => cache!.deleteByTag(String(a.tag)),
  loaderCalls: () => Promise.resolve(loaderCalls),
  stats: () => Promise.resolve(cache!.stats()),
  ready: (a) => cache!.ready(Number(a.timeoutMs ?? 10_000)),
  async close() {
    await cache?.close();
    return true;
  },
};

serveIpc(ops, () => (cache?.close() ?? Promise.resolve()));
