/**
 * `onionscale/fastify`: the response cache and sessions as Fastify plugins (fastify-plugin, so it covers the whole app).
 * `onRequest` answers hits before routing work starts; `onSend` hands a miss's serialized payload to the core and
 * sends what it returns. Streams pass through untouched. Fastify is an optional peer dependency.
 *
 *   await app.register(responseCache, { backend, ttl: '30s' });
 *   app.get('/live', { config: { responseCache: false } }, handler);   // opt a route out
 *   await app.responseCache.invalidateTag('news');
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createResponseCache, type Completion, type Miss, type ResponseCache } from '../core/http-cache/response-cache.js';
import type { ResponseCacheOptions, ServedResponse } from '../core/http-cache/types.js';
import { createSessions, type RequestInfo, type Session, type SessionOptions, type Sessions } from '../core/session/index.js';
import { createPipeline, limitHeaders, refusalOf, type PipelineOptions, type RequestPipeline } from '../core/pipeline/index.js';
import type { Decision } from '../core/ratelimit/types.js';

export * from '../core/http-cache/index.js';
export * from '../core/session/index.js';
export * from '../core/events/index.js';
export * from '../core/pipeline/index.js';
export { sseHandler, type SseRouteOptions } from './fastify-events.js';

export interface FastifyResponseCache {
  readonly cache: ResponseCache;
  readonly invalidateTag: (tag: string) => Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    responseCache: FastifyResponseCache;
    sessions: Sessions;
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

// ---- sessions ----

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the onionscale `session` plugin (or the request pipeline). */
    session: Session;
    /** Set by the `requestPipeline` plugin: this request's rate-limit decision (`undefined` when no limits apply). */
    rateLimit: Decision | undefined;
  }
}

export function requestInfo(request: FastifyRequest): RequestInfo {
  return { headers: request.headers, encrypted: (request.raw.socket as Partial<TLSSocket>).encrypted === true };
}

/**
 * The Set-Cookie and the save of a session, before the response goes out (onSend runs before headers are sent).
 * Shared by the session plugin and the request pipeline.
 */
export async function finishSession(sessions: Sessions, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const s = request.session;
  if (!s) return;
  const cookie = sessions.cookieHeader(s, requestInfo(request));
  await sessions.save(s);
  if (cookie) {
    const existing = reply.getHeader('set-cookie');
    reply.header('set-cookie', existing === undefined ? cookie : [...(Array.isArray(existing) ? existing : [String(existing)]), cookie]);
  }
}

export type FastifySessionOptions = SessionOptions | { sessions: Sessions };

const sessionPlugin: FastifyPluginCallback<FastifySessionOptions> = (fastify, options, done) => {
  const owned = !('sessions' in options);
  const sessions = 'sessions' in options ? options.sessions : createSessions(options);
  fastify.decorateRequest('session', null as unknown as Session);
  fastify.decorate('sessions', sessions);
  fastify.addHook('onRequest', async (request) => {
    request.session = await sessions.open(requestInfo(request));
  });
  fastify.addHook('onSend', async (request, reply, payload) => {
    await finishSession(sessions, request, reply);
    return payload;
  });
  if (owned) fastify.addHook('onClose', () => sessions.close());
  done();
};

/**
 *   await app.register(session, { secrets: [process.env.SESSION_SECRET] });
 *   app.post('/login', async (req) => { req.session.regenerate().set('userId', user.id); … });
 */
export const session = fp(sessionPlugin, { name: 'onionscale-session', fastify: '5.x' });

// ---- the one-round-trip request pipeline ----

export type FastifyPipelineOptions = PipelineOptions | { pipeline: RequestPipeline };

const pipelinePlugin: FastifyPluginCallback<FastifyPipelineOptions> = (fastify, options, done) => {
  const pipeline = 'pipeline' in options ? options.pipeline : createPipeline(options);
  fastify.decorateRequest('session', null as unknown as Session);
  fastify.decorateRequest('rateLimit', undefined);
  fastify.addHook('onRequest', async (request, reply) => {
    const { session: s, decision } = await pipeline.run({ ...requestInfo(request), method: request.method, url: request.url });
    request.session = s;
    request.rateLimit = decision;
    const refusal = refusalOf(decision);
    if (refusal) return reply.code(refusal.status).headers(refusal.headers).send(refusal.body);
    reply.headers(limitHeaders(decision));
    return undefined;
  });
  fastify.addHook('onSend', async (request, reply, payload) => {
    await finishSession(pipeline.sessions, request, reply);
    return payload;
  });
  done();
};

/**
 * Session + rate limits (+ cache prefetch) in one Redis round trip (see the Express `requestPipeline`). Refused
 * requests get 429 / 400 from the onRequest hook and never reach the handler.
 *
 *   await app.register(requestPipeline, { sessions, limiter, cache, prefetch: (req) => … });
 */
export const requestPipeline = fp(pipelinePlugin, { name: 'onionscale-request-pipeline', fastify: '5.x' });
