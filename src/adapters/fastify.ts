/**
 * `onionscale/fastify`: the response cache as a Fastify plugin (fastify-plugin, so it covers the whole app).
 * `onRequest` answers hits before routing work starts; `onSend` hands a miss's serialized payload to the core and
 * sends what it returns. Streams pass through untouched. Fastify is an optional peer dependency.
 *
 *   await app.register(responseCache, { backend, ttl: '30s' });
 *   app.get('/live', { config: { responseCache: false } }, handler);   // opt a route out
 *   await app.responseCache.invalidateTag('news');
 */
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createResponseCache, type Completion, type Miss, type ResponseCache } from '../core/http-cache/response-cache.js';
import type { ResponseCacheOptions, ServedResponse } from '../core/http-cache/types.js';

export * from '../core/http-cache/index.js';

export interface FastifyResponseCache {
  readonly cache: ResponseCache;
  readonly invalidateTag: (tag: string) => Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    responseCache: FastifyResponseCache;
  }
  interface FastifyContextConfig {
    /** `false` leaves this route's responses alone. */
    responseCache?: false;
  }
}

function applyServed(reply: FastifyReply, served: ServedResponse): void {
  for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
  reply.headers(served.headers);
  reply.code(served.status);
}

function isStream(payload: unknown): boolean {
  return typeof payload === 'object' && payload !== null && typeof (payload as { pipe?: unknown }).pipe === 'function';
}

const plugin: FastifyPluginCallback<ResponseCacheOptions> = (fastify, options, done) => {
  const cache = createResponseCache(options);
  const misses = new WeakMap<FastifyRequest, Miss>();
  const commits = new WeakMap<FastifyRequest, Completion['commit']>();
  fastify.decorate('responseCache', { cache, invalidateTag: (tag: string) => cache.invalidateTag(tag) });

  fastify.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config?.responseCache === false) return;
    const result = await cache.lookup({ method: request.method, url: request.url, headers: request.headers });
    if (result.kind === 'hit') {
      applyServed(reply, result.response);
      return reply.send(result.response.body);
    }
    if (result.kind === 'bypass') reply.headers(result.headers);
    else misses.set(request, result.miss);
  });

  fastify.addHook('onSend', async (request, reply, payload) => {
    const miss = misses.get(request);
    if (!miss) return payload;
    misses.delete(request);
    let body: Buffer;
    if (payload === null || payload === undefined) body = Buffer.alloc(0);
    else if (typeof payload === 'string') body = Buffer.from(payload);
    else if (Buffer.isBuffer(payload)) body = payload;
    else {
      // A stream (SSE, file download) or something only fastify knows how to send: never buffered.
      cache.release(miss, isStream(payload) ? 'streaming' : 'error');
      reply.headers(cache.bypassHeaders());
      return payload;
    }
    const { response, commit } = await cache.complete(miss, { status: reply.statusCode, headers: reply.getHeaders(), body });
    commits.set(request, commit);
    applyServed(reply, response);
    return response.body;
  });

  // Errors and aborted requests never reach a successful onSend; let waiting requests go on without them.
  const forget = (request: FastifyRequest): void => {
    const miss = misses.get(request);
    if (miss) {
      misses.delete(request);
      cache.release(miss);
    }
  };
  // Stored only once sent: onSend hooks registered after this plugin (@fastify/session's Set-Cookie) have run by
  // now, and commit() judges the headers that actually went out.
  fastify.addHook('onResponse', (request, reply, next) => {
    const commit = commits.get(request);
    if (commit) {
      commits.delete(request);
      void commit(reply.getHeaders());
    }
    forget(request);
    next();
  });
  fastify.addHook('onRequestAbort', (request, next) => {
    forget(request);
    next();
  });
  done();
};

export const responseCache = fp(plugin, { name: 'onionscale-response-cache', fastify: '5.x' });
export default responseCache;
