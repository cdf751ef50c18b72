/**
 * The contract every `SessionStore` passes: registered from store.test.ts (memory) and
 * test/integration/session-redis.test.ts (real Redis). `make(clock)` builds a fresh store whose notion of "now"
 * (creation time, absolute lifetime) is `clock()`; idle expiry is real time in both (Redis TTLs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { SessionStore } from './store.js';

export interface SessionStoreContractOptions {
  name: string;
  make: (clock: () => number) => Promise<SessionStore>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function sessionStoreContract({ name, make }: SessionStoreContractOptions): void {
  const withStore = (title: string, body: (store: SessionStore, shift: (ms: number) => void) => Promise<void>): void => {
    void test(`${name} session store contract: ${title}`, async () => {
      let offset = 0;
      const store = await make(() => Date.now() + offset);
      try {
        await body(store, (ms) => (offset += ms));
      } finally {
        await store.close();
      }
    });
  };
  const key = () => `t:${randomUUID()}`;
  const create = (s: SessionStore, k: string, set: Array<[string, string]>, idleMs = 60_000) => s.write({ key: k, create: true, set, del: [], idleMs });
  const update = (s: SessionStore, k: string, set: Array<[string, string]>, del: string[] = [], idleMs = 60_000) =>
    s.write({ key: k, create: false, set, del, idleMs });

  withStore('a missing session loads as undefined', async (s) => {
    assert.equal(await s.load(key(), 60_000, 0), undefined);
  });

  withStore('create stores the fields and the creation time', async (s) => {
    const k = key();
    const before = Date.now();
    assert.equal(await create(s, k, [['userId', '"42"'], ['n', '1']]), true);
    const fields = await s.load(k, 60_000, 0);
    assert.equal(fields?.get('userId'), '"42"');
    assert.equal(fields?.get('n'), '1');
    const created = Number(fields?.get('~c'));
    assert.ok(created >= before - 5 && created <= Date.now() + 5, `created ${created}`);
  });

  withStore('an update of a session that does not exist writes nothing (no resurrection)', async (s) => {
    const k = key();
    assert.equal(await update(s, k, [['a', '1']]), false);
    assert.equal(await s.load(k, 60_000, 0), undefined);
    await create(s, k, [['a', '1']]);
    await s.destroy(k);
    assert.equal(await update(s, k, [['b', '2']]), false);
    assert.equal(await s.load(k, 60_000, 0), undefined);
  });

  withStore('concurrent updates of different fields both survive; deletes remove only their field', async (s) => {
    const k = key();
    await create(s, k, [['a', '0'], ['b', '0'], ['c', '0']]);
    const writes = [];
    for (let i = 0; i < 20; i++) writes.push(update(s, k, [[`f${i}`, String(i)]]));
    writes.push(update(s, k, [], ['c']));
    assert.deepEqual(await Promise.all(writes), Array<boolean>(21).fill(true));
    const fields = await s.load(k, 60_000, 0);
    for (let i = 0; i < 20; i++) assert.equal(fields?.get(`f${i}`), String(i));
    assert.equal(fields?.get('a'), '0');
    assert.equal(fields?.has('c'), false);
  });

  withStore('idle expiry rolls forward on every load and ends the session when idle', async (s) => {
    const k = key();
    await create(s, k, [['a', '1']], 400);
    await sleep(250);
    assert.ok(await s.load(k, 400, 0), 'alive at 250 ms');
    await sleep(250);
    assert.ok(await s.load(k, 400, 0), 'alive at 500 ms only because the load at 250 ms rolled the expiry');
    await sleep(650);
    assert.equal(await s.load(k, 400, 0), undefined, 'gone after 650 ms idle');
  });

  withStore('past the absolute lifetime a session is gone however active it is', async (s, shift) => {
    const k = key();
    await create(s, k, [['a', '1']]);
    shift(9_000);
    assert.ok(await s.load(k, 60_000, 10_000));
    shift(1_000);
    assert.equal(await s.load(k, 60_000, 10_000), undefined);
    assert.equal(await s.load(k, 60_000, 0), undefined, 'deleted, not just hidden');
  });

  withStore('a create that replaces an old key deletes it in the same step (regenerate)', async (s) => {
    const oldKey = key();
    const newKey = key();
    await create(s, oldKey, [['cart', '[1]']]);
    assert.equal(await s.write({ key: newKey, create: true, set: [['cart', '[1]'], ['userId', '"7"']], del: [], idleMs: 60_000, replaces: oldKey }), true);
    assert.equal(await s.load(oldKey, 60_000, 0), undefined);
    assert.equal((await s.load(newKey, 60_000, 0))?.get('userId'), '"7"');
  });
}
