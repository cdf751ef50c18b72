/**
 * What every `CacheBus` shares, whatever carries its messages (Redis pub/sub, the event bus, an in-process hub):
 * the wire format `{"o":origin,"k":[keys],"t":tag}` and the listener bookkeeping — handlers, connection listeners,
 * error listeners and the connected/closed state. Transports only publish, feed `receive()` / `setConnected()`
 * / `reportError()`, and close what they own.
 */
import type { InvalidationMessage } from './types.js';

interface Wire {
  o: string;
  k: string[];
  t?: string;
}

export function encodeInvalidation(message: InvalidationMessage): string {
  const wire: Wire = message.tag === undefined ? { o: message.origin, k: [...message.keys] } : { o: message.origin, k: [...message.keys], t: message.tag };
  return JSON.stringify(wire);
}

/** The message, or `undefined` for anything that is not one (never throws). */
export function decodeInvalidation(raw: string): InvalidationMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const w = parsed as Partial<Wire>;
  if (typeof w.o !== 'string' || !Array.isArray(w.k) || !w.k.every((k) => typeof k === 'string')) return undefined;
  if (w.t !== undefined && typeof w.t !== 'string') return undefined;
  return w.t === undefined ? { origin: w.o, keys: w.k } : { origin: w.o, keys: w.k, tag: w.t };
}

/** Base of the pub/sub-carried buses (RedisBus, the event bus's EventCacheBus). */
export abstract class BusBase {
  readonly #handlers: ((message: InvalidationMessage) => void)[] = [];
  readonly #connectionListeners: ((connected: boolean) => void)[] = [];
  readonly #errorListeners: ((error: unknown) => void)[] = [];
  #connected: boolean;
  #closed = false;

  constructor(connected = false) {
    this.#connected = connected;
  }

  abstract publish(message: InvalidationMessage): void;

  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  protected get closed(): boolean {
    return this.#closed;
  }

  subscribe(handler: (message: InvalidationMessage) => void): void {
    this.#handlers.push(handler);
  }

  onConnection(listener: (connected: boolean) => void): void {
    this.#connectionListeners.push(listener);
  }

  onError(listener: (error: unknown) => void): void {
    this.#errorListeners.push(listener);
  }

  /** A raw wire message: decoded and handed to every handler; a malformed one is reported and ignored. */
  protected receive(raw: string): void {
    const message = decodeInvalidation(raw);
    if (message === undefined) return this.reportError(new Error('malformed invalidation message ignored'));
    this.deliver(message);
  }

  protected deliver(message: InvalidationMessage): void {
    for (const handler of this.#handlers) handler(message);
  }

  protected setConnected(connected: boolean): void {
    if (this.#closed || connected === this.#connected) return;
    this.#connected = connected;
    for (const listener of this.#connectionListeners) listener(connected);
  }

  protected reportError(error: unknown): void {
    if (this.#closed) return;
    for (const listener of this.#errorListeners) listener(error);
  }

  /** Marks the bus closed; returns false when it already was. */
  protected markClosed(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    this.#connected = false;
    return true;
  }
}
