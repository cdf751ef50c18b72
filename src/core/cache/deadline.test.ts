import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedDeadline } from './deadline.js';

// The deadline timers are unref'd (they must not keep a process alive); a real hung command has a socket that
// does. Here nothing else would keep the event loop running, so hold it open for the file.
const keepAlive = setInterval(() => {}, 1000);
after(() => clearInterval(keepAlive));

test('shared deadline: a hung command rejects with OSC_ERR_CACHE_TIMEOUT; quick ones resolve', async () => {
  const d = new SharedDeadline(30);
  const hung = new Promise<never>(() => {});
  const t0 = performance.now();
  await assert.rejects(d.race(hung), { code: 'OSC_ERR_CACHE_TIMEOUT' });
  assert.ok(performance.now() - t0 < 5000, 'bounded');
  assert.equal(await d.race(Promise.resolve(7)), 7);
  // Many commands in one slice share a deadline; all of them are released.
  const results = await Promise.allSettled(Array.from({ length: 100 }, () => d.race(hung)));
  assert.ok(results.every((r) => r.status === 'rejected'));
});

test('shared deadline: 0 disables it (the work itself is returned)', async () => {
  const d = new SharedDeadline(0);
  const p = Promise.resolve('x');
  assert.equal(d.race(p), p);
  assert.equal(await d.race(p), 'x');
});

test('shared deadline: a slice whose commands all finished does not leave an unhandled rejection', async () => {
  const seen: unknown[] = [];
  const onUnhandled = (r: unknown) => seen.push(r);
  process.on('unhandledRejection', onUnhandled);
  try {
    const d = new SharedDeadline(10);
    await d.race(Promise.resolve(1));
    await new Promise((r) => setTimeout(r, 40));
    assert.deepEqual(seen, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});
