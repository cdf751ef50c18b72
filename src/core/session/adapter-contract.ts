/**
 * ONE session behaviour suite for every framework adapter: each runner starts a real app on 127.0.0.1:0 with the
 * adapter's session middleware and the neutral routes below; the suite talks to it with fetch over real sockets.
 * Test support only (never shipped).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { Session } from './session.js';
import { MemorySessionStore } from './store.js';
import type { SessionOptions } from './types.js';

export interface SessionRoute {
  method: 'GET' | 'POST';
  path: string;
  handle(session: Session, query: URLSearchParams): unknown;
}

export interface SessionContractServer {
  url: string;
  close(): Promise<void>;
}

export type SessionRunner = (options: SessionOptions, routes: SessionRoute[]) => Promise<SessionContractServer>;

export const CONTRACT_SECRET = 'contract-secret-0123456789-0123456789-abcdef';
const OLD_SECRET = 'an-older-secret-that-was-rotated-out-0123456789';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const SESSION_ROUTES: SessionRoute[] = [
  { method: 'GET', path: '/whoami', handle: (s) => ({ userId: s.userId ?? null, isNew: s.isNew }) },
  { method: 'GET', path: '/all', handle: (s) => s.toJSON() },
  {
    method: 'POST',
    path: '/login',
    handle: (s, q) => {
      s.regenerate().set('userId', q.get('user'));
      return { ok: true };
    },
  },
  {
    method: 'POST',
    path: '/logout',
    handle: (s) => {
      s.destroy();
      return { ok: true };
    },
  },
  {
    method: 'POST',
    path: '/set',
    handle: async (s, q) => {
      // Both concurrent requests read the session before either writes: the classic lost-update window.
      await sleep(Number(q.get('delay') ?? 0));
      s.set(q.get('field')!, q.get('value'));
      return { ok: true };
    },
  },
];

interface Reply {
  status: number;
  body: unknown;
  setCookie: string | undefined;
}

function cookiePair(setCookie: string | undefined): string {
  assert.ok(setCookie, 'a Set-Cookie header');
  return setCookie.split(';')[0]!;
}

export function runSessionContract(name: string, runner: SessionRunner): void {
  describe(`${name} session adapter contract`, () => {
    let server: SessionContractServer;
    const store = new MemorySessionStore();
    before(async () => {
      server = await runner({ secrets: [CONTRACT_SECRET, OLD_SECRET], redis: { store } }, SESSION_ROUTES);
    });
    after(() => server?.close());

    const call = async (method: 'GET' | 'POST', path: string, cookie?: string): Promise<Reply> => {
      const res = await fetch(server.url + path, { method, headers: cookie === undefined ? {} : { cookie } });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined, setCookie: res.headers.get('set-cookie') ?? undefined };
    };
    const login = async (user: string, cookie?: string) => cookiePair((await call('POST', `/login?user=${user}`, cookie)).setCookie);

    test('an anonymous visitor gets no cookie and nothing is stored', async () => {
      const before = store.size;
      const r = await call('GET', '/whoami');
      assert.deepEqual(r.body, { userId: null, isNew: true });
      assert.equal(r.setCookie, undefined);
      assert.equal(store.size, before);
    });

    test('login sets an HttpOnly SameSite=Lax cookie and the next request reads the session', async () => {
      const r = await call('POST', '/login?user=alice');
      assert.match(r.setCookie ?? '', /^osc_sid=[\w-]{43}\.[\w-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
      const me = await call('GET', '/whoami', cookiePair(r.setCookie));
      assert.deepEqual(me.body, { userId: 'alice', isNew: false });
      assert.equal(me.setCookie, undefined, 'no Set-Cookie on every response (keeps pages cacheable)');
    });

    test('login regenerates the id: a cookie planted before login is worthless after it (fixation)', async () => {
      const planted = cookiePair((await call('POST', '/set?field=cart&value=3')).setCookie);
      const fresh = await login('bob', planted);
      assert.notEqual(fresh, planted);
      assert.deepEqual((await call('GET', '/all', fresh)).body, { cart: '3', userId: 'bob' }, 'data carried over');
      assert.deepEqual((await call('GET', '/whoami', planted)).body, { userId: null, isNew: true }, 'old id destroyed');
    });

    test('logout destroys the session and clears the cookie', async () => {
      const cookie = await login('carol');
      const r = await call('POST', '/logout', cookie);
      assert.match(r.setCookie ?? '', /^osc_sid=; Max-Age=0; Path=\/; HttpOnly; SameSite=Lax$/);
      assert.deepEqual((await call('GET', '/whoami', cookie)).body, { userId: null, isNew: true });
    });

    test('concurrent requests writing different fields of one session both survive', async () => {
      const cookie = await login('dave');
      const [a, b] = await Promise.all([
        call('POST', '/set?field=theme&value=dark&delay=30', cookie),
        call('POST', '/set?field=lang&value=fr&delay=30', cookie),
      ]);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.deepEqual((await call('GET', '/all', cookie)).body, { userId: 'dave', theme: 'dark', lang: 'fr' });
    });

    test('forged, garbled and oversized cookies give a fresh anonymous session, never an error', async () => {
      const good = await login('erin');
      const id = good.slice('osc_sid='.length, 'osc_sid='.length + 43);
      const forgedSig = createHmac('sha256', 'not-the-secret-not-the-secret-not-the').update(id).digest('base64url');
      const bad = [
        `osc_sid=${id}.${forgedSig}`,
        `osc_sid=${id}`,
        'osc_sid=%E0%A4%A',
        'osc_sid=' + 'x'.repeat(5000),
        `osc_sid=${good.slice(8, 60)}`,
        'osc_sid=a.b.c; osc_sid=zz',
        'osc_sid',
        '=;;=;osc_sid=\u00ff',
        `osc_sid=${'A'.repeat(43)}.${'A'.repeat(43)}`,
      ];
      for (const cookie of bad) {
        const r = await call('GET', '/whoami', cookie);
        assert.equal(r.status, 200, cookie.slice(0, 40));
        assert.deepEqual(r.body, { userId: null, isNew: true }, cookie.slice(0, 40));
      }
      const r = await call('GET', '/whoami', 'a'.repeat(9000) + '; ' + good);
      assert.equal(r.status === 200 || r.status === 431, true, 'an oversized header is refused or ignored, never a 500');
    });

    test('a cookie signed with a rotated-out (older) secret is accepted and re-signed with the current one', async () => {
      const current = await login('frank');
      const id = current.slice(8, 51);
      const old = `osc_sid=${id}.${createHmac('sha256', OLD_SECRET).update(id).digest('base64url')}`;
      const r = await call('GET', '/whoami', old);
      assert.deepEqual(r.body, { userId: 'frank', isNew: false });
      assert.equal(cookiePair(r.setCookie), current, 're-issued with the current secret');
    });
  });
}
