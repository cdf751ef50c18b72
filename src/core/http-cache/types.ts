/**
 * The narrow contracts of the HTTP response cache. The core never imports a framework or the two-tier cache
 * (`src/core/cache/`): adapters hand it a `CacheRequest`, a backend stores what it returns (STYLE.md §1, §3).
 */

/**
 * Where cached responses and fragments live. The two-tier cache satisfies it; `createMemoryBackend()` is the
 * single-process implementation.
 *
 * Contract (the adapter contract suite and the memory backend tests rely on it):
 * - `get` resolves `undefined` for a missing or expired key; it should resolve, not reject, when the store is down
 *   (the response cache treats a rejection as a miss anyway, so a failing store never fails a request).
 * - `set` stores a JSON-serializable value (plain objects, arrays, strings, numbers, booleans, null) for `ttl`
 *   milliseconds and associates it with every tag in `tags`.
 * - `deleteByTag` removes every live key associated with the tag, in every process sharing the store.
 */
export interface ResponseCacheBackend {
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown, options: { ttl: number; tags?: string[] }): Promise<void>;
  deleteByTag(tag: string): Promise<void>;
}

/** A header map as node:http and both frameworks expose it (names lower-cased). */
export type IncomingHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** What the core needs to know about a request; both frameworks' request objects translate into it trivially. */
export interface CacheRequest {
  method: string;
  /** Origin-form request target: raw path plus raw query (`/a/b?x=1`). */
  url: string;
  headers: IncomingHeaders;
}

/** Header values as node:http's `getHeaders()` returns them. */
export type OutgoingHeaderValue = string | number | readonly string[];
export type OutgoingHeaders = Readonly<Record<string, OutgoingHeaderValue | undefined>>;

/** The response the app produced on a miss, fully buffered. */
export interface CapturedResponse {
  status: number;
  headers: OutgoingHeaders;
  body: Buffer;
}

/** What an adapter writes to the client: status, complete header set, body (`null`: none, 304/204). For HEAD the
 * body is present; node:http drops it on the wire. */
export interface ServedResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer | null;
}

/** A per-request value: fixed, or computed from the request (per-route ttl and tags). */
export type PerRequest<T> = T | ((req: CacheRequest) => T | undefined);

export type Encoding = 'br' | 'gzip';

export interface CompressionOptions {
  /** Codings stored next to each other, in the server's order of preference. Default `['br', 'gzip']`. */
  encodings?: readonly Encoding[];
  /** Bodies smaller than this are stored uncompressed. Bytes or `'1kb'`. Default 1024. */
  threshold?: number | string;
  /** Brotli quality 0..11. Default 5: each body is compressed once per TTL, but the first client waits for it. */
  brotliQuality?: number;
  /** gzip level 1..9. Default 6. */
  gzipLevel?: number;
  /** Which content types are worth compressing. Default: text, JSON, JavaScript, XML, SVG, `+json`, `+xml`. */
  compressible?: (contentType: string) => boolean;
}

export interface ResponseCacheOptions {
  backend: ResponseCacheBackend;
  /** Milliseconds or a duration string (`'30s'`); per request if a function. Default `'60s'`. */
  ttl?: PerRequest<number | string>;
  /** Tags for `invalidateTag`; per request if a function. */
  tags?: PerRequest<readonly string[]>;
  /** Request headers whose values become part of the key (and of the response's `Vary`). */
  vary?: readonly string[];
  /**
   * Put the Host header in the key. Default true: an app that builds absolute URLs from Host would otherwise let
   * one request with a forged Host poison the page for everyone (web cache poisoning through an unkeyed input).
   */
  keyHost?: boolean;
  /** Which query parameters are part of the key: all (default), none, or only the listed names. */
  query?: 'all' | 'none' | readonly string[];
  /** Statuses worth storing. Default 200, 203, 204, 301, 404, 410. */
  statuses?: readonly number[];
  /** Cookie names that mark a logged-in request. Default `sid`, `connect.sid`, `sessionId`. */
  sessionCookies?: readonly string[];
  /** Cache requests that carry a session cookie or `Authorization` (the page must not depend on who asks). */
  cacheSessions?: boolean;
  /** Larger bodies are passed through uncached. Bytes or `'1mb'`. Default 1 MiB. */
  maxBodySize?: number | string;
  /** Longer request targets are never cached. Default 2048. */
  maxUrlLength?: number;
  /** Compression of stored bodies, or `false` to store them as the app sent them. */
  compression?: CompressionOptions | false;
  /** Response header carrying `HIT`, `MISS` or `BYPASS`, or `false` for none. Default `'x-cache'`. */
  statusHeader?: string | false;
  /** Send `Age` (seconds since the entry was stored) on hits. Default true. */
  age?: boolean;
  /** Prefix of backend keys. Default `'http:'`. */
  keyPrefix?: string;
  /** Extra request filter: return false to leave this request alone. */
  shouldCache?: (req: CacheRequest) => boolean;
  /**
   * While one request fills an entry, identical requests in this process wait for it up to this many milliseconds
   * instead of all running the handler (stampede protection). `0` turns it off. Default 5000.
   */
  coalesceTimeout?: number;
  /**
   * Bytes of decompressed bodies kept in this process for clients that accept no stored coding, so they do not
   * cost a decompression per hit. `0` turns it off. Default `'8mb'`.
   */
  identityCacheSize?: number | string;
  /** Name in diagnostics events, to tell several caches apart. Default `'http'`. */
  name?: string;
}

/** Why a request or response was left alone; also the `reason` of `bypass` diagnostics events. */
export type BypassReason =
  | 'method'
  | 'url-too-long'
  | 'session'
  | 'authorization'
  | 'filtered'
  | 'ttl'
  | 'tags'
  | 'head-miss'
  | 'status'
  | 'set-cookie'
  | 'cache-control'
  | 'content-encoding'
  | 'vary'
  | 'streaming'
  | 'too-large'
  /** Storing failed unexpectedly (reported on the diagnostics channel); the response went out unstored. */
  | 'error';
