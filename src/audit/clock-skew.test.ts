import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkClockSkew } from './checks/clock-skew.js';

const stamp = '2025-01-02T03:04:05.678Z';

test('clock-skew: tor\'s skew warnings (NETINFO, consensus) warn with the line; a quiet log is ok', () => {
  const netinfo = `${stamp} Jan 02 03:04:05.000 [warn] Received NETINFO cell with skewed time (OR:203.0.113.7:9001): It seems that our clock is behind by 2 hours, 0 minutes, or that theirs is ahead. Tor requires an accurate clock to work: please check your time, timezone, and date settings.`;
  const f = checkClockSkew(`${stamp} Bootstrapped 5% (conn): Connecting to a relay\n${netinfo}\n${stamp} Bootstrapped 10% (conn_done)\n`);
  assert.equal(f.level, 'warn');
  assert.match(f.detail, /^tor's log says: Jan 02 .*skewed time/);
  assert.match(f.fix, /clock/);
  const consensus = `${stamp} [warn] Our clock is 3 hours, 5 minutes ahead of the time published in the consensus network status document`;
  assert.equal(checkClockSkew(consensus).level, 'warn');
  assert.equal(checkClockSkew(`${stamp} Bootstrapped 100% (done): Done\n`).level, 'ok');
  assert.equal(checkClockSkew(undefined).level, 'ok');
});
