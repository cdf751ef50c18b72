/**
 * Circuit-keyed limits hold across instances: two separate Node processes (ratelimit-worker.ts) on one real Redis
 * fire bursts at the same circuit at the same time; together they get exactly the quota, for every algorithm.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { LimitRule } from '../../src/core/ratelimit/types.js';
import { spawnIpcWorker, type IpcWorker, type Pushed } from '../helpers/ipc-worker.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const WORKER = fileURLToPath(new URL('../helpers/ratelimit-worker.ts', import.meta.url));

type Worker = IpcWorker<Pushed>;
const spawnWorker = (): Promise<Worker> => spawnIpcWorker<Pushed>(WORKER, 'ratelimit worker');

let redis: TestRedis;
let workers: Worker[] = [];

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await redis.stop();
});

const ALGORITHMS = ['fixed-window', 'sliding-log', 'sliding-window', 'gcra'] as const;

test('two processes, one Redis: a circuit gets exactly its quota in total, for every algorithm', async () => {
  // Long windows: Redis TIME runs on, and GCRA must not refill (one unit per 72 s) during the bursts.
  const rules: LimitRule[] = ALGORITHMS.map((algorithm) => ({ name: algorithm, algorithm, limit: 50, window: '1h', by: ['circuit'] }));
  const prefix = `mp:${randomUUID()}:`;
  workers = await Promise.all([spawnWorker(), spawnWorker()]);
  for (const w of workers) assert.equal(await w.call('init', { url: redis.url, prefix, rules }), true);
  type Burst = { allowed: number; sources: Record<string, number> };
  for (const algorithm of ALGORITHMS) {
    const subject = { circuit: 'main:4242' };
    const bursts = await Promise.all(workers.map((w) => w.call<Burst>('burst', { subject, n: 40, rules: [algorithm] })));
    const total = bursts[0]!.allowed + bursts[1]!.allowed;
    assert.equal(total, 50, `${algorithm}: ${JSON.stringify(bursts)}`);
    for (const b of bursts) assert.equal(b.sources.memory ?? 0, 0, `${algorithm}: no decision from the local fallback`);
    const other = await Promise.all(
      [{ circuit: 'main:4243' }, { circuit: 'second:4242' }].map((s, i) => workers[i]!.call<Burst>('burst', { subject: s, n: 10, rules: [algorithm] })),
    );
    assert.deepEqual(other.map((b) => b.allowed), [10, 10], `${algorithm}: other circuits (and the same id on another tor instance) are untouched`);
  }
  for (const w of workers) assert.deepEqual(w.pushed.filter((m) => m.type === 'unhandled'), []);
});
