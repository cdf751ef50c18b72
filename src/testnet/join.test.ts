import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.js';
import { renderTorrc } from '../render/torrc.js';
import { refOf } from '../supervisor/processes.js';
import { joinTestnet, testnetDirOf, wantsTestnet } from './join.js';
import { writeTestnetState, type TestnetState } from './state.js';
import { parseLatency, testnetCommand } from './cli.js';

const LINE = `auth0 orport=5000 no-v2 v3ident=${'A'.repeat(40)} 127.0.0.1:5001 ${'B'.repeat(40)}`;

function state(dir: string, pids: number[]): TestnetState {
  return {
    version: 1,
    dir,
    createdAt: new Date().toISOString(),
    phase: 'ready',
    latencyMs: 0,
    dirAuthorityLines: [LINE],
    socksPort: 9050,
    controlPort: 9051,
    controlCookieFile: join(dir, 'client/control_auth_cookie'),
    nodes: pids.map((pid, i) => ({ name: `auth${i}`, role: 'authority', pid, startTime: refOf(pid)?.startTime ?? 1, log: join(dir, `auth${i}/notice.log`) })),
    timings: { keys: 1, consensus: 2, client: 3 },
    readiness: 'bootstrap',
  };
}

function withDir(fn: (dir: string) => void | Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'osc-join-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const config = (network: string) => `stateDir: st\ntor:\n  network: ${network}\n`;

test('tor.network: testnet and { testnet: DIR } parse; the directory defaults to <stateDir>/testnet, else relative to the file', () => {
  const a = parseConfig(config('testnet'), '/srv/site/onionscale.yaml');
  assert.equal(wantsTestnet(a), true);
  assert.equal(testnetDirOf(a), '/srv/site/st/testnet');
  const b = parseConfig(config('{ testnet: ../net }'), '/srv/site/onionscale.yaml');
  assert.equal(testnetDirOf(b), '/srv/net');
  const c = parseConfig(config('public'), '/srv/site/onionscale.yaml');
  assert.equal(wantsTestnet(c), false);
  assert.equal(joinTestnet(c), c, 'other networks pass through unchanged');
});

test('bad testnet values are config errors with codes', () => {
  for (const [value, problem] of [
    ['{ testnet: "" }', /tor\.network\.testnet: too small.*\[OSC_ERR_CONFIG_VALUE\]/],
    // A newline could inject torrc lines: refused (the union reports the closest branch, the enum).
    ['{ testnet: "a\\nDirAuthority x" }', /tor\.network: .*\[OSC_ERR_CONFIG_VALUE\]/],
    ['{ testnet: /x, extra: 1 }', /tor\.network\.extra: unknown key \[OSC_ERR_CONFIG_UNKNOWN_KEY\]/],
    ['testnets', /tor\.network: expected one of/],
  ] as const) {
    assert.throws(() => parseConfig(config(value), '/srv/onionscale.yaml'), { code: 'OSC_ERR_CONFIG_INVALID', message: problem }, value);
  }
});

test('joining a testnet that is not there, or only partly running, is OSC_ERR_TESTNET_NOT_UP', withDir((dir) => {
  const model = parseConfig(config(`{ testnet: ${dir} }`), join(dir, 'onionscale.yaml'));
  assert.throws(() => joinTestnet(model), { code: 'OSC_ERR_TESTNET_NOT_UP', message: /no testnet is running/ });
  // PID 1's start time never matches a made-up one: that process counts as stopped.
  const s = state(dir, [process.pid]);
  s.nodes.push({ name: 'relay0', role: 'relay', pid: 1, startTime: 123456789, log: '' });
  writeTestnetState(dir, s);
  assert.throws(() => joinTestnet(model), { code: 'OSC_ERR_TESTNET_NOT_UP', message: /stopped: relay0/ });
  writeTestnetState(dir, { ...state(dir, [process.pid]), phase: 'starting' });
  assert.throws(() => joinTestnet(model), { code: 'OSC_ERR_TESTNET_NOT_UP', message: /still starting/ });
}));

test('joining a running testnet renders exactly its DirAuthority lines in testing mode; unresolved, the renderer refuses', withDir((dir) => {
  const model = parseConfig(config(`{ testnet: ${dir} }`), join(dir, 'onionscale.yaml'));
  assert.throws(() => renderTorrc(model), { code: 'OSC_ERR_TESTNET_NOT_UP' });
  writeTestnetState(dir, state(dir, [process.pid]));
  const joined = joinTestnet(model);
  assert.ok(Object.isFrozen(joined.tor));
  const torrc = renderTorrc(joined);
  assert.match(torrc, /^TestingTorNetwork 1$/m);
  assert.deepEqual(torrc.split('\n').filter((l) => l.startsWith('DirAuthority ')), [`DirAuthority ${LINE}`]);
}));

test('--latency takes a duration or ms, refuses the rest with OSC_ERR_TESTNET_OPTIONS', () => {
  assert.equal(parseLatency(undefined), 0);
  assert.equal(parseLatency('40ms'), 40);
  assert.equal(parseLatency('25'), 25);
  assert.equal(parseLatency('1s'), 1000);
  for (const bad of ['fast', '-5ms', '10s', '1e3']) assert.throws(() => parseLatency(bad), { code: 'OSC_ERR_TESTNET_OPTIONS' }, bad);
});

test('testnet status/down with no testnet: exit 3 / "nothing running"; a recorded one is listed with PIDs and liveness', withDir(async (dir) => {
  const lines: string[] = [];
  const io = { out: (s: string) => lines.push(s), err: (s: string) => lines.push(s) };
  const noModel = () => assert.fail('with --dir the config is not read');
  assert.equal(await testnetCommand('status', { dir }, noModel, io), 3);
  assert.match(lines.join('\n'), /no testnet in/);
  assert.equal(await testnetCommand('down', { dir }, noModel, io), 0);
  assert.match(lines.join('\n'), /no testnet running/);

  mkdirSync(join(dir, 'x'));
  writeTestnetState(dir, state(dir, [process.pid]));
  lines.length = 0;
  assert.equal(await testnetCommand('status', { dir }, noModel, io), 0);
  const text = lines.join('\n');
  assert.match(text, /running \(1\/1 processes alive\)/);
  assert.match(text, new RegExp(`auth0 +authority +${process.pid} +yes`));
  lines.length = 0;
  assert.equal(await testnetCommand('status', { dir, json: true }, noModel, io), 0);
  const json = JSON.parse(lines.join('')) as { running: boolean; nodes: { alive: boolean }[] };
  assert.equal(json.running, true);
  await assert.rejects(testnetCommand('sideways', { dir }, noModel, io), { code: 'OSC_ERR_CLI_USAGE' });
  await assert.rejects(testnetCommand('up', { dir, wait: 'forever' }, noModel, io), { code: 'OSC_ERR_TESTNET_OPTIONS' });
  await assert.rejects(testnetCommand('up', { dir, relays: 'many' }, noModel, io), { code: 'OSC_ERR_TESTNET_OPTIONS' });
  // A running testnet in the directory (this very process is its recorded node): refused, nothing started or stopped.
  await assert.rejects(testnetCommand('up', { dir }, noModel, io), { code: 'OSC_ERR_TESTNET_RUNNING' });
}));
