import { test } from 'node:test';
import assert from 'node:assert/strict';
import { internalKey, MAX_KEY_BYTES, queryKey, sha256Hex, validateTags } from './keys.js';

test('keys: safe keys are namespaced raw, unsafe ones rejected or hashed into their own namespace', () => {
  assert.equal(internalKey('user:1'), 'k:user:1');
  assert.equal(internalKey('ünïcode-ok'), 'k:ünïcode-ok');
  assert.throws(() => internalKey('a b'), { code: 'OSC_ERR_CACHE_KEY' });
  assert.throws(() => internalKey('a\u2028b'), { code: 'OSC_ERR_CACHE_KEY' }, 'unicode line separator');
  assert.throws(() => internalKey('a\u0000b'), { code: 'OSC_ERR_CACHE_KEY' });
  assert.equal(internalKey('a b', true), `h:${sha256Hex('a b')}`);
  assert.equal(internalKey('x'.repeat(MAX_KEY_BYTES)), `k:${'x'.repeat(MAX_KEY_BYTES)}`);
  assert.throws(() => internalKey('x'.repeat(MAX_KEY_BYTES + 1)), { code: 'OSC_ERR_CACHE_KEY' });
  assert.throws(() => internalKey('', true), { code: 'OSC_ERR_CACHE_KEY' }, 'empty is never hashed');
  // The message must not echo user input.
  try {
    internalKey('secret token\n');
    assert.fail('should throw');
  } catch (err) {
    assert.ok(!(err as Error).message.includes('secret'));
  }
});

test('tags: validated like keys, never hashed', () => {
  assert.deepEqual(validateTags(['a', 'b:c']), ['a', 'b:c']);
  assert.equal(validateTags([]), undefined);
  assert.throws(() => validateTags(['ok', 'no*glob']), { code: 'OSC_ERR_CACHE_KEY' });
});

test('queryKey: query:<sha256>, parameters distinguish types and boundaries', () => {
  assert.match(queryKey('SELECT 1'), /^query:[0-9a-f]{64}$/);
  assert.equal(queryKey('SELECT ?', [1]), queryKey('SELECT ?', [1]));
  assert.notEqual(queryKey('SELECT ?', [1]), queryKey('SELECT ?', ['1']));
  assert.notEqual(queryKey('a', ['b']), queryKey('a"', ['b']));
  assert.throws(() => queryKey(''), { code: 'OSC_ERR_CACHE_KEY' });
  assert.throws(() => queryKey('SELECT ?', [1n]), { code: 'OSC_ERR_CACHE_SERIALIZE' });
});
