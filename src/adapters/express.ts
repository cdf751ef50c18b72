/**
 * `onionscale/express`: the response cache as Express middleware. Thin by design (STYLE.md §4): it translates the
 * request, writes hits, and lets the node:http capture in the core buffer misses. Express itself is an optional
 * peer dependency; only its types are imported.
 *
 *   const cache = responseCache({ backend, ttl: '30s' });
 *   app.get('/news', cache, handler);          // or app.use(cache)
 *   await cache.invalidateTag('news');
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { captureResponse, writeServed } from '../core/http-cache/node-response.js';
import { createResponseCache, type ResponseCache } from '../core/http-cache/response-cache.js';
import type { ResponseCacheOptions } from '../core/http-cache/types.js';

export * from '../core/http-cache/index.js';

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
