import { test } from 'node:test';
import assert from 'node:assert/strict';
import { circuitAddress, circuitIdOf, parseCircuitAddress } from './circuit.js';

test('reads the circuit ID tor puts in the last 32 bits', () => {
  assert.equal(parseCircuitAddress('fc00:dead:beef:4dad::0:50'), 0x50);
  assert.equal(parseCircuitAddress('fc00:dead:beef:4dad::1:2'), 0x10002);
  assert.equal(parseCircuitAddress('FC00:DEAD:BEEF:4DAD::FFFF:FFFF'), 0xffffffff);
  assert.equal(parseCircuitAddress('fc00:dead:beef:4dad:0:0:0:7'), 7);
  assert.equal(parseCircuitAddress(undefined), undefined);
  assert.equal(parseCircuitAddress(''), undefined);
});

test('round-trips through circuitAddress', () => {
  for (const id of [0, 1, 80, 65535, 65536, 0x12345678, 0xffffffff]) {
    assert.equal(parseCircuitAddress(circuitAddress(id)), id);
  }
});

test('refuses anything that is not a tor circuit address with a coded error', () => {
  for (const bad of ['127.0.0.1', '::1', 'fc00:dead:beef:4dae::0:50', 'fc00:dead:beef:4dad:1::50', 'x', 'fc00:dead:beef:4dad::0:50\r\nX: y', '::ffff:127.0.0.1', 'a'.repeat(5000)]) {
    assert.throws(() => parseCircuitAddress(bad), { code: 'OSC_ERR_CIRCUIT_HEADER' }, bad);
    assert.equal(circuitIdOf(bad), undefined);
  }
  assert.equal(circuitIdOf(['fc00:dead:beef:4dad::0:51', 'x']), 0x51);
});
