// The rendered haproxy.cfg running for real: requests arrive the way tor sends them (a PROXY line whose source is
// fc00:dead:beef:4dad::<circuit>), two node instances behind it. Checks the behaviour the comments in haproxy.ts
// promise: the circuit header, per-circuit limits, header stripping, our error pages, retries only for safe methods.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { ERROR_STATUSES, errorFilePath, renderErrorFile, renderHaproxyConfig } from '../../src/render/index.js';
import { freePort, freePortRange } from '../helpers/ports.js';
import { spawnForTest } from '../helpers/process.js';

const HAPROXY = '/usr/sbin/haproxy';

interface Reply {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** One request on a fresh connection, prefixed with a PROXY v1 line as tor writes it. */
function send(target: { port: number } | { path: string }, proxy: string, request: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = 'path' in target ? connect(target.path) : connect(target.port, '127.0.0.1');
    let data = '';
    sock.setTimeout(10_000, () => sock.destroy(new Error('no reply in 10 s')));
    sock.on('data', (d: Buffer) => (data += d.toString('latin1')));
    sock.on('error', reject);
    sock.on('close', () => {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no HTTP response: ${JSON.stringify(data)}`));
      const [statusLine, ...lines] = data.slice(0, end).split('\r\n');
      resolve({
        status: Number(statusLine!.split(' ')[1]),
        headers: new Map(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()])),
        body: data.slice(end + 4),
      });
    });
    sock.write(`${proxy}\r\n${request}`);
  });
}

const circuit = (id: number) => `PROXY TCP6 fc00:dead:beef:4dad::${(id >>> 16).toString(16)}:${(id & 0xffff).toString(16)} ::1 ${id & 0xffff} 80`;
const get = (path: string, extra = '') => `GET ${path} HTTP/1.1\r\nHost: example.onion\r\n${extra}Connection: close\r\n\r\n`;

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('rendered haproxy.cfg live: circuit header, per-circuit limits, stripped headers, error pages, safe retries', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'osc-haproxy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // Two instances that leak software headers, record what they saw, and can hang or drop a request.
  const base = await freePortRange(2);
  const seen: { instance: number; method: string; url: string; circuit: string | undefined }[] = [];
  const slow: ServerResponse[] = [];
  const servers: Server[] = [];
  for (const i of [0, 1]) {
    const srv = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (req.url !== '/healthz') seen.push({ instance: i, method: req.method!, url: req.url!, circuit: req.headers['x-onion-circuit'] as string | undefined });
      if (req.url === '/drop') return req.socket.destroy();
      if (req.url === '/slow') return void slow.push(res);
      res.setHeader('Server', 'leaky/1.2.3');
      res.setHeader('X-Powered-By', 'Express');
      res.setHeader('Via', '1.1 backend');
      res.end(`instance ${i}`);
    });
    await new Promise<void>((resolve) => srv.listen(base + i, '127.0.0.1', resolve));
    servers.push(srv);
  }
  const closeServers = () =>
    Promise.all(servers.map((s) => new Promise<void>((resolve) => {
      s.closeAllConnections();
      s.close(() => resolve());
    })));
  let serversClosed = false;
  t.after(async () => {
    for (const r of slow) r.destroy();
    if (!serversClosed) await closeServers();
  });

  const tcpPort = await freePort();
  const model = parseConfig(
    `
onion:
  services:
    - { name: main }
    - { name: tcp, listen: ${tcpPort} }
apps:
  - { name: web, command: "true", basePort: ${base}, instances: 2 }
balancer:
  healthInterval: 200ms
  retries: 2
  perCircuit: { maxConnections: 2, requestRate: 5, window: 10s }
`,
    join(dir, 'onionscale.yaml'),
    { stateDir: join(dir, 's') },
  );
  mkdirSync(model.paths.run, { recursive: true, mode: 0o700 });
  writeFileSync(model.paths.haproxyConfig, renderHaproxyConfig(model));
  for (const status of ERROR_STATUSES) {
    mkdirSync(dirname(errorFilePath(model, status)), { recursive: true });
    // The 503 file gets a Server header on purpose: http-after-response must strip it from haproxy's own pages.
    const page = renderErrorFile(status);
    writeFileSync(errorFilePath(model, status), status === 503 ? page.replace('\r\n', '\r\nServer: stock-page\r\n') : page);
  }

  const haproxy = spawnForTest(t, HAPROXY, ['-db', '-f', model.paths.haproxyConfig]);

  const tcp = { port: tcpPort };
  const unix = { path: model.services[0]!.listen.kind === 'unix' ? model.services[0]!.listen.path : '' };
  try {
    // Up when both instances passed their health check (leastconn spreads two parallel hangs over both).
    await until('haproxy and both instances', async () => {
      const r = await send(tcp, circuit(1), get('/'));
      return r.status === 200 ? r : undefined;
    });

    // The frontend socket is owner-only.
    assert.equal(statSync(unix.path).mode & 0o777, 0o600);

    // Circuit header: set from tor's PROXY source, a client-sent one is replaced; unix and TCP frontends alike.
    for (const target of [tcp, unix]) {
      seen.length = 0;
      const r = await send(target, circuit(0x1234abcd), get('/hello', 'X-Onion-Circuit: spoofed\r\nx-onion-circuit: spoofed2\r\n'));
      assert.equal(r.status, 200);
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.circuit, 'fc00:dead:beef:4dad::1234:abcd');
      // No software names in responses.
      for (const h of ['server', 'x-powered-by', 'via']) assert.equal(r.headers.has(h), false, h);
    }
    // Not from tor (a PROXY line with another source): the header is removed, never passed through.
    seen.length = 0;
    await send(tcp, 'PROXY TCP4 127.0.0.1 127.0.0.1 5555 80', get('/', 'X-Onion-Circuit: fc00:dead:beef:4dad::0:1\r\n'));
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.circuit, undefined);

    // Per-circuit request rate: 5 per window pass, the 6th gets our 429 page; another circuit is not affected.
    for (let i = 0; i < 5; i++) assert.equal((await send(tcp, circuit(0x60), get('/'))).status, 200, `request ${i + 1}`);
    const limited = await send(tcp, circuit(0x60), get('/'));
    assert.equal(limited.status, 429);
    assert.match(limited.body, /Too many requests/);
    assert.equal(limited.headers.get('retry-after'), '10');
    assert.equal(limited.headers.has('server'), false);
    assert.equal((await send(tcp, circuit(0x61), get('/'))).status, 200);

    // Per-circuit concurrency: two hanging requests on one circuit, a third concurrent one is refused.
    const hanging = [send(tcp, circuit(0x70), get('/slow')), send(tcp, circuit(0x70), get('/slow'))];
    await until('two hanging requests', () => Promise.resolve(slow.length === 2 ? true : undefined));
    assert.equal((await send(tcp, circuit(0x70), get('/'))).status, 429);
    assert.equal((await send(tcp, circuit(0x71), get('/'))).status, 200);
    for (const r of slow.splice(0)) r.end('done');
    assert.deepEqual((await Promise.all(hanging)).map((r) => r.status), [200, 200]);

    // Retries: a GET whose connection dies without a response is retried (1 + retries attempts), a POST is not.
    seen.length = 0;
    assert.equal((await send(tcp, circuit(0x80), get('/drop'))).status, 502);
    assert.equal(seen.filter((s) => s.url === '/drop').length, 3);
    seen.length = 0;
    const post = await send(tcp, circuit(0x81), 'POST /drop HTTP/1.1\r\nHost: example.onion\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi');
    assert.equal(post.status, 502);
    assert.equal(seen.filter((s) => s.url === '/drop').length, 1);

    // All instances down: our 503 page, no stock page.
    serversClosed = true;
    await closeServers();
    const down = await until('the 503 page', async () => {
      const r = await send(tcp, circuit(0x90), get('/'));
      return r.status === 503 ? r : undefined;
    });
    assert.match(down.body, /This site is temporarily down/);
    assert.equal(down.headers.get('cache-control'), 'no-store');
    assert.equal(down.headers.has('server'), false);
    assert.doesNotMatch(down.body + [...down.headers.values()].join(' '), /haproxy/i);
  } catch (err) {
    (err as Error).message += `\nhaproxy log:\n${haproxy.log()}`;
    throw err;
  }
});
