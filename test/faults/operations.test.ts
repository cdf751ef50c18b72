/**
 * Zero-downtime operations on the real stack under a steady load (issue 7): `onionscale reload` (haproxy
 * master-worker reload, tor SIGHUP, rolling restart of every instance), `onionscale scale web N` up and down, a
 * haproxy-only reload and a tor restart. Every one: 0 failed requests, the same onion address. Figures printed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPidAlive, runCli, sleep } from '../helpers/stack.js';
import { figures, login, startFaultStack, startLoad, summary, torExchange, type FaultStack } from './harness.js';

describe('zero-downtime operations under load', () => {
  let s: FaultStack;
  let cookie = '';
  let hostname = '';

  before(async () => {
    s = await startFaultStack({ prefix: 'osc-op-' });
    cookie = await login(s.sock, 'alice');
    hostname = readFileSync(join(s.model.services[0]!.hiddenServiceDir, 'hostname'), 'utf8').trim();
  });
  after(async () => s?.stop());

  test('onionscale reload: rolling restart of 3 instances, haproxy reload, tor SIGHUP — 0 failed, same onion', async () => {
    const before = Object.fromEntries(['web-1', 'web-2', 'web-3', 'haproxy', 'tor'].map((n) => [n, s.pidOf(n)]));
    const load = startLoad(s.sock, { cookie });
    await sleep(1000);
    const t0 = Date.now();
    const r = await runCli(['reload', '-c', s.config, '--json'], 180_000);
    const took = Date.now() - t0;
    await sleep(1000);
    const report = await load.stop();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { instances: string[]; haproxyWorker: number };
    assert.deepEqual(result.instances, ['web-1', 'web-2', 'web-3']);
    figures('reload', { ...summary(report), reloadMs: took });
    assert.deepEqual(report.failures, [], 'no request failed during the reload');
    assert.ok(report.total > 50, `load ran (${report.total})`);
    for (const n of ['web-1', 'web-2', 'web-3']) assert.notEqual(s.pidOf(n), before[n], `${n} was restarted`);
    // haproxy's master and tor keep their PIDs: reloaded in place, not restarted.
    assert.equal(s.pidOf('haproxy'), before.haproxy);
    assert.equal(s.pidOf('tor'), before.tor);
    assert.ok(isPidAlive(before.tor!));
    assert.equal(readFileSync(join(s.model.services[0]!.hiddenServiceDir, 'hostname'), 'utf8').trim(), hostname);
    assert.match(s.up.output(), /tor: SIGHUP sent/);
  });

  test('onionscale scale web 5, then 2, under load: 0 failed; new instances serve; haproxy never restarts', async () => {
    const haproxy = s.pidOf('haproxy');
    const load = startLoad(s.sock, { cookie });
    await sleep(500);
    const upRes = await runCli(['scale', 'web', '5', '-c', s.config], 120_000);
    assert.equal(upRes.code, 0, upRes.stdout + upRes.stderr);
    assert.deepEqual(s.state().services.filter((x) => x.kind === 'app').map((x) => x.name), ['web-1', 'web-2', 'web-3', 'web-4', 'web-5']);
    // The new instances take requests: leastconn spreads /whoami over all five.
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 5; i++) {
      const w = await Promise.all(Array.from({ length: 5 }, () => torExchange(s.sock, { method: 'GET', path: '/sse?ms=300' }).then(() => torExchange(s.sock, { method: 'GET', path: '/whoami' }))));
      for (const x of w) seen.add((JSON.parse(x.body) as { instance: string }).instance);
    }
    assert.ok(seen.has('web-4') || seen.has('web-5'), `new instances answered: ${[...seen].join(', ')}`);
    const downRes = await runCli(['scale', 'web', '2', '-c', s.config], 120_000);
    assert.equal(downRes.code, 0, downRes.stdout + downRes.stderr);
    await sleep(500);
    const report = await load.stop();
    figures('scale', { ...summary(report), instancesSeenAt5: [...seen].sort() });
    assert.deepEqual(report.failures, []);
    assert.deepEqual(s.state().services.filter((x) => x.kind === 'app').map((x) => x.name), ['web-1', 'web-2']);
    assert.equal(s.pidOf('haproxy'), haproxy, 'haproxy was not restarted');
    // The config on disk follows, so a later haproxy reload keeps two instances.
    const cfg = readFileSync(s.model.paths.haproxyConfig, 'utf8');
    assert.match(cfg, /server web-2 127\.0\.0\.1:\d+ check\n/);
    assert.match(cfg, /server web-3 127\.0\.0\.1:\d+ check disabled\n/);
    // Bad requests get a coded error, nothing changes.
    const bad = await runCli(['scale', 'nope', '2', '-c', s.config]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /OSC_ERR_STACK_SCALE/);
    const tooMany = await runCli(['scale', 'web', '99', '-c', s.config]);
    assert.match(tooMany.stderr, /OSC_ERR_STACK_SCALE/);
    const usage = await runCli(['scale', 'web', 'x', '-c', s.config]);
    assert.equal(usage.code, 2);
  });

  test('a config change is applied by reload (haproxy keeps serving); a broken or incompatible one is refused', async () => {
    const original = readFileSync(s.config, 'utf8');
    try {
      writeFileSync(s.config, original.replace('retries: 3', 'retries: 4'));
      const load = startLoad(s.sock, { cookie });
      const r = await runCli(['reload', '-c', s.config], 180_000);
      const report = await load.stop();
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(readFileSync(s.model.paths.haproxyConfig, 'utf8'), /retries 4/);
      // The config said 3 instances: reload brought the count back from 2.
      assert.equal(s.state().services.filter((x) => x.kind === 'app').length, 3);
      figures('reload-config-change', summary(report));
      assert.deepEqual(report.failures, []);
      writeFileSync(s.config, original.replace(/basePort: \d+/, 'basePort: 20000'));
      const inc = await runCli(['reload', '-c', s.config]);
      assert.equal(inc.code, 1);
      assert.match(inc.stderr, /OSC_ERR_STACK_RELOAD_INCOMPATIBLE/);
      writeFileSync(s.config, original.replace('retries: 3', 'retries: 3\n  bogus: 1'));
      const broken = await runCli(['reload', '-c', s.config]);
      assert.equal(broken.code, 2, 'the CLI refuses a broken file before asking the supervisor');
      assert.match(broken.stderr, /bogus/);
    } finally {
      writeFileSync(s.config, original);
    }
    assert.equal((await torExchange(s.sock, { method: 'GET', path: '/page/1' })).status, 200);
  });

  test('tor killed: the supervisor restarts it with the same onion address', async () => {
    const tor = s.pidOf('tor');
    const load = startLoad(s.sock, { cookie });
    process.kill(tor, 'SIGKILL');
    const t0 = Date.now();
    let now = tor;
    while (Date.now() - t0 < 30_000) {
      await sleep(200);
      const st = s.state().services.find((x) => x.name === 'tor');
      if (st?.state === 'ready' && st.pid && st.pid !== tor) {
        now = st.pid;
        break;
      }
    }
    const report = await load.stop();
    assert.notEqual(now, tor, 'tor restarted');
    figures('tor-restart', { ...summary(report), restartMs: Date.now() - t0 });
    assert.equal(readFileSync(join(s.model.services[0]!.hiddenServiceDir, 'hostname'), 'utf8').trim(), hostname);
    // tor is not in the request path of this loopback load: nothing failed while it was down.
    assert.deepEqual(report.failures, []);
  });
});
