/**
 * Express handler for the event bus's SSE streams (re-exported by `onionscale/express`). Thin by design: the
 * framework-neutral core (`bus.handle`) does everything on node:http; Express's `req` is what `authorize` and
 * `userOf` see, so `req.session.userId` from onionscale sessions works by default.
 *
 *   const bus = createEventBus({ channels: { new_messages: { replay: true }, 'user:*': { replay: true } } });
 *   app.get('/events', session(...), sse(bus));                       // ?channels=new_messages,user:42
 *   app.get('/events/news', sse(bus, { channels: ['new_messages'] }));  // fixed by the route
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { EventBus } from '../core/events/bus.js';
import type { HandleOptions } from '../core/events/types.js';

export type SseRouteOptions = Omit<HandleOptions, 'request'>;

export function sse(bus: EventBus, options: SseRouteOptions = {}): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    bus.handle(req, res, { ...options, request: req }).catch(next);
  };
}
