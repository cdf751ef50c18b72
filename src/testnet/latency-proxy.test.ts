import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { startLatencyProxy } from './latency-proxy.js';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

async function freePort(): Promise<number> {
  const s = createServer();
  const p = await listen(s);
  await new Promise((r) => s.close(r));
  return p;
}

/** An echo server; the proxy in front of it; `exchange` sends bytes and resolves with everything echoed. */
async function setup(t: { after: (fn: () => Promise<void>) => void }, delayMs: number) {
  const echo = createServer((s) => s.pipe(s));
  const target = await listen(echo);
  const listenPort = await freePort();
  const proxy = await startLatencyProxy({ routes: [{ listen: listenPort, target }], delayMs });
  t.after(async () => {
    await proxy.close();
    await new Promise((r) => echo.close(r));
  });
  return { proxy, port: listenPort };
}

test('a round trip through the proxy takes at least 2 × delay and the bytes arrive intact, in order', async (t) => {
  const { proxy, port } = await setup(t, 60);
  const s = connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const payload = Buffer.from(Array.from({ length: 200 }, (_, i) => `chunk-${i};`).join(''));
  const started = performance.now();
  let got = Buffer.alloc(0);
  const done = new Promise<void>((resolve) =>
    s.on('data', (c: Buffer) => {
      got = Buffer.concat([got, c]);
      if (got.length >= payload.length) resolve();
    }),
  );
  // Many small writes: order must survive the per-chunk timers.
  for (let i = 0; i < payload.length; i += 37) s.write(payload.subarray(i, i + 37));
  await done;
  const elapsed = performance.now() - started;
  s.destroy();
  assert.equal(got.toString(), payload.toString());
  // A lower bound is the behaviour under test (the delay), not a speed claim.
  assert.ok(elapsed >= 2 * 60 - 5, `round trip ${elapsed} ms < 2 × 60 ms`);
  assert.equal(proxy.accepted, 1);
});

test('delay 0 forwards as a plain proxy; a large transfer survives backpressure', async (t) => {
  const { port } = await setup(t, 0);
  const s = connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  const big = Buffer.alloc(8 * 1024 * 1024, 7);
  let n = 0;
  const done = new Promise<void>((resolve) =>
    s.on('data', (c: Buffer) => {
      n += c.length;
      if (n >= big.length) resolve();
    }),
  );
  s.write(big);
  await done;
  s.destroy();
  assert.equal(n, big.length);
});

test('an end from the client reaches the server, and the server\'s close reaches the client', async (t) => {
  const server = createServer((s) => {
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.on('end', () => s.end(`got ${text}`));
  });
  const target = await listen(server);
  const listenPort = await freePort();
  const proxy = await startLatencyProxy({ routes: [{ listen: listenPort, target }], delayMs: 10 });
  t.after(async () => {
    await proxy.close();
    await new Promise((r) => server.close(r));
  });
  const s = connect(listenPort, '127.0.0.1');
  let reply = '';
  s.on('data', (c: Buffer) => (reply += c.toString()));
  const closed = new Promise((r) => s.on('close', r));
  s.end('hello');
  await closed;
  assert.equal(reply, 'got hello');
});

test('a refused target closes the client connection; close() is idempotent and frees the port', async () => {
  const dead = await freePort();
  const listenPort = await freePort();
  const proxy = await startLatencyProxy({ routes: [{ listen: listenPort, target: dead }], delayMs: 5 });
  const s = connect(listenPort, '127.0.0.1');
  s.on('error', () => {});
  await new Promise((r) => s.on('close', r));
  await Promise.all([proxy.close(), proxy.close()]);
  const again = createServer();
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.listen(listenPort, '127.0.0.1', () => resolve());
  });
  await new Promise((r) => again.close(r));
});

test('a port already in use is an error at start, not later', async () => {
  const busy = createServer();
  const port = await listen(busy);
  try {
    await assert.rejects(startLatencyProxy({ routes: [{ listen: port, target: port }], delayMs: 1 }), /EADDRINUSE/);
  } finally {
    await new Promise((r) => busy.close(r));
  }
});
