/**
 * Turns a stored entry into the response for one client: coding by Accept-Encoding, ETag per coding, 304 on a
 * matching If-None-Match, HEAD without a body.
 */
import { LRUCache } from 'lru-cache';
import { chooseEncoding } from './accept-encoding.js';
import { identityOf, type Bodies } from './compress.js';
import { etagFor, ifNoneMatchHits } from './etag.js';
import type { NormalizedOptions } from './options.js';
import type { StoredEntry } from './entry.js';
import type { CacheRequest, Encoding, ServedResponse } from './types.js';

export type CacheStatus = 'HIT' | 'MISS' | 'BYPASS';

// RFC 9110 §15.4.5: a 304 carries the fields a 200 would have sent among these.
const NOT_MODIFIED_FIELDS = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified']);

function addHeader(headers: Record<string, string | string[]>, name: string, value: string): void {
  const prev = headers[name];
  if (prev === undefined) headers[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else headers[name] = [prev, value];
}

export interface ServeInput {
  entry: Pick<StoredEntry, 'status' | 'headers' | 'hash' | 'storedAt' | 'length'>;
  bodies: Bodies;
  req: CacheRequest;
  options: NormalizedOptions;
  cacheStatus: CacheStatus;
  now: number;
  /** Decompressed identity bodies by body hash, so identity clients do not cost a decompression per hit. */
  identities?: IdentityCache;
}

export type IdentityCache = LRUCache<string, Buffer>;

/** An LRU of identity bodies bounded by bytes; content-addressed by hash, so an entry can never be stale. */
export function createIdentityCache(maxBytes: number): IdentityCache | undefined {
  return maxBytes > 0 ? new LRUCache<string, Buffer>({ maxSize: maxBytes, sizeCalculation: (b) => Math.max(1, b.length) }) : undefined;
}

async function identityBody(entry: ServeInput['entry'], bodies: Bodies, options: NormalizedOptions, identities?: IdentityCache): Promise<Buffer> {
  if (bodies.identity) return bodies.identity;
  const known = identities?.get(entry.hash);
  if (known) return known;
  // Without the cache, a flood of requests without Accept-Encoding would make every hit a decompression.
  const body = await identityOf(bodies, Math.min(entry.length, options.maxBodySize));
  if (identities && body.length <= identities.maxSize / 4) identities.set(entry.hash, body);
  return body;
}

export async function serveEntry({ entry, bodies, req, options, cacheStatus, now, identities }: ServeInput): Promise<ServedResponse> {
  const available: Encoding[] = [];
  // `in`, not truthiness: bodies may decode lazily, and only the chosen one should be.
  for (const enc of options.compression?.encodings ?? ['br', 'gzip']) if (enc in bodies) available.push(enc);
  // An entry stored by an instance with other settings may hold codings this one does not list: still usable.
  for (const enc of ['br', 'gzip'] as const) if (enc in bodies && !available.includes(enc)) available.push(enc);
  const chosen = chooseEncoding(req.headers['accept-encoding'], available);

  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of entry.headers) addHeader(headers, name, value);
  const vary = [...(available.length > 0 ? ['accept-encoding'] : []), ...options.vary];
  if (vary.length > 0) headers.vary = vary.join(', ');
  headers.etag = etagFor(entry.hash, chosen);
  if (options.statusHeader) headers[options.statusHeader] = cacheStatus;
  if (options.age && cacheStatus === 'HIT') headers.age = String(Math.max(0, Math.floor((now - entry.storedAt) / 1000)));

  // Conditionals apply only where the response would be 2xx (RFC 9110 §13.2.1): a cached 404 stays a 404.
  if (entry.status < 300 && ifNoneMatchHits(req.headers['if-none-match'], entry.hash)) {
    const kept: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(headers)) {
      if (NOT_MODIFIED_FIELDS.has(name) || name === options.statusHeader || name === 'age') kept[name] = value;
    }
    return { status: 304, headers: kept, body: null };
  }

  // RFC 9110 §8.6: no Content-Length (and so no body framing) on 204.
  if (entry.status === 204) return { status: 204, headers, body: null };

  const body = chosen === 'identity' ? await identityBody(entry, bodies, options, identities) : bodies[chosen]!;
  if (chosen !== 'identity') headers['content-encoding'] = chosen;
  headers['content-length'] = String(body.length);
  // HEAD gets the body too: node:http never writes it for HEAD, and Fastify's HEAD handling derives Content-Length
  // from it.
  return { status: entry.status, headers, body };
}
