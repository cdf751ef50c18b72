import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors.js';
import { parseConfig } from './load.js';
import { configJsonSchema } from './schema.js';
import { STARTER_CONFIG } from '../cli/starter.js';

const FILE = '/srv/site/onionscale.yaml';

function problems(yaml: string) {
  try {
    parseConfig(yaml, FILE);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.code, 'OSC_ERR_CONFIG_INVALID');
    return err.problems.map((p) => `${p.path}: ${p.code}`);
  }
  assert.fail('expected a ConfigError');
}

test('an empty file gives the default stack: sample app, 2 instances, unix sockets', () => {
  const m = parseConfig('', FILE);
  assert.equal(m.paths.root, '/srv/site/.onionscale');
  assert.equal(m.services[0]!.name, 'main');
  assert.deepEqual(m.services[0]!.listen, { kind: 'unix', path: '/srv/site/.onionscale/run/main.sock' });
  assert.equal(m.services[0]!.app, 'web');
  assert.deepEqual(m.apps[0]!.instances.map((i) => [i.id, i.port]), [['web-1', 8081], ['web-2', 8082]]);
  assert.deepEqual(m.apps[0]!.run, { kind: 'builtin', name: 'sample' });
  assert.equal(m.redis.maxmemory, 256 * 1024 * 1024);
  assert.equal(m.redis.maxmemoryPolicy, 'allkeys-lru');
  assert.equal(m.balancer.timeouts.client, 300_000);
  assert.ok(Object.isFrozen(m) && Object.isFrozen(m.apps[0]!.instances));
});

test('the starter file from `init` is valid and says what it does', () => {
  const m = parseConfig(STARTER_CONFIG, FILE);
  assert.equal(m.services[0]!.dos.pow?.queueRate, 250);
  assert.equal(m.services[0]!.dos.maxStreams, 50);
  assert.equal(m.tor.bootstrapWait, 20_000);
  // The demo (issue 6): the forum, three instances, and the local dashboard.
  assert.deepEqual(m.apps[0]!.run, { kind: 'builtin', name: 'forum' });
  assert.equal(m.apps[0]!.instances.length, 3);
  assert.deepEqual(m.dashboard, { port: 8090 });
  assert.ok(STARTER_CONFIG.split('\n').filter((l) => l.trim().startsWith('#')).length > 20);
});

test('the dashboard is off unless configured; its port joins the port-clash rule', () => {
  assert.equal(parseConfig('', FILE).dashboard, undefined);
  assert.equal(parseConfig('dashboard: { enabled: false }', FILE).dashboard, undefined);
  assert.deepEqual(parseConfig('dashboard: {}', FILE).dashboard, { port: 8090 });
  assert.deepEqual(
    problems('apps: [{ name: web, builtin: forum, basePort: 9000 }]\ndashboard: { port: 9001 }'),
    ['dashboard.port: OSC_ERR_CONFIG_PORT_CLASH'],
  );
});

test('wrong types, unknown keys, a newline and a port clash are reported together', () => {
  const got = problems(`
apps:
  - name: web
    command: "node app.js"
    instances: "three"
    basePort: 9000
    colour: blue
  - name: api
    command: ["node", "api.js\\nX"]
    basePort: 9001
redis:
  listen: 9000
  maxmemory: lots
tor:
  bootstrapWait: 30
  socksPort: 9050
onion:
  services:
    - name: main
      listen: 0.0.0.0:80
unknownTop: 1
`);
  assert.deepEqual(got.sort(), [
    'apps[0].colour: OSC_ERR_CONFIG_UNKNOWN_KEY',
    'apps[0].instances: OSC_ERR_CONFIG_TYPE',
    'apps[1].command[1]: OSC_ERR_CONFIG_CONTROL_CHAR',
    'onion.services[0].listen: OSC_ERR_CONFIG_VALUE',
    'redis.maxmemory: OSC_ERR_CONFIG_SIZE',
    'tor.bootstrapWait: OSC_ERR_CONFIG_TYPE',
    'unknownTop: OSC_ERR_CONFIG_UNKNOWN_KEY',
  ].sort());
});

test('port clashes between instances, redis and tor are found even when the rest is valid', () => {
  const got = problems(`
apps:
  - { name: web, builtin: sample, instances: 3, basePort: 9000 }
  - { name: api, builtin: sample, instances: 1, basePort: 9002 }
redis: { listen: "127.0.0.1:9001" }
tor: { socksPort: 9000 }
`);
  assert.deepEqual(got, [
    'apps[1] (instance api-1): OSC_ERR_CONFIG_PORT_CLASH',
    'redis.listen: OSC_ERR_CONFIG_PORT_CLASH',
    'tor.socksPort: OSC_ERR_CONFIG_PORT_CLASH',
  ]);
});

test('names, references and durations', () => {
  const got = problems(`
apps:
  - { name: web, builtin: sample }
  - { name: web, static: ./public, basePort: 9100 }
  - { name: Bad_Name, builtin: sample, basePort: 9200 }
onion:
  services:
    - { name: main, app: nope }
balancer: { healthInterval: 2 minutes }
`);
  assert.deepEqual(got.sort(), [
    'apps[1].name: OSC_ERR_CONFIG_DUPLICATE_NAME',
    'apps[2].name: OSC_ERR_CONFIG_VALUE',
    'balancer.healthInterval: OSC_ERR_CONFIG_DURATION',
  ].sort());
  assert.deepEqual(problems('apps: [{ name: web, builtin: sample }]\nonion: { services: [{ name: main, app: nope }] }'), [
    'onion.services[0].app: OSC_ERR_CONFIG_REFERENCE',
  ]);
});

test('YAML syntax errors and duplicate keys carry a line number', () => {
  const got = problems('apps:\n  - name: web\n    name: again\n');
  assert.equal(got.length, 1);
  assert.match(got[0]!, /^line 3, column \d+: OSC_ERR_CONFIG_YAML$/);
  assert.match(problems('a: [1, 2\n')[0]!, /OSC_ERR_CONFIG_YAML/);
});

test('the message lists every problem as path: message [CODE]', () => {
  try {
    parseConfig('tor: { bootstrapWait: soon }\nstateDir: "a\\nb"\n', FILE);
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^\/srv\/site\/onionscale.yaml: 2 problems:$/m);
    assert.match(err.message, /^ {2}tor\.bootstrapWait: "soon" is not a duration like 30s, 5m or 24h \[OSC_ERR_CONFIG_DURATION\]$/m);
    assert.match(err.message, /^ {2}stateDir: must not contain newlines or control characters \[OSC_ERR_CONFIG_CONTROL_CHAR\]$/m);
  }
});

test('the JSON Schema comes from the same schema', () => {
  const s = configJsonSchema() as { properties: Record<string, { properties?: Record<string, unknown> }>; additionalProperties: boolean };
  assert.equal(s.additionalProperties, false);
  assert.deepEqual(Object.keys(s.properties).sort(), ['apps', 'balancer', 'binaries', 'dashboard', 'onion', 'redis', 'stateDir', 'tor']);
  assert.ok(s.properties.balancer?.properties?.circuitHeader);
});

test('unix socket paths with whitespace are refused at config time (tor cannot use them)', () => {
  assert.deepEqual(problems('stateDir: "my state"\n'), [
    'stateDir: OSC_ERR_CONFIG_VALUE',
    'onion.services[0].listen: OSC_ERR_CONFIG_VALUE',
  ]);
});
