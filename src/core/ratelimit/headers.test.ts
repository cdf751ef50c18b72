import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rateLimitHeaders } from './headers.js';
import { createRateLimiter } from './limiter.js';

test('RateLimit-Policy / RateLimit per draft-ietf-httpapi-ratelimit-headers-11; Retry-After only when blocked', async () => {
  let now = 1_700_000_000_000;
  const l = createRateLimiter({
    redis: false,
    clock: () => now,
    rules: [
      { name: 'burst', algorithm: 'fixed-window', limit: 2, window: '60s', by: ['circuit'] },
      { name: 'daily', algorithm: 'sliding-window', limit: 1000, window: '1d', by: ['circuit'] },
      { name: 'fast', algorithm: 'gcra', limit: 10, window: 1500, by: ['circuit'] },
    ],
  });
  const s = { circuit: 'main:1' };
  const ok = rateLimitHeaders(await l.check(s));
  // daily: one request counts fully until its window ends (80 000 s in), then fades over the next day: t = 6 400 + 86 400.
  assert.deepEqual(ok, {
    'RateLimit-Policy': '"burst";q=2;w=60, "daily";q=1000;w=86400, "fast";q=10',
    RateLimit: '"burst";r=1;t=60, "daily";r=999;t=92800, "fast";r=9;t=1',
  });
  await l.check(s);
  now += 30_500;
  const blocked = rateLimitHeaders(await l.check(s));
  assert.equal(blocked['Retry-After'], '30', 'ceil of 29.5 s');
  assert.match(blocked.RateLimit!, /^"burst";r=0;t=30, /);
  const refused = rateLimitHeaders(await l.check({}));
  assert.deepEqual(refused, {}, 'a refused (missing circuit) decision advertises nothing');
});
