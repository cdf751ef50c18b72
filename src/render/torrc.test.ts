import { test } from 'node:test';
import assert from 'node:assert/strict';
import { model, tampered, directives, type DeepMutable } from './model.fixture.js';
import type { StackModel } from '../config/model.js';
import { renderTorrc } from './torrc.js';


const TWO_SERVICES = `
onion:
  services:
    - { name: main, ports: [80, 443] }
    - { name: api, listen: 127.0.0.1:9080, app: web }
`;

test('torrc: data dir, one HiddenServiceDir per service, one HiddenServicePort per virtual port to its frontend', () => {
  const lines = directives(renderTorrc(model(TWO_SERVICES)));
  assert.ok(lines.includes('DataDirectory /var/lib/onionscale/tor'));
  assert.deepEqual(
    lines.filter((l) => l.startsWith('HiddenService')),
    [
      'HiddenServiceDir /var/lib/onionscale/tor/hs/main',
      'HiddenServicePort 80 unix:/var/lib/onionscale/run/main.sock',
      'HiddenServicePort 443 unix:/var/lib/onionscale/run/main.sock',
      'HiddenServiceExportCircuitID haproxy',
      'HiddenServiceDir /var/lib/onionscale/tor/hs/api',
      'HiddenServicePort 80 127.0.0.1:9080',
      'HiddenServiceExportCircuitID haproxy',
    ],
  );
  // The supervisor creates the directories 0700; group-readable keys would weaken that.
  assert.ok(!lines.some((l) => l.startsWith('HiddenServiceDirGroupReadable')));
  for (const l of ['RunAsDaemon 0', 'Log notice stdout', 'SafeLogging 1', 'AvoidDiskWrites 1', 'SocksPort 0']) {
    assert.ok(lines.includes(l), l);
  }
  // Nothing in the default file that could reach the network or listen on it; the control port is a unix socket.
  assert.ok(!lines.some((l) => /^(ORPort|DirPort|MetricsPort|TestingTorNetwork|DisableNetwork)/.test(l)));
  assert.deepEqual(lines.filter((l) => /^(ControlPort|CookieAuth)/.test(l)), [
    'ControlPort unix:/var/lib/onionscale/run/tor-control.sock',
    'CookieAuthentication 1',
    'CookieAuthFile /var/lib/onionscale/tor/control_auth_cookie',
  ]);
});

test('torrc: DoS settings appear only when configured, with their values', () => {
  const plain = renderTorrc(model('{}'));
  assert.doesNotMatch(plain, /DoS|PoW|MaxStreams|NumIntroductionPoints/);

  const lines = directives(
    renderTorrc(
      model(`
onion:
  services:
    - name: main
      dos: { introDefense: { rate: 30, burst: 300 }, pow: {}, maxStreams: 0, maxStreamsCloseCircuit: false, introPoints: 5 }
`),
    ),
  );
  for (const l of [
    'HiddenServiceEnableIntroDoSDefense 1',
    'HiddenServiceEnableIntroDoSRatePerSec 30',
    'HiddenServiceEnableIntroDoSBurstPerSec 300',
    'HiddenServicePoWDefensesEnabled 1',
    'HiddenServicePoWQueueRate 250',
    'HiddenServicePoWQueueBurst 2500',
    'HiddenServiceMaxStreams 0',
    'HiddenServiceMaxStreamsCloseCircuit 0',
    'HiddenServiceNumIntroductionPoints 5',
  ]) {
    assert.ok(lines.includes(l), l);
  }
  const onlyPow = renderTorrc(model('onion: { services: [{ name: main, dos: { pow: { queueRate: 10, queueBurst: 20 } } }] }'));
  assert.match(onlyPow, /^HiddenServicePoWQueueRate 10$/m);
  assert.doesNotMatch(onlyPow, /IntroDoS|MaxStreams/);
});

test('torrc: network modes and the egress SOCKS port', () => {
  const pub = directives(renderTorrc(model('{}')));
  assert.ok(!pub.some((l) => /DisableNetwork|TestingTorNetwork|DirAuthority/.test(l)));

  assert.ok(directives(renderTorrc(model('tor: { network: disabled }'))).includes('DisableNetwork 1'));

  const testnet = directives(
    renderTorrc(
      model(`
tor:
  socksPort: 9150
  network:
    dirAuthorities:
      - "a0 orport=5000 no-v2 v3ident=AAAA 127.0.0.1:7000 BBBB"
      - "a1 orport=5001 no-v2 v3ident=CCCC 127.0.0.1:7001 DDDD"
`),
    ),
  );
  assert.ok(testnet.includes('TestingTorNetwork 1'));
  assert.ok(testnet.includes('FetchDirInfoEarly 1'));
  assert.deepEqual(
    testnet.filter((l) => l.startsWith('DirAuthority ')),
    ['DirAuthority a0 orport=5000 no-v2 v3ident=AAAA 127.0.0.1:7000 BBBB', 'DirAuthority a1 orport=5001 no-v2 v3ident=CCCC 127.0.0.1:7001 DDDD'],
  );
  assert.ok(testnet.includes('SocksPort 127.0.0.1:9150'));
  assert.ok(!testnet.includes('SocksPort 0'));
});

test('torrc: __OwningControllerProcess only when asked, and only a valid PID', () => {
  assert.doesNotMatch(renderTorrc(model('{}')), /OwningController/);
  assert.match(renderTorrc(model('{}'), { owningPid: 1234 }), /^__OwningControllerProcess 1234$/m);
  assert.throws(() => renderTorrc(model('{}'), { owningPid: 0 }), { code: 'OSC_ERR_RENDER_UNSAFE_VALUE' });
  assert.throws(() => renderTorrc(model('{}'), { owningPid: 1.5 }), { code: 'OSC_ERR_RENDER_UNSAFE_VALUE' });
});

test('torrc: paths with spaces or # are quoted; a socket path with a space cannot be expressed and throws', () => {
  const m = model('onion: { services: [{ name: main, listen: 127.0.0.1:9080 }] }');
  const spaced = tampered('onion: { services: [{ name: main, listen: 127.0.0.1:9080 }] }', (x) => {
    x.paths.torData = '/var/lib/my tor#1';
    x.services[0]!.hiddenServiceDir = '/var/lib/my tor#1/hs/"main"';
  });
  assert.match(renderTorrc(m), /^DataDirectory \/var\/lib\/onionscale\/tor$/m);
  const lines = directives(renderTorrc(spaced));
  assert.ok(lines.includes('DataDirectory "/var/lib/my tor#1"'));
  assert.ok(lines.includes('HiddenServiceDir "/var/lib/my tor#1/hs/\\"main\\""'));

  const hashSocket = tampered('{}', (x) => {
    x.services[0]!.listen = { kind: 'unix', path: '/run/a#b.sock' };
  });
  assert.ok(directives(renderTorrc(hashSocket)).includes('HiddenServicePort "80 unix:/run/a#b.sock"'));

  const spacedSocket = tampered('{}', (x) => {
    x.services[0]!.listen = { kind: 'unix', path: '/run/a b.sock' };
  });
  assert.throws(() => renderTorrc(spacedSocket), { code: 'OSC_ERR_RENDER_UNSAFE_VALUE', message: /onion\.services\[main\]\.listen/ });
});

test('torrc: unsafe values in a hand-built model throw instead of injecting directives', () => {
  const cases: [string, (m: DeepMutable<StackModel>) => void][] = [
    ['paths.torData', (m) => void (m.paths.torData = '/x\nSocksPort 0.0.0.0:9050')],
    ['hiddenServiceDir', (m) => void (m.services[0]!.hiddenServiceDir = '/x\rHiddenServicePort 80 1.2.3.4:80')],
    ['listen', (m) => void (m.services[0]!.listen = { kind: 'unix', path: '/run/x.sock\nControlPort 9051' })],
    ['listen', (m) => void (m.services[0]!.listen = { kind: 'tcp', host: '0.0.0.0', port: 80 })],
    ['ports[0]', (m) => void (m.services[0]!.ports = [Number.NaN])],
    ['name', (m) => void (m.services[0]!.name = 'main\nControlPort 9051')],
    ['dirAuthorities[0]', (m) => void (m.tor.network = { dirAuthorities: ['a0 127.0.0.1:7000 X\nExitRelay 1'] })],
    ['dos.maxStreams', (m) => void (m.services[0]!.dos.maxStreams = -1)],
  ];
  for (const [field, change] of cases) {
    assert.throws(() => renderTorrc(tampered('{}', change)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'OSC_ERR_RENDER_UNSAFE_VALUE');
      assert.ok(err.message.includes(field), `${err.message} should name ${field}`);
      return true;
    });
  }
});
