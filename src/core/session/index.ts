export { createSessions, Sessions, SESSION_CHANNEL, type SessionEvent, type RequestInfo } from './sessions.js';
export { Session } from './session.js';
export { MemorySessionStore, RedisSessionStore, type SessionStore, type SessionWrite } from './store.js';
export type { SessionOptions, SessionCookieOptions } from './types.js';
