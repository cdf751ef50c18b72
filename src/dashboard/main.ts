/**
 * The dashboard process `onionscale up` supervises when the config has `dashboard:`. It listens on 127.0.0.1 only
 * (never on a socket haproxy or tor know about) and answers only requests whose Host is a loopback name, so a web
 * page the operator visits cannot read it by DNS rebinding.
 *
 * Environment: DASHBOARD_PORT, ONIONSCALE_REDIS + ONIONSCALE_REDIS_PASSWORD_FILE, ONIONSCALE_STATE_FILE (the
 * supervisor's run/state.json), DASHBOARD_INTERVAL (ms, default 1000).
 *
 *   GET /           the page (charts as inline SVG; refreshed by a small inline script)
 *   GET /partial    the page's main part (what the script fetches)
 *   GET /api/state  the same figures as JSON
 *   GET /metrics    Prometheus text
 */
import { createServer } from 'node:http';
import { createOwnedClient } from '../core/redis/client.js';
import { redisOptionsFromEnv } from '../core/redis/env.js';
import { Collector } from './collect.js';
import { PAGE_CSP, renderMain, renderPage, renderPrometheus } from './render.js';

const port = Number(process.env.DASHBOARD_PORT ?? 8090);
const interval = Number(process.env.DASHBOARD_INTERVAL ?? 1000);
if (!Number.isInteger(port) || port < 1 || port > 65535 || !(interval >= 100)) {
  console.error('dashboard: DASHBOARD_PORT must be a port and DASHBOARD_INTERVAL at least 100 (ms)');
  process.exit(2);
}

const redisOptions = redisOptionsFromEnv();
const redis = redisOptions ? createOwnedClient(redisOptions) : undefined;
const collector = new Collector({ redis, stateFile: process.env.ONIONSCALE_STATE_FILE });
let ticking = false;
const timer = setInterval(() => {
  if (ticking) return;
  ticking = true;
  void collector.tick().finally(() => (ticking = false));
}, interval);

const HOST_RE = new RegExp(`^(127\\.0\\.0\\.1|localhost|\\[::1\\]):${port}$`, 'i');

const server = createServer((req, res) => {
  const headers = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
  if (req.url === '/healthz') return void res.writeHead(200, { ...headers, 'content-type': 'text/plain' }).end('ok\n');
  if (!HOST_RE.test(req.headers.host ?? '')) return void res.writeHead(421, { ...headers, 'content-type': 'text/plain' }).end('misdirected request\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { ...headers, allow: 'GET, HEAD' }).end();
  const path = (req.url ?? '/').split('?')[0];
  const s = collector.state;
  switch (path) {
    case '/':
      return void res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': PAGE_CSP }).end(renderPage(s));
    case '/partial':
      return void res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(renderMain(s));
    case '/api/state':
      return void res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(s));
    case '/metrics':
      return void res.writeHead(200, { ...headers, 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(renderPrometheus(s));
    default:
      return void res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found\n');
  }
});
server.on('error', (err) => {
  console.error(`dashboard: cannot listen on 127.0.0.1:${port}: ${err.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => console.log(`dashboard on http://127.0.0.1:${port}/`));

const stop = () => {
  clearInterval(timer);
  server.close();
  server.closeAllConnections();
  void (redis?.isOpen ? redis.close() : Promise.resolve()).catch(() => undefined).finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
