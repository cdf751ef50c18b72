/**
 * Session ids and their signed cookie form. An id is 32 random bytes (256 bits) in base64url; the cookie carries
 * `<id>.<HMAC-SHA256(secret, id) base64url>`. Secrets rotate: the first signs, every one verifies, and a cookie
 * verified by an older secret is re-signed on the way out. Comparison is constant-time.
 *
 * Redis never sees the id itself: the key is a SHA-256 of it, so a leaked key list (MONITOR, a dump, a log) does
 * not hand out live sessions.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const ID_RE = /^[A-Za-z0-9_-]{43}$/;
const SIG_LEN = 43;

export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

export function isSessionId(value: string): boolean {
  return ID_RE.test(value);
}

function mac(secret: string, id: string): Buffer {
  return createHmac('sha256', secret).update(id).digest();
}

export function signId(id: string, secret: string): string {
  return `${id}.${mac(secret, id).toString('base64url')}`;
}

export interface Verified {
  id: string;
  /** Verified by an older secret: re-issue the cookie signed with the current one. */
  stale: boolean;
}

/** The id of a signed cookie value, or `undefined` for anything forged, garbled or oversized. Never throws. */
export function verifySigned(value: string | undefined, secrets: readonly string[]): Verified | undefined {
  if (typeof value !== 'string' || value.length !== 43 + 1 + SIG_LEN) return undefined;
  const id = value.slice(0, 43);
  if (!ID_RE.test(id) || value[43] !== '.') return undefined;
  const given = Buffer.from(value.slice(44), 'base64url');
  if (given.length !== 32) return undefined;
  for (let i = 0; i < secrets.length; i++) {
    if (timingSafeEqual(given, mac(secrets[i]!, id))) return { id, stale: i > 0 };
  }
  return undefined;
}

/** The Redis key of a session id (never the id itself). */
export function storageKey(prefix: string, id: string): string {
  return prefix + createHash('sha256').update(id).digest('base64url').slice(0, 32);
}
