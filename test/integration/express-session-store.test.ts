/**
 * The express-session–compatible store, driven by the real express-session middleware and by its Store API, on a
 * real redis-server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import { expressSessionStore } from '../../src/adapters/express-session-store.js';
import { redisPerFile } from '../helpers/redis.js';

type Cb<T> = (err: unknown, v?: T) => void;
interface CompatStore {
  get(sid: string, cb: Cb<unknown>): void;
  set(sid: string, s: unknown, cb: Cb<unknown>): void;
  touch(sid: string, s: unknown, cb: Cb<unknown>): void;
  destroy(sid: string, cb: Cb<unknown>): void;
  clear(cb: Cb<unknown>): void;
  length(cb: Cb<number>): void;
  ids(cb: Cb<string[]>): void;
  all(cb: Cb<Record<string, unknown>>): void;
}
const session = createRequire(import.meta.url)('express-session') as ((o: Record<string, unknown>) => RequestHandler) & { Store: new () => object };
const p = <T>(fn: (cb: Cb<T>) => void) => new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err instanceof Error ? err : new Error('store error', { cause: err })) : resolve(v as T))));

const fx = redisPerFile();

test('express-session with the onionscale store keeps a session across requests', async () => {
  const store = expressSessionStore(session, { redis: { client: fx.client }, prefix: 'x1:' });
  const app = express();
  app.use(session({ store, secret: 'a-secret-for-express-session-0123456789', resave: false, saveUninitialized: false }));
  app.post('/login', (req, res) => {
    (req as unknown as { session: Record<string, unknown> }).session.user = 'alice';
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => res.json({ user: (req as unknown as { session: Record<string, unknown> }).session.user ?? null }));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const login = await fetch(`${base}/login`, { method: 'POST' });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    assert.deepEqual(await (await fetch(`${base}/me`, { headers: { cookie } })).json(), { user: 'alice' });
    assert.deepEqual(await (await fetch(`${base}/me`)).json(), { user: null });
    assert.equal((await fx.client.keys('x1:*')).length, 1);
  } finally {
    server.close();
  }
});

test('the Store API: get/set/touch/destroy/clear/length/ids/all, and garbage in Redis reads as no session', async () => {
  const store = expressSessionStore(session, { redis: { client: fx.client }, prefix: 'x2:' }) as CompatStore;
  const sess = { cookie: { maxAge: 60_000 }, n: 1 };
  await p((cb) => store.set('a', sess, cb));
  await p((cb) => store.set('b', { ...sess, n: 2 }, cb));
  assert.deepEqual(await p((cb) => store.get('a', cb)), sess);
  assert.equal(await p<unknown>((cb) => store.get('missing', cb)), null);
  assert.equal(await p<number>((cb) => store.length(cb)), 2);
  assert.deepEqual((await p<string[]>((cb) => store.ids(cb))).sort(), ['a', 'b']);
  assert.deepEqual(Object.keys(await p<Record<string, unknown>>((cb) => store.all(cb))).sort(), ['a', 'b']);
  await p((cb) => store.touch('a', { cookie: { maxAge: 600_000 } }, cb));
  assert.ok(Number(await fx.client.pTTL('x2:a')) > 500_000);
  await p((cb) => store.destroy('a', cb));
  assert.equal(await p<unknown>((cb) => store.get('a', cb)), null);
  await fx.client.set('x2:junk', '{not json');
  assert.equal(await p<unknown>((cb) => store.get('junk', cb)), null);
  await p((cb) => store.clear(cb));
  assert.equal(await p<number>((cb) => store.length(cb)), 0);
});
