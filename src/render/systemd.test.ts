import { test } from 'node:test';
import assert from 'node:assert/strict';
import { model, tampered, type DeepMutable } from './model.fixture.js';
import { instanceCommand } from '../config/instance.js';
import type { StackModel } from '../config/model.js';
import { renderSystemdUnits, type SystemdUnit } from './systemd.js';

const RT = { node: '/usr/bin/node', instancesDir: '/opt/onionscale/dist/instances' };

/** `Key=value` lines of a unit (comments and section headers dropped), in order. */
function settings(unit: SystemdUnit | undefined): [string, string][] {
  assert.ok(unit, 'unit exists');
  return unit.content
    .split('\n')
    .filter((l) => l.includes('=') && !l.startsWith('#'))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
}
const values = (unit: SystemdUnit | undefined, key: string) => settings(unit).filter(([k]) => k === key).map(([, v]) => v);
const byName = (units: SystemdUnit[], name: string) => units.find((u) => u.name === name);

/** Reverses systemd's quoting of a command line as rendered here: double-quoted words, \" \\ escapes, %% and $$. */
function unquoteWords(line: string, { execLine = true } = {}): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    const word = m[1]!.replace(/\\(.)/g, '$1').replace(/%%/g, '%');
    words.push(execLine ? word.replace(/\$\$/g, '$') : word);
  }
  return words;
}

const YAML = `
apps:
  - { name: web, builtin: sample, instances: 2 }
  - name: api
    command: ["/usr/bin/node", "server.js", "--title", "my \\"api\\" 100% $HOME"]
    instances: 1
    env: { GREETING: 'a "quoted" 100% $NOT_EXPANDED \\ value' }
`;

test('systemd: the target, Redis, one unit per instance, haproxy and tor, in start order', () => {
  const units = renderSystemdUnits(model(YAML), { runtime: RT });
  assert.deepEqual(
    units.map((u) => u.name),
    [
      'onionscale.target',
      'onionscale-redis.service',
      'onionscale-web-1.service',
      'onionscale-web-2.service',
      'onionscale-api-1.service',
      'onionscale-haproxy.service',
      'onionscale-tor.service',
    ],
  );
  const target = byName(units, 'onionscale.target');
  assert.deepEqual(values(target, 'Wants')[0]!.split(' '), units.slice(1).map((u) => u.name));
  assert.deepEqual(values(target, 'WantedBy'), ['multi-user.target']);
  for (const u of units.slice(1)) {
    assert.deepEqual(values(u, 'PartOf'), ['onionscale.target'], u.name);
    assert.deepEqual(values(u, 'Restart'), ['on-failure'], u.name);
    assert.deepEqual(values(u, 'WantedBy'), ['onionscale.target'], u.name);
  }
  // Redis → instances → haproxy → tor.
  assert.deepEqual(values(byName(units, 'onionscale-web-1.service'), 'After'), ['onionscale-redis.service']);
  assert.deepEqual(values(byName(units, 'onionscale-haproxy.service'), 'After'), [
    'onionscale-web-1.service onionscale-web-2.service onionscale-api-1.service',
  ]);
  assert.deepEqual(values(byName(units, 'onionscale-tor.service'), 'After'), ['onionscale-haproxy.service network-online.target']);
});

test('systemd: ExecStart lines use model.binaries and the rendered config paths', () => {
  const units = renderSystemdUnits(model('binaries: { tor: /usr/sbin/tor, haproxy: /usr/sbin/haproxy, redisServer: /usr/bin/redis-server }'), {
    runtime: RT,
  });
  const exec = (name: string) => values(byName(units, name), 'ExecStart').map((l) => unquoteWords(l));
  assert.deepEqual(exec('onionscale-redis.service'), [['/usr/bin/redis-server', '/var/lib/onionscale/run/redis.conf']]);
  assert.deepEqual(exec('onionscale-haproxy.service'), [['/usr/sbin/haproxy', '-Ws', '-f', '/var/lib/onionscale/run/haproxy.cfg']]);
  assert.deepEqual(exec('onionscale-tor.service'), [['/usr/sbin/tor', '-f', '/var/lib/onionscale/run/torrc', '--defaults-torrc', '/dev/null']]);
  assert.deepEqual(values(byName(units, 'onionscale-haproxy.service'), 'Type'), ['notify']);
});

test('systemd: an instance unit runs exactly instanceCommand (program, args, cwd, env)', () => {
  const m = model(YAML);
  const units = renderSystemdUnits(m, { runtime: RT });
  for (const app of m.apps) {
    for (const inst of app.instances) {
      const cmd = instanceCommand(m, app, inst, RT);
      const unit = byName(units, `onionscale-${inst.id}.service`);
      assert.deepEqual(unquoteWords(values(unit, 'ExecStart')[0]!), [cmd.file, ...cmd.args]);
      assert.deepEqual(values(unit, 'WorkingDirectory'), [cmd.cwd]);
      const env = Object.fromEntries(values(unit, 'Environment').map((v) => {
        const [kv] = unquoteWords(v, { execLine: false });
        return [kv!.slice(0, kv!.indexOf('=')), kv!.slice(kv!.indexOf('=') + 1)];
      }));
      assert.deepEqual(env, cmd.env);
    }
  }
  // systemd expands $VAR in command lines: a literal $ must be doubled there, but not in Environment=.
  const api = byName(units, 'onionscale-api-1.service')!.content;
  assert.match(api, /^ExecStart="\/usr\/bin\/node" "server\.js" "--title" "my \\"api\\" 100%% \$\$HOME"$/m);
  assert.match(api, /^Environment="GREETING=a \\"quoted\\" 100%% \$NOT_EXPANDED \\\\ value"$/m);
  // The password itself never appears: only the path of its file.
  assert.match(api, /^Environment="ONIONSCALE_REDIS_PASSWORD_FILE=\/var\/lib\/onionscale\/secrets\/redis\.password"$/m);
});

test('systemd: every service is hardened and runs as the given user', () => {
  const units = renderSystemdUnits(model('{}'), { runtime: RT, user: 'svc-onion' });
  for (const u of units.slice(1)) {
    const s = new Map(settings(u));
    assert.equal(s.get('User'), 'svc-onion', u.name);
    for (const [k, v] of [
      ['NoNewPrivileges', 'yes'],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['RestrictAddressFamilies', 'AF_UNIX AF_INET AF_INET6'],
      ['CapabilityBoundingSet', ''],
    ]) {
      assert.equal(s.get(k!), v, `${u.name} ${k}`);
    }
  }
  assert.deepEqual(values(byName(units, 'onionscale-redis.service'), 'ReadWritePaths'), ['"/var/lib/onionscale/redis" "/var/lib/onionscale/run"']);
  assert.deepEqual(values(byName(units, 'onionscale-haproxy.service'), 'ReadWritePaths'), ['"/var/lib/onionscale/run"']);
  assert.deepEqual(values(byName(units, 'onionscale-tor.service'), 'ReadWritePaths'), ['"/var/lib/onionscale/tor"']);
  assert.deepEqual(values(byName(units, 'onionscale-web-1.service'), 'ReadWritePaths'), []);
  assert.deepEqual(values(renderSystemdUnits(model('{}'), { runtime: RT })[1], 'User'), ['onionscale']);
});

test('systemd: state under /home gets ProtectHome=read-only; a port below 1024 gets exactly CAP_NET_BIND_SERVICE', () => {
  const home = renderSystemdUnits(model('{}', '/home/alice/site/.onionscale'), { runtime: RT });
  for (const u of home.slice(1)) assert.deepEqual(values(u, 'ProtectHome'), ['read-only'], u.name);

  const low = renderSystemdUnits(model('onion: { services: [{ name: main, listen: 127.0.0.1:80 }] }'), { runtime: RT });
  const haproxy = byName(low, 'onionscale-haproxy.service');
  assert.deepEqual(values(haproxy, 'AmbientCapabilities'), ['CAP_NET_BIND_SERVICE']);
  assert.deepEqual(values(haproxy, 'CapabilityBoundingSet'), ['CAP_NET_BIND_SERVICE']);
  assert.deepEqual(values(byName(low, 'onionscale-tor.service'), 'AmbientCapabilities'), []);
});

test('systemd: without Redis there is no Redis unit and no dependency on it', () => {
  const units = renderSystemdUnits(model('redis: { enabled: false }'), { runtime: RT });
  assert.ok(!units.some((u) => u.name === 'onionscale-redis.service'));
  assert.ok(!units.some((u) => u.content.includes('onionscale-redis')));
  assert.ok(!byName(units, 'onionscale-web-1.service')!.content.includes('ONIONSCALE_REDIS'));
});

test('systemd: unsafe values in a hand-built model or options throw', () => {
  assert.throws(() => renderSystemdUnits(model('{}'), { runtime: RT, user: 'root\nExecStartPre=/bin/sh' }), { code: 'OSC_ERR_RENDER_UNSAFE_VALUE', message: /user/ });
  assert.throws(() => renderSystemdUnits(model('{}'), { runtime: { ...RT, node: '/usr/bin/node\nExecStartPre=/bin/sh' } }), {
    code: 'OSC_ERR_RENDER_UNSAFE_VALUE',
  });
  const cases: [string, (m: DeepMutable<StackModel>) => void][] = [
    ['env X', (m) => void (m.apps[0]!.env = { X: 'a\nExecStartPre=/bin/sh -c evil' })],
    ['env A B', (m) => void (m.apps[0]!.env = { 'A B': 'x' })],
    ['instance id', (m) => void (m.apps[0]!.instances[0]!.id = '../../etc/x')],
    ['redis ExecStart', (m) => void (m.binaries.redisServer = 'redis-server\n[Service]')],
    ['tor ExecStartPre[0]', (m) => void (m.binaries.tor = '/opt/$TOR/tor')],
    ['paths.torData', (m) => void (m.paths.torData = 'relative/tor')],
    ['cwd', (m) => void (m.baseDir = ' /srv/site')],
  ];
  for (const [field, change] of cases) {
    assert.throws(() => renderSystemdUnits(tampered('{}', change), { runtime: RT }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'OSC_ERR_RENDER_UNSAFE_VALUE');
      assert.ok(err.message.includes(field), `${err.message} should name ${field}`);
      return true;
    });
  }
});
