import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { staticHandler } from './static-files.js';

function raw(port: number, path: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('static handler serves files safely with content ETags', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'onionscale-static-'));
  const site = join(dir, 'site');
  mkdirSync(join(site, 'sub'), { recursive: true });
  writeFileSync(join(site, 'index.html'), '<h1>home</h1>');
  writeFileSync(join(site, 'sub', 'a.css'), 'body{}');
  writeFileSync(join(site, '.secret'), 'nope');
  writeFileSync(join(dir, 'outside.txt'), 'outside');
  const server = createServer((req, res) => void staticHandler(site)(req, res)).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  try {
    const home = await raw(port, '/');
    assert.equal(home.status, 200);
    assert.equal(home.body, '<h1>home</h1>');
    assert.match(String(home.headers['content-type']), /text\/html/);
    const etag = String(home.headers.etag);
    assert.match(etag, /^"[A-Za-z0-9_-]{27}"$/);
    assert.equal((await raw(port, '/index.html', { 'if-none-match': etag })).status, 304);
    const css = await raw(port, '/sub/a.css');
    assert.equal(css.body, 'body{}');
    assert.match(String(css.headers['content-type']), /text\/css/);
    const head = await raw(port, '/sub/a.css', {}, 'HEAD');
    assert.equal(head.body, '');
    assert.equal(head.headers['content-length'], '6');
    for (const p of ['/../outside.txt', '/%2e%2e/outside.txt', '/.secret', '/sub/../../outside.txt', '/nothing', '/%00']) {
      assert.equal((await raw(port, p)).status, 404, p);
    }
    assert.equal((await raw(port, '/%E0%A4%A')).status, 400);
    assert.equal((await raw(port, '/', {}, 'POST')).status, 405);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
