import { test } from 'node:test';
import assert from 'node:assert/strict';
import { model, tampered, type DeepMutable } from './model.fixture.js';
import type { StackModel } from '../config/model.js';
import { renderHaproxyConfig } from './haproxy.js';
import { ERROR_STATUSES } from './pages.js';


/** The directive lines of one section (`frontend onion-main`), trimmed, comments dropped. */
function section(text: string, head: string): string[] {
  const lines = text.split('\n');
  const start = lines.indexOf(head);
  assert.ok(start >= 0, `no section "${head}"`);
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l === '' || !l.startsWith(' ')) break;
    if (!l.trim().startsWith('#')) out.push(l.trim());
  }
  return out;
}

const TWO = `
onion:
  services:
    - { name: main }
    - { name: api, app: api, listen: 127.0.0.1:9080 }
apps:
  - { name: web, builtin: sample, instances: 3 }
  - { name: api, command: "node api.js", basePort: 9100, instances: 1 }
`;

test('haproxy: global runs in the foreground with logs on stdout and the admin socket 0600', () => {
  const text = renderHaproxyConfig(model('{}'));
  const global = section(text, 'global');
  assert.deepEqual(global, [
    'log stdout format raw local0',
    'maxconn 4096',
    'stats socket /var/lib/onionscale/run/haproxy-admin.sock mode 600 level admin expose-fd listeners',
  ]);
  const directives = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  // No daemon, no master-worker in the file, no stats web page (everything from tor is loopback: an "allow
  // 127.0.0.1" admin page would be open to the world), nothing that prints a version.
  assert.ok(!directives.some((l) => /^(daemon|master-worker|stats (enable|uri|auth|admin|show-)|listen )/.test(l)), directives.join('\n'));
  assert.doesNotMatch(renderHaproxyConfig(model('balancer: { adminSocket: false }')), /stats socket/);
});

test('haproxy: defaults carry the timeouts, retries and one errorfile per status', () => {
  const d = section(renderHaproxyConfig(model('balancer: { retries: 4, timeouts: { client: 90s, server: 2m, queue: 500ms } }')), 'defaults');
  for (const l of [
    'mode http',
    'option httplog',
    'option dontlognull',
    'timeout connect 3s',
    'timeout client 90s',
    'timeout server 2m',
    'timeout tunnel 90s',
    'timeout http-request 15s',
    'timeout http-keep-alive 30s',
    'timeout queue 500ms',
    'option redispatch',
    'retries 4',
    'retry-on conn-failure empty-response response-timeout 0rtt-rejected',
  ]) {
    assert.ok(d.includes(l), l);
  }
  assert.deepEqual(
    d.filter((l) => l.startsWith('errorfile')),
    [
      ...ERROR_STATUSES.filter((s) => s !== 400 && s !== 408).map((s) => `errorfile ${s} /var/lib/onionscale/run/errors/${s}.http`),
      // haproxy's HTTP/1 layer would send its stock 400/408 text whatever the errorfile says: closed silently.
      'errorfile 400 /dev/null',
      'errorfile 408 /dev/null',
    ],
  );
});

test('haproxy: one frontend per service with accept-proxy, the circuit header always reset, per-circuit limits', () => {
  const text = renderHaproxyConfig(model(TWO));
  const main = section(text, 'frontend onion-main');
  const api = section(text, 'frontend onion-api');
  assert.equal(main[0], 'bind unix@/var/lib/onionscale/run/main.sock mode 600 accept-proxy');
  assert.equal(api[0], 'bind 127.0.0.1:9080 accept-proxy');
  for (const fe of [main, api]) {
    // A client-sent header is removed first, then only tor's PROXY source sets it.
    const del = fe.indexOf('http-request del-header X-Onion-Circuit');
    const set = fe.indexOf('http-request set-header X-Onion-Circuit %[src] if { src fc00:dead:beef:4dad::/64 }');
    assert.ok(del >= 0 && set > del, fe.join('\n'));
    assert.ok(fe.includes('stick-table type ipv6 size 200k expire 30s store conn_cur,http_req_rate(10s)'));
    assert.ok(fe.includes('http-request track-sc0 src'));
    assert.ok(!fe.some((l) => l.startsWith('tcp-request')), 'tcp-request rules see 127.0.0.1, not the circuit');
    assert.ok(fe.includes('http-request deny deny_status 429 if { sc_http_req_rate(0) gt 300 }'));
    assert.ok(fe.includes('http-request deny deny_status 429 if { sc_conn_cur(0) gt 30 }'));
    for (const h of ['Server', 'X-Powered-By', 'Via']) {
      assert.ok(fe.includes(`http-response del-header ${h}`), h);
      assert.ok(fe.includes(`http-after-response del-header ${h}`), h);
    }
  }
  assert.equal(main.at(-1), 'default_backend app-web');
  assert.equal(api.at(-1), 'default_backend app-api');
  const custom = section(
    renderHaproxyConfig(model('balancer: { circuitHeader: X-Circuit, perCircuit: { maxConnections: 5, requestRate: 50, window: 1m } }')),
    'frontend onion-main',
  );
  assert.ok(custom.includes('http-request del-header X-Circuit'));
  assert.ok(custom.includes('stick-table type ipv6 size 200k expire 3m store conn_cur,http_req_rate(1m)'));
  assert.ok(custom.includes('http-request deny deny_status 429 if { sc_http_req_rate(0) gt 50 }'));
  assert.ok(custom.includes('http-request deny deny_status 429 if { sc_conn_cur(0) gt 5 }'));
});

test('haproxy: one backend per app with health checks and one server per instance on loopback', () => {
  const text = renderHaproxyConfig(model(TWO));
  const web = section(text, 'backend app-web');
  assert.deepEqual(web, [
    'balance leastconn',
    'http-request disable-l7-retry unless { method GET HEAD OPTIONS }',
    'option httpchk',
    'http-check send meth GET uri /healthz',
    'http-check expect status 200',
    'default-server inter 2s fall 2 rise 1',
    'server web-1 127.0.0.1:8081 check',
    'server web-2 127.0.0.1:8082 check',
    'server web-3 127.0.0.1:8083 check',
  ]);
  assert.ok(section(text, 'backend app-api').includes('server api-1 127.0.0.1:9100 check'));
  const health = section(renderHaproxyConfig(model('balancer: { healthPath: /up, healthInterval: 500ms }')), 'backend app-web');
  assert.ok(health.includes('http-check send meth GET uri /up'));
  assert.ok(health.includes('default-server inter 500ms fall 2 rise 1'));
});

test('haproxy: paths that need it are double-quoted with $, ", \\ and # escaped', () => {
  const m = tampered('{}', (x) => {
    x.paths.haproxyAdminSocket = '/var/my state/$HOME#"x".sock';
    x.paths.haproxyErrors = '/var/my state/errors';
    x.services[0]!.listen = { kind: 'unix', path: '/var/my state/main.sock' };
  });
  const text = renderHaproxyConfig(m);
  assert.match(text, /^ {4}stats socket "\/var\/my state\/\\\$HOME\\#\\"x\\"\.sock" mode 600 level admin expose-fd listeners$/m);
  assert.match(text, /^ {4}errorfile 503 "\/var\/my state\/errors\/503\.http"$/m);
  assert.match(text, /^ {4}bind "unix@\/var\/my state\/main\.sock" mode 600 accept-proxy$/m);
});

test('haproxy: unsafe values in a hand-built model throw instead of injecting directives', () => {
  const cases: [string, (m: DeepMutable<StackModel>) => void][] = [
    ['balancer.circuitHeader', (m) => void (m.balancer.circuitHeader = 'X-A\r\n    stats socket ipv4@0.0.0.0:9999 level admin')],
    ['balancer.healthPath', (m) => void (m.balancer.healthPath = '/h\nbackend evil')],
    ['paths.haproxyAdminSocket', (m) => void (m.paths.haproxyAdminSocket = '/x.sock\n')],
    ['paths.haproxyErrors', (m) => void (m.paths.haproxyErrors = '/e\u0000')],
    ['listen', (m) => void (m.services[0]!.listen = { kind: 'tcp', host: '0.0.0.0', port: 80 })],
    ['listen', (m) => void (m.services[0]!.listen = { kind: 'unix', path: '/x.sock mode 666' + '\n' })],
    ['instances', (m) => void (m.apps[0]!.instances[0]!.id = 'web-1\n    server evil 10.0.0.1:80')],
    ['instances', (m) => void (m.apps[0]!.instances[0]!.port = 70000)],
    ['balancer.timeouts.client', (m) => void (m.balancer.timeouts.client = Number.NaN)],
    ['balancer.perCircuit.requestRate', (m) => void (m.balancer.perCircuit.requestRate = 0.5)],
  ];
  for (const [field, change] of cases) {
    assert.throws(() => renderHaproxyConfig(tampered('{}', change)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'OSC_ERR_RENDER_UNSAFE_VALUE');
      assert.ok(err.message.includes(field), `${err.message} should name ${field}`);
      return true;
    });
  }
});
