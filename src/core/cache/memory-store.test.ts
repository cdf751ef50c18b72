import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore } from './memory-store.js';
import { storeContract } from './store-contract.js';

storeContract({ name: 'memory', make: () => Promise.resolve(new MemoryStore()) });

test('memory store: expiry follows the injected clock', async () => {
  let now = 1000;
  const s = new MemoryStore({ now: () => now });
  await s.set('k:a', 'v', 100);
  now = 1099;
  assert.equal(await s.get('k:a'), 'v');
  now = 1100;
  assert.equal(await s.get('k:a'), undefined);
});
