/**
 * `runAudit` against a real stack (redis, two sample instances, haproxy, tor) started by the built CLI in a temp
 * directory on free loopback ports, tor pointed at a private network whose only authority is a closed port (it never
 * touches the public network and never bootstraps). The healthy stack passes every check; then things are broken on
 * purpose and the matching finding must fail.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatAudit, runAudit, type AuditReport, type Finding } from '../../src/audit/index.js';
import { checkRedisAuth } from '../../src/audit/checks/redis-auth.js';
import { loadConfigFile } from '../../src/config/load.js';
import type { StackModel } from '../../src/config/model.js';
import { canConnect } from '../../src/supervisor/readiness.js';
import { readState } from '../../src/supervisor/state-file.js';
import { freePort } from '../helpers/ports.js';
import { makeStackDir, runCli, sleep, tearDownStack, upUntilReported, type UpProcess } from '../helpers/stack.js';

const IDS = ['listen-public', 'key-modes', 'redis-auth', 'headers', 'circuit-header', 'no-proxy-refused', 'etag-inode', 'tor-egress', 'admin-page', 'tor-network', 'clock-skew'];

const byId = (r: AuditReport, id: string): Finding => {
  const f = r.findings.find((x) => x.id === id);
  assert.ok(f, `finding ${id} present`);
  return f;
};

describe('onionscale audit on a real stack', () => {
  let dir = '';
  let config = '';
  let up: UpProcess;
  let model: StackModel;

  before(async () => {
    ({ dir, config } = await makeStackDir({ prefix: 'osc-a-' }));
    up = await upUntilReported(config);
    model = loadConfigFile(config);
  });

  after(() => tearDownStack(up, config, dir));

  test('the healthy stack passes every check; only tor-network warns (private network, never reached)', async (t) => {
    const state = readState(model.paths.stateFile);
    assert.ok(state, 'state file');
    const report = await runAudit(model, state);
    assert.deepEqual(report.findings.map((f) => f.id), IDS);
    for (const f of report.findings) {
      if (f.id === 'tor-network') continue;
      assert.equal(f.level, 'ok', `${f.id}: ${f.detail} / ${f.fix}`);
    }
    const tor = byId(report, 'tor-network');
    assert.equal(tor.level, 'warn');
    assert.match(tor.detail, /testing network, bootstrapped \d+%/);
    // Real evidence, not an empty pass: haproxy, redis, both instances and tor were inspected.
    assert.match(byId(report, 'listen-public').detail, /^[5-9]\d* process\(es\), [4-9]\d* listening TCP socket\(s\), all on loopback$/);
    assert.match(byId(report, 'headers').detail, /onion main: HTTP 200/);
    assert.match(byId(report, 'no-proxy-refused').detail, /onion main: (connection closed|refused|HTTP 4)/);
    assert.match(byId(report, 'redis-auth').detail, /anonymous client is refused \(NOAUTH\)/);
    assert.match(byId(report, 'tor-egress').detail, /no SocksPort/);
    assert.deepEqual(report.summary, { ok: 10, warn: 1, fail: 0, running: true, exitCode: 0 });
    const text = formatAudit(report);
    t.diagnostic(text);
    for (const id of IDS) assert.match(text, new RegExp(`^${id === 'tor-network' ? '!' : '✓'} ${id}\\s`, 'm'));
    assert.match(text, /audit: 10 ok, 1 warning\(s\), 0 failed$/);
    // The Redis password never reaches the report.
    assert.ok(!text.includes(readFileSync(model.paths.redisPasswordFile, 'utf8').trim()));
  });

  test('onion secret key chmod 0644 → key-modes fails and the exit code is 1', async () => {
    const key = join(model.services[0]!.hiddenServiceDir, 'hs_ed25519_secret_key');
    const before = statSync(key).mode & 0o777;
    chmodSync(key, 0o644);
    try {
      const report = await runAudit(model, readState(model.paths.stateFile));
      const f = byId(report, 'key-modes');
      assert.equal(f.level, 'fail');
      assert.match(f.detail, /onion secret key of main .* has mode 0644, want 0600/);
      assert.match(f.fix, /chmod 600/);
      assert.equal(report.summary.exitCode, 1);
      assert.match(formatAudit(report), /^✗ key-modes\s/m);
      // Only that finding changed.
      assert.deepEqual(report.findings.filter((x) => x.level === 'fail').map((x) => x.id), ['key-modes']);
      // The CLI verb: exit 1 and the same finding.
      const cli = await runCli(['audit', '-c', config]);
      assert.equal(cli.code, 1, cli.stderr);
      assert.match(cli.stdout, /^✗ key-modes\s/m);
    } finally {
      chmodSync(key, before);
    }
    assert.equal(byId(await runAudit(model, readState(model.paths.stateFile)), 'key-modes').level, 'ok');
    const json = await runCli(['audit', '--json', '-c', config]);
    assert.equal(json.code, 0, json.stdout);
    assert.equal((JSON.parse(json.stdout) as AuditReport).summary.fail, 0);
  });

  test('world-readable logs and a loose Redis password file → key-modes names both', async () => {
    chmodSync(model.paths.logs, 0o755);
    chmodSync(model.paths.redisPasswordFile, 0o640);
    try {
      const f = byId(await runAudit(model, readState(model.paths.stateFile)), 'key-modes');
      assert.equal(f.level, 'fail');
      assert.match(f.detail, /logs directory .* has mode 0755/);
      assert.match(f.detail, /Redis password file .* has mode 0640/);
    } finally {
      chmodSync(model.paths.logs, 0o700);
      chmodSync(model.paths.redisPasswordFile, 0o600);
    }
  });

  test('a stats page added to the haproxy.cfg on disk → admin-page fails', async () => {
    const original = readFileSync(model.paths.haproxyConfig, 'utf8');
    // haproxy reads its config only at start: editing the file changes nothing that runs, only what is audited.
    writeFileSync(model.paths.haproxyConfig, original + '\nlisten stats\n    bind 127.0.0.1:1\n    stats uri /haproxy?stats\n');
    try {
      const f = byId(await runAudit(model, readState(model.paths.stateFile)), 'admin-page');
      assert.equal(f.level, 'fail');
      assert.match(f.detail, /listen stats: "stats uri \/haproxy\?stats"/);
    } finally {
      writeFileSync(model.paths.haproxyConfig, original);
    }
    assert.equal(byId(await runAudit(model, readState(model.paths.stateFile)), 'admin-page').level, 'ok');
  });

  test('a Redis that answers without a password → redis-auth fails', async () => {
    const port = await freePort();
    const tmp = mkdtempSync(join(tmpdir(), 'osc-a-redis-'));
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', tmp], {
      stdio: 'ignore',
    });
    try {
      for (let i = 0; i < 100 && !(await canConnect({ kind: 'tcp', host: '127.0.0.1', port }, 200)); i++) await sleep(50);
      const open = { ...model, redis: { ...model.redis, listen: { kind: 'tcp' as const, host: '127.0.0.1', port } } };
      const f = await checkRedisAuth(open, 2000);
      assert.equal(f.level, 'fail', f.detail);
      assert.match(f.detail, /answered a client that sent no password/);
      // The stack's own Redis still refuses.
      assert.equal((await checkRedisAuth(model, 2000)).level, 'ok');
    } finally {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('after `onionscale down`: no state, live checks are skipped as warnings, file checks still run', async () => {
    const r = await runCli(['down', '-c', config]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await up.exited, 0);
    const state = readState(model.paths.stateFile);
    assert.equal(state, undefined);
    const report = await runAudit(model, state);
    assert.equal(report.summary.running, false);
    for (const id of ['listen-public', 'redis-auth', 'headers', 'no-proxy-refused', 'etag-inode', 'tor-network']) {
      const f = byId(report, id);
      assert.equal(f.level, 'warn', id);
      assert.match(f.detail, /not running/, id);
    }
    assert.equal(byId(report, 'key-modes').level, 'ok');
    assert.equal(byId(report, 'admin-page').level, 'ok');
    assert.equal(report.summary.exitCode, 0);
  });
});
