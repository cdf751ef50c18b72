import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StackState } from '../supervisor/state-file.js';
import { checkTorNetwork } from './checks/tor-network.js';
import { formatAudit } from './format.js';
import { combine, finding, summarize } from './types.js';

test('combine: the worst part wins, details keep their order, fixes appear once', () => {
  const f = combine('headers', 't', [
    { level: 'ok', detail: 'a' },
    { level: 'warn', detail: 'b', fix: 'X' },
    { level: 'fail', detail: 'c', fix: 'Y' },
    { level: 'fail', detail: 'd', fix: 'Y' },
  ]);
  assert.deepEqual(f, { id: 'headers', level: 'fail', title: 't', detail: 'a; b; c; d', fix: 'X Y' });
  assert.equal(combine('x', 't', []).level, 'ok');
  // An ok finding never carries a fix.
  assert.equal(finding('x', 'ok', 't', 'd', 'do something').fix, '');
});

test('summary: exit code 1 only when something failed', () => {
  assert.deepEqual(summarize([finding('a', 'ok', 't', 'd'), finding('b', 'warn', 't', 'd', 'f')], true), { ok: 1, warn: 1, fail: 0, running: true, exitCode: 0 });
  assert.equal(summarize([finding('a', 'fail', 't', 'd', 'f')], true).exitCode, 1);
});

test('formatAudit: one line per finding with ✓ / ! / ✗, the fix under problems, a summary', () => {
  const findings = [finding('listen-public', 'ok', 'A', 'fine'), finding('tor-network', 'warn', 'B', 'not yet', 'wait'), finding('key-modes', 'fail', 'C', 'bad', 'chmod')];
  const text = formatAudit({ findings, summary: summarize(findings, false) });
  assert.equal(
    text,
    [
      '✓ listen-public  A: fine',
      '! tor-network    B: not yet',
      '                 fix: wait',
      '✗ key-modes      C: bad',
      '                 fix: chmod',
      '',
      '✗ audit: 1 ok, 1 warning(s), 1 failed (stack not running: live checks skipped)',
    ].join('\n'),
  );
});

test('tor-network: ok when reached; a warning with the bootstrap progress or the disabled network otherwise', () => {
  const st = (tor: StackState['tor'], uploaded = 1) =>
    ({ tor, onions: [{ service: 'main', app: 'web', ports: [80], descriptor: { uploaded, failed: 0 } }] }) as unknown as StackState;
  assert.equal(checkTorNetwork(st({ network: 'public', bootstrap: 100, summary: 'Done', reached: true })).level, 'ok');
  // Reached but the descriptor is not on the HSDirs yet: visitors cannot reach it.
  const unpublished = checkTorNetwork(st({ network: 'public', bootstrap: 100, summary: 'Done', reached: true }, 0));
  assert.equal(unpublished.level, 'warn');
  assert.match(unpublished.detail, /not published yet: main/);
  const stuck = checkTorNetwork(st({ network: 'public', bootstrap: 45, summary: 'Asking for relay descriptors', reached: false }));
  assert.equal(stuck.level, 'warn');
  assert.match(stuck.detail, /bootstrapped 45% \(Asking for relay descriptors\)/);
  assert.match(stuck.fix, /clock/);
  assert.match(checkTorNetwork(st({ network: 'disabled', bootstrap: 0, summary: '', reached: false })).detail, /disabled by config/);
  assert.equal(checkTorNetwork(undefined).level, 'warn');
});
