import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareIds, formatEventId, fromStreamId, parseEventId } from './ids.js';
import { assertChannel, ChannelRules, isChannelName } from './channels.js';

test('event ids: strict parse, round trip, order', () => {
  const id = parseEventId('k3j2_1733140000123-7');
  assert.deepEqual(id, { epoch: 'k3j2', ms: 1733140000123, seq: 7 });
  assert.equal(formatEventId(id), 'k3j2_1733140000123-7');
  for (const bad of [undefined, '', '1-0', 'K3_1-0', 'a_1-', 'a_-1', 'a_1-0 ', 'a_1234567890123456-0', 'a_1-0\n', 'x'.repeat(49)]) {
    assert.equal(parseEventId(bad), undefined, String(bad));
  }
  assert.ok(compareIds(fromStreamId('a', '5-1'), fromStreamId('a', '5-0')) > 0);
  assert.ok(compareIds(fromStreamId('a', '4-9'), fromStreamId('a', '5-0')) < 0);
});

test('channel names and rules: exact beats pattern, longest pattern wins', () => {
  assert.ok(isChannelName('user:42') && isChannelName('a.b_c-d:e'));
  assert.ok(!isChannelName('a b') && !isChannelName('') && !isChannelName('a*') && !isChannelName(42));
  assert.throws(() => assertChannel('bad\nname'), { code: 'OSC_ERR_EVENTS_CHANNEL' });
  const rules = new ChannelRules(
    new Map([
      ['user:*', { maxLen: 1, maxAgeMs: 1000 }],
      ['user:admin:*', undefined],
      ['user:7', { maxLen: 7, maxAgeMs: 1000 }],
    ]),
  );
  assert.equal(rules.policy('user:1')?.rule, 'user:*');
  assert.equal(rules.policy('user:admin:1')?.rule, 'user:admin:*');
  assert.equal(rules.policy('user:7')?.replay?.maxLen, 7);
  assert.equal(rules.policy('userX1'), undefined, '"." and ":" are literal, not regex');
  assert.equal(rules.policy('news'), undefined);
});
