/**
 * `onionscale/express`: the response cache and sessions as Express middleware. Thin by design (STYLE.md §4): it translates the
 * request, writes hits, and lets the node:http capture in the core buffer misses. Express itself is an optional
 * peer dependency; only its types are imported.
 *
 *   const cache = responseCache({ backend, ttl: '30s' });
 *   app.get('/news', cache, handler);          // or app.use(cache)
 *   await cache.invalidateTag('news');
 */
import type { TLSSocket } from 'node:tls';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { captureResponse, writeServed } from '../core/http-cache/node-response.js';
import { createResponseCache, type ResponseCache } from '../core/http-cache/response-cache.js';
import type { ResponseCacheOptions } from '../core/http-cache/types.js';
import { bindSession } from '../core/session/node-response.js';
import { createSessions, Sessions, type RequestInfo, type Session, type SessionOptions } from '../core/session/index.js';
import { createPipeline, limitHeaders, refusalOf, RequestPipeline, type PipelineOptions, type PipelineRequest, type Refusal } from '../core/pipeline/index.js';
import type { Decision } from '../core/ratelimit/types.js';

export * from '../core/http-cache/index.js';
export * from '../core/session/index.js';
export * from '../core/events/index.js';
export * from '../core/pipeline/index.js';
export { sse, type SseRouteOptions } from './express-events.js';

export interface ExpressResponseCache extends RequestHandler {
  readonly cache: ResponseCache;
  readonly invalidateTag: (tag: string) => Promise<void>;
}

export function responseCache(options: ResponseCacheOptions): ExpressResponseCache {
  const cache = createResponseCache(options);
  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    // originalUrl, not url: a router mounted at /blog sees url "/" for "/blog/".
    void cache.lookup({ method: req.method, url: req.originalUrl, headers: req.headers }).then((result) => {
      if (result.kind === 'hit') return writeServed(res, result.response);
      if (result.kind === 'bypass') for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value);
      else captureResponse(res, cache, result.miss);
      next();
    }, next);
  };
  return Object.assign(middleware, { cache, invalidateTag: (tag: string) => cache.invalidateTag(tag) });
}

// ---- sessions ----


declare module 'express-serve-static-core' {
  interface Request {
    /** Set by `session()` (or the request pipeline) from onionscale. */
    session: Session;
    /** Set by `requestPipeline()`: this request's rate-limit decision (`undefined` when no limits apply). */
    rateLimit?: Decision | undefined;
  }
}

export interface ExpressSessionMiddleware extends RequestHandler {
  readonly sessions: Sessions;
}

export function requestInfo(req: Request): RequestInfo {
  return { headers: req.headers, encrypted: (req.socket as Partial<TLSSocket>).encrypted === true };
}

/**
 *   app.use(session({ secrets: [process.env.SESSION_SECRET] }));
 *   app.post('/login', (req, res) => { req.session.regenerate().set('userId', user.id); … });
 */
export function session(options: SessionOptions | Sessions): ExpressSessionMiddleware {
  const sessions = options instanceof Sessions ? options : createSessions(options);
  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    sessions.open(requestInfo(req)).then((s) => {
      req.session = s;
      bindSession(sessions, s, requestInfo(req), res);
      next();
    }, next);
  };
  return Object.assign(middleware, { sessions });
}

// ---- the one-round-trip request pipeline ----

export interface ExpressPipelineMiddleware extends RequestHandler {
  readonly pipeline: RequestPipeline;
}

function pipelineRequest(req: Request): PipelineRequest {
  return { ...requestInfo(req), method: req.method, url: req.originalUrl };
}

/**
 * Session + rate limits (+ cache prefetch) in one Redis round trip, instead of `session()` and a limiter each
 * going to Redis. Refused requests get 429 (Retry-After, RateLimit headers) or 400 (no circuit) and never reach the
 * handler; allowed ones carry the RateLimit headers.
 *
 *   const redis = createClient(redisOptionsFromEnv()); await redis.connect();   // one client: one round trip
 *   app.use(requestPipeline({
 *     sessions: createSessions({ secrets, redis: { client: redis } }),
 *     limiter: createRateLimiter({ redis: { client: redis }, rules: [{ name: 'circuit', algorithm: 'gcra', limit: 30, window: '10s', by: ['circuit'] }] }),
 *   }));
 */
export interface ExpressPipelineHooks {
  /** Answers a refused request yourself (an HTML page, say); the refusal's status and headers are the default answer. */
  onRefused?: (req: Request, res: Response, refusal: Refusal, decision: Decision) => void;
}

export function requestPipeline(options: PipelineOptions | RequestPipeline, hooks: ExpressPipelineHooks = {}): ExpressPipelineMiddleware {
  const pipeline = options instanceof RequestPipeline ? options : createPipeline(options);
  const middleware = (req: Request, res: Response, next: NextFunction): void => {
    const info = pipelineRequest(req);
    pipeline.run(info).then(({ session: s, decision }) => {
      req.session = s;
      req.rateLimit = decision;
      const refusal = refusalOf(decision);
      if (refusal && decision) {
        if (hooks.onRefused) hooks.onRefused(req, res, refusal, decision);
        else res.writeHead(refusal.status, refusal.headers).end(refusal.body);
        return;
      }
      for (const [name, value] of Object.entries(limitHeaders(decision))) res.setHeader(name, value);
      bindSession(pipeline.sessions, s, info, res);
      next();
    }, next);
  };
  return Object.assign(middleware, { pipeline });
}
