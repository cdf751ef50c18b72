/**
 * Bad input, table-driven (issue 7): every row is hostile input to one part of the stack and the answer it must
 * get — a clear 4xx, a coded error, or being ignored (a forged cookie is just no session). After the HTTP rows the
 * stack must still run with the same PIDs (no crash) and still hold its data (no loss).
 *
 * Unparsable requests (huge headers, bad framing) are closed without an answer: haproxy's HTTP/1 layer would send its
 * stock 400 page (a fingerprint) instead of our errorfile, so the rendered config maps 400 and 408 to /dev/null.
 *
 * Real parts: the HTTP rows go to haproxy's accept-proxy frontend of a running stack (redis, 2 instances of the
 * fault-suite app, haproxy, tor on a private network it never reaches), sent raw like tor or an attacker on the box
 * would; Redis rows use a real redis-server; config rows go through the loader and `onionscale up`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, request } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { parseConfig } from '../../src/config/load.js';
import { createCache } from '../../src/core/cache/factory.js';
import { createEventBus } from '../../src/core/events/bus.js';
import { createRateLimiter } from '../../src/core/ratelimit/index.js';
import { staticHandler } from '../../src/instances/static-files.js';
import { isOnionscaleError } from '../../src/errors.js';
import { isPidAlive, parseResponse, rawExchange, runCli, makeStackDir } from '../helpers/stack.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { login, startFaultStack, torExchange, type FaultStack } from '../faults/harness.js';

const CRLF = '\r\n';
const proxy = (circuit: number) => `PROXY TCP6 fc00:dead:beef:4dad::${(circuit >>> 16).toString(16)}:${(circuit & 0xffff).toString(16)} ::1 ${circuit & 0xffff} 80${CRLF}`;
const http = (method: string, path: string, headers: string[] = [], body = '') =>
  `${method} ${path} HTTP/1.1${CRLF}Host: x.onion${CRLF}Connection: close${CRLF}${headers.map((h) => h + CRLF).join('')}${CRLF}${body}`;

interface Expect {
  /** Allowed statuses; 0 = the connection is closed without an HTTP answer. */
  status: number[];
  /** Checks on the parsed response. */
  check?: (r: ReturnType<typeof parseResponse>) => void;
}
interface Row extends Expect {
  name: string;
  payload: () => string;
}

describe('bad input through the real stack', () => {
  let s: FaultStack;
  let cookie = '';
  let pids: number[] = [];
  before(async () => {
    s = await startFaultStack({ instances: 2, prefix: 'osc-bi-' });
    cookie = await login(s.sock, 'carol');
    pids = s.state().services.map((x) => x.pid!);
  });
  after(async () => s?.stop());

  const noLeak = (r: ReturnType<typeof parseResponse>) => {
    assert.equal(r.headers.server, undefined);
    assert.doesNotMatch(r.raw, /haproxy|HAProxy|node\.js|express/i, 'no software name in any answer');
    // haproxy's stock pages: its HTTP/1 layer sends them for unparsable requests unless they are mapped to /dev/null.
    assert.doesNotMatch(r.raw, /Your browser sent an invalid request|No server is available|didn't respond in time/, 'no stock page');
  };
  const userOf = (r: ReturnType<typeof parseResponse>) => (JSON.parse(r.body) as { user: string | null }).user;

  const rows: Row[] = [
    // Cookies: forged, truncated, huge, hostile. A bad cookie is no session (200, anonymous), never an error page.
    { name: 'forged session cookie', payload: () => proxy(1) + http('GET', '/me', ['Cookie: osc_sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.forgedsignature']), status: [200], check: (r) => assert.equal(userOf(r), null) },
    { name: 'truncated session cookie', payload: () => proxy(2) + http('GET', '/me', [`Cookie: ${cookie.slice(0, cookie.length - 5)}`]), status: [200], check: (r) => assert.equal(userOf(r), null) },
    { name: 'session cookie with a glob and CR-less junk', payload: () => proxy(3) + http('GET', '/me', ['Cookie: osc_sid=*; osc_sid=..%2f..; a=\u0001']), status: [200, 400], check: (r) => r.status === 200 && assert.equal(userOf(r), null) },
    { name: 'the real cookie still works (control row)', payload: () => proxy(4) + http('GET', '/me', [`Cookie: ${cookie}`]), status: [200], check: (r) => assert.equal(userOf(r), 'carol') },
    { name: 'huge cookie (64 KiB)', payload: () => proxy(5) + http('GET', '/me', [`Cookie: osc_sid=${'a'.repeat(64 * 1024)}`]), status: [0, 400] },
    { name: '2000 cookies', payload: () => proxy(6) + http('GET', '/me', [`Cookie: ${Array.from({ length: 2000 }, (_, i) => `c${i}=v`).join('; ')}`]), status: [0, 400] },
    // PROXY lines: missing, malformed, duplicated, v2 garbage. Never an answer from the app.
    { name: 'no PROXY line at all', payload: () => http('GET', '/whoami'), status: [0, 400] },
    { name: 'malformed PROXY line', payload: () => `PROXY TCP6 not-an-address ::1 x 80${CRLF}` + http('GET', '/whoami'), status: [0, 400] },
    { name: 'truncated PROXY line', payload: () => 'PROXY TCP6 fc00:dead:beef:4dad::1:2', status: [0, 400, 408] },
    { name: 'duplicated PROXY line', payload: () => proxy(7) + proxy(8) + http('GET', '/whoami'), status: [0, 400] },
    { name: 'PROXY v2 signature with garbage', payload: () => '\r\n\r\n\u0000\r\nQUIT\n' + 'x'.repeat(40), status: [0, 400] },
    { name: 'PROXY line longer than allowed', payload: () => `PROXY TCP6 ${'f'.repeat(200)} ::1 1 80${CRLF}` + http('GET', '/whoami'), status: [0, 400] },
    // Circuit headers from outside: haproxy deletes them and sets its own from the PROXY line.
    {
      name: 'forged circuit header',
      payload: () => proxy(0x1234) + http('GET', '/circuit', ['X-Onion-Circuit: fc00:dead:beef:4dad::dead:beef']),
      status: [200],
      check: (r) => assert.equal((JSON.parse(r.body) as { circuit: number }).circuit, 0x1234),
    },
    {
      name: 'forged circuit header, other case, twice',
      payload: () => proxy(0x4321) + http('GET', '/circuit', ['x-onion-circuit: fc00:dead:beef:4dad::1:1', 'X-ONION-CIRCUIT: fc00:dead:beef:4dad::2:2']),
      status: [200],
      check: (r) => assert.deepEqual(JSON.parse(r.body), { circuit: 0x4321, raw: 'fc00:dead:beef:4dad::0:4321'.replace('::0:', '::') }),
    },
    {
      name: 'forged circuit header with PROXY UNKNOWN (no circuit): removed, not passed on',
      payload: () => `PROXY UNKNOWN${CRLF}` + http('GET', '/circuit', ['X-Onion-Circuit: fc00:dead:beef:4dad::dead:beef']),
      status: [200],
      check: (r) => assert.deepEqual(JSON.parse(r.body), { circuit: null, raw: null }),
    },
    // Huge headers and bodies.
    { name: 'one 32 KiB header', payload: () => proxy(9) + http('GET', '/whoami', [`X-Big: ${'b'.repeat(32 * 1024)}`]), status: [0, 400] },
    { name: '500 headers', payload: () => proxy(10) + http('GET', '/whoami', Array.from({ length: 500 }, (_, i) => `X-H${i}: v`)), status: [0, 400] },
    { name: 'header with a bare LF inside', payload: () => proxy(11) + `GET /whoami HTTP/1.1${CRLF}Host: x${CRLF}X-A: a\nX-B: b${CRLF}Connection: close${CRLF}${CRLF}`, status: [200, 400] },
    { name: 'request line of 64 KiB', payload: () => proxy(12) + http('GET', `/${'p'.repeat(64 * 1024)}`), status: [0, 400, 414] },
    { name: 'declared 1 GiB body', payload: () => proxy(13) + http('POST', '/post', ['Content-Length: 1073741824'], 'x'), status: [413], check: (r) => assert.match(r.body, /too large/) },
    { name: 'Content-Length and Transfer-Encoding both (smuggling)', payload: () => proxy(14) + http('POST', '/post', ['Content-Length: 4', 'Transfer-Encoding: chunked'], '0\r\n\r\n'), status: [200, 400, 503] },
    { name: 'two different Content-Lengths', payload: () => proxy(15) + http('POST', '/post', ['Content-Length: 1', 'Content-Length: 2'], 'xx'), status: [0, 400] },
    { name: 'not HTTP at all after PROXY', payload: () => proxy(16) + '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u01fc\u0003\u0003' + CRLF + CRLF, status: [0, 400] },
  ];

  for (const row of rows) {
    test(`HTTP: ${row.name}`, async () => {
      const raw = await rawExchange({ path: s.sock }, row.payload(), 15_000);
      const r = parseResponse(raw);
      assert.ok(row.status.includes(r.status), `${row.name}: got ${r.status || 'a closed connection'}; expected ${row.status.join('|')}\n${raw.slice(0, 300)}`);
      if (r.status) noLeak(r);
      row.check?.(r);
    });
  }

  test('after all of it: no process crashed, the session and the data are intact', async () => {
    assert.deepEqual(s.state().services.map((x) => x.pid), pids, 'same PIDs: nothing restarted');
    for (const pid of pids) assert.ok(isPidAlive(pid));
    assert.equal(s.state().services.reduce((n, x) => n + x.restarts, 0), 0);
    const me = await torExchange(s.sock, { method: 'GET', path: '/me', headers: { Cookie: cookie } });
    assert.equal((JSON.parse(me.body) as { user: string }).user, 'carol');
  });
});

describe('bad input to the library parts', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => redis?.stop());

  test('static mode: path traversal and hostile paths never leave the folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'osc-bi-static-'));
    const site = join(dir, 'site');
    mkdirSync(site);
    writeFileSync(join(site, 'index.html'), 'home');
    writeFileSync(join(dir, 'secret.txt'), 'SECRET');
    const server = createHttpServer((req, res) => void staticHandler(site)(req, res)).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        // Raw path: node's request() must not normalize it.
        const req = request({ host: '127.0.0.1', port, path, method: 'GET' }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const table: [string, number[]][] = [
      ['/../secret.txt', [404]],
      ['/..%2fsecret.txt', [404]],
      ['/%2e%2e/secret.txt', [404]],
      ['/%2e%2e%2fsecret.txt', [404]],
      ['/%252e%252e/secret.txt', [404]],
      ['/..%5csecret.txt', [404]],
      ['/....//secret.txt', [404]],
      ['//etc/passwd', [404]],
      ['/%c0%ae%c0%ae/secret.txt', [400, 404]],
      ['/index.html%00.txt', [404]],
      ['/%00', [404]],
      ['/%', [400]],
      [`/${'a/'.repeat(2000)}`, [404]],
      ['/.env', [404]],
      ['/index.html', [200]],
    ];
    try {
      for (const [path, expected] of table) {
        const r = await get(path);
        assert.ok(expected.includes(r.status), `${path}: ${r.status}`);
        assert.doesNotMatch(r.body, /SECRET|root:/, path);
      }
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad Last-Event-ID: a reset event with a reason, never an error or a crash', async () => {
    const bus = createEventBus({ redis: false, channels: { news: { replay: true } } });
    const server = createHttpServer((req, res) => void bus.handle(req, res)).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    const open = (lastEventId: string, query = 'channels=news') =>
      new Promise<{ status: number; first: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: `/events?${query}`, headers: { 'last-event-id': lastEventId } }, (res) => {
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            buf += c;
            if (buf.includes('osc/reset') || buf.length > 8192 || res.statusCode !== 200) {
              req.destroy();
              resolve({ status: res.statusCode!, first: buf });
            }
          });
          res.on('end', () => resolve({ status: res.statusCode!, first: buf }));
        });
        req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
        req.setTimeout(3000, () => req.destroy());
        req.on('close', () => resolve({ status: 0, first: 'closed without a reset event' }));
        req.end();
      });
    try {
      for (const id of ['garbage', 'x'.repeat(4000), '-1', '0_0-0', '9'.repeat(40), '1_2-3_4', 'ÿÿ', '%0d%0aevent: evil', '__proto__']) {
        const r = await open(id);
        assert.equal(r.status, 200, id);
        assert.match(r.first, /osc\/reset/, `${id.slice(0, 20)}: reset event`);
        assert.doesNotMatch(r.first, /evil/);
      }
      // Hostile channel lists get a 400, not a stream.
      for (const q of ['channels=', 'channels=' + 'a,'.repeat(500), 'channels=news%0d%0a', 'channels=../x', 'channels=*']) {
        assert.ok([400, 403].includes((await open('', q)).status), q);
      }
    } finally {
      bus.destroy();
      server.closeAllConnections();
      server.close();
    }
  });

  test('Redis key injection through user-controlled ids: every id gets its own key, nothing reaches another', async () => {
    const limiter = createRateLimiter({
      rules: [{ name: 'per-user', algorithm: 'fixed-window', limit: 1, window: '1m', by: ['user'] }],
      redis: { options: { url: redis.url } },
      prefix: 'bi:rl:',
    });
    const cache = createCache({ name: 'bi', prefix: 'bi:c:', l2: { options: { url: redis.url } } });
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      assert.equal(await limiter.ready(), true);
      assert.equal(await cache.ready(), true);
      const first = await limiter.check({ user: 'victim' });
      assert.equal(first.allowed, true);
      assert.equal(first.source, 'redis', 'decided in Redis, not the local fallback');
      const hostile = ['victim*', 'victim:', 'victim:route=x', 'victim\r\nFLUSHALL', 'vic\u0000tim', '*', '?', '[a-z]', 'victim{x}', ' victim', 'x'.repeat(10_000), '%76ictim'];
      for (const user of hostile) {
        const d = await limiter.check({ user });
        assert.equal(d.allowed, true, `${JSON.stringify(user.slice(0, 30))} has its own quota`);
        assert.equal(d.source, 'redis');
      }
      assert.equal((await limiter.check({ user: 'victim' })).allowed, false, "the victim's quota was not touched by any of them");
      const keys = await client.keys('bi:rl:*');
      // eslint-disable-next-line no-control-regex -- looking for exactly those bytes
      for (const k of keys) assert.doesNotMatch(k, /[\s*?[\]\u0000]/, `key ${JSON.stringify(k.slice(0, 60))} carries no glob or control characters`);
      assert.equal(keys.length, hostile.length + 1, 'one key per user id, nothing was flushed');
      // Cache keys from users: refused with a code unless hashed.
      for (const key of ['a b', 'a\r\nb', 'a*', '', 'k'.repeat(2000)]) {
        await assert.rejects(cache.set(key, 1), (err: unknown) => isOnionscaleError(err) && err.code === 'OSC_ERR_CACHE_KEY', JSON.stringify(key.slice(0, 20)));
        if (key === '') continue;
        await cache.set(key, 'v', { hashKey: true });
        assert.equal(await cache.get(key, { hashKey: true }), 'v');
      }
    } finally {
      await limiter.close();
      await cache.close();
      await client.close();
    }
  });

  test('broken and hostile config files: a coded error each, all problems at once', () => {
    const table: [string, string, RegExp][] = [
      ['YAML syntax error', 'apps: [\n', /OSC_ERR_CONFIG_YAML/],
      ['unknown key', 'bogus: 1\n', /bogus: unknown key \[OSC_ERR_CONFIG_UNKNOWN_KEY\]/],
      ['newline in a value', 'apps:\n  - name: web\n    command: "node\\napp.js"\n', /OSC_ERR_CONFIG_CONTROL_CHAR/],
      ['CR in an env value', 'apps:\n  - name: web\n    builtin: sample\n    env: { A: "x\\ry" }\n', /OSC_ERR_CONFIG_CONTROL_CHAR/],
      ['haproxy directive smuggled in a header name', 'balancer: { circuitHeader: "X-C\\n    stats enable" }\n', /OSC_ERR_CONFIG/],
      ['port out of range', 'apps:\n  - name: web\n    builtin: sample\n    basePort: 70000\n', /OSC_ERR_CONFIG_VALUE|OSC_ERR_CONFIG_TYPE/],
      ['public listen address', 'onion:\n  services:\n    - name: main\n      listen: "0.0.0.0:8080"\n', /OSC_ERR_CONFIG/],
      ['wrong types', 'apps: 3\nredis: yes\n', /OSC_ERR_CONFIG_TYPE/],
      ['alias bomb (billion laughs)', `a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n`, /alias count[\s\S]*OSC_ERR_CONFIG_YAML/],
      ['__proto__ key', '__proto__: { polluted: 1 }\n', /OSC_ERR_CONFIG/],
      ['binary garbage', '\u0000\u0001\u0002\u00ff\u00fe', /OSC_ERR_CONFIG/],
      ['a list at the top', '- a\n- b\n', /OSC_ERR_CONFIG/],
    ];
    for (const [name, text, expected] of table) {
      let message = '';
      try {
        parseConfig(text, '/tmp/hostile.yaml');
        assert.fail(`${name}: accepted`);
      } catch (err) {
        assert.ok(isOnionscaleError(err), `${name}: a coded error, got ${String(err)}`);
        message = `${err.code} ${err.describe()}`;
      }
      assert.match(message, expected, name);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution');
    // Several problems: all reported together.
    try {
      parseConfig('bogus: 1\nbalancer: { retries: -1, healthInterval: soon }\n', '/tmp/hostile.yaml');
      assert.fail('accepted');
    } catch (err) {
      assert.ok(isOnionscaleError(err));
      const text = err.describe();
      for (const p of ['bogus', 'retries', 'healthInterval']) assert.match(text, new RegExp(p));
    }
  });

  test('ports in use: `up` refuses with OSC_ERR_STACK_PORT_IN_USE and starts nothing', async () => {
    const d = await makeStackDir({ prefix: 'osc-bp-' });
    const squatter = createNetServer().listen(d.basePort, '127.0.0.1');
    await new Promise((r) => squatter.once('listening', r));
    try {
      const r = await runCli(['up', '-c', d.config], 60_000);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /OSC_ERR_STACK_PORT_IN_USE/);
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${d.basePort}`));
      assert.throws(() => readFileSync(join(d.dir, 'state/run/state.json')), /ENOENT/, 'no stack left running');
    } finally {
      squatter.close();
      rmSync(d.dir, { recursive: true, force: true });
    }
  });
});
