// Snapshot tests of every renderer: the whole text of each file for two configs (defaults, and every option set).
// Node 20 has no t.assert.snapshot, so expected files live in __snapshots__/; UPDATE_SNAPSHOTS=1 rewrites them.
// A snapshot diff is a review item: read it, then update on purpose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../config/load.js';
import { ERROR_STATUSES, renderErrorFile, renderHaproxyConfig, renderRedisAuthConf, renderRedisConf, renderSystemdUnits, renderTorrc } from './index.js';

const SNAPSHOTS = join(dirname(fileURLToPath(import.meta.url)), '__snapshots__');
const UPDATE = process.env.UPDATE_SNAPSHOTS === '1';
const RUNTIME = { node: '/usr/bin/node', instancesDir: '/opt/onionscale/dist/instances' };

function matchSnapshot(name: string, actual: string): void {
  const file = join(SNAPSHOTS, name);
  if (UPDATE || !existsSync(file)) {
    // A missing snapshot is written once, then the test fails so the new file gets reviewed and committed.
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    if (!UPDATE) assert.fail(`snapshot ${name} did not exist and was written; review it and run again`);
    return;
  }
  assert.equal(actual, readFileSync(file, 'utf8'), `${name} differs from its snapshot (UPDATE_SNAPSHOTS=1 rewrites it)`);
}

const FIXTURES: Record<string, string> = {
  // Everything at its default: one service on a unix socket, the sample app, Redis on a unix socket.
  defaults: '{}\n',
  // Every option: two services (unix and TCP), three apps of each kind, DoS knobs, TCP Redis, a test network.
  full: `
onion:
  services:
    - name: main
      ports: [80, 443]
      dos:
        introDefense: { rate: 30, burst: 300 }
        pow: {}
        maxStreams: 50
        maxStreamsCloseCircuit: false
        introPoints: 6
    - name: api
      app: api
      listen: 127.0.0.1:9080
apps:
  - name: web
    builtin: sample
    instances: 3
  - name: api
    command: ["/usr/bin/node", "server.js", "--title", "my \\"api\\" 100%"]
    cwd: api
    basePort: 9100
    env: { NODE_ENV: production, GREETING: "it's $HOME" }
  - name: docs
    static: public
    instances: 1
balancer:
  circuitHeader: X-Circuit
  healthPath: /health
  healthInterval: 5s
  retries: 3
  timeouts: { connect: 1s, client: 90s, server: 2m, httpRequest: 5s, keepAlive: 10s, queue: 500ms }
  perCircuit: { maxConnections: 10, requestRate: 100, window: 20s }
  maxConnections: 2000
  adminSocket: false
redis:
  listen: 127.0.0.1:6390
  maxmemory: 64mb
  maxmemoryPolicy: allkeys-lfu
  appendonly: false
tor:
  network:
    dirAuthorities:
      - "auth0 orport=5000 no-v2 v3ident=AAAA 127.0.0.1:7000 BBBB"
  socksPort: 9150
binaries:
  tor: /usr/sbin/tor
  haproxy: /usr/sbin/haproxy
  redisServer: /usr/bin/redis-server
`,
};

for (const [name, yaml] of Object.entries(FIXTURES)) {
  const model = parseConfig(yaml, '/srv/site/onionscale.yaml', { stateDir: '/var/lib/onionscale' });

  test(`snapshot ${name}: torrc`, () => matchSnapshot(`${name}/torrc`, renderTorrc(model, { owningPid: 4242 })));
  test(`snapshot ${name}: haproxy.cfg`, () => matchSnapshot(`${name}/haproxy.cfg`, renderHaproxyConfig(model)));
  test(`snapshot ${name}: redis.conf`, () => matchSnapshot(`${name}/redis.conf`, renderRedisConf(model)));
  test(`snapshot ${name}: systemd units`, () => {
    const units = renderSystemdUnits(model, { runtime: RUNTIME });
    for (const unit of units) matchSnapshot(`${name}/systemd/${unit.name}`, unit.content);
    // The unit list itself is part of the snapshot: a unit that disappears must fail too.
    matchSnapshot(`${name}/systemd/UNITS`, units.map((u) => u.name).join('\n') + '\n');
  });
  test(`snapshot ${name}: output is deterministic`, () => {
    assert.equal(renderTorrc(model), renderTorrc(model));
    assert.equal(renderHaproxyConfig(model), renderHaproxyConfig(model));
    assert.deepEqual(renderSystemdUnits(model, { runtime: RUNTIME }), renderSystemdUnits(model, { runtime: RUNTIME }));
  });
}

test('snapshot: error pages and the redis auth file', () => {
  for (const status of ERROR_STATUSES) matchSnapshot(`pages/${status}.http`, renderErrorFile(status));
  matchSnapshot('redis-auth.conf', renderRedisAuthConf('pa"ss\\word'));
});
