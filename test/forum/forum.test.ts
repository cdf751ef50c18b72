/**
 * The demo forum under `onionscale up` (issue 6), for real: 2 forum instances sharing one SQLite file and Redis,
 * haproxy, tor (network disabled) and the dashboard, started by the built CLI. HTTP-level tests first (headers,
 * CSRF, limits, the cache and its invalidation on every instance), then browsers: Debian's chromium driven by
 * playwright-core, with and without JavaScript, each browser context on a different instance. Screenshots go to
 * test-artifacts/forum/.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { openSse } from '../../src/core/events/sse-client.fixture.js';
import { parseResponse, rawExchange, tcpListeners, torRequest } from '../helpers/stack.js';
import { ARTIFACTS, circuitHeader, Client, dashboardState, settledSnapshot, startForumStack, type ForumStack } from './forum-stack.js';

const CHROMIUM = '/usr/bin/chromium';

/** The little of the DOM the page functions below touch (this project's TypeScript has no DOM lib). */
interface PageGlobals {
  document: {
    body: { dataset: Record<string, string | undefined> };
    querySelector(selector: string): { getAttribute(name: string): string | null } | null;
  };
}

describe('the forum behind onionscale up', () => {
  let stack: ForumStack;
  let A = 0;
  let B = 0;
  const url = (port: number, path = '') => `http://127.0.0.1:${port}${path}`;

  before(async () => {
    stack = await startForumStack({ instances: 2 });
    [A, B] = stack.instancePorts as [number, number];
  });
  after(async () => {
    await stack?.stop();
  });

  test('pages are compressed, carry a strict CSP and reveal no software; errors are generic', async () => {
    const res = await fetch(url(A, '/b/general'), { headers: { 'accept-encoding': 'br' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-encoding'), 'br');
    assert.equal(res.headers.get('x-powered-by'), null);
    assert.equal(res.headers.get('server'), null);
    assert.equal(res.headers.get('server-timing'), null, 'per-request timing goes to the dashboard only');
    assert.equal(res.headers.get('etag'), null);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'none'.*script-src 'sha256-/);
    const html = await res.text();
    assert.match(html, /<style>/);
    assert.doesNotMatch(html, /<link rel="stylesheet"|<script src=|https?:\/\//, 'no external resource');

    const missing = await fetch(url(A, '/no/such/page'));
    assert.equal(missing.status, 404);
    const body = await missing.text();
    assert.doesNotMatch(body, /Cannot GET|Express|node:|at [\w.]+ \(/);

    // A malformed body: a generic 400 page, no stack trace.
    const bad = await fetch(url(A, '/login'), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=%E0%A4%A' });
    assert.ok(bad.status === 400 || bad.status === 403, `status ${bad.status}`);
    assert.doesNotMatch(await bad.text(), /Error:|at [\w.]+ \(|node_modules/);

    const icon = await fetch(url(A, '/favicon.ico'));
    assert.match(icon.headers.get('cache-control') ?? '', /max-age=31536000/);
  });

  test('the onion side: haproxy routes to the forum; the instances expose no metrics endpoint', async () => {
    const page = parseResponse(await rawExchange({ path: stack.socket }, torRequest(0x4242, '/')));
    assert.equal(page.status, 200);
    assert.match(page.body, /onion forum/);
    for (const path of ['/metrics', '/osc/metrics', '/api/state']) {
      const res = parseResponse(await rawExchange({ path: stack.socket }, torRequest(0x4243, path)));
      assert.equal(res.status, 404, path);
      assert.doesNotMatch(res.body, /onionscale_|"instances"/);
    }
    // The dashboard is bound to 127.0.0.1 only and refuses a foreign Host (DNS rebinding).
    const l = tcpListeners().filter((x) => x.port === stack.dashboardPort);
    assert.deepEqual([...new Set(l.map((x) => x.address))], ['127.0.0.1']);
    const rebinding = parseResponse(
      await rawExchange({ port: stack.dashboardPort }, `GET /metrics HTTP/1.1\r\nHost: evil.example:${stack.dashboardPort}\r\nConnection: close\r\n\r\n`),
    );
    assert.equal(rebinding.status, 421);
    assert.doesNotMatch(rebinding.body, /onionscale_/);
  });

  test('every form needs its CSRF token; a token from another session is refused', async () => {
    const c = new Client(A, circuitHeader(0x501));
    const noToken = await c.request('POST', '/login', { name: 'whoever', password: 'whatever123' });
    assert.equal(noToken.status, 403);
    const other = new Client(A, circuitHeader(0x502));
    const page = await other.get('/login');
    const foreign = /name="csrf" value="([^"]+)"/.exec(page.body)![1]!;
    await c.get('/login'); // c has its own nonce cookie now
    const stolen = await c.request('POST', '/login', { csrf: foreign, name: 'whoever', password: 'whatever123' });
    assert.equal(stolen.status, 403);
  });

  test('registration logs in, the session is shared by every instance, logout ends it', async () => {
    const a = new Client(A, circuitHeader(0x601));
    const reg = await a.submit('/register', '/register', { name: 'dora', password: 'correct horse', next: '/' });
    assert.equal(reg.status, 303);
    assert.match((await a.get('/')).body, /Signed in as <b>dora<\/b>/);
    const onB = new Client(B, circuitHeader(0x601));
    for (const [k, v] of a.cookies) onB.cookies.set(k, v);
    assert.match((await onB.get('/')).body, /Signed in as <b>dora<\/b>/);
    const out = await onB.submit('/', '/logout', {});
    assert.equal(out.status, 303);
    assert.doesNotMatch((await onB.get('/')).body, /Signed in/);
    const dup = await new Client(B, circuitHeader(0x602)).submit('/register', '/register', { name: 'DORA', password: 'another one', next: '/' });
    assert.equal(dup.status, 409, 'names are unique, case-insensitively');
  });

  test('failed logins meet the progressive delay (per account and circuit): 429 with Retry-After', async () => {
    const c = new Client(B, circuitHeader(0x701));
    await c.submit('/register', '/register', { name: 'erin', password: 'erin password', next: '/' });
    const thief = new Client(A, circuitHeader(0x702));
    const wrong = () => thief.submit('/login', '/login', { name: 'erin', password: 'wrong guess', next: '/' });
    assert.equal((await wrong()).status, 401);
    // One failure: 1 s to wait. An attempt inside it is refused without checking the password (and counts nothing).
    const early = await wrong();
    const afterFirst = early.status;
    if (afterFirst === 429) await new Promise((r) => setTimeout(r, 1100));
    else assert.equal(afterFirst, 401); // a very slow machine took over a second: that was failure number two
    if (afterFirst === 429) assert.equal((await wrong()).status, 401);
    // Two failures: 4 s to wait, so even the right password is refused now.
    const refused = await thief.submit('/login', '/login', { name: 'erin', password: 'erin password', next: '/' });
    assert.equal(refused.status, 429, 'the next attempt within the delay is refused, even with the right password');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.doesNotMatch(refused.body, /erin|0x702|circuit/i);
  });

  test('the second listing request is a cache hit; posting invalidates it on every instance', async () => {
    const a = new Client(A, circuitHeader(0x801));
    const b = new Client(B, circuitHeader(0x802));
    const snap = async (inst: 'web-1' | 'web-2') => settledSnapshot(stack.dashboardPort, inst, 0);

    const a0 = await snap('web-1');
    const first = await a.get('/b/ops');
    assert.equal(first.status, 200);
    const a1 = await snap('web-1');
    assert.equal(a1.cache.loads - a0.cache.loads, 3, 'cold: board, thread count and thread list loaded from the database');

    const second = await a.get('/b/ops');
    const a2 = await snap('web-1');
    assert.equal(a2.cache.loads, a1.cache.loads, 'second request: no database load');
    assert.equal(a2.cache.l1Hits - a1.cache.l1Hits, 3, 'second request: three L1 hits');
    assert.equal(second.body.replace(/value="[^"]+"/g, ''), first.body.replace(/value="[^"]+"/g, ''));

    const b0 = await snap('web-2');
    await b.get('/b/ops');
    const b1 = await snap('web-2');
    assert.equal(b1.cache.loads, b0.cache.loads, 'the other instance is served from Redis (L2), not the database');
    assert.equal(b1.cache.l2Hits - b0.cache.l2Hits, 3);

    // Reply to the LAST thread of the listing from instance A: it must jump to the top on both instances.
    const threads = [...first.body.matchAll(/href="\/t\/(\d+)"/g)].map((m) => m[1]!);
    const target = threads.at(-1)!;
    assert.notEqual(threads[0], target);
    await a.submit('/register', '/register', { name: 'fred', password: 'fred password', next: '/' });
    const reply = await a.submit(`/t/${target}`, `/t/${target}/reply`, { body: 'bumping this thread' });
    assert.equal(reply.status, 303);

    const b2 = await snap('web-2');
    const afterB = await b.get('/b/ops');
    const b3 = await snap('web-2');
    assert.equal(b3.cache.l1Hits - b2.cache.l1Hits, 0, 'instance B: nothing served from its (invalidated) L1');
    assert.equal(b3.cache.loads - b2.cache.loads, 3, 'instance B: loaded again from the database');
    assert.equal(/href="\/t\/(\d+)"/.exec(afterB.body)?.[1], target, 'instance B shows the bumped thread first');

    const a3 = await snap('web-1');
    const afterA = await a.get('/b/ops');
    const a4 = await snap('web-1');
    assert.equal(a4.cache.l1Hits - a3.cache.l1Hits, 0, 'instance A: its L1 copy was dropped too');
    assert.equal(/href="\/t\/(\d+)"/.exec(afterA.body)?.[1], target, 'instance A shows the bumped thread first');

    // The thread page's post list is a cached fragment: rendered once, then a hit, then re-rendered after a post.
    const f0 = await snap('web-2');
    await b.get(`/t/${target}`);
    await b.get(`/t/${target}`);
    const f1 = await snap('web-2');
    assert.ok(f1.fragments.hits - f0.fragments.hits >= 1, 'the second thread view uses the cached fragment');
  });

  test('live updates replay after a reconnect, on another instance; user channels are private', async () => {
    const poster = new Client(A, circuitHeader(0xb01));
    await poster.submit('/register', '/register', { name: 'gina', password: 'gina password', next: '/' });
    const created = await poster.submit('/b/dev', '/b/dev', { title: 'Replay me', body: 'opening post' });
    const thread = /\/t\/(\d+)/.exec(created.headers.get('location') ?? '')![1]!;

    // A reader on B sees its position, then drops off (a Tor circuit closing).
    const first = await openSse(url(B, `/events?channels=thread:${thread}`));
    assert.equal(first.status, 200);
    await first.until((c) => c.lastId !== undefined, 5000, 'a position');
    const position = first.lastId!;
    first.close();

    // Two posts while the reader is away, on instance A.
    for (const body of ['missed one', 'missed two']) {
      assert.equal((await poster.submit(`/t/${thread}`, `/t/${thread}/reply`, { body })).status, 303);
    }
    // The browser reconnects with Last-Event-ID — to instance A this time — and gets both, in order.
    const again = await openSse(url(A, `/events?channels=thread:${thread}`), { lastEventId: position });
    await again.until((c) => c.events.filter((e) => e.event === `thread:${thread}`).length >= 2, 5000, 'the replay');
    const replayed = again.events.filter((e) => e.event === `thread:${thread}`).map((e) => (JSON.parse(e.data) as { html: string }).html);
    again.close();
    assert.match(replayed[0]!, /missed one/);
    assert.match(replayed[1]!, /missed two/);
    assert.doesNotMatch(replayed.join(''), /<script/i);

    // Someone else's notifications: refused (403), anonymous or signed in.
    const id = /data-user="(\d+)"/.exec((await poster.get('/')).body)![1]!;
    const anon = await openSse(url(B, `/events?channels=user:${id}`));
    assert.equal(anon.status, 403);
    const other = new Client(B, circuitHeader(0xb02));
    await other.submit('/register', '/register', { name: 'hank', password: 'hank password', next: '/' });
    const cookie = [...other.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const snoop = await openSse(url(B, `/events?channels=user:${id}`), { headers: { cookie } });
    assert.equal(snoop.status, 403);
  });

  describe('in a browser (Debian chromium, headless)', () => {
    let browser: Browser;
    const contexts: BrowserContext[] = [];
    const context = async (options: Parameters<Browser['newContext']>[0]) => {
      const c = await browser.newContext(options);
      contexts.push(c);
      return c;
    };
    const shot = (name: string) => join(ARTIFACTS, `${name}.png`);

    before(async () => {
      assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: bash scripts/setup.sh installs Debian's chromium`);
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    });
    after(async () => {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser?.close();
    });

    test('register, log in, post on instance A: it appears live on a reader connected to instance B, with a reply notification', async () => {
      const alice = await (await context({ extraHTTPHeaders: circuitHeader(0x901) })).newPage();
      const bob = await (await context({ extraHTTPHeaders: circuitHeader(0x902) })).newPage();

      await alice.goto(url(A, '/register'));
      await alice.fill('input[name=name]', 'alice');
      await alice.fill('input[name=password]', 'alice password');
      await alice.click('button:has-text("Register")');
      await alice.waitForURL(url(A, '/'));
      assert.match(await alice.textContent('header') ?? '', /Signed in as alice/);

      // Bob registers on B, logs out and in again (the login form), then starts a thread.
      await bob.goto(url(B, '/register'));
      await bob.fill('input[name=name]', 'bob');
      await bob.fill('input[name=password]', 'bob password');
      await bob.click('button:has-text("Register")');
      await bob.waitForURL(url(B, '/'));
      await bob.click('button:has-text("Log out")');
      await bob.waitForURL(url(B, '/'));
      await bob.goto(url(B, '/login'));
      await bob.fill('input[name=name]', 'bob');
      await bob.fill('input[name=password]', 'bob password');
      await bob.click('form.box button');
      await bob.waitForURL(url(B, '/'));
      await bob.goto(url(B, '/b/general'));
      await bob.fill('input[name=title]', 'Live thread');
      await bob.fill('textarea[name=body]', 'first post by bob');
      await bob.click('button:has-text("Create thread")');
      await bob.waitForURL(/\/t\/\d+$/);
      const threadPath = new URL(bob.url()).pathname;
      const bobPostId = (await bob.getAttribute('#posts li', 'id'))!.slice(1);
      // A marker that a reload would wipe: the new post must arrive over SSE, not by reloading.
      await bob.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
      await bob.waitForFunction(() => (globalThis as unknown as PageGlobals).document.body.dataset.channels?.includes('thread:') === true);

      await alice.goto(url(A, `${threadPath}?reply=${bobPostId}`));
      await alice.fill('textarea[name=body]', 'hello from alice on another instance');
      await alice.click('button:has-text("Post reply")');
      await alice.waitForURL(/#p\d+$/);

      await bob.locator('#posts li', { hasText: 'hello from alice on another instance' }).waitFor({ timeout: 15_000 });
      await bob.locator('#live li', { hasText: 'alice replied to you' }).waitFor({ timeout: 15_000 });
      assert.equal(await bob.evaluate(() => (globalThis as unknown as { marker?: number }).marker), 42, 'no reload happened');
      await bob.screenshot({ path: shot('live-update-instance-b'), fullPage: true });
      await alice.screenshot({ path: shot('reply-instance-a'), fullPage: true });
    });

    test('the same flows with JavaScript disabled: server-rendered forms only', async () => {
      const carol = await (await context({ javaScriptEnabled: false, extraHTTPHeaders: circuitHeader(0xa01) })).newPage();
      const reader = await (await context({ javaScriptEnabled: false, extraHTTPHeaders: circuitHeader(0xa02) })).newPage();

      await carol.goto(url(A, '/register'));
      await carol.fill('input[name=name]', 'carol');
      await carol.fill('input[name=password]', 'carol password');
      await carol.click('button:has-text("Register")');
      await carol.waitForURL(url(A, '/'));
      await carol.click('a:has-text("Privacy")');
      await carol.fill('input[name=title]', 'No script here');
      await carol.fill('textarea[name=body]', 'posted without javascript');
      await carol.click('button:has-text("Create thread")');
      await carol.waitForURL(/\/t\/\d+$/);
      const threadPath = new URL(carol.url()).pathname;
      await carol.fill('textarea[name=body]', 'and a reply, also without javascript');
      await carol.click('button:has-text("Post reply")');
      await carol.waitForURL(/#p\d+$/);
      assert.equal(await carol.locator('#posts li').count(), 2);

      await reader.goto(url(B, threadPath));
      assert.equal(await reader.locator('#posts li').count(), 2, 'the other instance serves the new posts');
      assert.match((await reader.textContent('#posts')) ?? '', /and a reply, also without javascript/);
      await reader.screenshot({ path: shot('no-js-reader-instance-b'), fullPage: true });

      await carol.click('button:has-text("Log out")');
      await carol.waitForURL(url(A, '/'));
      assert.doesNotMatch((await carol.textContent('header')) ?? '', /Signed in/);
      // Log in again on the other instance: one session store for all of them.
      await carol.goto(url(B, '/login'));
      await carol.fill('input[name=name]', 'carol');
      await carol.fill('input[name=password]', 'carol password');
      await carol.click('form.box button');
      await carol.waitForURL(url(B, '/'));
      assert.match((await carol.textContent('header')) ?? '', /Signed in as carol/);
      await carol.screenshot({ path: shot('no-js-logged-in-instance-b'), fullPage: true });
    });

    test('the dashboard renders its charts and keeps them live', async () => {
      const page = await (await context({})).newPage();
      await page.goto(url(stack.dashboardPort, '/'));
      for (const id of ['chart-rps', 'chart-latency', 'chart-cache', 'chart-sse', 'chart-redis']) {
        assert.equal(await page.locator(`#${id} svg`).count(), 1, id);
      }
      const points = () => page.getAttribute('#chart-rps polyline', 'points');
      await page.waitForFunction(
        () => ((globalThis as unknown as PageGlobals).document.querySelector('#chart-rps polyline')?.getAttribute('points') ?? '').split(' ').length > 3,
      );
      const before = (await points()) ?? '';
      // Live: the inline script swaps in fresh charts without a reload.
      await page.waitForFunction(
        (b) => (globalThis as unknown as PageGlobals).document.querySelector('#chart-rps polyline')?.getAttribute('points') !== b,
        before,
        { timeout: 10_000 },
      );
      const rows = await page.locator('table').filter({ hasText: 'instance' }).first().locator('tr').count();
      assert.ok(rows >= 3, 'one row per instance');
      assert.match((await page.textContent('body')) ?? '', /web-1[\s\S]*web-2/);
      // Time per route, with its phases: a few thread views show up in the routes table within a refresh or two.
      for (let i = 0; i < 3; i++) await fetch(url(A, '/t/1'));
      await page.locator('#routes tr', { hasText: 'GET /t/:id' }).waitFor({ timeout: 10_000 });
      await page.screenshot({ path: shot('dashboard'), fullPage: true });

      const state = await dashboardState(stack.dashboardPort);
      assert.deepEqual(
        state.services.map((s) => [s.name, s.state]),
        ['redis', 'web-1', 'web-2', 'haproxy', 'tor', 'dashboard'].map((n) => [n, 'ready']),
      );
      const prom = await (await fetch(url(stack.dashboardPort, '/metrics'))).text();
      for (const name of [
        'onionscale_http_requests_total{instance="web-1",class="2xx"}',
        'onionscale_http_request_duration_ms_bucket{instance="web-2",le="+Inf"}',
        'onionscale_cache_hits_total{instance="web-1",tier="l1"}',
        'onionscale_limiter_blocks_total{instance="web-1"}',
        'onionscale_sse_streams{instance="web-2"}',
        'onionscale_request_phase_ms_total{instance="web-1",phase="db"}',
        'onionscale_redis_used_memory_bytes',
        'onionscale_redis_evicted_keys_total',
        'onionscale_service_up{service="haproxy",kind="haproxy",state="ready"} 1',
      ]) {
        assert.ok(prom.includes(name), `/metrics has ${name}`);
      }
      assert.match(prom, /onionscale_limiter_blocks_total\{instance="web-1"\} [1-9]/, 'the refused login above is counted');
    });
  });
});
