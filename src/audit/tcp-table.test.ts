import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tcpRow } from './proc.fixture.js';
import { describeEndpoint, isLoopback, parseTcpTable } from './tcp-table.js';

// Real /proc/net/tcp text as printed on x86-64 (little-endian words).
const V4 =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' +
  '   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1139 1 00000000987c5a9c 100 0 0 10 0\n' +
  '   1: 0100007F:8342 0100007F:A2BB 06 00000000:00000000 03:00000308 00000000     0        0 0 3 00000000ae3c96d9\n' +
  tcpRow(2, '0100007F:1F90', '077100CB:01BB', '01', 4242);

test('IPv4 rows: address, port, state and inode; the header line is skipped', () => {
  const rows = parseTcpTable(V4, true);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows[0], {
    local: { family: 'ipv4', address: '0.0.0.0', port: 2024 },
    remote: { family: 'ipv4', address: '0.0.0.0', port: 0 },
    state: 'LISTEN',
    inode: 1139,
  });
  assert.equal(rows[1]!.state, 'OTHER'); // TIME_WAIT
  assert.deepEqual(rows[2]!.remote, { family: 'ipv4', address: '203.0.113.7', port: 443 });
  assert.equal(rows[2]!.state, 'ESTABLISHED');
});

test('IPv6 rows: every 32-bit word is byte-swapped on little-endian machines; addresses are canonical', () => {
  const text = [
    tcpRow(0, '00000000000000000000000001000000:1F90', '00000000000000000000000000000000:0000', '0A', 1),
    tcpRow(1, '0000000000000000FFFF00000100007F:0050', '00000000000000000000000000000000:0000', '0A', 2),
    tcpRow(2, 'B80D0120000000000000000001000000:0050', '00000000000000000000000000000000:0000', '0A', 3),
    tcpRow(3, '00000000000000000000000000000000:0016', '00000000000000000000000000000000:0000', '0A', 4),
  ].join('');
  const addrs = parseTcpTable(text, true).map((r) => r.local.address);
  assert.deepEqual(addrs, ['::1', '::ffff:127.0.0.1', '2001:db8::1', '::']);
  // The same bytes read on a big-endian machine mean something else: endianness is a parameter, not a guess.
  assert.equal(parseTcpTable(tcpRow(0, '7F000001:0050', '00000000:0000', '0A', 9), false)[0]!.local.address, '127.0.0.1');
});

test('malformed rows are skipped, not thrown', () => {
  assert.deepEqual(parseTcpTable('garbage\n  0: zz:zz 00:00 0A\n  1: 0100007F:GGGG 00000000:0000 0A 0 0 0 0 0 x\n', true), []);
});

test('loopback is 127.0.0.0/8, ::1 and v4-mapped 127/8; nothing else', () => {
  const yes = [['127.0.0.1', 'ipv4'], ['127.255.0.9', 'ipv4'], ['::1', 'ipv6'], ['::ffff:127.0.0.1', 'ipv6']] as const;
  const no = [['0.0.0.0', 'ipv4'], ['10.0.0.1', 'ipv4'], ['128.0.0.1', 'ipv4'], ['::', 'ipv6'], ['::ffff:0.0.0.0', 'ipv6'], ['2001:db8::1', 'ipv6'], ['fe80::1', 'ipv6']] as const;
  for (const [address, family] of yes) assert.equal(isLoopback({ address, family }), true, address);
  for (const [address, family] of no) assert.equal(isLoopback({ address, family }), false, address);
  assert.equal(describeEndpoint({ family: 'ipv6', address: '::1', port: 80 }), '[::1]:80');
});
