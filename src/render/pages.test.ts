import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../config/load.js';
import { ERROR_STATUSES, errorFilePath, renderErrorFile } from './pages.js';

function parse(raw: string) {
  const end = raw.indexOf('\r\n\r\n');
  assert.ok(end > 0, 'head and body are separated by CRLF CRLF');
  const [statusLine, ...headerLines] = raw.slice(0, end).split('\r\n');
  const headers = new Map(headerLines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { statusLine, headers, body: raw.slice(end + 4), head: raw.slice(0, end) };
}

test('error pages: complete HTTP/1.0 responses with the right status, length and headers', () => {
  assert.deepEqual([...ERROR_STATUSES], [400, 403, 408, 429, 500, 502, 503, 504]);
  for (const status of ERROR_STATUSES) {
    const page = parse(renderErrorFile(status));
    assert.match(page.statusLine!, new RegExp(`^HTTP/1\\.0 ${status} [A-Z][A-Za-z ]+$`));
    assert.doesNotMatch(page.head, /(?<!\r)\n/, 'header lines end in CRLF only');
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.equal(page.headers.get('connection'), 'close');
    assert.equal(Number(page.headers.get('content-length')), Buffer.byteLength(page.body));
    assert.ok(page.body.length < 1024, 'small');
    assert.match(page.body, /^<!doctype html>/);
    // No software name, version or host: stock pages are a fingerprint.
    assert.doesNotMatch(renderErrorFile(status), /haproxy|nginx|apache|node|express|fastify|tor\b|onionscale|redis|\d+\.\d+\.\d+|localhost|127\.0\.0\.1|\.onion|<script|src=|href=/i);
    assert.equal(page.headers.has('server'), false);
  }
  assert.equal(parse(renderErrorFile(503)).headers.get('retry-after'), '60');
  assert.equal(parse(renderErrorFile(429)).headers.get('retry-after'), '10');
  assert.equal(parse(renderErrorFile(400)).headers.has('retry-after'), false);
  assert.match(renderErrorFile(503), /This site is temporarily down\. Please try again in a few minutes\./);
  assert.match(renderErrorFile(429), /Too many requests/);
  assert.throws(() => renderErrorFile(404 as 400), { code: 'OSC_ERR_RENDER_UNSAFE_VALUE' });
});

test('errorFilePath: <haproxyErrors>/<status>.http, and it refuses a broken path or status', () => {
  const model = parseConfig('{}', '/srv/site/onionscale.yaml', { stateDir: '/var/lib/onionscale' });
  assert.equal(errorFilePath(model, 503), '/var/lib/onionscale/run/errors/503.http');
  assert.throws(() => errorFilePath(model, Number.NaN), { code: 'OSC_ERR_RENDER_UNSAFE_VALUE' });
  const bad = structuredClone(model);
  (bad.paths as { haproxyErrors: string }).haproxyErrors = '/e\n';
  assert.throws(() => errorFilePath(bad, 503), { code: 'OSC_ERR_RENDER_UNSAFE_VALUE' });
});
