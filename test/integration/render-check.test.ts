// The rendered files checked by the programs that read them: `haproxy -c`, `tor --verify-config`, a real
// redis-server started on the rendered redis.conf, and `systemd-analyze verify` for the units. Everything runs in a
// temporary directory; tor never gets network access (tor.network: disabled).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { parseConfig } from '../../src/config/load.js';
import type { StackModel } from '../../src/config/model.js';
import {
  ERROR_STATUSES,
  errorFilePath,
  renderErrorFile,
  renderHaproxyConfig,
  renderRedisAuthConf,
  renderRedisConf,
  renderSystemdUnits,
  renderTorrc,
} from '../../src/render/index.js';
import { freePort } from '../helpers/ports.js';
import { spawnForTest } from '../helpers/process.js';

const run = promisify(execFile);
const HAPROXY = '/usr/sbin/haproxy';
const TOR = '/usr/sbin/tor';
const REDIS = '/usr/bin/redis-server';
const BINARIES = `binaries: { tor: ${TOR}, haproxy: ${HAPROXY}, redisServer: ${REDIS} }\n`;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'osc-render-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function write(path: string, content: string, mode = 0o600): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, content, { mode });
}

function modelIn(dir: string, yaml: string, stateDir = 'state'): StackModel {
  return parseConfig(yaml, join(dir, 'onionscale.yaml'), { stateDir: join(dir, stateDir) });
}

/** What the supervisor does before starting haproxy: the config and every errorfile. */
function writeHaproxy(model: StackModel): void {
  write(model.paths.haproxyConfig, renderHaproxyConfig(model));
  for (const status of ERROR_STATUSES) write(errorFilePath(model, status), renderErrorFile(status));
}

const FULL = `
onion:
  services:
    - name: main
      ports: [80, 443]
      dos: { introDefense: {}, pow: {}, maxStreams: 30, introPoints: 5 }
    - { name: api, app: api, listen: 127.0.0.1:19080 }
apps:
  - { name: web, builtin: sample, instances: 3 }
  - { name: api, command: "node api.js", basePort: 19100 }
balancer: { circuitHeader: X-Circuit, healthPath: /up, timeouts: { queue: 500ms } }
tor: { network: disabled, socksPort: 19150 }
`;

test('haproxy -c accepts the rendered config (defaults, every option, and a state dir with # $ " in its name)', async (t) => {
  const dir = tempDir(t);
  for (const [i, [yaml, stateDir]] of [
    ['{}', 'state'],
    [FULL, 'full'],
    [FULL, 'we#ird$dir"q'],
  ].entries()) {
    const model = modelIn(dir, yaml!, stateDir);
    writeHaproxy(model);
    const { stdout, stderr } = await run(HAPROXY, ['-c', '-f', model.paths.haproxyConfig], { timeout: 10_000 });
    assert.match(stdout + stderr, /Configuration file is valid/, `case ${i}`);
    assert.doesNotMatch(stderr, /\[WARNING\]|\[ALERT\]/, `case ${i}: ${stderr}`);
  }
});

test('haproxy -c fails when an errorfile is missing: the check really reads them', async (t) => {
  const dir = tempDir(t);
  const model = modelIn(dir, '{}');
  write(model.paths.haproxyConfig, renderHaproxyConfig(model));
  await assert.rejects(run(HAPROXY, ['-c', '-f', model.paths.haproxyConfig], { timeout: 10_000 }), /errorfile|No such file/i);
});

test('tor --verify-config accepts the rendered torrc (DoS options, SOCKS egress, owning PID, quoted paths)', async (t) => {
  const dir = tempDir(t);
  const empty = join(dir, 'empty-defaults');
  write(empty, '');
  const cases = [
    modelIn(dir, 'tor: { network: disabled }\n', 'a'),
    modelIn(dir, FULL, 'b'),
    // # and " in the state dir: tor reads them only inside quotes. (Whitespace is refused by the config: tor
    // cannot read socket paths with spaces at all.)
    modelIn(dir, 'tor: { network: disabled }\n', 'my#state"1'),
  ];
  for (const model of cases) {
    mkdirSync(model.paths.torData, { recursive: true, mode: 0o700 });
    for (const s of model.services) mkdirSync(s.hiddenServiceDir, { recursive: true, mode: 0o700 });
    write(model.paths.torConfig, renderTorrc(model, { owningPid: process.pid }));
    const { stdout } = await run(TOR, ['--verify-config', '-f', model.paths.torConfig, '--defaults-torrc', empty], { timeout: 20_000 });
    assert.match(stdout, /Configuration was valid/);
  }
});

test('tor --verify-config rejects a torrc with an unknown option: the check is real', async (t) => {
  const dir = tempDir(t);
  const model = modelIn(dir, 'tor: { network: disabled }\n');
  mkdirSync(model.services[0]!.hiddenServiceDir, { recursive: true, mode: 0o700 });
  write(model.paths.torConfig, renderTorrc(model) + 'HiddenServiceNoSuchOption 1\n');
  await assert.rejects(run(TOR, ['--verify-config', '-f', model.paths.torConfig, '--defaults-torrc', '/dev/null'], { timeout: 20_000 }));
});

/** Starts redis-server on the rendered files; always stopped by PID when the test ends. */
async function startRenderedRedis(t: { after: (fn: () => Promise<void>) => void }, model: StackModel, password: string): Promise<ChildProcess> {
  write(model.paths.redisConfig, renderRedisConf(model));
  write(model.paths.redisAuthConfig, renderRedisAuthConf(password));
  mkdirSync(model.paths.redisData, { recursive: true, mode: 0o700 });
  const { child, log } = spawnForTest(t, REDIS, [model.paths.redisConfig]);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server not ready after 10 s:\n${log()}`)), 10_000);
    const check = () => {
      if (/ready to accept connections/i.test(log())) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}) on the rendered config:\n${log()}`));
    });
  });
  assert.ok(!log().includes(password), 'the password never reaches the log');
  return child;
}

function socketOf(model: StackModel) {
  const l = model.redis.listen;
  return l.kind === 'unix' ? { path: l.path, reconnectStrategy: false as const } : { host: l.host, port: l.port, reconnectStrategy: false as const };
}

for (const listen of ['unix', 'tcp'] as const) {
  test(`redis-server runs on the rendered redis.conf (${listen}): password required, policy, AOF, disabled commands`, async (t) => {
    const dir = tempDir(t);
    const port = await freePort();
    const model = modelIn(dir, `redis: { listen: ${listen === 'unix' ? 'unix' : port}, maxmemory: 32mb }\n`);
    const password = randomBytes(16).toString('hex');
    const child = await startRenderedRedis(t, model, password);

    // node-redis sends HELLO first; without AUTH the server refuses it.
    const anon = createClient({ socket: socketOf(model) });
    anon.on('error', () => {});
    await assert.rejects(anon.connect(), /NOAUTH|WRONGPASS|Authentication required/i);
    anon.destroy();

    const wrong = createClient({ socket: socketOf(model), password: 'not-the-password' });
    wrong.on('error', () => {});
    await assert.rejects(wrong.connect(), /WRONGPASS|invalid/i);
    wrong.destroy();

    const client = createClient({ socket: socketOf(model), password });
    client.on('error', () => {});
    await client.connect();
    try {
      const info = await client.info();
      assert.match(info, /^maxmemory_policy:allkeys-lru\r?$/m);
      assert.match(info, /^aof_enabled:1\r?$/m);
      assert.match(info, new RegExp(`^maxmemory:${32 * 1024 * 1024}\\r?$`, 'm'));
      // What the library and tests use still works...
      await client.set('k', 'v');
      assert.equal(await client.eval("return redis.call('GET', KEYS[1])", { keys: ['k'] }), 'v');
      assert.equal(await client.flushDb(), 'OK');
      // ...what nothing needs is gone.
      await assert.rejects(client.flushAll(), /unknown command/i);
      await assert.rejects(client.configGet('requirepass'), /unknown command/i);
      await assert.rejects(client.sendCommand(['SHUTDOWN', 'NOSAVE']), /unknown command/i);
      if (listen === 'tcp') assert.match(info, new RegExp(`^tcp_port:${port}\\r?$`, 'm'));
      else assert.match(info, /^tcp_port:0\r?$/m);
    } finally {
      await client.close();
    }
    child.kill('SIGTERM');
    await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
    assert.equal(child.exitCode, 0);
  });
}

test('systemd-analyze verify accepts the rendered units without a warning', async (t) => {
  const dir = tempDir(t);
  for (const [name, yaml] of [
    ['defaults', BINARIES],
    ['full', FULL + BINARIES],
  ] as const) {
    const model = modelIn(dir, yaml, name);
    const unitDir = join(dir, `units-${name}`);
    const units = renderSystemdUnits(model, { runtime: { node: process.execPath, instancesDir: join(dir, 'instances') } });
    for (const u of units) write(join(unitDir, u.name), u.content, 0o644);
    const { stderr } = await run('systemd-analyze', ['verify', '--man=no', ...units.map((u) => join(unitDir, u.name))], {
      timeout: 30_000,
      cwd: unitDir,
    });
    assert.equal(stderr.trim(), '', `${name}: ${stderr}`);
  }
});

test('systemd-analyze verify rejects a broken unit: the check is real', async (t) => {
  const dir = tempDir(t);
  const model = modelIn(dir, BINARIES);
  const unit = renderSystemdUnits(model, { runtime: { node: process.execPath, instancesDir: dir } }).find((u) => u.name === 'onionscale-redis.service')!;
  const file = join(dir, unit.name);
  write(file, unit.content.replace(/^ExecStart=.*$/m, 'ExecStart="/usr/bin/redis-server "unbalanced'), 0o644);
  await assert.rejects(run('systemd-analyze', ['verify', '--man=no', file], { timeout: 30_000 }));
});
