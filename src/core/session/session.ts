/**
 * One request's view of a session. Reads come from the fields loaded at request start; writes are tracked per field
 * and flushed by `save()` (the adapters call it before the response ends) as HSET/HDEL of the changed fields only.
 *
 * Anonymous visitors get no session in Redis and no cookie until something is written, which keeps their pages
 * cacheable. `regenerate()` (call it on login) and `destroy()` (logout) take effect at the next save.
 */
import { OnionscaleError } from '../../errors.js';
import { encodeKeyPart } from '../redis/key-part.js';
import { CREATED_FIELD, USER_KEY_FIELD } from './lua.js';
import { newSessionId } from './signing.js';

/** What a Session needs from its manager; kept narrow so tests can build sessions directly. */
export interface SessionHost {
  readonly userField: string;
  readonly maxFieldBytes: number;
  keyOf(id: string): string;
  save(session: Session): Promise<void>;
}

export type SessionState = 'new' | 'loaded' | 'degraded';

export class Session {
  readonly #host: SessionHost;
  #id: string;
  #state: SessionState;
  readonly #values = new Map<string, unknown>();
  readonly #dirty = new Set<string>();
  #createdAt: number | undefined;
  /** Key of a previous id to delete at save (regenerate / destroy). */
  #replaces: string | undefined;
  /** The id the client's cookie validly names (undefined: none, or one signed with a retired secret). */
  #clientId: string | undefined;

  constructor(host: SessionHost, id: string | undefined, fields: Map<string, string> | undefined, state?: SessionState) {
    this.#host = host;
    this.#id = id ?? newSessionId();
    this.#state = state ?? (fields ? 'loaded' : 'new');
    // An id whose session expired is never reused: the next write gets a fresh one (no fixation via old cookies).
    if (this.#state === 'new') this.#id = newSessionId();
    else this.#clientId = this.#id;
    if (!fields) return;
    for (const [name, raw] of fields) {
      if (name === CREATED_FIELD) {
        this.#createdAt = Number(raw);
        continue;
      }
      if (name.startsWith('~')) continue; // our own bookkeeping (USER_KEY_FIELD)
      try {
        this.#values.set(name, JSON.parse(raw));
      } catch {
        // A field written by something else; not ours to interpret.
      }
    }
  }

  get id(): string {
    return this.#id;
  }

  /** Not in the store yet (anonymous, or just regenerated / destroyed). */
  get isNew(): boolean {
    return this.#state !== 'loaded';
  }

  /** The store could not be reached at request start: the data is unknown, writes are dropped, the cookie is kept. */
  get degraded(): boolean {
    return this.#state === 'degraded';
  }

  get createdAt(): number | undefined {
    return this.#createdAt;
  }

  /** The logged-in user's id (the `userField`), if any. */
  get userId(): string | undefined {
    const v = this.#values.get(this.#host.userField);
    return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
  }

  get<T = unknown>(name: string): T | undefined {
    return this.#values.get(name) as T | undefined;
  }

  has(name: string): boolean {
    return this.#values.has(name);
  }

  set(name: string, value: unknown): this {
    checkName(name);
    if (value === undefined) return this.delete(name);
    let raw: string | undefined;
    try {
      raw = JSON.stringify(value);
    } catch {
      raw = undefined;
    }
    if (raw === undefined) throw new OnionscaleError('OSC_ERR_SESSION_VALUE', `session field "${name}" is not JSON-serializable`);
    if (Buffer.byteLength(raw) > this.#host.maxFieldBytes) {
      throw new OnionscaleError('OSC_ERR_SESSION_VALUE', `session field "${name}" is larger than maxFieldBytes (${this.#host.maxFieldBytes})`);
    }
    // Stored parsed, so a later get() returns what a later request would read, not the caller's mutable object.
    this.#values.set(name, JSON.parse(raw));
    this.#dirty.add(name);
    return this;
  }

  delete(name: string): this {
    checkName(name);
    this.#values.delete(name);
    this.#dirty.add(name);
    return this;
  }

  /** Every field (a copy). */
  toJSON(): Record<string, unknown> {
    return Object.fromEntries(this.#values);
  }

  /**
   * A new id for the same data; the old id is deleted at save, atomically with the new one's creation (session
   * fixation: an id planted before login is worthless after it).
   */
  regenerate(): this {
    this.#retire();
    for (const name of this.#values.keys()) this.#dirty.add(name);
    return this;
  }

  /** Forget everything; the stored session is deleted at save and the cookie cleared (unless data is set again). */
  destroy(): this {
    this.#retire();
    this.#values.clear();
    this.#dirty.clear();
    return this;
  }

  #retire(): void {
    if (this.#state === 'loaded') this.#replaces ??= this.#host.keyOf(this.#id);
    this.#id = newSessionId();
    this.#state = 'new';
    this.#createdAt = undefined;
  }

  /** Flush pending changes now (the adapters do it before the response ends; streaming handlers call it). */
  save(): Promise<void> {
    return this.#host.save(this);
  }

  // ---- for the manager ----

  /** @internal */
  markCookieStale(): void {
    this.#clientId = undefined;
  }

  /** @internal What save() must send, or `undefined` when nothing changed. */
  pending(): { create: boolean; set: Array<[string, string]>; del: string[]; replaces: string | undefined } | undefined {
    if (this.#state === 'degraded') return undefined;
    if (this.#dirty.size === 0 && this.#replaces === undefined) return undefined;
    const set: Array<[string, string]> = [];
    const del: string[] = [];
    for (const name of this.#dirty) {
      if (this.#values.has(name)) set.push([name, JSON.stringify(this.#values.get(name))]);
      else del.push(name);
    }
    if (this.#dirty.has(this.#host.userField)) {
      const user = this.userId;
      if (user === undefined) del.push(USER_KEY_FIELD);
      else set.push([USER_KEY_FIELD, encodeKeyPart(user)]);
    }
    // A new session with nothing in it is not worth storing; a destroy with nothing new only deletes the old one.
    const create = this.#state === 'new';
    if (create && set.length === 0) return this.#replaces ? { create: false, set: [], del: [], replaces: this.#replaces } : undefined;
    return { create, set, del: create ? [] : del, replaces: this.#replaces };
  }

  /** @internal The write went through. */
  committed(stored: boolean): void {
    this.#dirty.clear();
    this.#replaces = undefined;
    if (stored && this.#state === 'new') this.#state = 'loaded';
  }

  /** @internal What the cookie must say: issue the current id, clear it, or leave it alone. */
  cookieAction(): 'issue' | 'clear' | undefined {
    if (this.#state === 'degraded') return undefined;
    if (this.#willExist()) return this.#clientId === this.#id ? undefined : 'issue';
    return this.#clientId === undefined ? undefined : 'clear';
  }

  /** @internal */
  cookieIssued(): void {
    this.#clientId = this.#willExist() ? this.#id : undefined;
  }

  #willExist(): boolean {
    if (this.#state === 'loaded') return true;
    for (const name of this.#dirty) if (this.#values.has(name)) return true;
    return false;
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 128 || name.startsWith('~')) {
    throw new OnionscaleError('OSC_ERR_SESSION_VALUE', 'session field names are 1–128 characters and must not start with "~"');
  }
}
