/**
 * The in-memory `CacheBus`: caches in one process that share a `MemoryBusHub` see each other's invalidations, the
 * way instances sharing a Redis do. Delivery is asynchronous (a microtask) like a real bus, so tests do not come to
 * depend on synchronous eviction.
 */
import type { CacheBus, InvalidationMessage } from './types.js';

export class MemoryBusHub {
  readonly #buses = new Set<MemoryBus>();

  /** @internal */
  join(bus: MemoryBus): void {
    this.#buses.add(bus);
  }

  /** @internal */
  leave(bus: MemoryBus): void {
    this.#buses.delete(bus);
  }

  /** @internal */
  broadcast(message: InvalidationMessage): void {
    for (const bus of this.#buses) bus.deliver(message);
  }

  /** Simulates a bus outage and recovery for every member (tests of the "drop L1 after reconnect" rule). */
  setConnected(connected: boolean): void {
    for (const bus of this.#buses) bus.setConnected(connected);
  }
}

export class MemoryBus implements CacheBus {
  readonly #hub: MemoryBusHub;
  readonly #handlers: ((message: InvalidationMessage) => void)[] = [];
  readonly #connectionListeners: ((connected: boolean) => void)[] = [];
  #connected = true;
  #closed = false;

  constructor(hub: MemoryBusHub = new MemoryBusHub()) {
    this.#hub = hub;
    hub.join(this);
  }

  get connected(): boolean {
    return this.#connected && !this.#closed;
  }

  publish(message: InvalidationMessage): void {
    if (!this.connected) return;
    // Copy: the receivers must not see later mutations of the sender's arrays.
    const copy: InvalidationMessage = { ...message, keys: [...message.keys] };
    queueMicrotask(() => this.#hub.broadcast(copy));
  }

  subscribe(handler: (message: InvalidationMessage) => void): void {
    this.#handlers.push(handler);
  }

  onConnection(listener: (connected: boolean) => void): void {
    this.#connectionListeners.push(listener);
  }

  onError(): void {
    // An in-process bus cannot fail.
  }

  /** @internal */
  deliver(message: InvalidationMessage): void {
    if (!this.connected) return;
    for (const handler of this.#handlers) handler(message);
  }

  /** @internal */
  setConnected(connected: boolean): void {
    if (this.#closed || connected === this.#connected) return;
    this.#connected = connected;
    for (const listener of this.#connectionListeners) listener(connected);
  }

  close(): Promise<void> {
    this.destroy();
    return Promise.resolve();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#hub.leave(this);
  }
}
