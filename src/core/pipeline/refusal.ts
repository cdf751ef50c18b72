/**
 * What a refused request is answered with, framework-neutral: 429 with `Retry-After` and the draft-11 RateLimit
 * headers, or 400 when a limit needs a part of the subject the request lacks (no circuit header: the request did
 * not come through the onion service; no user: not signed in). The body is a small JSON object with a stable code.
 */
import { ERROR_CODES } from '../../errors.js';
import { rateLimitHeaders } from '../ratelimit/headers.js';
import type { Decision } from '../ratelimit/types.js';

export interface Refusal {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The headers every limited response carries (allowed or not). */
export function limitHeaders(decision: Decision | undefined): Record<string, string> {
  return decision ? rateLimitHeaders(decision) : {};
}

/** The answer for a decision that refuses, or `undefined` when the request may go on. */
export function refusalOf(decision: Decision | undefined): Refusal | undefined {
  if (!decision || decision.allowed) return undefined;
  let code: 'OSC_ERR_RATELIMITED' | 'OSC_ERR_CIRCUIT_REQUIRED' | 'OSC_ERR_RATELIMIT_SUBJECT' = 'OSC_ERR_RATELIMITED';
  let message = `too many requests: retry in ${Math.max(1, Math.ceil(decision.retryAfterMs / 1000))} s`;
  if (decision.missing?.includes('circuit')) {
    code = 'OSC_ERR_CIRCUIT_REQUIRED';
    message = 'no Tor circuit on this request';
  } else if (decision.missing) {
    code = 'OSC_ERR_RATELIMIT_SUBJECT';
    message = `this route is limited per ${decision.missing.join(' and ')}, which this request lacks`;
  }
  const status = code === 'OSC_ERR_RATELIMITED' ? 429 : 400;
  const body = JSON.stringify({ error: code, message, hint: ERROR_CODES[code].hint });
  return {
    status,
    headers: { ...rateLimitHeaders(decision), 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(body)) },
    body,
  };
}
