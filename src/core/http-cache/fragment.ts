/**
 * Fragment caching for rendered page parts (a sidebar, a product card): `fragment(key, ttl, render)` returns the
 * cached string or renders, stores and returns it. Concurrent calls for one key in this process share a single
 * render; a failed render is not cached and rejects every caller that shared it.
 */
import { createHash } from 'node:crypto';
import { OnionscaleError } from '../../errors.js';
import { emit } from './diagnostics.js';
import { toMs } from './options.js';
import type { ResponseCacheBackend } from './types.js';

export interface FragmentOptions {
  tags?: readonly string[];
}

export type Fragment = (
  key: string,
  ttl: number | string,
  render: () => string | Promise<string>,
  options?: FragmentOptions,
) => Promise<string>;

export interface Fragments {
  fragment: Fragment;
  readonly invalidateTag: (tag: string) => Promise<void>;
}

export interface FragmentsOptions {
  /** Prefix of backend keys. Default `'frag:'`. */
  keyPrefix?: string;
  /** Name in diagnostics events. Default `'fragments'`. */
  name?: string;
}

const TAG_RE = /^[\x21-\x7e]{1,256}$/;
const MAX_KEY = 4096;

export function createFragments(backend: ResponseCacheBackend, options: FragmentsOptions = {}): Fragments {
  const prefix = options.keyPrefix ?? 'frag:';
  if (typeof prefix !== 'string' || !/^[\w:.-]{0,64}$/.test(prefix)) {
    throw new OnionscaleError('OSC_ERR_CACHE_OPTIONS', 'fragments: keyPrefix must be up to 64 of [A-Za-z0-9_:.-]');
  }
  const name = options.name ?? 'fragments';
  const inflight = new Map<string, Promise<string>>();

  async function load(storeKey: string, ttl: number, render: () => string | Promise<string>, tags: readonly string[]): Promise<string> {
    let cached: unknown;
    try {
      cached = await backend.get(storeKey);
    } catch (error) {
      emit(() => ({ event: 'error', cache: name, op: 'get', key: storeKey, error }));
    }
    // Stored as `{ html }` so a foreign value under the same key is recognisably not ours and gets re-rendered.
    if (typeof cached === 'object' && cached !== null && typeof (cached as { html?: unknown }).html === 'string') {
      emit(() => ({ event: 'fragment', cache: name, key: storeKey, outcome: 'hit' }));
      return (cached as { html: string }).html;
    }
    const html = await render();
    if (typeof html !== 'string') {
      throw new OnionscaleError('OSC_ERR_CACHE_SERIALIZE', `fragment render returned ${typeof html}, expected a string`);
    }
    emit(() => ({ event: 'fragment', cache: name, key: storeKey, outcome: 'render' }));
    try {
      await backend.set(storeKey, { html }, { ttl, ...(tags.length > 0 ? { tags: [...tags] } : {}) });
    } catch (error) {
      emit(() => ({ event: 'error', cache: name, op: 'set', key: storeKey, error }));
    }
    return html;
  }

  const fragment: Fragment = (key, ttl, render, opts = {}) => {
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY) {
      return Promise.reject(new OnionscaleError('OSC_ERR_CACHE_KEY', `fragment key must be a string of 1..${MAX_KEY} characters`));
    }
    const ms = toMs(ttl);
    if (ms === undefined) {
      return Promise.reject(new OnionscaleError('OSC_ERR_CACHE_OPTIONS', `fragment ttl must be positive milliseconds or a duration like '30s'`));
    }
    const tags = opts.tags ?? [];
    if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string' && TAG_RE.test(t))) {
      return Promise.reject(new OnionscaleError('OSC_ERR_CACHE_KEY', 'fragment tags must be 1..256 visible ASCII characters'));
    }
    if (typeof render !== 'function') {
      return Promise.reject(new OnionscaleError('OSC_ERR_CACHE_OPTIONS', 'fragment render must be a function'));
    }
    // Keys often embed user-derived parts (`card:${slug}`); hashing keeps them out of the store's key syntax.
    const storeKey = prefix + createHash('sha256').update(key).digest('base64url');
    const pending = inflight.get(storeKey);
    if (pending) {
      emit(() => ({ event: 'fragment', cache: name, key: storeKey, outcome: 'shared' }));
      return pending;
    }
    const promise = load(storeKey, ms, render, tags).finally(() => inflight.delete(storeKey));
    inflight.set(storeKey, promise);
    return promise;
  };

  return Object.freeze({
    fragment,
    // An arrow, not a method: callers destructure it (`const { fragment, invalidateTag } = createFragments(…)`).
    invalidateTag: async (tag: string): Promise<void> => {
      if (typeof tag !== 'string' || !TAG_RE.test(tag)) {
        throw new OnionscaleError('OSC_ERR_CACHE_KEY', 'invalidateTag: tags are 1..256 visible ASCII characters');
      }
      await backend.deleteByTag(tag);
      emit(() => ({ event: 'invalidate', cache: name, tag }));
    },
  });
}
