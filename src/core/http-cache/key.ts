/**
 * Cache keys. Everything that came from the client is hashed (sha256), so no request can inject separators,
 * wildcards or control characters into a store key, and key length is constant whatever the URL.
 */
import { createHash } from 'node:crypto';
import type { NormalizedOptions } from './options.js';
import type { CacheRequest, IncomingHeaders } from './types.js';

export function headerText(headers: IncomingHeaders, name: string): string | undefined {
  const v = headers[name];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(', ');
}

/** Path plus the kept query parameters in a stable order (`?b=2&a=1` and `?a=1&b=2` share an entry). */
export function normalizeTarget(url: string, query: NormalizedOptions['query']): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (q === -1 || query === 'none') return path;
  const params = new URLSearchParams(url.slice(q + 1));
  if (query !== 'all') {
    for (const name of [...new Set(params.keys())]) if (!query.has(name)) params.delete(name);
  }
  // Stable sort: repeated names keep their relative order, which the app may depend on.
  params.sort();
  const rest = params.toString();
  return rest ? `${path}?${rest}` : path;
}

/**
 * The store key of a request. HEAD maps to GET (same representation, RFC 9110 §9.3.2). The material is JSON so
 * that no choice of header values can make two different requests collide before hashing.
 */
export function cacheKey(req: CacheRequest, options: NormalizedOptions): string {
  const material: (string | null)[] = ['GET', normalizeTarget(req.url, options.query)];
  material.push(options.keyHost ? (headerText(req.headers, 'host')?.toLowerCase() ?? null) : null);
  for (const name of options.vary) material.push(headerText(req.headers, name) ?? null);
  return options.keyPrefix + createHash('sha256').update(JSON.stringify(material)).digest('base64url');
}
