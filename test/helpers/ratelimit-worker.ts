/**
 * A rate limiter in its own Node process, driven over IPC by test/integration/ratelimit-multi-process.test.ts.
 * Each request `{ id, op, args }` gets one reply `{ id, ok, value | error }`; unhandled rejections are pushed as
 * `{ type: 'unhandled' }` so the test can fail on them.
 */
import { createRateLimiter, type RateLimiter } from '../../src/core/ratelimit/limiter.js';
import type { LimitRule, Subject } from '../../src/core/ratelimit/types.js';

interface Request {
  id: number;
  op: string;
  args: Record<string, unknown>;
}

const send = (message: unknown): void => void process.send?.(message);
let limiter: RateLimiter | undefined;

process.on('unhandledRejection', (reason) => send({ type: 'unhandled', reason: String(reason) }));

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

process.on('message', (raw) => {
  const req = raw as Request;
  const op = ops[req.op];
  if (!op) return send({ id: req.id, ok: false, error: `unknown op ${req.op}` });
  op(req.args ?? {}).then(
    (value) => send({ id: req.id, ok: true, value }),
    (err: unknown) => send({ id: req.id, ok: false, error: String(err) }),
  );
});

process.on('disconnect', () => {
  void (limiter?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
send({ type: 'up' });
