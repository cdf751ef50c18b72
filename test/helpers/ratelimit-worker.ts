/**
 * A rate limiter in its own Node process, driven over IPC by test/integration/ratelimit-multi-process.test.ts.
 * Each request `{ id, op, args }` gets one reply `{ id, ok, value | error }`; unhandled rejections are pushed as
 * `{ type: 'unhandled' }` so the test can fail on them.
 */
import { createRateLimiter, type RateLimiter } from '../../src/core/ratelimit/limiter.js';
import type { LimitRule, Subject } from '../../src/core/ratelimit/types.js';
import { push, serveIpc } from './ipc-serve.js';


let limiter: RateLimiter | undefined;

process.on('unhandledRejection', (reason) => push({ type: 'unhandled', reason: String(reason) }));

const ops: Record<string, (a: Record<string, unknown>) => Promise<unknown>> = {
  async init(a) {
    limiter = createRateLimiter({ rules: a.rules as LimitRule[], prefix: String(a.prefix), redis: { options: { url: String(a.url) } } });
    return limiter.ready(10_000);
  },
  /** `n` checks at once; resolves to { allowed, sources } counts. */
  async burst(a) {
    const n = Number(a.n);
    const decisions = await Promise.all(Array.from({ length: n }, () => limiter!.check(a.subject as Subject, { rules: a.rules as string[] })));
    const sources: Record<string, number> = {};
    for (const d of decisions) sources[d.source] = (sources[d.source] ?? 0) + 1;
    return { allowed: decisions.filter((d) => d.allowed).length, sources };
  },
  async close() {
    await limiter?.close();
    return true;
  },
};

serveIpc(ops, () => (limiter?.close() ?? Promise.resolve()));
