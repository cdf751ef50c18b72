import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMemoryBackend } from './memory-backend.js';
import { normalizeOptions } from './options.js';
import { cookieNames, requestBypass, responseBypass, sharedMaxAge } from './policy.js';
import type { ResponseCacheOptions } from './types.js';

const opts = (o: Partial<ResponseCacheOptions> = {}) => normalizeOptions({ backend: createMemoryBackend(), ...o });
const req = (headers: Record<string, string> = {}, method = 'GET', url = '/') => ({ method, url, headers });

test('request rules', () => {
  const o = opts();
  assert.equal(requestBypass(req(), o), null);
  assert.equal(requestBypass(req({}, 'HEAD'), o), null);
  assert.equal(requestBypass(req({}, 'POST'), o), 'method');
  assert.equal(requestBypass(req({}, 'GET', `/${'a'.repeat(2048)}`), o), 'url-too-long');
  assert.equal(requestBypass(req({ authorization: 'Basic x' }), o), 'authorization');
  assert.equal(requestBypass(req({ cookie: 'a=1; connect.sid=s%3Ax' }), o), 'session');
  assert.equal(requestBypass(req({ cookie: 'theme=dark' }), o), null);
  assert.equal(requestBypass(req({ 'cache-control': 'no-cache' }), o), null, 'clients cannot force a pass-through');
  assert.equal(requestBypass(req({ cookie: 'sid=1' }), opts({ cacheSessions: true })), null);
  assert.equal(requestBypass(req({ cookie: 'sess=1' }), opts({ sessionCookies: ['sess'] })), 'session');
  assert.equal(requestBypass(req(), opts({ shouldCache: (r) => r.url !== '/' })), 'filtered');
  assert.deepEqual(cookieNames(' a=1;b ; =x;c=='), ['a', 'b', 'c']);
});

test('response rules', () => {
  const o = opts({ vary: ['x-lang'], maxBodySize: 100 });
  assert.equal(responseBypass(200, { 'content-type': 'text/html' }, o), null);
  assert.equal(responseBypass(500, {}, o), 'status');
  assert.equal(responseBypass(302, {}, o), 'status');
  assert.equal(responseBypass(200, { 'set-cookie': ['a=1'] }, o), 'set-cookie');
  for (const cc of ['private', 'no-store', 'No-Cache', 'public, s-maxage=0', 'max-age=0, private="x"']) {
    assert.equal(responseBypass(200, { 'cache-control': cc }, o), 'cache-control', cc);
  }
  assert.equal(responseBypass(200, { 'cache-control': 'public, max-age=60' }, o), null);
  assert.equal(responseBypass(200, { 'content-encoding': 'gzip' }, o), 'content-encoding');
  assert.equal(responseBypass(200, { 'content-encoding': 'identity' }, o), null);
  assert.equal(responseBypass(200, { 'content-type': 'text/event-stream; charset=utf-8' }, o), 'streaming');
  assert.equal(responseBypass(200, { vary: 'Accept-Encoding, X-Lang, Host' }, o), null);
  assert.equal(responseBypass(200, { vary: 'Cookie' }, o), 'vary');
  assert.equal(responseBypass(200, { vary: '*' }, o), 'vary');
  assert.equal(responseBypass(200, { 'content-length': 101 }, o), 'too-large');
  assert.equal(responseBypass(200, { 'content-length': '100' }, o), null);
});

test('s-maxage overrides the ttl', () => {
  assert.equal(sharedMaxAge({ 'cache-control': 'public, s-maxage=30' }), 30_000);
  assert.equal(sharedMaxAge({ 'cache-control': 'max-age=30' }), undefined);
  assert.equal(sharedMaxAge({ 'cache-control': 's-maxage=abc' }), undefined);
});
