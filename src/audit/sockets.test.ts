import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../config/load.js';
import type { StackState } from '../supervisor/state-file.js';
import { checkListenPublic, checkTorEgress, socketView } from './checks/sockets.js';
import { fakeProc, tcpRow, type FakeProcess } from './proc.fixture.js';
import { parseStat, socketInodes, stackProcesses, type ProcReader } from './proc.js';
import { readTcpSockets } from './tcp-table.js';

const ZERO4 = '00000000:0000';
const ZERO6 = '00000000000000000000000000000000:0000';

function state(services: { name: string; kind: StackState['services'][number]['kind']; pid: number; startTime: number }[]): StackState {
  return {
    version: 1,
    phase: 'running',
    supervisor: { pid: 1, startTime: 1 },
    configFile: '/srv/site/onionscale.yaml',
    stateDir: '/var/lib/onionscale',
    startedAt: new Date(0).toISOString(),
    services: services.map((s) => ({ ...s, state: 'ready', restarts: 0 })),
    onions: [],
    tor: { network: 'public', bootstrap: 100, summary: 'Done', reached: true },
  };
}

const STACK = state([
  { name: 'redis', kind: 'redis', pid: 100, startTime: 5000 },
  { name: 'web-1', kind: 'app', pid: 200, startTime: 5100 },
  { name: 'haproxy', kind: 'haproxy', pid: 300, startTime: 5200 },
  { name: 'tor', kind: 'tor', pid: 400, startTime: 5300 },
]);

const PROCS: FakeProcess[] = [
  { pid: 100, startTime: 5000, fds: { '0': '/dev/null', '6': 'socket:[11]' } },
  { pid: 200, startTime: 5100, fds: { '20': 'socket:[21]', '21': 'socket:[22]', '22': 'pipe:[7]' } },
  { pid: 300, startTime: 5200, fds: { '5': 'socket:[31]' } },
  { pid: 400, startTime: 5300, fds: { '9': 'socket:[41]' } },
  // Someone else's process listening publicly: not ours, must not be reported.
  { pid: 999, startTime: 1, fds: { '3': 'socket:[99]' } },
];

const HEALTHY_TCP = [
  tcpRow(0, '0100007F:18EB', ZERO4, '0A', 11), // redis 127.0.0.1:6379
  tcpRow(1, '0100007F:1F90', ZERO4, '0A', 21), // web-1 127.0.0.1:8080
  tcpRow(2, '0100007F:C350', '0100007F:18EB', '01', 22), // web-1 → redis
  tcpRow(3, '00000000:0050', ZERO4, '0A', 99), // pid 999 on 0.0.0.0:80
  tcpRow(4, '0A00000A:D431', '077100CB:2329', '01', 41), // tor → a relay 203.0.113.7:9001
];
const HEALTHY_TCP6 = [tcpRow(0, '00000000000000000000000001000000:1F91', ZERO6, '0A', 31)]; // haproxy [::1]:8081

function view(proc: ProcReader, st = STACK) {
  return socketView(stackProcesses(st, proc), readTcpSockets(proc, true), proc);
}

test('parseStat reads ppid and start time even when the command name has spaces and parentheses', () => {
  assert.deepEqual(parseStat('42 (my (odd) app) S 7 42 42 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 987654 1 2\n'), { ppid: 7, startTime: 987654 });
  assert.equal(parseStat('42 (zombie) Z 7 42 42 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 987654 1 2\n'), undefined);
  assert.equal(parseStat('nonsense'), undefined);
});

test('stack processes: PIDs verified by start time, descendants included, reused PIDs reported as stale', () => {
  const st = state([
    { name: 'web-1', kind: 'app', pid: 200, startTime: 5100 },
    { name: 'web-2', kind: 'app', pid: 201, startTime: 5101 }, // PID reused by another program
    { name: 'redis', kind: 'redis', pid: 202, startTime: 5102 }, // gone
  ]);
  const proc = fakeProc([
    { pid: 200, startTime: 5100 },
    { pid: 201, startTime: 9999 },
    { pid: 210, ppid: 200, startTime: 5200 }, // a worker of web-1
    { pid: 211, ppid: 210, startTime: 5300 }, // and its child
    { pid: 212, ppid: 201, startTime: 5400 }, // child of the stranger: not ours
  ]);
  const r = stackProcesses(st, proc);
  assert.deepEqual(r.processes.map((p) => [p.pid, p.service, p.child]), [[200, 'web-1', false], [210, 'web-1', true], [211, 'web-1', true]]);
  assert.deepEqual(r.stale, ['web-2', 'redis']);
  assert.deepEqual([...socketInodes(200, fakeProc([{ pid: 200, startTime: 1, fds: { '3': 'socket:[77]', '4': 'anon_inode:[eventfd]' } }]))!], [77]);
  assert.equal(socketInodes(12345, proc), undefined);
});

test('listen-public: ok when every listener of the stack is loopback (a stranger on 0.0.0.0 is not ours)', () => {
  const f = checkListenPublic(view(fakeProc(PROCS, HEALTHY_TCP, HEALTHY_TCP6)));
  assert.equal(f.level, 'ok', f.detail);
  assert.equal(f.detail, '4 process(es), 3 listening TCP socket(s), all on loopback');
  assert.equal(f.fix, '');
});

test('listen-public: fails for an app on 0.0.0.0, a worker on [::] and redis on a public address', () => {
  const procs: FakeProcess[] = [...PROCS, { pid: 250, ppid: 200, startTime: 6000, fds: { '3': 'socket:[51]' } }];
  const tcp = [...HEALTHY_TCP, tcpRow(5, '00000000:1F92', ZERO4, '0A', 22), tcpRow(6, '0A00000A:18EC', ZERO4, '0A', 11)];
  const tcp6 = [...HEALTHY_TCP6, tcpRow(1, '00000000000000000000000000000000:1F93', ZERO6, '0A', 51)];
  const f = checkListenPublic(view(fakeProc(procs, tcp, tcp6)));
  assert.equal(f.level, 'fail');
  assert.match(f.detail, /web-1 \(pid 200\) listens on 0\.0\.0\.0:8082/);
  assert.match(f.detail, /redis \(pid 100\) listens on 10\.0\.0\.10:6380/);
  assert.match(f.detail, /web-1 child \(pid 250\) listens on \[::\]:8083/);
  assert.doesNotMatch(f.detail, /pid 999/);
  assert.match(f.fix, /127\.0\.0\.1/);
});

test('listen-public: a dead stack or unreadable fds are warnings, never a silent pass', () => {
  assert.equal(checkListenPublic(undefined).level, 'warn');
  // Permission denied on /proc/300/fd (another user's haproxy): unknown, not "no sockets".
  const procs: FakeProcess[] = PROCS.map((p) => (p.pid === 300 ? { pid: 300, startTime: 5200, fds: null } : p));
  const gone = view(fakeProc(procs, HEALTHY_TCP, HEALTHY_TCP6));
  assert.deepEqual(gone.unreadable.map((p) => p.pid), [300]);
  const f = checkListenPublic(gone);
  assert.equal(f.level, 'warn');
  assert.match(f.detail, /could not read the sockets of haproxy \(pid 300\)/);
});

const model = (socks = '') => parseConfig(`tor:\n  network: public\n${socks}`, '/srv/site/onionscale.yaml', { stateDir: '/var/lib/onionscale' });

test('tor-egress: tor talking to relays is fine; without a SocksPort apps have no egress (ok)', () => {
  const f = checkTorEgress(model(), view(fakeProc(PROCS, HEALTHY_TCP, HEALTHY_TCP6)));
  assert.equal(f.level, 'ok', f.detail);
  assert.match(f.detail, /no direct outbound connection; no SocksPort/);
  const withSocks = checkTorEgress(model('  socksPort: 9050\n'), view(fakeProc(PROCS, HEALTHY_TCP, HEALTHY_TCP6)));
  assert.equal(withSocks.level, 'ok');
  assert.match(withSocks.detail, /socks5h:\/\/127\.0\.0\.1:9050/);
});

test('tor-egress: an app connected straight to a public address warns; an inbound connection does not count', () => {
  const procs: FakeProcess[] = PROCS.map((p) => (p.pid === 200 ? { ...p, fds: { ...p.fds, '30': 'socket:[61]', '31': 'socket:[62]' } } : p));
  const tcp = [
    ...HEALTHY_TCP,
    tcpRow(5, '0A00000A:B3B0', '077100CB:01BB', '01', 61), // web-1 10.0.0.10:46000 → 203.0.113.7:443
    tcpRow(6, '0100007F:1F90', '0A00000A:E000', '01', 62), // accepted on web-1's listening port 8080 from 10.0.0.10
  ];
  const tcp6 = [...HEALTHY_TCP6, tcpRow(1, '0000000000000000FFFF00000100007F:C000', '0000000000000000FFFF00000100007F:18EB', '01', 61)];
  const f = checkTorEgress(model(), view(fakeProc(procs, tcp, tcp6)));
  assert.equal(f.level, 'warn');
  assert.equal(f.detail.match(/→/g)?.length, 1, f.detail);
  assert.match(f.detail, /web-1 \(pid 200\) → 203\.0\.113\.7:443/);
  assert.match(f.fix, /SocksPort/);
  assert.equal(checkTorEgress(model(), undefined).level, 'warn');
});
