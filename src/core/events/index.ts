/** Real-time events: Redis pub/sub + Streams, SSE on node:http, the cache's invalidation bus (docs/events.md). */
export { EventBus, createEventBus } from './bus.js';
export { EventCacheBus } from './cache-bus.js';
export { isChannelName, USER_PREFIX } from './channels.js';
export { EVENTS_CHANNEL, type EventsDiagnostic } from './diagnostics.js';
export { parseEventId, formatEventId, type EventId } from './ids.js';
export { DEFAULT_HEARTBEAT_MS } from './options.js';
export { RESET_EVENT } from './sse.js';
export type { AuthorizeContext, ChannelOptions, EventBusOptions, EventBusStats, HandleOptions } from './types.js';
