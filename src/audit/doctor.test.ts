import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { model } from '../render/model.fixture.js';
import { CLOCK_FLOOR, checkClockSanity, parseConsensusTimes } from './checks/clock-sanity.js';
import { ADMIN_PATHS, assessAdminPage, assessErrorPage, type PageProbe } from './checks/frontend-pages.js';
import { assessRedisConfig, parseRedisInfo } from './checks/redis-config.js';
import { checkUnixSockets } from './checks/unix-sockets.js';
import { formatDoctor } from './doctor.js';
import { summarize } from './types.js';

const m = model('{}');
const svc = m.services[0]!;
const page = (what: string, raw: string, status: number | undefined = Number(/^HTTP\/1\.\d (\d+)/.exec(raw)?.[1])): PageProbe => ({
  service: svc,
  what,
  path: '/x',
  raw,
  ...(status ? { status } : {}),
});

test('error-pages: stock pages and versions fail, our own pages pass', () => {
  const table: [string, string, 'ok' | 'fail' | 'warn'][] = [
    ['haproxy stock 400', 'HTTP/1.1 400 Bad request\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>', 'fail'],
    ['haproxy stock 503', 'HTTP/1.1 503 Service Unavailable\r\n\r\n<h1>503</h1>No server is available to handle this request.', 'fail'],
    ['nginx 404', 'HTTP/1.1 404 Not Found\r\n\r\n<hr><center>nginx</center>', 'fail'],
    ['Express 404', 'HTTP/1.1 404 Not Found\r\n\r\n<pre>Cannot GET /nothing</pre>', 'fail'],
    ['Fastify 404', 'HTTP/1.1 404 Not Found\r\n\r\n{"message":"Route GET:/nothing not found","error":"Not Found","statusCode":404}', 'fail'],
    ['stack trace', 'HTTP/1.1 500 Internal Server Error\r\n\r\nError: boom\n    at handler (/srv/app/server.js:10:5)', 'fail'],
    ['version in a header', 'HTTP/1.1 404 Not Found\r\nX-Runtime: node/20.11.1\r\n\r\nnot found', 'fail'],
    ['version in the body', 'HTTP/1.1 404 Not Found\r\n\r\n<p>PHP/8.2.1 says no</p>', 'fail'],
    ['own 400 page', 'HTTP/1.0 400 Bad Request\r\n\r\n<h1>Bad request</h1><p>The request could not be understood.</p>', 'ok'],
    ['plain 404', 'HTTP/1.1 404 Not Found\r\n\r\nnot found\n', 'ok'],
  ];
  for (const [name, raw, level] of table) assert.equal(assessErrorPage(page('GET /x', raw)).level, level, name);
  assert.equal(assessErrorPage(page('malformed request', '', undefined)).level, 'ok', 'a closed connection shows nothing');
  assert.equal(assessErrorPage(page('GET /x', '', undefined)).level, 'warn', 'no answer from the app');
});

test('admin-reachable: a served stats/metrics/status page fails; 404s and look-alikes pass', () => {
  const sig = (path: string) => ADMIN_PATHS.find(([p]) => p === path)![1];
  assert.equal(assessAdminPage(page('', 'HTTP/1.1 200 OK\r\n\r\n<title>Statistics Report for HAProxy</title>'), sig('/haproxy?stats')).level, 'fail');
  assert.equal(assessAdminPage(page('', 'HTTP/1.1 200 OK\r\n\r\n# HELP process_cpu_seconds_total x\n'), sig('/metrics')).level, 'fail');
  assert.equal(assessAdminPage(page('', 'HTTP/1.1 200 OK\r\n\r\nApache Server Status for x'), sig('/server-status')).level, 'fail');
  assert.equal(assessAdminPage(page('', 'HTTP/1.1 200 OK\r\n\r\n<h1>onionscale dashboard</h1>'), sig('/dashboard')).level, 'fail');
  assert.equal(assessAdminPage(page('', 'HTTP/1.1 404 Not Found\r\n\r\nStatistics Report for'), sig('/stats')).level, 'ok', 'not served');
  assert.equal(assessAdminPage(page('', 'HTTP/1.1 200 OK\r\n\r\n<h1>Our metrics blog post</h1>'), sig('/metrics')).level, 'ok');
});

test('redis-config: INFO parsed; no maxmemory, noeviction and AOF off each fail with a fix', () => {
  const info = (maxmemory: number, policy: string, aof: 0 | 1) => `# Memory\r\nmaxmemory:${maxmemory}\r\nmaxmemory_policy:${policy}\r\n# Persistence\r\naof_enabled:${aof}\r\n`;
  assert.deepEqual(parseRedisInfo(info(1024, 'allkeys-lru', 1)), { maxmemory: 1024, policy: 'allkeys-lru', aof: true });
  assert.equal(parseRedisInfo('garbage'), undefined);
  assert.equal(assessRedisConfig(m, parseRedisInfo(info(1024, 'allkeys-lru', 1))).level, 'ok');
  const bad = assessRedisConfig(m, parseRedisInfo(info(0, 'noeviction', 0)));
  assert.equal(bad.level, 'fail');
  for (const w of ['no maxmemory', 'noeviction', 'appendonly off']) assert.match(bad.detail, new RegExp(w));
  for (const w of ['redis.maxmemory', 'maxmemoryPolicy', 'redis.appendonly']) assert.match(bad.fix, new RegExp(w));
  assert.equal(assessRedisConfig(m, { error: 'ECONNREFUSED' }).level, 'warn');
  assert.equal(assessRedisConfig(m, undefined).level, 'warn');
});

test('unix-sockets: a socket others can connect to or an open run directory fails', () => {
  const p = m.paths;
  const modes = new Map<string, number>([
    [p.run, 0o40700],
    [p.haproxyAdminSocket, 0o140600],
    [join(p.run, 'control.sock'), 0o140600],
  ]);
  const stat = (path: string) => (modes.has(path) ? { mode: modes.get(path)!, uid: 1000, isDirectory: path === p.run } : undefined);
  assert.equal(checkUnixSockets(m, stat, 1000).level, 'ok');
  modes.set(p.haproxyAdminSocket, 0o140666);
  const f = checkUnixSockets(m, stat, 1000);
  assert.equal(f.level, 'fail');
  assert.match(f.detail, /haproxy runtime API .* 0666/);
  modes.set(p.haproxyAdminSocket, 0o140600);
  modes.set(p.run, 0o40755);
  assert.match(checkUnixSockets(m, stat, 1000).detail, /0755 \(want 0700\)/);
  assert.match(checkUnixSockets(m, stat, 0).detail, /belongs to uid 1000/);
});

test('clock-sanity: before the floor fails; outside the consensus window warns', () => {
  const consensus = parseConsensusTimes('network-status-version 3 microdesc\nvalid-after 2026-03-01 12:00:00\nfresh-until 2026-03-01 13:00:00\nvalid-until 2026-03-01 15:00:00\n');
  assert.deepEqual(consensus, { validAfter: Date.UTC(2026, 2, 1, 12), validUntil: Date.UTC(2026, 2, 1, 15) });
  assert.equal(checkClockSanity(Date.UTC(1970, 0, 2), undefined).level, 'fail');
  assert.equal(checkClockSanity(CLOCK_FLOOR + 1000, undefined).level, 'ok');
  assert.equal(checkClockSanity(Date.UTC(2026, 2, 1, 13), consensus).level, 'ok');
  assert.match(checkClockSanity(Date.UTC(2026, 2, 1, 9), consensus).detail, /behind/);
  assert.match(checkClockSanity(Date.UTC(2026, 2, 3), consensus).detail, /ahead/);
  assert.equal(parseConsensusTimes('valid-after yesterday'), undefined);
});

test('formatDoctor: a PASS/WARN/FAIL table, seen + fix under each problem', () => {
  const findings = [
    { id: 'redis-config', level: 'fail' as const, title: 'Redis limits', detail: 'no maxmemory', fix: 'set it' },
    { id: 'clock-sanity', level: 'ok' as const, title: 'clock', detail: 'fine', fix: '' },
  ];
  const text = formatDoctor({ findings, summary: summarize(findings, true) });
  assert.match(text, /^RESULT\s+CHECK\s+WHAT$/m);
  assert.match(text, /^FAIL\s+redis-config\s+Redis limits$/m);
  assert.match(text, /seen: no maxmemory/);
  assert.match(text, /fix: {2}set it/);
  assert.match(text, /^PASS\s+clock-sanity/m);
  assert.doesNotMatch(text, /seen: fine/);
  assert.match(text, /FAIL: 1 passed, 0 warning\(s\), 1 failed$/);
});
