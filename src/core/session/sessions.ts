/**
 * `createSessions(options)`: the framework-neutral session manager the Express middleware, the Fastify plugin and
 * the request pipeline share. `open()` reads the cookie and loads the session (one Redis call); `finish()` decides
 * the Set-Cookie header and flushes the changed fields (one Redis call, only when something changed).
 *
 * Bad cookies — forged, garbled, oversized, signed with an unknown secret — simply mean "no session": the visitor
 * gets a fresh anonymous one, never an error. A Redis that cannot be reached gives a `degraded` session: empty,
 * writes dropped, and the cookie left alone, so nobody is logged out by an outage.
 */
import { channel } from 'node:diagnostics_channel';
import type { IncomingHttpHeaders } from 'node:http';
import { parse as parseCookie, serialize as serializeCookie } from 'cookie';
import { LRUCache } from 'lru-cache';
import { OnionscaleError } from '../../errors.js';
import { durationMs } from '../../units.js';
import { createOwnedClient } from '../redis/client.js';
import { redisOptionsFromEnv } from '../redis/env.js';
import { Session, type SessionHost } from './session.js';
import { signId, storageKey, verifySigned, type Verified } from './signing.js';
import { MemorySessionStore, RedisSessionStore, type SessionStore } from './store.js';
import type { SessionOptions } from './types.js';

export const SESSION_CHANNEL = 'onionscale:session';
const diagnostics = channel(SESSION_CHANNEL);

export type SessionEvent =
  | { type: 'load'; result: 'found' | 'none' | 'error'; cookie: 'none' | 'valid' | 'invalid' }
  | { type: 'save'; result: 'stored' | 'gone' | 'error' }
  | { type: 'cookie'; action: 'issue' | 'clear' };

function emit(event: SessionEvent): void {
  if (diagnostics.hasSubscribers) diagnostics.publish(event);
}

export interface ResolvedSessionOptions {
  secrets: readonly string[];
  prefix: string;
  idleMs: number;
  absoluteMs: number;
  cookieName: string;
  secure: boolean | 'auto';
  sameSite: 'lax' | 'strict';
  path: string;
  persistent: boolean;
  userField: string;
  maxFieldBytes: number;
  commandTimeout: number;
}

// eslint-disable-next-line no-control-regex -- a cookie path must not smuggle control characters into the header
const UNSAFE_PATH_RE = /[;\s\x00-\x1f\x7f]/;
const COOKIE_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

export function resolveSessionOptions(options: SessionOptions): ResolvedSessionOptions {
  const problems: string[] = [];
  const secrets = Array.isArray(options?.secrets) ? options.secrets : [];
  if (secrets.length === 0) problems.push('secrets: give at least one secret (e.g. `openssl rand -base64 48`)');
  secrets.forEach((s, i) => {
    if (typeof s !== 'string' || s.length < 32) problems.push(`secrets[${i}]: must be a string of at least 32 characters`);
  });
  const dur = (path: string, value: unknown, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    const ms = durationMs(value, min);
    if (ms === undefined) problems.push(`${path}: must be milliseconds >= ${min} or a duration such as '1h'`);
    return ms ?? fallback;
  };
  const idleMs = dur('ttl', options.ttl, 3_600_000, 1000);
  const absoluteMs = dur('absoluteTtl', options.absoluteTtl, 86_400_000, 0);
  const cookie = options.cookie ?? {};
  const cookieName = cookie.name ?? 'osc_sid';
  if (!COOKIE_NAME_RE.test(cookieName)) problems.push('cookie.name: 1–64 token characters (letters, digits, ! # $ % & \' * + - . ^ _ ` | ~)');
  const path = cookie.path ?? '/';
  if (typeof path !== 'string' || !path.startsWith('/') || UNSAFE_PATH_RE.test(path)) problems.push('cookie.path: must start with "/" and contain no ";", spaces or control characters');
  if (cookie.secure !== undefined && cookie.secure !== 'auto' && typeof cookie.secure !== 'boolean') problems.push("cookie.secure: true, false or 'auto'");
  if (cookie.sameSite !== undefined && cookie.sameSite !== 'lax' && cookie.sameSite !== 'strict') problems.push("cookie.sameSite: 'lax' or 'strict'");
  const prefix = options.prefix ?? 'osc:sess:';
  if (typeof prefix !== 'string' || /[\s*?[\]]/.test(prefix)) problems.push('prefix: a string without whitespace or glob characters');
  const userField = options.userField ?? 'userId';
  if (typeof userField !== 'string' || userField === '' || userField.startsWith('~')) problems.push('userField: a non-empty field name not starting with "~"');
  const maxFieldBytes = options.maxFieldBytes ?? 64 * 1024;
  if (!Number.isInteger(maxFieldBytes) || maxFieldBytes < 16) problems.push('maxFieldBytes: an integer >= 16');
  const commandTimeout = dur('commandTimeout', options.commandTimeout, 500, 0);
  if (problems.length > 0) {
    throw new OnionscaleError('OSC_ERR_SESSION_OPTIONS', `invalid session options:\n  ${problems.join('\n  ')}`);
  }
  return {
    secrets,
    prefix,
    idleMs,
    absoluteMs,
    cookieName,
    secure: cookie.secure ?? 'auto',
    sameSite: cookie.sameSite ?? 'lax',
    path,
    persistent: cookie.persistent ?? false,
    userField,
    maxFieldBytes,
    commandTimeout,
  };
}

function storeFor(options: SessionOptions, commandTimeout: number): SessionStore {
  const r = options.redis === undefined ? envRedis() : options.redis;
  if (r === false) return new MemorySessionStore(options.now ? { now: options.now } : {});
  if ('store' in r) return r.store;
  const owned = 'options' in r;
  const client = owned ? createOwnedClient(r.options) : r.client;
  if (!owned && !client.isOpen) client.connect().catch(() => {});
  return new RedisSessionStore({ client, ownsClient: owned, commandTimeout, ...(options.now ? { now: options.now } : {}) });
}

function envRedis(): NonNullable<SessionOptions['redis']> | false {
  const options = redisOptionsFromEnv();
  return options === undefined ? false : { options };
}

/** What the transport tells us about a request. */
export interface RequestInfo {
  headers: IncomingHttpHeaders;
  /** The connection is TLS (for `secure: 'auto'`). */
  encrypted?: boolean;
}

/**
 * Verified cookie values and storage keys of recently seen sessions. An HMAC check and a SHA-256 cost ~10 µs per
 * request — more than the rest of the session work — and a browser sends the same cookie on every request. Only
 * values that verified are kept (a forged cookie cannot fill the cache; it is checked every time), bounded by count.
 */
const RECENT = 10_000;

export class Sessions implements SessionHost {
  readonly options: ResolvedSessionOptions;
  readonly store: SessionStore;
  readonly #verified = new LRUCache<string, Verified>({ max: RECENT });
  readonly #keys = new LRUCache<string, string>({ max: RECENT });

  constructor(options: SessionOptions) {
    this.options = resolveSessionOptions(options);
    this.store = storeFor(options, this.options.commandTimeout);
  }

  get userField(): string {
    return this.options.userField;
  }

  get maxFieldBytes(): number {
    return this.options.maxFieldBytes;
  }

  keyOf(id: string): string {
    let key = this.#keys.get(id);
    if (key === undefined) this.#keys.set(id, (key = storageKey(this.options.prefix, id)));
    return key;
  }

  /** The verified id in a request's cookie header, if any. Pure and synchronous (no Redis). */
  readCookie(headers: IncomingHttpHeaders): Verified | undefined | 'invalid' {
    const header = headers.cookie;
    // Our cookie is 88 bytes; a cookie header beyond 8 KB is not worth parsing (haproxy limits headers anyway).
    if (typeof header !== 'string' || header.length > 8192 || !header.includes(this.options.cookieName)) return undefined;
    let value: string | undefined;
    try {
      value = parseCookie(header)[this.options.cookieName];
    } catch {
      return 'invalid';
    }
    if (value === undefined) return undefined;
    const known = this.#verified.get(value);
    if (known !== undefined) return known;
    const verified = verifySigned(value, this.options.secrets);
    if (verified === undefined) return 'invalid';
    this.#verified.set(value, Object.freeze(verified));
    return verified;
  }

  /** A Session from what was loaded (`'error'`: the store failed). Used by `open()` and the request pipeline. */
  fromLoad(cookie: Verified | undefined | 'invalid', fields: Map<string, string> | undefined | 'error'): Session {
    const verified = cookie === 'invalid' ? undefined : cookie;
    emit({
      type: 'load',
      result: fields === 'error' ? 'error' : fields ? 'found' : 'none',
      cookie: cookie === undefined ? 'none' : cookie === 'invalid' ? 'invalid' : 'valid',
    });
    if (fields === 'error') {
      return verified ? new Session(this, verified.id, undefined, 'degraded') : new Session(this, undefined, undefined, 'degraded');
    }
    const session = new Session(this, fields ? verified?.id : undefined, fields);
    if (fields && verified?.stale) session.markCookieStale();
    return session;
  }

  /**
   * A session for a request refused before anything was loaded (rate limited): empty, writes dropped, the cookie
   * left alone — like a degraded one, but nothing failed, so nothing is reported.
   */
  unloaded(cookie: Verified | undefined | 'invalid'): Session {
    const id = cookie === undefined || cookie === 'invalid' ? undefined : cookie.id;
    return new Session(this, id, undefined, 'degraded');
  }

  async open(request: RequestInfo): Promise<Session> {
    const cookie = this.readCookie(request.headers);
    if (cookie === undefined || cookie === 'invalid') return this.fromLoad(cookie, undefined);
    let fields: Map<string, string> | undefined | 'error';
    try {
      fields = await this.store.load(this.keyOf(cookie.id), this.options.idleMs, this.options.absoluteMs);
    } catch {
      fields = 'error';
    }
    return this.fromLoad(cookie, fields);
  }

  /**
   * The Set-Cookie value this response needs, or `undefined`. Call once, before headers are sent; then `save()`.
   */
  cookieHeader(session: Session, request: RequestInfo): string | undefined {
    const action = session.cookieAction();
    if (!action) return undefined;
    session.cookieIssued();
    emit({ type: 'cookie', action });
    const o = this.options;
    const secure = o.secure === 'auto' ? request.encrypted === true : o.secure;
    const common = { httpOnly: true, secure, sameSite: o.sameSite, path: o.path } as const;
    if (action === 'clear') return serializeCookie(o.cookieName, '', { ...common, maxAge: 0 });
    const maxAge = o.persistent ? Math.floor((o.absoluteMs || o.idleMs) / 1000) : undefined;
    return serializeCookie(o.cookieName, signId(session.id, o.secrets[0]!), maxAge === undefined ? common : { ...common, maxAge });
  }

  /** Flush the session's changed fields. Never throws: a failed save is reported on the diagnostics channel. */
  async save(session: Session): Promise<void> {
    const pending = session.pending();
    if (!pending) return;
    try {
      const stored = await this.store.write({
        key: this.keyOf(session.id),
        create: pending.create,
        set: pending.set,
        del: pending.del,
        idleMs: this.options.idleMs,
        ...(pending.replaces ? { replaces: pending.replaces } : {}),
      });
      session.committed(stored);
      emit({ type: 'save', result: stored ? 'stored' : 'gone' });
    } catch {
      emit({ type: 'save', result: 'error' });
    }
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

export function createSessions(options: SessionOptions): Sessions {
  return new Sessions(options);
}
