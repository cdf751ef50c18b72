/**
 * Options are validated once, every problem reported together, then frozen (STYLE.md: the fastify habit).
 * Shapes that accept several forms (`ttl: number | '30s' | fn`) are normalized into one function here so the hot
 * path never branches on them.
 */
import { OnionscaleError } from '../../errors.js';
import { durationMs, parseSize } from '../../units.js';
import type { CacheRequest, Encoding, ResponseCacheBackend, ResponseCacheOptions } from './types.js';

export interface NormalizedOptions {
  backend: ResponseCacheBackend;
  /** Milliseconds, `undefined` when the per-request function gave nothing usable. */
  ttl: (req: CacheRequest) => number | undefined;
  tags: (req: CacheRequest) => readonly string[] | undefined;
  vary: readonly string[];
  keyHost: boolean;
  query: 'all' | 'none' | ReadonlySet<string>;
  statuses: ReadonlySet<number>;
  sessionCookies: ReadonlySet<string>;
  cacheSessions: boolean;
  maxBodySize: number;
  maxUrlLength: number;
  compression: {
    encodings: readonly Encoding[];
    threshold: number;
    brotliQuality: number;
    gzipLevel: number;
    compressible: (contentType: string) => boolean;
  } | null;
  statusHeader: string | null;
  age: boolean;
  keyPrefix: string;
  shouldCache: ((req: CacheRequest) => boolean) | null;
  coalesceTimeout: number;
  identityCacheSize: number;
  name: string;
}

export const DEFAULT_STATUSES = [200, 203, 204, 301, 404, 410] as const;
export const DEFAULT_SESSION_COOKIES = ['sid', 'connect.sid', 'sessionId'] as const;

// RFC 9110 §5.1 field-name token characters.
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// Types whose bodies shrink under gzip/brotli; images, video and archives are already compressed.
const COMPRESSIBLE_RE =
  /^(?:text\/|application\/(?:json|javascript|ecmascript|x-javascript|xml|xhtml\+xml|rss\+xml|atom\+xml|wasm|graphql-response\+json)\b|image\/svg\+xml\b|[a-z]+\/[^;]*\+(?:json|xml)\b)/i;

export function defaultCompressible(contentType: string): boolean {
  return COMPRESSIBLE_RE.test(contentType.trim());
}

/** Milliseconds from a number or duration string; `undefined` if neither (or not positive). */
export const toMs = (value: unknown): number | undefined => durationMs(value, 1);

function toBytes(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value === 'string') return parseSize(value);
  return undefined;
}

export function normalizeOptions(input: ResponseCacheOptions): NormalizedOptions {
  const problems: string[] = [];
  const o = (input ?? {}) as Partial<ResponseCacheOptions>;
  const backend = o.backend;
  if (
    !backend ||
    typeof backend.get !== 'function' ||
    typeof backend.set !== 'function' ||
    typeof backend.deleteByTag !== 'function'
  ) {
    problems.push('backend: must implement get, set and deleteByTag');
  }

  let ttl: NormalizedOptions['ttl'] = () => 60_000;
  if (typeof o.ttl === 'function') {
    const fn = o.ttl;
    ttl = (req) => toMs(fn(req));
  } else if (o.ttl !== undefined) {
    const ms = toMs(o.ttl);
    if (ms === undefined) problems.push(`ttl: expected a positive number of milliseconds or a duration like '30s'`);
    else ttl = () => ms;
  }

  let tags: NormalizedOptions['tags'] = () => undefined;
  if (typeof o.tags === 'function') tags = o.tags;
  else if (o.tags !== undefined) {
    if (!Array.isArray(o.tags) || !o.tags.every((t) => typeof t === 'string')) problems.push('tags: expected an array of strings or a function');
    else {
      const fixed = Object.freeze([...o.tags]);
      tags = () => fixed;
    }
  }

  const vary: string[] = [];
  for (const [i, name] of (o.vary ?? []).entries()) {
    if (typeof name !== 'string' || !TOKEN_RE.test(name)) problems.push(`vary[${i}]: not a header name`);
    else vary.push(name.toLowerCase());
  }
  vary.sort();

  let query: NormalizedOptions['query'] = 'all';
  if (o.query === 'none' || o.query === 'all') query = o.query;
  else if (Array.isArray(o.query) && o.query.every((q) => typeof q === 'string')) query = new Set(o.query);
  else if (o.query !== undefined) problems.push(`query: expected 'all', 'none' or an array of parameter names`);

  const statuses = o.statuses ?? DEFAULT_STATUSES;
  if (!Array.isArray(statuses) || !statuses.every((s) => Number.isInteger(s) && s >= 100 && s <= 599)) {
    problems.push('statuses: expected HTTP status codes');
  }

  const sessionCookies = o.sessionCookies ?? DEFAULT_SESSION_COOKIES;
  if (!Array.isArray(sessionCookies) || !sessionCookies.every((c) => typeof c === 'string' && c.length > 0)) {
    problems.push('sessionCookies: expected cookie names');
  }

  const maxBodySize = o.maxBodySize === undefined ? 1024 * 1024 : toBytes(o.maxBodySize);
  if (maxBodySize === undefined) problems.push(`maxBodySize: expected bytes or a size like '1mb'`);

  const maxUrlLength = o.maxUrlLength ?? 2048;
  if (!Number.isInteger(maxUrlLength) || maxUrlLength < 1) problems.push('maxUrlLength: expected a positive integer');

  let compression: NormalizedOptions['compression'] = null;
  if (o.compression !== false) {
    const c = o.compression ?? {};
    const encodings = c.encodings ?? (['br', 'gzip'] as const);
    if (!Array.isArray(encodings) || !encodings.every((e) => e === 'br' || e === 'gzip')) {
      problems.push(`compression.encodings: expected a list of 'br' and 'gzip'`);
    }
    const threshold = c.threshold === undefined ? 1024 : toBytes(c.threshold);
    if (threshold === undefined) problems.push('compression.threshold: expected bytes or a size');
    const brotliQuality = c.brotliQuality ?? 5;
    if (!Number.isInteger(brotliQuality) || brotliQuality < 0 || brotliQuality > 11) {
      problems.push('compression.brotliQuality: expected an integer 0..11');
    }
    const gzipLevel = c.gzipLevel ?? 6;
    if (!Number.isInteger(gzipLevel) || gzipLevel < 1 || gzipLevel > 9) problems.push('compression.gzipLevel: expected an integer 1..9');
    if (c.compressible !== undefined && typeof c.compressible !== 'function') problems.push('compression.compressible: expected a function');
    compression = Object.freeze({
      encodings: Object.freeze([...new Set(encodings)]),
      threshold: threshold ?? 0,
      brotliQuality,
      gzipLevel,
      compressible: c.compressible ?? defaultCompressible,
    });
  }

  let statusHeader: string | null = 'x-cache';
  if (o.statusHeader === false) statusHeader = null;
  else if (o.statusHeader !== undefined) {
    if (typeof o.statusHeader !== 'string' || !TOKEN_RE.test(o.statusHeader)) problems.push('statusHeader: not a header name');
    else statusHeader = o.statusHeader.toLowerCase();
  }

  const keyPrefix = o.keyPrefix ?? 'http:';
  // The prefix is the only unhashed part of the key; keep it to characters every store accepts.
  if (typeof keyPrefix !== 'string' || !/^[\w:.-]{0,64}$/.test(keyPrefix)) problems.push('keyPrefix: up to 64 of [A-Za-z0-9_:.-]');

  const coalesceTimeout = o.coalesceTimeout ?? 5000;
  if (!Number.isInteger(coalesceTimeout) || coalesceTimeout < 0) problems.push('coalesceTimeout: expected milliseconds >= 0');

  const identityCacheSize = o.identityCacheSize === undefined ? 8 * 1024 * 1024 : toBytes(o.identityCacheSize);
  if (identityCacheSize === undefined) problems.push(`identityCacheSize: expected bytes or a size like '8mb'`);

  if (o.shouldCache !== undefined && typeof o.shouldCache !== 'function') problems.push('shouldCache: expected a function');

  if (problems.length > 0) {
    throw new OnionscaleError('OSC_ERR_CACHE_OPTIONS', `response cache options:\n  ${problems.join('\n  ')}`, {
      details: { problems },
    });
  }

  return Object.freeze({
    backend: backend!,
    ttl,
    tags,
    vary: Object.freeze(vary),
    keyHost: o.keyHost ?? true,
    query,
    statuses: new Set(statuses),
    sessionCookies: new Set(sessionCookies),
    cacheSessions: o.cacheSessions ?? false,
    maxBodySize: maxBodySize!,
    maxUrlLength,
    compression,
    statusHeader,
    age: o.age ?? true,
    keyPrefix,
    shouldCache: o.shouldCache ?? null,
    coalesceTimeout,
    identityCacheSize: identityCacheSize!,
    name: typeof o.name === 'string' && o.name ? o.name : 'http',
  });
}
