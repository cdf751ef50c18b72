/**
 * Strong ETags from a hash of the body, never from file metadata (inode/mtime ETags fingerprint a host and differ
 * between app instances behind one balancer). Each content coding gets its own tag, as RFC 9110 §8.8.3 requires of
 * strong validators, all derived from the identity body's hash.
 */
import { createHash } from 'node:crypto';
import type { Chosen } from './accept-encoding.js';

/** The opaque part shared by all codings of one body: 128 bits of sha256, base64url. */
export function bodyHash(body: Buffer): string {
  return createHash('sha256').update(body).digest('base64url').slice(0, 22);
}

export function etagFor(hash: string, encoding: Chosen): string {
  return encoding === 'identity' ? `"${hash}"` : `"${hash}-${encoding === 'gzip' ? 'gz' : 'br'}"`;
}

// Entity tags may contain commas (RFC 9110 §8.8.3 etagc), so the list is scanned, not split.
const TAG_RE = /(?:W\/)?"([^"]*)"/g;
const MAX_TAGS = 64;

/**
 * Whether If-None-Match matches this body in any coding (weak comparison, RFC 9110 §13.1.2). A client holding
 * the gzip copy that now asks for br has the same content, so it gets a 304 too. Malformed input never throws:
 * it just does not match.
 */
export function ifNoneMatchHits(header: string | readonly string[] | undefined, hash: string): boolean {
  if (header === undefined) return false;
  const text = typeof header === 'string' ? header : header.join(',');
  // `*` counts only on its own: a stray asterisk inside garbage must not turn every request into a 304.
  if (text.trim() === '*') return true;
  let n = 0;
  for (const m of text.matchAll(TAG_RE)) {
    if (++n > MAX_TAGS) break;
    const opaque = m[1] ?? '';
    if (opaque === hash || opaque === `${hash}-gz` || opaque === `${hash}-br`) return true;
  }
  return false;
}
