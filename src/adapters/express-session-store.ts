/**
 * `onionscale/express-session-store`: a drop-in store for express-session users who are not ready to switch to
 * onionscale's own session middleware. Same Redis, same owned-client behaviour; express-session's semantics (the
 * whole session as one JSON value, last write wins) — use `session()` from `onionscale/express` for per-field writes.
 *
 *   import session from 'express-session';
 *   import { expressSessionStore } from 'onionscale/express-session-store';
 *   app.use(session({ store: expressSessionStore(session, { redis: { client } }), secret, resave: false, … }));
 *
 * express-session is passed in rather than imported, so onionscale does not depend on it.
 */
import type { RedisClientOptions } from 'redis';
import { createOwnedClient, whenReady, type AnyRedisClient } from '../core/redis/client.js';

type Callback<T = unknown> = (err?: unknown, value?: T) => void;
interface SessionData {
  cookie?: { maxAge?: number | null; expires?: Date | string | null };
  [key: string]: unknown;
}
/** The part of express-session's Store class this store needs (an EventEmitter subclass). */
type StoreClass = new () => object;

export interface ExpressSessionStoreOptions {
  redis: { client: AnyRedisClient } | { options: RedisClientOptions };
  /** Default `'osc:xsess:'`. */
  prefix?: string;
  /** Seconds, when the session cookie has no maxAge. Default 86 400. */
  ttlSeconds?: number;
}

export function expressSessionStore(session: { Store: StoreClass }, options: ExpressSessionStoreOptions): object {
  const prefix = options.prefix ?? 'osc:xsess:';
  const ttlSeconds = options.ttlSeconds ?? 86_400;
  const client = 'client' in options.redis ? options.redis.client : createOwnedClient(options.redis.options);

  const ttlMs = (sess: SessionData): number => {
    const maxAge = sess.cookie?.maxAge;
    return typeof maxAge === 'number' && maxAge > 0 ? maxAge : ttlSeconds * 1000;
  };
  const run = <T>(cb: Callback<T> | undefined, work: () => Promise<T>): void => {
    whenReady(client, 2000)
      .then(work)
      .then((v) => cb?.(null, v), (err: unknown) => cb?.(err));
  };
  async function keys(): Promise<string[]> {
    const out: string[] = [];
    for await (const batch of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) out.push(...(batch as string[]));
    return out;
  }

  class OnionscaleExpressSessionStore extends session.Store {
    get(sid: string, cb: Callback<SessionData | null>): void {
      run(cb, async () => {
        const raw = await client.get(prefix + sid);
        if (typeof raw !== 'string') return null;
        try {
          return JSON.parse(raw) as SessionData;
        } catch {
          return null; // garbage in Redis is "no session", never a crash
        }
      });
    }
    set(sid: string, sess: SessionData, cb?: Callback): void {
      run(cb, () => client.set(prefix + sid, JSON.stringify(sess), { PX: ttlMs(sess) }));
    }
    touch(sid: string, sess: SessionData, cb?: Callback): void {
      run(cb, () => client.pExpire(prefix + sid, ttlMs(sess)));
    }
    destroy(sid: string, cb?: Callback): void {
      run(cb, () => client.del(prefix + sid));
    }
    clear(cb?: Callback): void {
      run(cb, async () => {
        const all = await keys();
        for (let i = 0; i < all.length; i += 500) await client.del(all.slice(i, i + 500));
      });
    }
    length(cb: Callback<number>): void {
      run(cb, async () => (await keys()).length);
    }
    ids(cb: Callback<string[]>): void {
      run(cb, async () => (await keys()).map((k) => k.slice(prefix.length)));
    }
    all(cb: Callback<Record<string, SessionData>>): void {
      run(cb, async () => {
        const out: Record<string, SessionData> = {};
        for (const k of await keys()) {
          const raw = await client.get(k);
          if (typeof raw === 'string') {
            try {
              out[k.slice(prefix.length)] = JSON.parse(raw) as SessionData;
            } catch {
              // skipped, as in get()
            }
          }
        }
        return out;
      });
    }
  }
  return new OnionscaleExpressSessionStore();
}
