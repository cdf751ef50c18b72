import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { OnionscaleError } from '../../errors.js';
import { createMemoryBackend } from './memory-backend.js';

test('values round-trip through JSON, like a shared store', async () => {
  const b = createMemoryBackend();
  const value = { a: 1, list: ['x'], nested: { n: null } };
  await b.set('k', value, { ttl: 60_000 });
  const got = await b.get('k');
  assert.deepEqual(got, value);
  assert.notEqual(got, value, 'a copy, not the same object');
  assert.equal(await b.get('missing'), undefined);
  await assert.rejects(b.set('u', undefined, { ttl: 1000 }), (e: unknown) => e instanceof OnionscaleError && e.code === 'OSC_ERR_CACHE_VALUE_UNDEFINED');
  await assert.rejects(b.set('n', 10n, { ttl: 1000 }), (e: unknown) => e instanceof OnionscaleError && e.code === 'OSC_ERR_CACHE_SERIALIZE');
});

test('entries expire after their ttl', async () => {
  const b = createMemoryBackend();
  await b.set('k', 'v', { ttl: 20 });
  assert.equal(await b.get('k'), 'v');
  await sleep(40);
  assert.equal(await b.get('k'), undefined);
});

test('deleteByTag removes exactly the tagged keys; overwrite re-tags', async () => {
  const b = createMemoryBackend();
  await b.set('a', 1, { ttl: 60_000, tags: ['t1', 't2'] });
  await b.set('b', 2, { ttl: 60_000, tags: ['t2'] });
  await b.set('c', 3, { ttl: 60_000 });
  await b.deleteByTag('t1');
  assert.equal(await b.get('a'), undefined);
  assert.equal(await b.get('b'), 2);
  await b.set('b', 22, { ttl: 60_000, tags: ['t3'] });
  await b.deleteByTag('t2');
  assert.equal(await b.get('b'), 22, 'old tag no longer applies after overwrite');
  await b.deleteByTag('t3');
  assert.equal(await b.get('b'), undefined);
  assert.equal(await b.get('c'), 3);
  await b.deleteByTag('never-used');
  assert.equal(b.size, 1);
});

test('memory is bounded: least recently used entries are evicted', async () => {
  const b = createMemoryBackend({ maxSize: 1000 });
  for (let i = 0; i < 20; i++) await b.set(`k${i}`, 'x'.repeat(100), { ttl: 60_000, tags: ['all'] });
  assert.ok(b.size < 20 && b.size > 0);
  assert.equal(await b.get('k0'), undefined);
  assert.ok(await b.get('k19'));
  await assert.rejects(b.set('big', 'x'.repeat(2000), { ttl: 1000 }), (e: unknown) => e instanceof OnionscaleError && e.code === 'OSC_ERR_CACHE_VALUE_TOO_LARGE');
  await b.deleteByTag('all');
  assert.equal(b.size, 0);
});
