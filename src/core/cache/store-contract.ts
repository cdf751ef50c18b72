/**
 * The one contract suite every `CacheStore` must pass (STYLE.md §3): registered from `memory-store.test.ts` (unit)
 * and `test/integration/cache-redis-store.test.ts` (real Redis). `make` gives each test a fresh, empty store;
 * `cleanup` runs after it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CacheStore } from './types.js';

export interface StoreContractOptions {
  name: string;
  make: () => Promise<CacheStore>;
  cleanup?: (store: CacheStore) => Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function storeContract({ name, make, cleanup }: StoreContractOptions): void {
  const withStore = (title: string, body: (store: CacheStore) => Promise<void>): void => {
    void test(`${name} store contract: ${title}`, async () => {
      const store = await make();
      try {
        await body(store);
      } finally {
        if (cleanup) await cleanup(store);
        else await store.close();
      }
    });
  };

  withStore('is available once made', (s) => {
    assert.equal(s.available, true);
    return Promise.resolve();
  });

  withStore('get of a missing key is undefined', async (s) => {
    assert.equal(await s.get('k:missing'), undefined);
  });

  withStore('set then get returns the exact string, including unicode and separators', async (s) => {
    const value = '1:2:{"a":"é ✓ \\n","b":[1,2]}';
    await s.set('k:a', value, 10_000);
    assert.equal(await s.get('k:a'), value);
  });

  withStore('set overwrites', async (s) => {
    await s.set('k:a', 'one', 10_000);
    await s.set('k:a', 'two', 10_000);
    assert.equal(await s.get('k:a'), 'two');
  });

  withStore('values expire after ttlMs', async (s) => {
    await s.set('k:short', 'x', 40);
    await s.set('k:long', 'y', 10_000);
    await sleep(120);
    assert.equal(await s.get('k:short'), undefined);
    assert.equal(await s.get('k:long'), 'y');
  });

  withStore('delete removes keys and counts the ones that existed', async (s) => {
    await s.set('k:a', '1', 10_000);
    await s.set('k:b', '2', 10_000);
    assert.equal(await s.delete(['k:a', 'k:b', 'k:nope']), 2);
    assert.equal(await s.get('k:a'), undefined);
    assert.equal(await s.get('k:b'), undefined);
    assert.equal(await s.delete([]), 0);
  });

  withStore('deleteByTag removes exactly the tagged keys and returns them', async (s) => {
    await s.set('k:u1', 'a', 10_000, ['user:1', 'users']);
    await s.set('k:u2', 'b', 10_000, ['user:2', 'users']);
    await s.set('k:other', 'c', 10_000, ['misc']);
    await s.set('k:plain', 'd', 10_000);
    const removed = await s.deleteByTag('users');
    assert.deepEqual([...removed].sort(), ['k:u1', 'k:u2']);
    assert.equal(await s.get('k:u1'), undefined);
    assert.equal(await s.get('k:u2'), undefined);
    assert.equal(await s.get('k:other'), 'c');
    assert.equal(await s.get('k:plain'), 'd');
    // The tag itself is gone: a second call finds nothing.
    assert.deepEqual(await s.deleteByTag('users'), []);
    // Other tags of a deleted key still work (they just name a key that no longer exists).
    assert.deepEqual(await s.deleteByTag('user:1'), ['k:u1']);
  });

  withStore('a key set again after deleteByTag is not deleted by the old tag', async (s) => {
    await s.set('k:a', '1', 10_000, ['t']);
    await s.deleteByTag('t');
    await s.set('k:a', '2', 10_000, ['other']);
    assert.deepEqual(await s.deleteByTag('t'), []);
    assert.equal(await s.get('k:a'), '2');
  });

  withStore('deleteByTag of an unknown tag is empty', async (s) => {
    assert.deepEqual(await s.deleteByTag('never'), []);
  });

  withStore('deleteByTag handles many keys in one tag', async (s) => {
    const n = 1200; // more than one Lua DEL batch
    await Promise.all(Array.from({ length: n }, (_, i) => s.set(`k:m${i}`, String(i), 10_000, ['many'])));
    const removed = await s.deleteByTag('many');
    assert.equal(removed.length, n);
    assert.equal(await s.get('k:m0'), undefined);
    assert.equal(await s.get(`k:m${n - 1}`), undefined);
  });

  withStore('a lock has one owner until released', async (s) => {
    const token = await s.acquireLock('k:l', 10_000);
    assert.equal(typeof token, 'string');
    assert.equal(await s.acquireLock('k:l', 10_000), undefined);
    assert.equal(await s.releaseLock('k:l', 'not-the-token'), false);
    assert.equal(await s.acquireLock('k:l', 10_000), undefined);
    assert.equal(await s.releaseLock('k:l', token!), true);
    assert.equal(await s.releaseLock('k:l', token!), false);
    const again = await s.acquireLock('k:l', 10_000);
    assert.equal(typeof again, 'string');
    assert.notEqual(again, token);
  });

  withStore('a lock expires by itself, and the old owner cannot release the new one', async (s) => {
    const first = await s.acquireLock('k:l', 40);
    assert.ok(first);
    await sleep(120);
    const second = await s.acquireLock('k:l', 10_000);
    assert.ok(second);
    assert.equal(await s.releaseLock('k:l', first), false);
    assert.equal(await s.acquireLock('k:l', 10_000), undefined);
  });

  withStore('getOrLock: value when present, else the lock (once); a set releases it', async (s) => {
    await s.set('k:v', 'there', 10_000);
    assert.deepEqual(await s.getOrLock('k:v', 10_000), { value: 'there' });
    const first = await s.getOrLock('k:cold', 10_000);
    assert.equal(first.value, undefined);
    assert.equal(typeof first.token, 'string');
    assert.deepEqual(await s.getOrLock('k:cold', 10_000), { token: undefined });
    assert.equal(await s.get('k:cold'), undefined, 'a held lock is not a value');
    await s.set('k:cold', 'loaded', 10_000, ['tag']);
    assert.deepEqual(await s.getOrLock('k:cold', 10_000), { value: 'loaded' });
    assert.equal(await s.releaseLock('k:cold', first.token!), false, 'the set already ended the lock');
    assert.equal(await s.get('k:cold'), 'loaded');
  });

  withStore('getOrLock: releaseLock by the owner only; the lock expires by itself', async (s) => {
    const mine = await s.getOrLock('k:r', 10_000);
    assert.equal(await s.releaseLock('k:r', 'not-mine'), false);
    assert.deepEqual(await s.getOrLock('k:r', 10_000), { token: undefined });
    assert.equal(await s.releaseLock('k:r', mine.token!), true);
    const next = await s.getOrLock('k:r', 40);
    assert.equal(typeof next.token, 'string');
    await sleep(120);
    const after = await s.getOrLock('k:r', 10_000);
    assert.equal(typeof after.token, 'string', 'expired lock taken again');
    await s.delete(['k:r']);
    assert.equal(typeof (await s.getOrLock('k:r', 10_000)).token, 'string', 'delete ends the lock');
  });

  withStore('locks and values live in separate namespaces', async (s) => {
    await s.set('k:x', 'value', 10_000);
    const token = await s.acquireLock('k:x', 10_000);
    assert.ok(token);
    assert.equal(await s.get('k:x'), 'value');
    await s.delete(['k:x']);
    assert.equal(await s.acquireLock('k:x', 10_000), undefined);
  });

  void test(`${name} store contract: close is idempotent and later calls reject`, async () => {
    const s = await make();
    await s.close();
    await s.close();
    s.destroy();
    assert.equal(s.available, false);
    await assert.rejects(s.get('k:a'));
    if (cleanup) await cleanup(s);
  });
}
