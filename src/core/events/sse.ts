/**
 * One SSE stream on node:http (`ServerResponse`), carrying several channels (Tor Browser on http onions allows 6
 * connections per host, so one stream per tab, not one per channel). Each live event's frame is built once per
 * instance (`frame()`) and written to every stream that wants it.
 *
 * While a stream catches up (replay after `Last-Event-ID`, or after Redis came back) live frames are queued, then
 * flushed after the replay with every replayable frame at or below the last id sent dropped: nothing is lost, nothing
 * is sent twice. The queue and the socket's unsent bytes (`res.writableLength`) share one byte bound; past it the
 * reader is too slow and is cut off (it reconnects and replays), so one stalled reader never slows the others nor
 * grows memory without bound.
 */
import type { ServerResponse } from 'node:http';
import { compareIds, formatEventId, type EventId } from './ids.js';

export interface Frame {
  readonly channel: string;
  readonly id: EventId | undefined;
  readonly text: string;
}

/** The event a client gets when its Last-Event-ID cannot be honoured; a name no channel can have (`/`). */
export const RESET_EVENT = 'osc/reset';

export function frame(channel: string, id: EventId | undefined, payload: string): Frame {
  return { channel, id, text: `${id ? `id: ${formatEventId(id)}\n` : ''}event: ${channel}\ndata: ${payload}\n\n` };
}

export function positionText(id: EventId): string {
  return `id: ${formatEventId(id)}\n\n`;
}

export function resetText(position: EventId, reason: string): string {
  return `id: ${formatEventId(position)}\nevent: ${RESET_EVENT}\ndata: ${JSON.stringify({ reason })}\n\n`;
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-store',
  'x-accel-buffering': 'no',
} as const;

export interface ConnectionOptions {
  channels: readonly string[];
  replayable: readonly string[];
  maxBufferBytes: number;
  onSlow: (conn: SseConnection, bufferedBytes: number) => void;
}

export class SseConnection {
  readonly channels: readonly string[];
  /** The channels of this stream that have a replay policy. */
  readonly replayable: readonly string[];
  /** The last id this client has (events, positions, resets): its Last-Event-ID if it reconnected now. */
  last: EventId | undefined;
  #state: 'catching-up' | 'live' | 'closed' = 'catching-up';
  #pending: Frame[] = [];
  #pendingBytes = 0;
  readonly #res: ServerResponse;
  readonly #maxBufferBytes: number;
  readonly #onSlow: ConnectionOptions['onSlow'];

  constructor(res: ServerResponse, options: ConnectionOptions) {
    this.#res = res;
    this.channels = options.channels;
    this.replayable = options.replayable;
    this.#maxBufferBytes = options.maxBufferBytes;
    this.#onSlow = options.onSlow;
  }

  get state(): 'catching-up' | 'live' | 'closed' {
    return this.#state;
  }

  /** Writes the status line, headers and the retry hint. */
  open(retryMs: number): void {
    this.#res.writeHead(200, SSE_HEADERS);
    this.write(`retry: ${retryMs}\n\n`);
  }

  /** Queue live frames from now on (until `goLive`). */
  beginCatchUp(): void {
    if (this.#state === 'live') this.#state = 'catching-up';
  }

  deliver(f: Frame): boolean {
    if (this.#state === 'closed') return false;
    if (this.#state === 'catching-up') {
      this.#pending.push(f);
      this.#pendingBytes += f.text.length;
      this.#checkBuffer();
      return true;
    }
    return this.#send(f);
  }

  /** Replayed frames (in id order), then the queued live ones, deduplicated by id. */
  goLive(replayed: readonly Frame[], position: EventId | undefined, prelude = ''): number {
    if (this.#state === 'closed') return 0;
    let text = prelude;
    let sent = 0;
    for (const f of replayed) {
      if (f.id && this.last && compareIds(f.id, this.last) <= 0) continue;
      text += f.text;
      if (f.id) this.last = f.id;
      sent++;
    }
    if (position && (this.last === undefined || compareIds(position, this.last) > 0)) {
      text += positionText(position);
      this.last = position;
    }
    if (text !== '') this.write(text);
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#state = 'live';
    for (const f of pending) this.#send(f);
    return sent;
  }

  /** A position minted after this stream went live: everything before it has been delivered. */
  advance(position: EventId): void {
    if (this.#state !== 'live' || this.replayable.length === 0) return;
    if (this.last !== undefined && compareIds(position, this.last) <= 0) return;
    this.last = position;
    this.write(positionText(position));
  }

  #send(f: Frame): boolean {
    if (f.id) {
      if (this.last && compareIds(f.id, this.last) <= 0) return false;
      this.last = f.id;
    }
    this.write(f.text);
    return true;
  }

  write(text: string): void {
    if (this.#state === 'closed' || this.#res.destroyed) return;
    this.#res.write(text);
    this.#checkBuffer();
  }

  #checkBuffer(): void {
    const buffered = this.#res.writableLength + this.#pendingBytes;
    if (buffered > this.#maxBufferBytes) {
      this.#onSlow(this, buffered);
      this.destroy();
    }
  }

  /** Ends the stream cleanly (the browser reconnects after `retry`). */
  end(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#pending = [];
    if (!this.#res.writableEnded) this.#res.end();
  }

  destroy(): void {
    this.#state = 'closed';
    this.#pending = [];
    this.#res.destroy();
  }
}
