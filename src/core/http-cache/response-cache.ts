/**
 * The framework-neutral response cache. Adapters call, per request:
 *   lookup(req) → hit (write `response`) | bypass (run the app, add `headers`) | miss (run the app, capture it)
 *   on a miss: admit(miss, status, headers) as soon as headers are known (to stream what cannot be stored),
 *   then complete(miss, captured) with the buffered response → write `response`, then `commit(sent headers)`;
 *   or release(miss) if it was passed through.
 * A failing backend never fails a request: reads become misses, writes are dropped, both are reported.
 */
import { OnionscaleError } from '../../errors.js';
import { compressOnce } from './compress.js';
import { emit } from './diagnostics.js';
import { asEntry, decodeBodies, encodeBodies, storableHeaders, type StoredEntry } from './entry.js';
import { bodyHash } from './etag.js';
import { cacheKey } from './key.js';
import { normalizeOptions, type NormalizedOptions } from './options.js';
import { outgoingText, requestBypass, responseBypass, sentBypass, sharedMaxAge } from './policy.js';
import { createIdentityCache, serveEntry, type CacheStatus } from './serve.js';
import type { BypassReason, CacheRequest, CapturedResponse, OutgoingHeaders, ResponseCacheOptions, ServedResponse } from './types.js';

export interface Miss {
  readonly key: string;
  readonly ttl: number;
  readonly tags: readonly string[];
  readonly req: CacheRequest;
}

export type Lookup =
  | { kind: 'hit'; response: ServedResponse }
  | { kind: 'bypass'; reason: BypassReason; headers: Record<string, string> }
  | { kind: 'miss'; miss: Miss };

export interface Completion {
  response: ServedResponse;
  /**
   * Stores the entry, given the headers that actually went out (`res.getHeaders()` after writing). Releases the
   * miss whatever happens; idempotent; never rejects. Waiting requests are served from the store once it resolves.
   */
  readonly commit: (sentHeaders: OutgoingHeaders) => Promise<void>;
}

export interface ResponseCache {
  readonly options: NormalizedOptions;
  lookup(req: CacheRequest): Promise<Lookup>;
  /** Whether a response with this status and these headers may be stored; `null` means keep buffering. */
  admit(miss: Miss, status: number, headers: OutgoingHeaders): BypassReason | null;
  /**
   * Prepares the captured response: what to send to this client now, and `commit` to call once it has been sent.
   * Never rejects.
   */
  complete(miss: Miss, captured: CapturedResponse): Promise<Completion>;
  /** Gives up on a miss (response streamed through, client gone). Idempotent. */
  release(miss: Miss, reason?: BypassReason): void;
  /** Headers marking a response this cache did not store (`X-Cache: BYPASS`). */
  bypassHeaders(): Record<string, string>;
  readonly invalidateTag: (tag: string) => Promise<void>;
}

const TAG_RE = /^[\x21-\x7e]{1,256}$/;

interface InFlight {
  promise: Promise<void>;
  resolve: () => void;
}

export function createResponseCache(input: ResponseCacheOptions): ResponseCache {
  const options = normalizeOptions(input);
  const { backend, name } = options;
  // Misses being filled by this process, so identical concurrent requests wait instead of stampeding the app.
  const inflight = new Map<string, InFlight>();
  const owners = new WeakMap<Miss, InFlight>();
  const identities = createIdentityCache(options.identityCacheSize);

  const bypassHeaders = (): Record<string, string> => (options.statusHeader ? { [options.statusHeader]: 'BYPASS' } : {});
  const bypass = (reason: BypassReason, key?: string): Lookup => {
    emit(() => ({ event: 'bypass', cache: name, reason, ...(key ? { key } : {}) }));
    return { kind: 'bypass', reason, headers: bypassHeaders() };
  };

  async function read(key: string): Promise<StoredEntry | undefined> {
    try {
      return asEntry(await backend.get(key));
    } catch (error) {
      emit(() => ({ event: 'error', cache: name, op: 'get', key, error }));
      return undefined;
    }
  }

  async function serveHit(entry: StoredEntry, req: CacheRequest, key: string): Promise<Lookup | undefined> {
    try {
      const response = await serveEntry({ entry, bodies: decodeBodies(entry.bodies), req, options, cacheStatus: 'HIT', now: Date.now(), identities });
      emit(() => ({ event: 'hit', cache: name, key }));
      return { kind: 'hit', response };
    } catch (error) {
      // A body that does not decode (tampered or truncated entry): let the app answer and overwrite it.
      emit(() => ({ event: 'error', cache: name, op: 'decode', key, error }));
      return undefined;
    }
  }

  function resolveTags(req: CacheRequest): readonly string[] | null {
    const tags: unknown = options.tags(req) ?? [];
    if (!Array.isArray(tags)) return null;
    for (const t of tags as unknown[]) if (typeof t !== 'string' || !TAG_RE.test(t)) return null;
    return tags as string[];
  }

  async function lookup(req: CacheRequest): Promise<Lookup> {
    let reason: BypassReason | null;
    let ttl: number | undefined;
    try {
      reason = requestBypass(req, options);
      if (reason) return bypass(reason);
      ttl = options.ttl(req);
    } catch (error) {
      emit(() => ({ event: 'error', cache: name, op: 'options', error }));
      return bypass('filtered');
    }
    if (ttl === undefined) return bypass('ttl');
    const key = cacheKey(req, options);

    const found = await read(key);
    if (found) {
      const hit = await serveHit(found, req, key);
      if (hit) return hit;
    }

    const pending = inflight.get(key);
    if (pending && options.coalesceTimeout > 0) {
      const started = Date.now();
      const outcome = await waitFor(pending.promise, options.coalesceTimeout);
      const again = outcome === 'done' ? await read(key) : undefined;
      const hit = again ? await serveHit(again, req, key) : undefined;
      emit(() => ({
        event: 'wait',
        cache: name,
        key,
        durationMs: Date.now() - started,
        outcome: hit ? 'hit' : outcome === 'done' ? 'miss' : 'timeout',
      }));
      if (hit) return hit;
    }

    // HEAD responses carry no body to store (Express does not even pass one to res.end), so HEAD only reads.
    if (req.method === 'HEAD') return bypass('head-miss', key);

    let tags: readonly string[] | null;
    try {
      tags = resolveTags(req);
    } catch (error) {
      emit(() => ({ event: 'error', cache: name, op: 'tags', key, error }));
      tags = null;
    }
    if (tags === null) return bypass('tags', key);

    const miss: Miss = Object.freeze({ key, ttl, tags, req });
    if (!inflight.has(key)) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      const flight = { promise, resolve };
      inflight.set(key, flight);
      owners.set(miss, flight);
    }
    emit(() => ({ event: 'miss', cache: name, key }));
    return { kind: 'miss', miss };
  }

  function release(miss: Miss, reason?: BypassReason): void {
    const flight = owners.get(miss);
    if (flight) {
      owners.delete(miss);
      if (inflight.get(miss.key) === flight) inflight.delete(miss.key);
      flight.resolve();
    }
    if (reason) emit(() => ({ event: 'bypass', cache: name, reason, key: miss.key }));
  }

  function passThrough(miss: Miss, captured: CapturedResponse, reason: BypassReason): Completion {
    release(miss, reason);
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(captured.headers)) {
      if (v !== undefined) headers[k.toLowerCase()] = typeof v === 'number' ? String(v) : typeof v === 'string' ? v : [...v];
    }
    Object.assign(headers, bypassHeaders());
    return { response: { status: captured.status, headers, body: captured.body }, commit: () => Promise.resolve() };
  }

  async function complete(miss: Miss, captured: CapturedResponse): Promise<Completion> {
    const reason = responseBypass(captured.status, captured.headers, options) ?? (captured.body.length > options.maxBodySize ? 'too-large' : null);
    if (reason) return passThrough(miss, captured, reason);
    try {
      const ttl = sharedMaxAge(captured.headers) ?? miss.ttl;
      const bodies = await compressOnce(captured.body, outgoingText(captured.headers, 'content-type'), options);
      const entry: StoredEntry = {
        v: 1,
        status: captured.status,
        headers: storableHeaders(captured.headers, options.statusHeader),
        hash: bodyHash(captured.body),
        storedAt: Date.now(),
        length: captured.body.length,
        bodies: encodeBodies(bodies),
      };
      const response = await serveEntry({ entry, bodies, req: miss.req, options, cacheStatus: 'MISS' satisfies CacheStatus, now: Date.now(), identities });
      let committed: Promise<void> | undefined;
      const commit = (sent: OutgoingHeaders): Promise<void> =>
        (committed ??= (async () => {
          // Judged again on what actually went out: express-session and friends add Set-Cookie from a writeHead
          // hook, after the app's headers were captured. Such a response must never be replayed to anyone.
          const late = sentBypass(sent);
          if (late) return release(miss, late);
          try {
            await backend.set(miss.key, entry, { ttl, ...(miss.tags.length > 0 ? { tags: [...miss.tags] } : {}) });
            emit(() => ({ event: 'store', cache: name, key: miss.key, bytes: captured.body.length, ttl, encodings: Object.keys(bodies) }));
          } catch (error) {
            emit(() => ({ event: 'error', cache: name, op: 'set', key: miss.key, error }));
          }
          release(miss);
        })());
      return { response, commit };
    } catch (error) {
      emit(() => ({ event: 'error', cache: name, op: 'store', key: miss.key, error }));
      return passThrough(miss, captured, 'error');
    }
  }

  return Object.freeze({
    options,
    lookup,
    admit: (_miss: Miss, status: number, headers: OutgoingHeaders) => responseBypass(status, headers, options),
    complete,
    release,
    bypassHeaders,
    invalidateTag: async (tag: string): Promise<void> => {
      if (typeof tag !== 'string' || !TAG_RE.test(tag)) {
        throw new OnionscaleError('OSC_ERR_CACHE_KEY', `invalidateTag: tags are 1..256 visible ASCII characters`, {
          details: { length: typeof tag === 'string' ? tag.length : null },
        });
      }
      await backend.deleteByTag(tag);
      emit(() => ({ event: 'invalidate', cache: name, tag }));
    },
  });
}

async function waitFor(promise: Promise<void>, ms: number): Promise<'done' | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    // Not unref'd: a waiting request is real work, and the timer is cleared as soon as the fill settles.
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise.then(() => 'done' as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
