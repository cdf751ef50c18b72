/**
 * The in-memory `Transport` (`redis: false`): one process, same rules as the Redis one (lua.ts) — one id order per
 * bus, exact trimming by length and age with a floor per channel, positions — so the unit tests of the bus exercise
 * the real replay semantics. Delivery is asynchronous (a microtask, in publish order) like a real bus.
 */
import { randomBytes } from 'node:crypto';
import type { ReplayPolicy } from './channels.js';
import { compareIds, formatEventId, type EventId } from './ids.js';
import type { CatchUpResult, Entry, Transport, TransportHooks } from './types.js';

interface Log {
  entries: Entry[];
  floor: EventId | undefined;
  expiresAt: number;
}

export class MemoryTransport implements Transport {
  readonly kind = 'memory';
  readonly up = true;
  readonly #hooks: TransportHooks;
  readonly #now: () => number;
  readonly #epoch = BigInt(`0x${randomBytes(6).toString('hex')}`).toString(36);
  readonly #logs = new Map<string, Log>();
  readonly #subscribed = new Set<string>();
  #head: EventId;
  #closed = false;

  constructor(hooks: TransportHooks, now: () => number = Date.now) {
    this.#hooks = hooks;
    this.#now = now;
    this.#head = { epoch: this.#epoch, ms: 0, seq: 0 };
  }

  #mint(): EventId {
    const now = this.#now();
    const h = this.#head;
    this.#head = h.ms >= now ? { epoch: this.#epoch, ms: h.ms, seq: h.seq + 1 } : { epoch: this.#epoch, ms: now, seq: 0 };
    return this.#head;
  }

  #log(channel: string): Log | undefined {
    const log = this.#logs.get(channel);
    if (log && log.expiresAt <= this.#now()) {
      this.#logs.delete(channel);
      return undefined;
    }
    return log;
  }

  #deliver(channel: string, id: string | undefined, payload: string): void {
    queueMicrotask(() => {
      if (!this.#closed && this.#subscribed.has(channel)) this.#hooks.message(channel, id, payload);
    });
  }

  publish(channel: string, payload: string, replay: ReplayPolicy | undefined): Promise<string | undefined> {
    if (replay === undefined) {
      this.#deliver(channel, undefined, payload);
      return Promise.resolve(undefined);
    }
    const id = this.#mint();
    const now = this.#now();
    const log = this.#log(channel) ?? { entries: [], floor: undefined, expiresAt: 0 };
    log.entries.push({ channel, id, payload });
    if (log.entries.length > replay.maxLen) log.floor = log.entries.splice(0, log.entries.length - replay.maxLen).at(-1)!.id;
    const old = log.entries.findLastIndex((e) => e.id.ms < now - replay.maxAgeMs);
    if (old >= 0) log.floor = log.entries.splice(0, old + 1).at(-1)!.id;
    log.expiresAt = now + replay.maxAgeMs;
    this.#logs.set(channel, log);
    const text = formatEventId(id);
    this.#deliver(channel, text, payload);
    return Promise.resolve(text);
  }

  catchUp(after: EventId | undefined, channels: readonly { name: string; replay: ReplayPolicy }[], limit: number): Promise<CatchUpResult> {
    const previous = this.#head;
    const position = this.#mint();
    const now = this.#now();
    const result = (status: CatchUpResult['status'], entries: Entry[] = []): Promise<CatchUpResult> => Promise.resolve({ status, position, entries });
    if (after === undefined) return result('fresh');
    if (after.epoch !== this.#epoch) return result('foreign');
    if (compareIds(after, previous) > 0) return result('future');
    const entries: Entry[] = [];
    for (const { name, replay } of channels) {
      const log = this.#log(name);
      if (after.ms < now - replay.maxAgeMs) return result('stale');
      if (log?.floor && compareIds(log.floor, after) > 0) return result('stale');
      for (const e of log?.entries ?? []) if (compareIds(e.id, after) > 0) entries.push(e);
      if (entries.length > limit) return result('too-many');
    }
    return result('ok', entries.sort((a, b) => compareIds(a.id, b.id)));
  }

  publishPosition(): Promise<void> {
    const id = formatEventId(this.#mint());
    queueMicrotask(() => {
      if (!this.#closed) this.#hooks.position(id);
    });
    return Promise.resolve();
  }

  subscribe(channel: string): Promise<void> {
    this.#subscribed.add(channel);
    return Promise.resolve();
  }

  unsubscribe(channel: string): void {
    this.#subscribed.delete(channel);
  }

  close(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  destroy(): void {
    this.#closed = true;
    this.#subscribed.clear();
  }
}
