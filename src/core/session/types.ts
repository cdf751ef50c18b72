import type { RedisClientOptions } from 'redis';
import type { Duration } from '../../units.js';
import type { AnyRedisClient } from '../redis/client.js';
import type { SessionStore } from './store.js';

export interface SessionCookieOptions {
  /** Default `'osc_sid'`. */
  name?: string;
  /**
   * `Secure` flag. `'auto'` (default): on when the request came over TLS. Tor Browser treats http onions as secure
   * contexts, so `true` works on an http onion too — but other browsers reaching the same app over plain http on
   * loopback would then drop the cookie.
   */
  secure?: boolean | 'auto';
  /** Default `'lax'`: links from other sites keep the session; cross-site POSTs do not carry it. */
  sameSite?: 'lax' | 'strict';
  /** Default `'/'`. */
  path?: string;
  /**
   * `false` (default): a browser-session cookie (gone when Tor Browser closes). `true`: Max-Age = `absoluteTtl`
   * (or `ttl` without one); idle expiry is enforced on the server either way.
   */
  persistent?: boolean;
}

export interface SessionOptions {
  /** HMAC secrets, ≥ 32 characters each: the first signs, all verify (rotation: put the new one first). */
  secrets: readonly string[];
  /**
   * Where sessions live. Omitted: `redisOptionsFromEnv()` (an instance started by onionscale), else memory.
   * `false` or `{ store }`: memory / your own store.
   */
  redis?: { client: AnyRedisClient } | { options: RedisClientOptions } | { store: SessionStore } | false;
  /** Default `'osc:sess:'`. */
  prefix?: string;
  /** Idle timeout, pushed forward by every request that reads the session. Default `'1h'`. */
  ttl?: Duration;
  /** Hard cap from creation, however active the session is. Default `'24h'`; `0` for none. */
  absoluteTtl?: Duration;
  cookie?: SessionCookieOptions;
  /** The field holding the logged-in user's id (per-user rate limits, the events authorize hook). Default `'userId'`. */
  userField?: string;
  /** Largest serialized field value. Default 64 KiB. */
  maxFieldBytes?: number;
  /** Per Redis command. Default 500 ms. */
  commandTimeout?: Duration;
  /** Injected clock for tests (ms). Default: Redis TIME, so every instance agrees. */
  now?: () => number;
}
