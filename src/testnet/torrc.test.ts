import { test } from 'node:test';
import assert from 'node:assert/strict';
import { authorityLines, clientLines, commonLines, dirAuthorityLine, relayLines, runningNodes } from './torrc.js';
import { parseCircuitStatus } from './control.js';

const AUTH = dirAuthorityLine({ name: 'auth0', orPort: 5001, dirPort: 5002, v3ident: 'A'.repeat(40), fingerprint: 'B'.repeat(40) });

test('every node runs in testing mode with only the private authorities; the owner PID only when asked', () => {
  const lines = commonLines({ name: 'relay0', dataDir: '/t/relay0', dirAuthorityLines: [AUTH] });
  assert.ok(lines.includes('TestingTorNetwork 1'));
  assert.deepEqual(lines.filter((l) => l.startsWith('DirAuthority ')), [`DirAuthority ${AUTH}`]);
  assert.equal(lines.some((l) => l.startsWith('__OwningControllerProcess')), false);
  assert.ok(commonLines({ name: 'c', dataDir: '/t/c', dirAuthorityLines: [AUTH], ownerPid: 4242 }).includes('__OwningControllerProcess 4242'));
  assert.equal(AUTH, `auth0 orport=5001 no-v2 v3ident=${'A'.repeat(40)} 127.0.0.1:5002 ${'B'.repeat(40)}`);
});

test('a newline in any value is refused (torrc injection), with a stable code', () => {
  assert.throws(() => commonLines({ name: 'x', dataDir: '/t/x\nExitRelay 1', dirAuthorityLines: [] }), { code: 'OSC_ERR_RENDER_UNSAFE_VALUE' });
  assert.throws(() => commonLines({ name: 'x', dataDir: '/t/x', dirAuthorityLines: [`${AUTH}\nSocksPort 0.0.0.0:9050`] }), { code: 'OSC_ERR_RENDER_UNSAFE_VALUE' });
  assert.throws(() => authorityLines(1, '/t/bw\r'), { code: 'OSC_ERR_RENDER_UNSAFE_VALUE' });
});

test('latency emulation: listen on the real ORPort without advertising it, advertise the proxy without listening', () => {
  assert.deepEqual(relayLines(5000, 5000).filter((l) => l.startsWith('ORPort')), ['ORPort 127.0.0.1:5000']);
  assert.deepEqual(relayLines(5000, 6000).filter((l) => l.startsWith('ORPort')), ['ORPort 127.0.0.1:5000 NoAdvertise', 'ORPort 127.0.0.1:6000 NoListen']);
  for (const l of [...relayLines(5000, 6000), ...clientLines(1, 2)]) {
    if (/^(ORPort|SocksPort|ControlPort|DirPort) \S+:/.test(l)) assert.match(l, / 127\.0\.0\.1:/, l);
  }
  assert.ok(relayLines(5000, 5000).includes('ExitPolicy reject *:*'));
  assert.ok(authorityLines(7000, '/t/bw').includes('V3BandwidthsFile /t/bw'));
});

test('runningNodes reads the Running flag per nickname from a microdesc consensus', () => {
  const consensus = [
    'network-status-version 3 microdesc',
    'r auth0 AAAA 2026-12-02 12:00:00 127.0.0.1 5001 5002',
    'm xyz',
    's Authority Fast Guard HSDir Running Stable V2Dir Valid',
    'r relay0 BBBB 2026-12-02 12:00:00 127.0.0.1 6001 0',
    's Fast Valid',
    'r relay1 CCCC 2026-12-02 12:00:00 127.0.0.1 6002 0',
    's Fast Running Valid',
  ].join('\n');
  assert.deepEqual([...runningNodes(consensus)].sort(), ['auth0', 'relay1']);
});

test('parseCircuitStatus: id, status, purpose and HS state of each circuit line', () => {
  const text = [
    '25 BUILT $AAA~auth0,$BBB~relay1 BUILD_FLAGS=IS_INTERNAL,NEED_CAPACITY PURPOSE=HS_SERVICE_REND HS_STATE=HSSR_JOINED REND_QUERY=abc TIME_CREATED=2026-12-02T12:00:00.000000',
    '3 BUILT $AAA~auth0 PURPOSE=GENERAL TIME_CREATED=2026-12-02T12:00:00.000000',
    '',
    'garbage',
  ].join('\n');
  assert.deepEqual(parseCircuitStatus(text), [
    { id: 25, status: 'BUILT', purpose: 'HS_SERVICE_REND', hsState: 'HSSR_JOINED', rendQuery: 'abc' },
    { id: 3, status: 'BUILT', purpose: 'GENERAL', hsState: undefined, rendQuery: undefined },
  ]);
});
