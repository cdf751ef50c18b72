import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cacheKey, normalizeTarget } from './key.js';
import { createMemoryBackend } from './memory-backend.js';
import { normalizeOptions } from './options.js';
import type { ResponseCacheOptions } from './types.js';

const opts = (o: Partial<ResponseCacheOptions> = {}) => normalizeOptions({ backend: createMemoryBackend(), ...o });
const req = (url: string, headers: Record<string, string> = {}, method = 'GET') => ({ method, url, headers: { host: 'abc.onion', ...headers } });

test('query is sorted, filtered or dropped', () => {
  assert.equal(normalizeTarget('/a?b=2&a=1&a=0', 'all'), '/a?a=1&a=0&b=2');
  assert.equal(normalizeTarget('/a?b=2&a=1', 'none'), '/a');
  assert.equal(normalizeTarget('/a?utm=x&page=2', new Set(['page'])), '/a?page=2');
  assert.equal(normalizeTarget('/a?utm=x', new Set(['page'])), '/a');
  assert.equal(normalizeTarget('/a', 'all'), '/a');
  assert.equal(normalizeTarget('/a?', 'all'), '/a');
});

test('HEAD shares GET; query order, not path encoding, is normalized', () => {
  const o = opts();
  assert.equal(cacheKey(req('/p?x=1&y=2'), o), cacheKey(req('/p?y=2&x=1', {}, 'HEAD'), o));
  assert.notEqual(cacheKey(req('/p'), o), cacheKey(req('/P'), o));
  assert.notEqual(cacheKey(req('/a%2Fb'), o), cacheKey(req('/a/b'), o));
});

test('host and vary headers are keyed; keys are fixed-length hashes', () => {
  const o = opts({ vary: ['X-Lang'] });
  assert.notEqual(cacheKey(req('/'), o), cacheKey(req('/', { host: 'evil.example' }), o));
  assert.notEqual(cacheKey(req('/', { 'x-lang': 'en' }), o), cacheKey(req('/', { 'x-lang': 'fr' }), o));
  assert.notEqual(cacheKey(req('/'), o), cacheKey(req('/', { 'x-lang': '' }), o), 'absent differs from empty');
  assert.equal(cacheKey(req('/', { host: 'x' }), opts({ keyHost: false })), cacheKey(req('/', { host: 'y' }), opts({ keyHost: false })));
  const k = cacheKey(req(`/${'\r\n*'.repeat(500)}`), o);
  assert.match(k, /^http:[\w-]{43}$/);
  assert.equal(cacheKey(req('/'), opts({ keyPrefix: 'site1:' })).startsWith('site1:'), true);
});
