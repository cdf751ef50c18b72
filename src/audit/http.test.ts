import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../config/load.js';
import type { StackModel } from '../config/model.js';
import { processStartTime } from '../supervisor/processes.js';
import type { StackState } from '../supervisor/state-file.js';
import { assessEtag, assessHeaders, assessNoProxy, type ProbeResult } from './checks/http.js';
import { parseHead, proxyLine } from './http-probe.js';
import { formatAudit, runAudit, type AuditReport } from './index.js';

const model = parseConfig('redis: { enabled: false }\n', '/srv/site/onionscale.yaml', { stateDir: '/var/lib/onionscale' });
const service = model.services[0]!;
const res = (head: string): ProbeResult => ({ service, head: parseHead(head + '\r\n\r\n')! });

test('proxyLine is what tor sends: the 32-bit circuit ID in the last two groups of fc00:dead:beef:4dad::/64', () => {
  assert.equal(proxyLine(0x12345678, 80), 'PROXY TCP6 fc00:dead:beef:4dad::1234:5678 ::1 22136 80\r\n');
});

test('headers: Server, X-Powered-By and Via fail; software names elsewhere warn; random tokens do not', () => {
  assert.equal(assessHeaders(res('HTTP/1.1 200 OK\r\nServer: nginx/1.22.1')).level, 'fail');
  assert.equal(assessHeaders(res('HTTP/1.1 200 OK\r\nX-Powered-By: Express')).level, 'fail');
  assert.equal(assessHeaders(res('HTTP/1.1 503 Service Unavailable\r\nVia: 1.1 haproxy')).level, 'fail');
  const warn = assessHeaders(res('HTTP/1.1 200 OK\r\nX-Backend: node.js/20.1\r\nSet-Cookie: PHPSESSID=abc'));
  assert.equal(warn.level, 'warn');
  assert.match(warn.detail, /x-backend \(node\.js\/20\.1\), set-cookie \(PHPSESSID\)/);
  const clean = assessHeaders(
    res('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nETag: "xPHPnginx-redis"\r\nSet-Cookie: sid=s%3AphpExpress.redis; HttpOnly\r\nX-Request: abcphp9'),
  );
  assert.equal(clean.level, 'ok', clean.detail);
  const none = assessHeaders({ service, error: 'ECONNREFUSED' });
  assert.equal(none.level, 'warn');
  assert.match(none.detail, /no HTTP answer .*ECONNREFUSED/);
});

test('no-proxy-refused: a 2xx/3xx without the PROXY line fails; a close, a reset or a 400 are fine', () => {
  assert.equal(assessNoProxy(res('HTTP/1.1 200 OK')).level, 'fail');
  assert.equal(assessNoProxy(res('HTTP/1.1 302 Found')).level, 'fail');
  assert.equal(assessNoProxy(res('HTTP/1.1 400 Bad Request')).level, 'ok');
  assert.equal(assessNoProxy({ service }).level, 'ok');
});

test('etag-inode: Apache inode-mtime-size ETags warn; content hashes and nginx mtime-size do not', () => {
  assert.equal(assessEtag(res('HTTP/1.1 200 OK\r\nETag: "2a1f-5e3-61b2c3d4e5f60"')).level, 'warn');
  assert.equal(assessEtag(res('HTTP/1.1 200 OK\r\nETag: W/"2a1f-5e3-61b2c3d4e5f60-gzip"')).level, 'warn');
  assert.equal(assessEtag(res('HTTP/1.1 200 OK\r\nETag: "64d1a2b3-1f4"')).level, 'ok');
  assert.equal(assessEtag(res('HTTP/1.1 200 OK\r\nETag: "hzS9tJ3bQm-0aZ6TnRk1yLw_8Q2"')).level, 'ok');
  assert.equal(assessEtag(res('HTTP/1.1 200 OK')).level, 'ok');
});

/**
 * runAudit end to end against a real socket standing in for the balancer, in a temp state directory. The state
 * names this test process as "haproxy" (verified by its real start time), so the audit treats the stack as live.
 */
describe('runAudit against a stand-in balancer on a unix socket', () => {
  let dir = '';
  let m: StackModel;
  let state: StackState;
  let server: Server;
  let behaviour: (s: Socket, request: string) => void = () => {};

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'osc-audit-'));
    m = parseConfig('redis: { enabled: false }\n', join(dir, 'onionscale.yaml'), { stateDir: join(dir, 's') });
    mkdirSync(m.paths.run, { recursive: true, mode: 0o700 });
    state = {
      version: 1,
      phase: 'running',
      supervisor: { pid: process.pid, startTime: processStartTime(process.pid)! },
      configFile: m.configFile,
      stateDir: m.paths.root,
      startedAt: new Date().toISOString(),
      services: [{ name: 'haproxy', kind: 'haproxy', state: 'ready', pid: process.pid, startTime: processStartTime(process.pid)!, restarts: 0 }],
      onions: [{ service: 'main', app: 'web', ports: [80], descriptor: { uploaded: 2, failed: 0 } }],
      tor: { network: 'testing', bootstrap: 100, summary: 'Done', reached: true },
    };
    server = createServer((s) => {
      let buf = '';
      s.on('data', (c: Buffer) => {
        buf += c.toString('latin1');
        if (buf.includes('\r\n\r\n')) behaviour(s, buf);
      });
      s.on('error', () => {});
    });
    const listen = m.services[0]!.listen;
    assert.equal(listen.kind, 'unix');
    await new Promise<void>((r) => server.listen(listen.kind === 'unix' ? listen.path : '', r));
  });

  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const level = (r: AuditReport, id: string) => r.findings.find((f) => f.id === id)?.level;

  test('a leaky server: no PROXY needed, Server/X-Powered-By, inode ETag, echoed circuit header → fail', async () => {
    behaviour = (s, request) => {
      const echoed = /x-onion-circuit: ([^\r]*)/i.exec(request)?.[1] ?? '';
      s.end(`HTTP/1.1 200 OK\r\nServer: Apache/2.4.57 (Debian)\r\nX-Powered-By: PHP/8.2.7\r\nETag: "2a1f-5e3-61b2c3d4e5f60"\r\nX-Seen-Circuit: ${echoed}\r\nConnection: close\r\n\r\nhi`);
    };
    const r = await runAudit(m, state, { timeoutMs: 2000 });
    assert.equal(level(r, 'headers'), 'fail');
    assert.match(r.findings.find((f) => f.id === 'headers')!.detail, /server: Apache\/2\.4\.57 \(Debian\), x-powered-by: PHP\/8\.2\.7/);
    assert.equal(level(r, 'no-proxy-refused'), 'fail');
    assert.equal(level(r, 'etag-inode'), 'warn');
    assert.equal(level(r, 'circuit-header'), 'fail');
    assert.equal(r.summary.exitCode, 1);
    assert.match(formatAudit(r), /^✗ headers\s.*\n\s+fix: Remove these headers/m);
  });

  test('a well-behaved balancer: refuses without PROXY, clean headers → those checks pass', async () => {
    behaviour = (s, request) => {
      if (!request.startsWith('PROXY TCP6 fc00:dead:beef:4dad::')) return void s.destroy();
      s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nETag: "hzS9tJ3bQm-0aZ6TnRk1yLw_8Q2"\r\nConnection: close\r\n\r\nok');
    };
    const r = await runAudit(m, state, { timeoutMs: 2000 });
    for (const id of ['headers', 'no-proxy-refused', 'etag-inode', 'tor-network', 'redis-auth']) assert.equal(level(r, id), 'ok', id);
    // No haproxy.cfg on disk: the rendered one is checked and says so.
    assert.match(r.findings.find((f) => f.id === 'admin-page')!.detail, /rendered haproxy\.cfg/);
    assert.equal(level(r, 'circuit-header'), 'ok');
  });

  test('a balancer that never answers: warnings within the timeout, no hang, no crash', async () => {
    behaviour = () => {};
    const r = await runAudit(m, state, { timeoutMs: 300 });
    assert.equal(level(r, 'headers'), 'warn');
    assert.match(r.findings.find((f) => f.id === 'headers')!.detail, /no answer in 300 ms/);
    assert.equal(level(r, 'no-proxy-refused'), 'ok');
  });

  test('a state of another state directory, or with reused PIDs, counts as not running', async () => {
    const other = await runAudit(m, { ...state, stateDir: '/elsewhere' });
    assert.equal(other.summary.running, false);
    const reused = await runAudit(m, { ...state, services: state.services.map((s) => ({ ...s, startTime: s.startTime! + 1 })) });
    assert.equal(reused.summary.running, false);
    assert.equal(level(reused, 'headers'), 'warn');
    // A hand-edited, malformed state is input too: no crash, just "not running".
    const broken = await runAudit(m, { ...state, services: 'nope', tor: null } as unknown as StackState);
    assert.equal(broken.summary.running, false);
    assert.equal(level(broken, 'tor-network'), 'warn');
  });
});
