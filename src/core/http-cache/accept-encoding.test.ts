import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseEncoding, parseAcceptEncoding } from './accept-encoding.js';

const both = ['br', 'gzip'] as const;

test('q-values pick the coding; ties go to server order', () => {
  assert.equal(chooseEncoding('gzip, deflate, br', both), 'br');
  assert.equal(chooseEncoding('gzip;q=1, br;q=0.5', both), 'gzip');
  assert.equal(chooseEncoding('br;q=0.2, gzip;q=0.8', both), 'gzip');
  assert.equal(chooseEncoding('gzip', both), 'gzip');
  assert.equal(chooseEncoding('gzip;q=0.5', both), 'gzip', 'unlisted identity does not outrank the only listed coding');
  assert.equal(chooseEncoding('x-gzip', ['gzip']), 'gzip');
  assert.equal(chooseEncoding('*', both), 'br');
  assert.equal(chooseEncoding(['gzip', 'br'], both), 'br');
});

test('identity when nothing usable is accepted', () => {
  assert.equal(chooseEncoding(undefined, both), 'identity');
  assert.equal(chooseEncoding('', both), 'identity');
  assert.equal(chooseEncoding('identity', both), 'identity');
  assert.equal(chooseEncoding('deflate', both), 'identity');
  assert.equal(chooseEncoding('br;q=0, gzip;q=0', both), 'identity');
  assert.equal(chooseEncoding('*;q=0', both), 'identity');
  assert.equal(chooseEncoding('identity, gzip;q=0.5', both), 'identity');
  assert.equal(chooseEncoding('br', []), 'identity');
  assert.equal(chooseEncoding('br', ['gzip']), 'identity');
});

test('malformed members are ignored, never thrown on', () => {
  assert.equal(chooseEncoding('br;q=2, gzip', both), 'gzip', 'q above 1 is invalid: member ignored');
  assert.equal(chooseEncoding('br;q=abc', both), 'identity');
  assert.equal(chooseEncoding(';;;,,,=,q=1', both), 'identity');
  assert.equal(chooseEncoding('gzip;q=0.x, br;q=-1', both), 'identity');
  assert.equal(chooseEncoding('\u0000br', both), 'identity');
  assert.doesNotThrow(() => chooseEncoding('a,'.repeat(10_000), both));
  assert.ok(parseAcceptEncoding('a,'.repeat(10_000)).size <= 32, 'work is bounded');
  assert.deepEqual([...parseAcceptEncoding('GZIP;Q=0.5, br')], [['gzip', 0.5], ['br', 1]]);
});
