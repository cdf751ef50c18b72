/**
 * Event ids: `<epoch>_<ms>-<seq>`. `<ms>-<seq>` is the Redis Stream entry id (one total order per bus, minted in Lua
 * from Redis TIME, see lua.ts); `<epoch>` names the bus's life in Redis (set when its head key is first created), so
 * an id from another bus, another deployment or a Redis that lost its data is recognised as foreign instead of being
 * mistaken for a position. The id is what SSE's `id:` line carries and what the browser sends back in
 * `Last-Event-ID`, so parsing is strict and never throws.
 */

export interface EventId {
  readonly epoch: string;
  readonly ms: number;
  readonly seq: number;
}

const ID_RE = /^([0-9a-z]{1,16})_(\d{1,15})-(\d{1,15})$/;

/** The id, or `undefined` for anything that is not one (too long, wrong shape, out of the safe integer range). */
export function parseEventId(text: string | undefined): EventId | undefined {
  if (text === undefined || text.length > 48) return undefined;
  const m = ID_RE.exec(text);
  if (!m) return undefined;
  return { epoch: m[1]!, ms: Number(m[2]), seq: Number(m[3]) };
}

export function formatEventId(id: EventId): string {
  return `${id.epoch}_${id.ms}-${id.seq}`;
}

/** Order within one epoch (callers compare epochs first). */
export function compareIds(a: EventId, b: EventId): number {
  return a.ms - b.ms || a.seq - b.seq;
}

/** `<ms>-<seq>` as Redis prints it → an id of `epoch`. */
export function fromStreamId(epoch: string, streamId: string): EventId {
  const dash = streamId.indexOf('-');
  return { epoch, ms: Number(streamId.slice(0, dash)), seq: Number(streamId.slice(dash + 1)) };
}
