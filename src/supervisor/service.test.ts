import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ChildProcess } from 'node:child_process';
import { Service, type SpawnFn } from './service.js';
import { Backoff } from './backoff.js';

/** A child process double: prints lines, exits when killed or when told to crash. */
class FakeChild extends EventEmitter {
  static nextPid = 1000;
  pid = FakeChild.nextPid++;
  stdout = new PassThrough();
  stderr = new PassThrough();
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  signals: string[] = [];
  ignoreTerm = false;
  kill(sig: NodeJS.Signals = 'SIGTERM') {
    this.signals.push(sig);
    if (sig === 'SIGTERM' && this.ignoreTerm) return true;
    setImmediate(() => this.exit(null, sig));
    return true;
  }
  exit(code: number | null, signal: NodeJS.Signals | null) {
    if (this.exitCode !== null || this.signalCode !== null) return;
    this.exitCode = code;
    this.signalCode = signal;
    this.stdout.end();
    this.stderr.end();
    this.emit('exit', code, signal);
  }
}

function harness() {
  const children: FakeChild[] = [];
  const spawn: SpawnFn = () => {
    const c = new FakeChild();
    children.push(c);
    return c as unknown as ChildProcess;
  };
  return { children, spawn };
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

test('start resolves when ready, stop sends SIGTERM and waits for exit', async () => {
  const h = harness();
  const states: string[] = [];
  const lines: string[] = [];
  const svc = new Service({
    name: 'x', kind: 'app', command: { file: 'x', args: [] }, spawn: h.spawn, readyTimeoutMs: 1000,
    ready: async () => { await tick(); },
    onLine: (l) => lines.push(l),
  });
  svc.on('state', (s) => states.push(s));
  await svc.start();
  assert.equal(svc.state, 'ready');
  assert.equal(svc.pid, h.children[0]!.pid);
  h.children[0]!.stdout.write('hello\nwor');
  h.children[0]!.stdout.write('ld\n');
  await tick();
  assert.deepEqual(lines, ['hello', 'world']);
  await svc.stop();
  assert.deepEqual(h.children[0]!.signals, ['SIGTERM']);
  assert.deepEqual(states, ['starting', 'ready', 'stopping', 'stopped']);
  await svc.stop(); // idempotent
});

test('a crash after ready restarts with growing backoff; stop cancels a pending restart', async () => {
  const h = harness();
  const svc = new Service({
    name: 'x', kind: 'app', command: { file: 'x', args: [] }, spawn: h.spawn, readyTimeoutMs: 1000,
    ready: async () => {}, backoff: { initialMs: 10, factor: 2 },
  });
  const delays: number[] = [];
  svc.on('restart', (_n, d) => delays.push(d));
  await svc.start();
  h.children[0]!.exit(1, null);
  assert.equal(svc.state, 'backoff');
  await tick(40);
  assert.equal(h.children.length, 2);
  assert.equal(svc.state, 'ready');
  h.children[1]!.exit(1, null);
  await tick(60);
  assert.equal(h.children.length, 3);
  assert.deepEqual(delays, [10, 20]);
  assert.equal(svc.restarts, 2);
  h.children[2]!.exit(null, 'SIGKILL');
  assert.equal(svc.state, 'backoff');
  await svc.stop();
  await tick(100);
  assert.equal(h.children.length, 3, 'no restart after stop');
  assert.equal(svc.state, 'stopped');
});

test('exit before ready fails start with the last lines, and does not restart', async () => {
  const h = harness();
  const svc = new Service({
    name: 'redis', kind: 'redis', command: { file: 'x', args: [] }, spawn: h.spawn, readyTimeoutMs: 1000,
    ready: (signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
  });
  const p = svc.start();
  h.children[0]!.stderr.write('bind: address in use\n');
  await tick();
  h.children[0]!.exit(1, null);
  await assert.rejects(p, (err: { code: string; message: string; details: { lastLines: string[] } }) => {
    assert.equal(err.code, 'OSC_ERR_STACK_START');
    assert.match(err.message, /redis exited \(code 1\) before it was ready/);
    assert.deepEqual(err.details.lastLines, ['bind: address in use']);
    return true;
  });
  assert.equal(svc.state, 'failed');
  await tick(30);
  assert.equal(h.children.length, 1);
});

test('not ready in time: timeout error, child killed; SIGKILL after the grace period', async () => {
  const h = harness();
  const svc = new Service({
    name: 'slow', kind: 'app', command: { file: 'x', args: [] }, spawn: h.spawn, readyTimeoutMs: 20, stopGraceMs: 20,
    ready: () => new Promise(() => {}),
  });
  const started = svc.start();
  await tick(1);
  h.children[0]!.ignoreTerm = true;
  await assert.rejects(started, { code: 'OSC_ERR_STACK_TIMEOUT' });
  assert.deepEqual(h.children[0]!.signals, ['SIGTERM', 'SIGKILL']);
});

test('backoff resets after a long enough run and is capped', () => {
  const b = new Backoff({ initialMs: 100, factor: 2, maxMs: 350, resetAfterMs: 1000 });
  assert.deepEqual([b.next(0), b.next(0), b.next(0), b.next(0)], [100, 200, 350, 350]);
  assert.equal(b.next(5000), 100);
});
