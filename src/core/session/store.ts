/**
 * Where sessions are kept. `RedisSessionStore` (shared by every instance, survives app restarts) and
 * `MemorySessionStore` (explicit single-process mode, and fast unit tests) implement one contract, checked by one
 * suite (store-contract.ts) against both.
 */
import type { RedisArgument } from 'redis';
import { SharedDeadline } from '../cache/deadline.js';
import { NO_CLIENT_TIMEOUT, whenReady, type AnyRedisClient } from '../redis/client.js';
import { evalScript, type Script } from '../redis/script.js';
import { CREATED_FIELD, LOAD, WRITE } from './lua.js';

export interface SessionWrite {
  key: string;
  /** A new session (or the new id of a regenerated one): created even though it does not exist yet. */
  create: boolean;
  set: ReadonlyArray<readonly [string, string]>;
  del: readonly string[];
  idleMs: number;
  /** Deleted in the same atomic step (regenerate). */
  replaces?: string;
}

export interface SessionStore {
  /** The stored fields (including `~c`), or `undefined`; pushes the idle expiry forward. */
  load(key: string, idleMs: number, absoluteMs: number): Promise<Map<string, string> | undefined>;
  /** `false` when an update found the session gone (destroyed or expired meanwhile): nothing was written. */
  write(op: SessionWrite): Promise<boolean>;
  destroy(key: string): Promise<void>;
  close(): Promise<void>;
}

export function fieldsFromFlat(flat: readonly unknown[]): Map<string, string> | undefined {
  if (flat.length === 0) return undefined;
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(String(flat[i]), String(flat[i + 1]));
  return fields;
}

export function writeArgs(op: SessionWrite, now: number | undefined): { keys: string[]; args: string[] } {
  const args = [now === undefined ? '' : String(now), String(Math.max(1, Math.ceil(op.idleMs))), op.create ? '1' : '0', String(op.set.length)];
  for (const [name, value] of op.set) args.push(name, value);
  args.push(...op.del);
  return { keys: op.replaces ? [op.key, op.replaces] : [op.key], args };
}

export interface RedisSessionStoreOptions {
  client: AnyRedisClient;
  ownsClient: boolean;
  commandTimeout: number;
  /** Injected clock (tests); default Redis TIME, so every instance agrees on "now". */
  now?: () => number;
}

export class RedisSessionStore implements SessionStore {
  readonly #client: AnyRedisClient;
  readonly #owns: boolean;
  readonly #deadline: SharedDeadline;
  readonly #now: (() => number) | undefined;
  readonly #timeout: number;
  #wasReady: boolean;

  constructor(options: RedisSessionStoreOptions) {
    this.#client = options.client;
    this.#owns = options.ownsClient;
    this.#deadline = new SharedDeadline(options.commandTimeout);
    this.#timeout = options.commandTimeout;
    this.#wasReady = this.#client.isReady;
    if (!this.#wasReady) this.#client.once('ready', () => (this.#wasReady = true));
    this.#now = options.now;
  }

  get client(): AnyRedisClient {
    return this.#client;
  }

  /** Sends through the shared deadline; the request pipeline uses it for its combined script. */
  send<T>(args: readonly string[]): Promise<T> {
    if (!this.#client.isReady && !this.#wasReady) return this.#sendWhenReady(args);
    return this.#deadline.race(this.#client.sendCommand<T>(args as RedisArgument[], NO_CLIENT_TIMEOUT));
  }

  // Start-up only: wait up to commandTimeout for the first connection rather than fail at once. Once it has been
  // ready, a lost connection fails commands at once (a dead Redis must cost no latency).
  async #sendWhenReady<T>(args: readonly string[]): Promise<T> {
    await whenReady(this.#client, this.#timeout);
    return this.#deadline.race(this.#client.sendCommand<T>(args as RedisArgument[], NO_CLIENT_TIMEOUT));
  }

  eval<T>(s: Script, keys: readonly string[], args: readonly string[]): Promise<T> {
    return evalScript<T>((a) => this.send(a), s, keys, args);
  }

  nowArg(): string {
    return this.#now ? String(this.#now()) : '';
  }

  async load(key: string, idleMs: number, absoluteMs: number): Promise<Map<string, string> | undefined> {
    const flat = await this.eval<unknown[]>(LOAD, [key], [this.nowArg(), String(Math.ceil(idleMs)), String(Math.ceil(absoluteMs))]);
    return fieldsFromFlat(flat);
  }

  async write(op: SessionWrite): Promise<boolean> {
    const { keys, args } = writeArgs(op, this.#now?.());
    return (await this.eval<number>(WRITE, keys, args)) === 1;
  }

  async destroy(key: string): Promise<void> {
    await this.send(['DEL', key]);
  }

  async close(): Promise<void> {
    if (this.#owns && this.#client.isOpen) await this.#client.close();
  }
}

interface MemoryEntry {
  fields: Map<string, string>;
  expiresAt: number;
}

/** Single-process sessions with the same semantics as Redis (idle expiry, absolute lifetime, no resurrection). */
export class MemorySessionStore implements SessionStore {
  readonly #entries = new Map<string, MemoryEntry>();
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
  }

  #live(key: string): MemoryEntry | undefined {
    const e = this.#entries.get(key);
    if (e && e.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  load(key: string, idleMs: number, absoluteMs: number): Promise<Map<string, string> | undefined> {
    const e = this.#live(key);
    if (!e) return Promise.resolve(undefined);
    const now = this.#now();
    if (absoluteMs > 0 && now - Number(e.fields.get(CREATED_FIELD)) >= absoluteMs) {
      this.#entries.delete(key);
      return Promise.resolve(undefined);
    }
    e.expiresAt = now + idleMs;
    return Promise.resolve(new Map(e.fields));
  }

  write(op: SessionWrite): Promise<boolean> {
    if (op.replaces) this.#entries.delete(op.replaces);
    let e = this.#live(op.key);
    if (!e) {
      if (!op.create) return Promise.resolve(false);
      e = { fields: new Map([[CREATED_FIELD, String(this.#now())]]), expiresAt: 0 };
      this.#entries.set(op.key, e);
    }
    for (const [name, value] of op.set) e.fields.set(name, value);
    for (const name of op.del) e.fields.delete(name);
    e.expiresAt = this.#now() + op.idleMs;
    return Promise.resolve(true);
  }

  destroy(key: string): Promise<void> {
    this.#entries.delete(key);
    return Promise.resolve();
  }

  /** Live sessions (tests, the compatible store's `length`). */
  get size(): number {
    for (const key of [...this.#entries.keys()]) this.#live(key);
    return this.#entries.size;
  }

  close(): Promise<void> {
    this.#entries.clear();
    return Promise.resolve();
  }
}
