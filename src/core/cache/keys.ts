/**
 * Key and tag validation. Keys and tags end up inside Redis key names and pub/sub messages, so anything that could
 * smuggle structure into them (whitespace, control characters, the `*` glob, oversized input) is either rejected with
 * OSC_ERR_CACHE_KEY or, when the caller opts in with `hashKey`, replaced by its SHA-256 in a separate namespace so a
 * hashed key can never collide with a raw one.
 */
import { createHash } from 'node:crypto';
import { OnionscaleError } from '../../errors.js';

export const MAX_KEY_BYTES = 1024;

// Whitespace (Unicode-aware \s), C0/C1 control characters and `*`. Kept as one regex: it runs on every L1 hit.
const UNSAFE = /[\s\p{Cc}*]/u;

/** Internal namespaces: raw keys and hashed keys never share one (see module comment). */
const RAW_PREFIX = 'k:';
const HASHED_PREFIX = 'h:';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function tooLong(text: string): boolean {
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short strings skip the byte count.
  return text.length * 3 > MAX_KEY_BYTES && Buffer.byteLength(text, 'utf8') > MAX_KEY_BYTES;
}

function problem(text: unknown): string | undefined {
  if (typeof text !== 'string') return `must be a string, got ${text === null ? 'null' : typeof text}`;
  if (text.length === 0) return 'must not be empty';
  if (tooLong(text)) return `is longer than ${MAX_KEY_BYTES} bytes`;
  if (UNSAFE.test(text)) return 'contains whitespace, a control character or `*`';
  return undefined;
}

/**
 * The internal (namespaced) form of a user key. Throws OSC_ERR_CACHE_KEY for an unsafe key unless `hashKey` is set,
 * in which case unsafe or long keys are hashed. The message never echoes the key itself: it may hold user input.
 */
export function internalKey(key: unknown, hashKey = false): string {
  const why = problem(key);
  if (why === undefined) return RAW_PREFIX + (key as string);
  if (hashKey && typeof key === 'string' && key.length > 0) return HASHED_PREFIX + sha256Hex(key);
  throw new OnionscaleError('OSC_ERR_CACHE_KEY', `cache key ${why}`, {
    details: { length: typeof key === 'string' ? key.length : undefined },
  });
}

/** Tags are validated like keys but never hashed: `deleteByTag` must find them by the same name. */
export function validateTag(tag: unknown): string {
  const why = problem(tag);
  if (why !== undefined) throw new OnionscaleError('OSC_ERR_CACHE_KEY', `cache tag ${why}`);
  return tag as string;
}

export function validateTags(tags: readonly unknown[] | undefined): readonly string[] | undefined {
  if (tags === undefined || tags.length === 0) return undefined;
  if (!Array.isArray(tags)) throw new OnionscaleError('OSC_ERR_CACHE_KEY', 'cache tags must be an array of strings');
  return tags.map(validateTag);
}

/**
 * `query:<sha256>` over the SQL text and its JSON-encoded parameters (the seed's pattern). A NUL separates the two
 * so `('a', ['b'])` and `('a"', ...)`-style concatenation tricks cannot produce the same digest input.
 */
export function queryKey(sql: string, params: readonly unknown[] = []): string {
  if (typeof sql !== 'string' || sql.length === 0) {
    throw new OnionscaleError('OSC_ERR_CACHE_KEY', 'query SQL must be a non-empty string');
  }
  let encoded: string;
  try {
    encoded = JSON.stringify(params);
  } catch (cause) {
    throw new OnionscaleError('OSC_ERR_CACHE_SERIALIZE', 'query parameters are not JSON-serializable', { cause });
  }
  return `query:${createHash('sha256').update(sql).update('\0').update(encoded).digest('hex')}`;
}
