/**
 * Fastify route handler for the event bus's SSE streams (re-exported by `onionscale/fastify`). It hijacks the reply
 * (Fastify sends nothing and runs no onSend hooks for it) and hands the raw node:http pair to the core; the
 * FastifyRequest is what `authorize` and `userOf` see (`request.session.userId` by default).
 *
 *   app.get('/events', sseHandler(bus));                               // ?channels=new_messages,user:42
 *   app.get('/events/news', sseHandler(bus, { channels: ['new_messages'] }));
 *
 * Headers set on the reply before the handler (reply.header in hooks) are not sent: set them with a raw hook.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EventBus } from '../core/events/bus.js';
import type { HandleOptions } from '../core/events/types.js';

export type SseRouteOptions = Omit<HandleOptions, 'request'>;

export function sseHandler(bus: EventBus, options: SseRouteOptions = {}): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request, reply) => {
    reply.hijack();
    await bus.handle(request.raw, reply.raw, { ...options, request });
  };
}
