/**
 * A user-controlled value (session hash, user name, route) as one part of a Redis key. A value of 1–64 characters
 * of `[A-Za-z0-9._@/-]` is kept readable; anything else (`*`, `:`, `=`, newlines, unicode, huge ids) becomes `~` +
 * 22 characters of base64url SHA-256. `~` never appears in a readable value, so the two forms cannot collide and no
 * value can reach into another key, glob pattern or part. Shared by the rate limiter's keys and the session's
 * `~u` field (the user in key form, which the request pipeline's Lua splices into user-keyed limit keys).
 */
import { createHash } from 'node:crypto';

const READABLE_RE = /^[A-Za-z0-9._@/-]{1,64}$/;

export function encodeKeyPart(value: string): string {
  if (READABLE_RE.test(value)) return value;
  return '~' + createHash('sha256').update(value).digest('base64url').slice(0, 22);
}
