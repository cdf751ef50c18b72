import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyHash, etagFor, ifNoneMatchHits } from './etag.js';

test('strong tags from the body hash, one per coding', () => {
  const h = bodyHash(Buffer.from('hello'));
  assert.equal(h, bodyHash(Buffer.from('hello')));
  assert.notEqual(h, bodyHash(Buffer.from('hello!')));
  assert.match(h, /^[\w-]{22}$/);
  assert.equal(etagFor(h, 'identity'), `"${h}"`);
  assert.equal(etagFor(h, 'gzip'), `"${h}-gz"`);
  assert.equal(etagFor(h, 'br'), `"${h}-br"`);
});

test('If-None-Match: weak comparison over a list, any coding of the body matches', () => {
  const h = bodyHash(Buffer.from('x'));
  assert.equal(ifNoneMatchHits(`"${h}"`, h), true);
  assert.equal(ifNoneMatchHits(`W/"${h}"`, h), true);
  assert.equal(ifNoneMatchHits(`"a", "${h}-br"`, h), true);
  assert.equal(ifNoneMatchHits(`"a,b", "${h}-gz"`, h), true, 'commas inside tags do not split');
  assert.equal(ifNoneMatchHits(' * ', h), true);
  assert.equal(ifNoneMatchHits(`"${h}x"`, h), false);
  assert.equal(ifNoneMatchHits(undefined, h), false);
});

test('If-None-Match: garbage never matches and never throws', () => {
  const h = bodyHash(Buffer.from('x'));
  for (const bad of ['*garbage*', `W/"${h}`, '"', ',,,', 'W/', '"a"'.repeat(1000), `${h}`]) {
    assert.equal(ifNoneMatchHits(bad, h), false, bad.slice(0, 30));
  }
  assert.equal(ifNoneMatchHits(`${'"a",'.repeat(100)}"${h}"`, h), false, 'only the first 64 tags are read');
});
