// Process handling of the testnet without tor: options, stopping by PID, the detached proxy's owner watch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isAlive, refOf } from '../supervisor/processes.js';
import { startTestnet, stopNodes } from './network.js';
import type { NodeState } from './state.js';

const here = dirname(fileURLToPath(import.meta.url));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

async function until(what: string, ms: number, cond: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const canConnect = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

test('bad options are one OSC_ERR_TESTNET_OPTIONS listing every problem, before anything starts', async () => {
  await assert.rejects(startTestnet({ dir: '/nonexistent/never-created', relays: -1, latencyMs: 99_999, ownerPid: 0 }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'OSC_ERR_TESTNET_OPTIONS');
    assert.match(err.message, /relays: .*latency: .*ownerPid/);
    return true;
  });
});

test('stopNodes: SIGTERM by PID, SIGKILL for a process that ignores it; a reused PID (other start time) is left alone', async () => {
  const polite = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const stubborn = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready')"], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((r) => stubborn.stdout.once('data', r));
  const node = (name: string, pid: number | undefined): NodeState => {
    const ref = refOf(pid)!;
    return { name, role: 'relay', pid: ref.pid, startTime: ref.startTime, log: '' };
  };
  // This process, recorded with a wrong start time: must not be signalled (it would end the test run).
  const self: NodeState = { name: 'not-ours', role: 'relay', pid: process.pid, startTime: (refOf(process.pid)?.startTime ?? 0) + 1, log: '' };
  const nodes = [node('polite', polite.pid), node('stubborn', stubborn.pid), self];
  const started = Date.now();
  await stopNodes(nodes, 500);
  assert.equal(isAlive({ pid: polite.pid!, startTime: nodes[0]!.startTime }), false);
  assert.equal(isAlive({ pid: stubborn.pid!, startTime: nodes[1]!.startTime }), false);
  assert.equal(stubborn.signalCode ?? (await new Promise((r) => stubborn.once('exit', (_c, s) => r(s)))), 'SIGKILL');
  assert.ok(Date.now() - started < 10_000);
});

test('the detached latency proxy listens on every route and exits by itself when its owner process dies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-proxy-'));
  const target = createServer((s) => s.end('hi'));
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  const owner = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const listen = await freePort();
  const spec = join(dir, 'spec.json');
  writeFileSync(spec, JSON.stringify({ routes: [{ listen, target: (target.address() as AddressInfo).port }], delayMs: 5, ownerPid: owner.pid }));
  const proxy = spawn(process.execPath, ['--import', 'tsx', join(here, 'proxy-main.ts'), spec], { stdio: 'ignore' });
  const exited = new Promise((r) => proxy.once('exit', r));
  try {
    await until('the proxy listening', 15_000, () => canConnect(listen));
    owner.kill('SIGKILL');
    await Promise.race([exited, new Promise((_, reject) => setTimeout(() => reject(new Error('proxy did not exit after its owner died')), 10_000))]);
    assert.equal(await canConnect(listen), false);
  } finally {
    if (proxy.exitCode === null) proxy.kill('SIGKILL');
    if (owner.exitCode === null) owner.kill('SIGKILL');
    target.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
