/**
 * `onionscale doctor` against a real stack (redis, two sample instances, haproxy, tor on a private network it never
 * reaches), started by the built CLI. The clean stack passes every doctor check; then each misconfiguration is
 * planted for real (file modes, haproxy.cfg applied by a haproxy reload, redis.conf applied by a
 * Redis restart) and doctor must fail exactly that check, with a fix.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { DOCTOR_IDS, formatDoctor, runDoctor } from '../../src/audit/doctor.js';
import type { AuditReport, Finding } from '../../src/audit/index.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { StackModel } from '../../src/config/model.js';
import { readState } from '../../src/supervisor/state-file.js';
import { makeStackDir, runCli, sleep, tearDownStack, upUntilReported, type UpProcess } from '../helpers/stack.js';

const byId = (r: AuditReport, id: string): Finding => {
  const f = r.findings.find((x) => x.id === id);
  assert.ok(f, `finding ${id}`);
  return f;
};

describe('onionscale doctor on a real stack', () => {
  let dir = '';
  let config = '';
  let up: UpProcess;
  let model: StackModel;
  const doctor = () => runDoctor(model, readState(model.paths.stateFile), { timeoutMs: 3000 });
  const pid = (name: string) => readState(model.paths.stateFile)!.services.find((s) => s.name === name)!.pid!;
  /** haproxy master-worker reload (re-reads haproxy.cfg and the errorfiles); wait until the new worker serves. */
  const reloadHaproxy = async () => {
    process.kill(pid('haproxy'), 'SIGUSR2');
    await sleep(1500);
  };

  before(async () => {
    ({ dir, config } = await makeStackDir({ prefix: 'osc-d-' }));
    up = await upUntilReported(config);
    model = loadConfigFile(config);
  });
  after(() => tearDownStack(up, config, dir));

  test('a clean stack passes every doctor check (the audit\'s too, but tor-network on a private net)', async () => {
    const r = await doctor();
    for (const id of DOCTOR_IDS) assert.equal(byId(r, id).level, 'ok', `${id}: ${byId(r, id).detail}`);
    for (const f of r.findings) if (f.id !== 'tor-network') assert.equal(f.level, 'ok', `${f.id}: ${f.detail}`);
    // The audit's checks are part of doctor, not duplicated.
    for (const id of ['listen-public', 'key-modes', 'redis-auth', 'headers', 'tor-egress', 'admin-page', 'clock-skew']) byId(r, id);
    assert.equal(new Set(r.findings.map((f) => f.id)).size, r.findings.length, 'each id once');
    const cli = await runCli(['doctor', '-c', config]);
    assert.equal(cli.code, 0, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /^RESULT\s+CHECK\s+WHAT/m);
    assert.match(cli.stdout, /^PASS\s+redis-config/m);
    assert.match(cli.stdout, /^PASS\s+error-pages/m);
    const json = JSON.parse((await runCli(['doctor', '--json', '-c', config])).stdout) as AuditReport;
    assert.equal(json.summary.fail, 0);
    assert.doesNotMatch(JSON.stringify(json), new RegExp(readFileSync(model.paths.redisPasswordFile, 'utf8').trim()), 'no secret in the report');
  });

  test('planted: sockets others can connect to and an open run directory → unix-sockets fails', async () => {
    chmodSync(model.paths.haproxyAdminSocket, 0o666);
    chmodSync(model.paths.run, 0o755);
    try {
      const f = byId(await doctor(), 'unix-sockets');
      assert.equal(f.level, 'fail');
      assert.match(f.detail, /haproxy runtime API .*0666/);
      assert.match(f.detail, /0755 \(want 0700\)/);
      assert.match(f.fix, /chmod 700/);
    } finally {
      chmodSync(model.paths.run, 0o700);
      chmodSync(model.paths.haproxyAdminSocket, 0o600);
    }
    assert.equal(byId(await doctor(), 'unix-sockets').level, 'ok');
  });

  test("planted: haproxy's stock error page and a stats page in the frontend → error-pages and admin-reachable fail", async () => {
    const cfgFile = model.paths.haproxyConfig;
    const cfg = readFileSync(cfgFile, 'utf8');
    // Without "errorfile 400 /dev/null" haproxy answers unparsable requests with its stock page.
    assert.match(cfg, /^ {4}errorfile 400 \/dev\/null$/m);
    writeFileSync(cfgFile, cfg.replace(/^ {4}errorfile 400 \/dev\/null\n/m, '').replace(/^(frontend onion-main\n)/m, '$1    stats enable\n    stats uri /haproxy?stats\n'));
    try {
      await reloadHaproxy();
      const r = await doctor();
      const pages = byId(r, 'error-pages');
      assert.equal(pages.level, 'fail');
      assert.match(pages.detail, /malformed request: HTTP 400 is haproxy's stock error page/);
      const admin = byId(r, 'admin-reachable');
      assert.equal(admin.level, 'fail', admin.detail);
      assert.match(admin.detail, /GET \/haproxy\?stats: HTTP 200 serves an admin\/stats page/);
      assert.match(admin.fix, /127\.0\.0\.1/);
      assert.equal(byId(r, 'admin-page').level, 'fail', 'the static check sees it in haproxy.cfg too');
      assert.match(formatDoctor(r), /^FAIL\s+admin-reachable/m);
      assert.equal((await runCli(['doctor', '-c', config])).code, 1);
    } finally {
      writeFileSync(cfgFile, cfg);
      await reloadHaproxy();
    }
    const r = await doctor();
    assert.equal(byId(r, 'error-pages').level, 'ok');
    assert.equal(byId(r, 'admin-reachable').level, 'ok');
  });

  test('planted: Redis without maxmemory, with noeviction and AOF off (restarted on that file) → redis-config fails', async () => {
    const conf = readFileSync(model.paths.redisConfig, 'utf8');
    writeFileSync(model.paths.redisConfig, conf.replace(/^maxmemory \d+$/m, 'maxmemory 0').replace(/^maxmemory-policy .*$/m, 'maxmemory-policy noeviction').replace(/^appendonly yes$/m, 'appendonly no'));
    const old = pid('redis');
    process.kill(old, 'SIGKILL');
    // The supervisor restarts redis-server with the planted file.
    for (let i = 0; i < 100; i++) {
      const s = readState(model.paths.stateFile)!.services.find((x) => x.name === 'redis')!;
      if (s.state === 'ready' && s.pid !== old) break;
      await sleep(100);
    }
    const f = byId(await doctor(), 'redis-config');
    assert.equal(f.level, 'fail', f.detail);
    for (const w of ['no maxmemory', 'noeviction', 'appendonly off']) assert.match(f.detail, new RegExp(w));
    assert.match(f.fix, /redis\.appendonly: true/);
  });
});
