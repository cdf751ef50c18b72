/**
 * Cacheability rules: which requests may be answered from the store and which responses may go into it. Pure
 * functions of headers, so every rule has a unit test.
 */
import type { NormalizedOptions } from './options.js';
import type { BypassReason, CacheRequest, OutgoingHeaders } from './types.js';
import { headerText } from './key.js';

/** Cookie names in a Cookie header; values are never looked at (they are secrets). */
export function cookieNames(header: string | undefined): string[] {
  if (!header) return [];
  const names: string[] = [];
  for (const part of header.split(';', 64)) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim();
    if (name) names.push(name);
  }
  return names;
}

/**
 * Why this request must not use the cache, or `null` if it may. Request `Cache-Control: no-cache` is ignored on
 * purpose: honouring it would let any client force every request through to the app, which is exactly the load a
 * cache in front of an onion service exists to absorb.
 */
export function requestBypass(req: CacheRequest, options: NormalizedOptions): BypassReason | null {
  if (req.method !== 'GET' && req.method !== 'HEAD') return 'method';
  if (req.url.length > options.maxUrlLength) return 'url-too-long';
  if (!options.cacheSessions) {
    if (req.headers.authorization !== undefined) return 'authorization';
    if (cookieNames(headerText(req.headers, 'cookie')).some((n) => options.sessionCookies.has(n))) return 'session';
  }
  if (options.shouldCache && !options.shouldCache(req)) return 'filtered';
  return null;
}

export function outgoingText(headers: OutgoingHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : v.join(', ');
}

function directives(cacheControl: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!cacheControl) return out;
  for (const part of cacheControl.split(',', 32)) {
    const [k, v] = part.split('=', 2);
    const name = k?.trim().toLowerCase();
    if (name) out.set(name, (v ?? '').trim().replace(/^"|"$/g, ''));
  }
  return out;
}

/**
 * Why this response must not be stored, judged from status and headers only, so adapters can decide before the
 * body starts streaming (SSE must never be buffered).
 */
export function responseBypass(status: number, headers: OutgoingHeaders, options: NormalizedOptions): BypassReason | null {
  if (!options.statuses.has(status)) return 'status';
  if (headers['set-cookie'] !== undefined) return 'set-cookie';
  const cc = directives(outgoingText(headers, 'cache-control'));
  if (cc.has('private') || cc.has('no-store') || cc.has('no-cache') || cc.get('s-maxage') === '0') return 'cache-control';
  const ce = outgoingText(headers, 'content-encoding');
  if (ce !== undefined && ce.trim().toLowerCase() !== 'identity') return 'content-encoding';
  const type = outgoingText(headers, 'content-type');
  if (type !== undefined && /^\s*text\/event-stream/i.test(type)) return 'streaming';
  const vary = outgoingText(headers, 'vary');
  if (vary !== undefined) {
    for (const raw of vary.split(',')) {
      const name = raw.trim().toLowerCase();
      if (!name || name === 'accept-encoding' || options.vary.includes(name) || (name === 'host' && options.keyHost)) continue;
      // The response depends on a header the key does not hold (or on everything, `*`): storing it would serve
      // one client's variant to another.
      return 'vary';
    }
  }
  const length = outgoingText(headers, 'content-length');
  if (length !== undefined && Number(length) > options.maxBodySize) return 'too-large';
  return null;
}

/** The late check on headers as sent: only what hooks may add after the app ended its response. */
export function sentBypass(headers: OutgoingHeaders): BypassReason | null {
  if (headers['set-cookie'] !== undefined) return 'set-cookie';
  const cc = directives(outgoingText(headers, 'cache-control'));
  if (cc.has('private') || cc.has('no-store') || cc.has('no-cache')) return 'cache-control';
  return null;
}

/** `s-maxage` overrides the configured TTL when the app sets it (it is the shared-cache lifetime, RFC 9111 §5.2.2.10). */
export function sharedMaxAge(headers: OutgoingHeaders): number | undefined {
  const v = directives(outgoingText(headers, 'cache-control')).get('s-maxage');
  if (v === undefined || !/^\d{1,9}$/.test(v)) return undefined;
  return Number(v) * 1000;
}
