/**
 * Binds a session to a node:http response (used by the Express middleware and plain node:http servers): Set-Cookie
 * goes out with the headers, and the end of the response waits for the changed fields to be saved, so the next
 * request of this browser reads them whichever instance it reaches. Handlers that stream (SSE) call
 * `session.save()` themselves before their first write.
 */
import type { ServerResponse } from 'node:http';
import type { Session } from './session.js';
import type { RequestInfo, Sessions } from './sessions.js';

type Method = (...args: unknown[]) => ServerResponse;

export function bindSession(sessions: Sessions, session: Session, info: RequestInfo, res: ServerResponse): void {
  // Kept as found (possibly another middleware's wrappers) and always called on the same response.
  const { writeHead, end } = res as unknown as { writeHead: Method; end: Method };
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    const cookie = sessions.cookieHeader(session, info);
    if (cookie) this.appendHeader('Set-Cookie', cookie);
    return writeHead.apply(this, args);
  };
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (!session.pending()) return end.apply(this, args);
    void sessions.save(session).finally(() => end.apply(this, args));
    return this;
  } as ServerResponse['end'];
}
