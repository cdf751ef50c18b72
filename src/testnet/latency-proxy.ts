/**
 * A delaying TCP proxy: every chunk is forwarded `delayMs` after it arrived, in both directions, in order. This
 * kernel has no netem, so latency emulation sits in front of each relay's real ORPort: the relay advertises the
 * proxy's port (`ORPort P NoListen`) and listens on its real one (`ORPort R NoAdvertise`), and every tor connecting
 * to it — other relays, the client, the onion service — crosses one proxy per link. A round trip over one link gains
 * 2 × delayMs; an onion round trip (6 links: client → guard → middle → rendezvous ← middle ← guard ← service)
 * gains 12 × delayMs.
 *
 * A constant delay keeps order for free: timers of equal duration fire in the order they were set. Backpressure:
 * when more than `maxQueuedBytes` wait in one direction the source is paused until the destination drains.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface ProxyRoute {
  /** Port the proxy listens on (127.0.0.1). */
  listen: number;
  /** Port it forwards to (127.0.0.1). */
  target: number;
}

export interface LatencyProxyOptions {
  routes: ProxyRoute[];
  /** One-way delay per direction in ms. */
  delayMs: number;
  maxQueuedBytes?: number;
}

export interface LatencyProxy {
  readonly delayMs: number;
  /** Connections accepted so far, all routes. */
  readonly accepted: number;
  close(): Promise<void>;
}

function pipeDelayed(from: Socket, to: Socket, delayMs: number, maxQueued: number): void {
  let queued = 0;
  from.on('data', (chunk: Buffer) => {
    queued += chunk.length;
    if (queued > maxQueued) from.pause();
    setTimeout(() => {
      queued -= chunk.length;
      if (to.destroyed) return;
      const ok = to.write(chunk);
      if (!ok) to.once('drain', () => from.resume());
      else if (queued <= maxQueued && from.isPaused()) from.resume();
    }, delayMs);
  });
  from.on('end', () => setTimeout(() => to.end(), delayMs));
}

export async function startLatencyProxy(o: LatencyProxyOptions): Promise<LatencyProxy> {
  const delayMs = Math.max(0, Math.floor(o.delayMs));
  const maxQueued = o.maxQueuedBytes ?? 4 * 1024 * 1024;
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  let accepted = 0;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  try {
    for (const route of o.routes) {
      const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (inbound) => {
        accepted++;
        track(inbound);
        // Half-open on both sides: a FIN travels (delayed) like data, the other direction keeps flowing.
        const outbound = connect({ port: route.target, host: '127.0.0.1', allowHalfOpen: true });
        track(outbound);
        const kill = () => {
          inbound.destroy();
          outbound.destroy();
        };
        inbound.on('error', kill);
        outbound.on('error', kill);
        inbound.on('close', () => setTimeout(() => outbound.destroy(), delayMs));
        outbound.on('close', () => setTimeout(() => inbound.destroy(), delayMs));
        outbound.on('connect', () => {
          inbound.setNoDelay(true);
          outbound.setNoDelay(true);
          pipeDelayed(inbound, outbound, delayMs, maxQueued);
          pipeDelayed(outbound, inbound, delayMs, maxQueued);
          inbound.resume();
        });
      });
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(route.listen, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
  } catch (err) {
    for (const s of servers) s.close();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    delayMs,
    get accepted() {
      return accepted;
    },
    close: () =>
      (closing ??= (async () => {
        const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
        for (const s of sockets) s.destroy();
        await Promise.all(closed);
      })()),
  };
}
