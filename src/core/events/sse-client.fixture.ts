/**
 * A small SSE client for tests and benchmarks (not shipped: *.fixture.ts). Parses the stream the way the WHATWG
 * EventSource does — including `lastId` updated by id-only blocks, which is what a browser would send back as
 * `Last-Event-ID` — over node:http, with `pause()` to play a reader that stops reading.
 */
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export interface SseClient {
  status: number;
  headers: IncomingHttpHeaders;
  /** Body of a non-200 answer. */
  body: string;
  events: SseEvent[];
  comments: number;
  retry: number | undefined;
  /** The browser's `lastEventId`. */
  lastId: string | undefined;
  ended: boolean;
  /** Resolves once `pred` holds (checked after every chunk and at the end), rejects after `timeoutMs`. */
  until(pred: (c: SseClient) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  pause(): void;
  resume(): void;
  close(): void;
  onEvent?: (e: SseEvent) => void;
}

export function openSse(url: string, options: { lastEventId?: string; headers?: Record<string, string> } = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/event-stream', ...options.headers };
    if (options.lastEventId !== undefined) headers['last-event-id'] = options.lastEventId;
    const req = request(url, { headers, agent: false });
    req.once('error', reject);
    req.once('response', (res: IncomingMessage) => {
      const waiters = new Set<() => void>();
      let buffer = '';
      let data: string[] = [];
      let type = '';
      const client: SseClient = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: '',
        events: [],
        comments: 0,
        retry: undefined,
        lastId: undefined,
        ended: false,
        until(pred, timeoutMs = 5000, what = 'condition') {
          if (pred(client)) return Promise.resolve();
          return new Promise<void>((ok, fail) => {
            const check = (): void => {
              if (pred(client)) {
                clearTimeout(timer);
                waiters.delete(check);
                ok();
              } else if (client.ended) {
                clearTimeout(timer);
                waiters.delete(check);
                fail(new Error(`stream ended before ${what} (${client.events.length} events)`));
              }
            };
            const timer = setTimeout(() => {
              waiters.delete(check);
              fail(new Error(`timed out waiting for ${what} (${client.events.length} events)`));
            }, timeoutMs);
            waiters.add(check);
          });
        },
        pause: () => res.pause(),
        resume: () => res.resume(),
        close: () => {
          req.destroy();
          res.destroy();
        },
      };
      const line = (l: string): void => {
        if (l === '') {
          if (data.length > 0) {
            const e: SseEvent = { id: client.lastId, event: type || 'message', data: data.join('\n') };
            client.events.push(e);
            client.onEvent?.(e);
          }
          data = [];
          type = '';
          return;
        }
        if (l.startsWith(':')) {
          client.comments++;
          return;
        }
        const colon = l.indexOf(':');
        const field = colon < 0 ? l : l.slice(0, colon);
        let value = colon < 0 ? '' : l.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') data.push(value);
        else if (field === 'event') type = value;
        else if (field === 'id' && !value.includes('\0')) client.lastId = value;
        else if (field === 'retry' && /^\d+$/.test(value)) client.retry = Number(value);
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (client.status !== 200) {
          client.body += chunk;
          return;
        }
        const parts = (buffer + chunk).split('\n');
        buffer = parts.pop()!;
        for (const p of parts) line(p.endsWith('\r') ? p.slice(0, -1) : p);
        for (const w of [...waiters]) w();
      });
      const finish = (): void => {
        client.ended = true;
        for (const w of [...waiters]) w();
      };
      res.once('end', finish);
      res.once('close', finish);
      res.once('error', finish);
      if (client.status === 200) resolve(client);
      else res.once('end', () => resolve(client));
    });
    req.end();
  });
}
