/**
 * Response headers for a decision, per draft-ietf-httpapi-ratelimit-headers-11 (checked against the draft text):
 *   RateLimit-Policy: a List[SF] of quota policy items, each a String[SF] name with `q` (quota, Integer) and the
 *     optional `w` (window, Integer seconds, non-zero; "sub-second precision is not supported", so windows that are
 *     not whole seconds omit it):  RateLimit-Policy: "burst";q=100;w=60, "daily";q=1000;w=86400
 *   RateLimit: a List[SF] of service limit items with `r` (available quota) and `t` (effective window: seconds
 *     within which the client can use no more than `r`, ceil of the rule's resetMs): RateLimit: "burst";r=50;t=30
 *   Retry-After (seconds, ceil) when blocked; never earlier than the blocking policy's `t` (draft §6).
 * `pk` (partition key) is left out on purpose: it would echo the circuit/user a quota is keyed by.
 */
import type { Decision } from './types.js';

/** A String[SF]: printable ASCII only, `"` and `\` escaped (rule names are validated to need neither). */
function sfString(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, '').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

export function rateLimitHeaders(decision: Decision): Record<string, string> {
  const headers: Record<string, string> = {};
  if (decision.results.length > 0) {
    headers['RateLimit-Policy'] = decision.results
      .map((r) => `${sfString(r.rule)};q=${r.limit}${r.windowMs % 1000 === 0 ? `;w=${r.windowMs / 1000}` : ''}`)
      .join(', ');
    headers.RateLimit = decision.results
      .map((r) => {
        const wait = r.allowed ? r.resetMs : Math.max(r.resetMs, r.retryAfterMs);
        return `${sfString(r.rule)};r=${r.remaining};t=${Math.ceil(wait / 1000)}`;
      })
      .join(', ');
  }
  if (!decision.allowed && !decision.missing) headers['Retry-After'] = String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
  return headers;
}
