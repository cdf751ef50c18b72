/**
 * A small app instance for the e2e tests over real onion circuits (test/e2e/circuits.test.ts), run by
 * `onionscale up` as a `command:` app: node:http on $PORT, Redis from the environment onionscale gives it.
 *
 *   GET  /healthz                 200 ok
 *   GET  /whoami                  { instance, circuit }   (circuit: tor's ID from haproxy's circuit header)
 *   GET  /limited                 per-circuit rate limit (3 per 10 min, onionscale's limiter on Redis): 200 or 429
 *   POST /publish?text=…          publish { text } on the replayable channel `feed`; { id }
 *   GET  /events?channels=feed    SSE (the event bus; Last-Event-ID replays what a dropped stream missed)
 *   GET  /page                    an HTML page (~12 KiB) for the measurements
 */
import { createServer, type ServerResponse } from 'node:http';
import { circuitIdOf } from '../../src/core/circuit.js';
import { createEventBus } from '../../src/core/events/index.js';
import { circuitSubject, createRateLimiter } from '../../src/core/ratelimit/index.js';

const header = (process.env.ONIONSCALE_CIRCUIT_HEADER ?? 'X-Onion-Circuit').toLowerCase();
const instance = process.env.ONIONSCALE_INSTANCE ?? 'app';
const bus = createEventBus({ channels: { feed: { replay: true } }, heartbeat: '5s' });
const limiter = createRateLimiter({
  rules: [{ name: 'per-circuit', algorithm: 'fixed-window', limit: 3, window: '10m', by: ['circuit'] }],
  prefix: `osc:e2e:${process.env.E2E_RUN ?? 'x'}:`,
});
const page = `<!doctype html><html><head><title>onion</title></head><body>${'<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\n'.repeat(200)}</body></html>`;

const json = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

const server = createServer((req, res) => {
  void (async () => {
    const url = new URL(req.url ?? '/', 'http://onion');
    const circuit = circuitIdOf(req.headers[header]);
    switch (url.pathname) {
      case '/healthz':
        res.end('ok');
        return;
      case '/whoami':
        return json(res, 200, { instance, circuit: circuit ?? null });
      case '/limited': {
        const d = await limiter.check({ circuit: circuitSubject('tor', req.headers[header]) });
        if (d.missing) return json(res, 400, { error: 'no circuit' });
        return json(res, d.allowed ? 200 : 429, { circuit, allowed: d.allowed, remaining: d.results[0]?.remaining ?? 0, source: d.source });
      }
      case '/publish': {
        if (req.method !== 'POST') return json(res, 405, { error: 'POST only' });
        const id = await bus.publish('feed', { text: url.searchParams.get('text') ?? '' });
        return json(res, 200, { id, instance });
      }
      case '/events':
        res.setHeader('x-circuit-id', String(circuit ?? ''));
        return bus.handle(req, res);
      case '/page': {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(page), 'cache-control': 'public, max-age=60' });
        res.end(page);
        return;
      }
      default:
        return json(res, 404, { error: 'not found' });
    }
  })().catch((err: unknown) => {
    if (!res.headersSent) json(res, 500, { error: String(err) });
    else res.destroy();
  });
});

server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
const stop = () => {
  server.close();
  server.closeAllConnections();
  void Promise.allSettled([bus.close(), limiter.close()]).then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
