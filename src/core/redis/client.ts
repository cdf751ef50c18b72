/**
 * Redis clients that onionscale creates for itself (cache, rate limits, sessions, events): no offline queue, so a
 * dead Redis fails commands at once instead of piling them up; fast bounded reconnects; errors always listened to.
 */
import { createClient, type RedisClientOptions, type RedisClientType } from 'redis';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- node-redis clients differ by modules/RESP generics
export type AnyRedisClient = RedisClientType<any, any, any, any, any>;

/**
 * Options for `sendCommand` that switch off node-redis's own per-command timeout (on by default in node-redis 5):
 * it builds an AbortSignal per command, which profiling showed at ~10% of the CPU of a cache hit. Every caller
 * races its commands against a `SharedDeadline` instead (cache/deadline.ts).
 */
export const NO_CLIENT_TIMEOUT = Object.freeze({ timeout: 0 });

/** Fast, bounded reconnects: a local Redis that restarts should be back in well under a second. */
function reconnectStrategy(retries: number): number {
  return Math.min(25 * 2 ** retries, 500) + Math.floor(Math.random() * 25);
}

/** A client onionscale owns: no offline queue (a dead Redis must fail fast), quick reconnects, errors listened to. */
export function createOwnedClient(options: RedisClientOptions): AnyRedisClient {
  const client = createClient({
    ...options,
    disableOfflineQueue: true,
    socket: { reconnectStrategy, connectTimeout: 2000, ...options.socket },
  }) as AnyRedisClient;
  // The store reports failures through the commands themselves; an 'error' event must never be unhandled.
  client.on('error', () => {});
  client.connect().catch(() => {
    // Keeps retrying by itself (reconnectStrategy); callers see failed commands meanwhile.
  });
  return client;
}


/**
 * Resolves once the client is ready, or after `timeoutMs` (whichever is first; never rejects). Lets the first
 * commands after start-up wait for the connection instead of failing at once, without an offline queue.
 */
export function whenReady(client: AnyRedisClient, timeoutMs: number): Promise<void> {
  if (client.isReady || !client.isOpen) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    client.on('ready', done);
  });
}
