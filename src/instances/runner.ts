/**
 * What every built-in instance shares: listen on $HOST:$PORT (127.0.0.1 only), answer the health path, stop
 * gracefully on SIGTERM/SIGINT, never let a handler error crash the process or leak a stack trace to a client.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export function runInstance(handler: Handler, onClose?: () => Promise<void>): Server {
  const host = process.env.HOST ?? '127.0.0.1';
  const port = Number(process.env.PORT ?? 8081);
  const healthPath = process.env.ONIONSCALE_HEALTH_PATH ?? '/healthz';
  const server = createServer((req, res) => {
    if (req.url === healthPath) {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('ok\n');
      return;
    }
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: unknown) => {
        console.error('request failed:', err instanceof Error ? err.message : err);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
  });
  server.headersTimeout = 15_000;
  server.requestTimeout = 60_000;
  server.listen(port, host, () => console.log(`${process.env.ONIONSCALE_INSTANCE ?? 'instance'} listening on ${host}:${port}`));
  server.on('error', (err) => {
    console.error(`cannot listen on ${host}:${port}: ${err.message}`);
    // Exit at once: a process that never listens would only be noticed by the supervisor's ready timeout.
    process.exit(1);
  });
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    server.close(() => void (onClose?.() ?? Promise.resolve()).finally(() => process.exit(0)));
    server.closeIdleConnections();
    // Streams (SSE) would hold close() forever: give them a moment, then go.
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return server;
}
