/**
 * `createEventBus(options)`: real-time events for every instance (issue 5). `publish(channel, data)` on any instance
 * reaches the SSE streams of every instance (Redis pub/sub); events of replayable channels are also kept in a Redis
 * Stream, so a browser that reconnects — to any instance — with `Last-Event-ID` gets exactly what it missed, then
 * live events. `handle(req, res)` serves one SSE stream carrying several channels on node:http; the Express and
 * Fastify adapters call it. `cacheBus(channel)` gives the two-tier cache its invalidation bus on the same
 * subscriber connection.
 *
 * Why one id order per bus (lua.ts): a stream spans channels, and the browser keeps one Last-Event-ID. With every
 * channel's entries drawn from one sequence, that one id is an exact position in all of them at once.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OnionscaleError } from '../../errors.js';
import { durationMs } from '../../units.js';
import { createOwnedClient } from '../redis/client.js';
import { redisOptionsFromEnv } from '../redis/env.js';
import { EventCacheBus, type CacheBusHost } from './cache-bus.js';
import { assertChannel, USER_PREFIX, type ReplayPolicy } from './channels.js';
import { emit } from './diagnostics.js';
import { parseEventId, type EventId } from './ids.js';
import { MemoryTransport } from './memory-transport.js';
import { resolveEventBusOptions, type ResolvedEventBusOptions } from './options.js';
import { RedisTransport } from './redis-transport.js';
import { frame, resetText, SseConnection } from './sse.js';
import type { EventBusOptions, EventBusStats, HandleOptions, Transport, TransportHooks } from './types.js';

interface Subscription {
  count: number;
  ready: Promise<void>;
  failed: boolean;
}

export class EventBus {
  readonly #o: ResolvedEventBusOptions;
  readonly #transport: Transport;
  readonly #conns = new Set<SseConnection>();
  readonly #byChannel = new Map<string, Set<SseConnection>>();
  readonly #subs = new Map<string, Subscription>();
  readonly #internal = new Map<string, Set<(payload: string) => void>>();
  readonly #stateListeners = new Set<(up: boolean) => void>();
  readonly #stats = { published: 0, delivered: 0, replayed: 0, resets: 0, droppedSlow: 0 };
  #heartbeat: NodeJS.Timeout | undefined;
  #wasDown = false;
  #closed = false;

  constructor(options: EventBusOptions = {}) {
    this.#o = resolveEventBusOptions(options);
    const hooks: TransportHooks = {
      message: (channel, id, payload) => this.#onMessage(channel, id, payload),
      position: (id) => this.#onPosition(id),
      state: (up) => this.#onState(up),
      error: (error) => emit(() => ({ type: 'error', op: 'redis', error })),
    };
    const redis = options.redis === undefined ? envRedis() : options.redis;
    if (redis === false) this.#transport = new MemoryTransport(hooks, this.#o.now);
    else {
      const owned = 'options' in redis;
      const client = owned ? createOwnedClient(redis.options) : redis.client;
      this.#transport = new RedisTransport({ client, ownsClient: owned, prefix: this.#o.prefix, commandTimeout: this.#o.commandTimeout }, hooks);
    }
  }

  /** Resolves to whether live delivery works (subscriber connected), waiting up to `timeoutMs`. */
  async ready(timeoutMs = 5000): Promise<boolean> {
    if (this.#transport.up) return true;
    return new Promise((resolve) => {
      const done = (up: boolean): void => {
        clearTimeout(timer);
        this.#stateListeners.delete(listener);
        resolve(up);
      };
      const listener = (up: boolean): void => {
        if (up) done(true);
      };
      const timer = setTimeout(() => done(this.#transport.up), timeoutMs);
      timer.unref();
      this.#stateListeners.add(listener);
    });
  }

  /**
   * Sends `data` (JSON) to every subscriber of `channel` on every instance. Resolves to the event id when the
   * channel is replayable. Rejects with OSC_ERR_EVENTS_CHANNEL / _PAYLOAD / _CLOSED, or the Redis error.
   */
  async publish(channel: string, data: unknown): Promise<string | undefined> {
    if (this.#closed) throw closedError();
    assertChannel(channel);
    if (this.#internal.has(channel)) throw new OnionscaleError('OSC_ERR_EVENTS_CHANNEL', `"${channel}" is an internal channel (cacheBus); publish through the cache`);
    let json: string | undefined;
    try {
      json = JSON.stringify(data);
    } catch (cause) {
      throw new OnionscaleError('OSC_ERR_EVENTS_PAYLOAD', `event for "${channel}" is not JSON-serializable`, { cause, status: 500 });
    }
    if (json === undefined) throw new OnionscaleError('OSC_ERR_EVENTS_PAYLOAD', `event for "${channel}" is undefined, a function or a symbol`, { status: 500 });
    const bytes = Buffer.byteLength(json);
    if (bytes > this.#o.maxPayloadBytes) {
      throw new OnionscaleError('OSC_ERR_EVENTS_PAYLOAD', `event for "${channel}" is ${bytes} bytes, more than maxPayloadBytes (${this.#o.maxPayloadBytes})`, { details: { channel, bytes } });
    }
    const id = await this.#transport.publish(channel, json, this.#replayOf(channel));
    this.#stats.published++;
    emit(() => ({ type: 'published', channel, id, bytes }));
    return id;
  }

  /**
   * Serves one SSE stream on node:http. Never rejects: bad channels answer 400, refused ones 403 (JSON body with
   * the error code), a closed bus 503; a Redis failure during set-up ends the stream after the `retry:` hint, so the
   * browser simply reconnects.
   */
  async handle(req: IncomingMessage, res: ServerResponse, options: HandleOptions = {}): Promise<void> {
    let channels: string[];
    const retryMs = options.retry === undefined ? this.#o.retryMs : (durationMs(options.retry, 100) ?? this.#o.retryMs);
    try {
      if (this.#closed) throw closedError();
      channels = this.#channelsOf(req, options);
      const request = options.request ?? req;
      for (const channel of channels) {
        if (!(await this.#allowed(channel, request))) {
          throw new OnionscaleError('OSC_ERR_EVENTS_FORBIDDEN', `not allowed to subscribe to "${channel}"`, { details: { channel } });
        }
      }
      if (this.#closed) throw closedError();
    } catch (err) {
      refuse(res, err);
      return;
    }
    if (res.destroyed || req.destroyed) return;
    const replayable = channels.filter((c) => this.#replayOf(c) !== undefined);
    const conn = new SseConnection(res, {
      channels,
      replayable,
      maxBufferBytes: this.#o.maxBufferBytes,
      onSlow: (c, bufferedBytes) => {
        this.#stats.droppedSlow++;
        emit(() => ({ type: 'dropped-slow', channels: c.channels, bufferedBytes }));
      },
    });
    // Registered before subscribing: live events from here on are queued until the catch-up is done.
    this.#conns.add(conn);
    const ready = channels.map((channel) => {
      let set = this.#byChannel.get(channel);
      if (!set) this.#byChannel.set(channel, (set = new Set()));
      set.add(conn);
      return this.#acquire(channel);
    });
    res.once('close', () => this.#remove(conn));
    conn.open(retryMs);
    this.#startHeartbeat();
    try {
      await withTimeout(Promise.all(ready), Math.max(2000, this.#o.commandTimeout * 3));
    } catch (error) {
      emit(() => ({ type: 'error', op: 'subscribe', error }));
      conn.end();
      return;
    }
    if (replayable.length === 0) {
      conn.goLive([], undefined);
      return;
    }
    const header = req.headers['last-event-id'];
    const text = typeof header === 'string' ? header.trim() : '';
    const after = text === '' ? undefined : parseEventId(text);
    await this.#catchUp(conn, after, text !== '' && after === undefined);
  }

  /** The cache's invalidation bus on this bus's subscriber connection (`createCache({ l2: { store, bus } })`). */
  cacheBus(channel: string): EventCacheBus {
    if (this.#closed) throw closedError();
    assertChannel(channel);
    const host: CacheBusHost = {
      publish: (ch, payload) => this.#transport.publish(ch, payload, undefined),
      listen: (ch, handler) => {
        let set = this.#internal.get(ch);
        if (!set) this.#internal.set(ch, (set = new Set()));
        set.add(handler);
        const ready = this.#acquire(ch);
        let released = false;
        return {
          ready,
          release: () => {
            if (released) return;
            released = true;
            set.delete(handler);
            if (set.size === 0) this.#internal.delete(ch);
            this.#release(ch);
          },
        };
      },
      get up() {
        return up();
      },
      onState: (listener) => {
        this.#stateListeners.add(listener);
        return () => this.#stateListeners.delete(listener);
      },
    };
    const up = (): boolean => this.#transport.up && !this.#closed;
    return new EventCacheBus(host, channel);
  }

  stats(): EventBusStats {
    return {
      mode: this.#transport.kind,
      redisUp: this.#transport.up,
      openStreams: this.#conns.size,
      subscribedChannels: this.#subs.size,
      ...this.#stats,
    };
  }

  /** Ends every stream (browsers reconnect, to another instance), then closes what the bus created. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopHeartbeat();
    for (const conn of [...this.#conns]) conn.end();
    this.#stateListeners.clear();
    await this.#transport.close();
  }

  /** Aborts: destroys every stream and connection at once. Idempotent. */
  destroy(): void {
    this.#closed = true;
    this.#stopHeartbeat();
    for (const conn of [...this.#conns]) conn.destroy();
    this.#stateListeners.clear();
    this.#transport.destroy();
  }

  // ---- internals ----

  #replayOf(channel: string): ReplayPolicy | undefined {
    return this.#internal.has(channel) ? undefined : this.#o.rules.policy(channel)?.replay;
  }

  #channelsOf(req: IncomingMessage, options: HandleOptions): string[] {
    let list: readonly string[];
    if (options.channels) list = options.channels;
    else {
      const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
      list = query.getAll('channels').flatMap((v) => v.split(','));
    }
    const channels = [...new Set(list.filter((c) => c !== ''))];
    if (channels.length === 0) throw new OnionscaleError('OSC_ERR_EVENTS_CHANNEL', 'no channels requested: add ?channels=a,b');
    if (channels.length > this.#o.maxChannelsPerStream) {
      throw new OnionscaleError('OSC_ERR_EVENTS_CHANNEL', `${channels.length} channels requested; one stream carries at most ${this.#o.maxChannelsPerStream}`);
    }
    for (const c of channels) assertChannel(c);
    return channels;
  }

  async #allowed(channel: string, request: unknown): Promise<boolean> {
    if (this.#internal.has(channel)) return false;
    const hook = this.#o.authorize;
    try {
      if (channel.startsWith(USER_PREFIX)) {
        // Not overridable: a user never reads another user's channel, whatever the hook says.
        const user = await this.#o.userOf(request);
        if (typeof user !== 'string' || user === '' || channel !== USER_PREFIX + user) return false;
        return hook ? (await hook({ channel, request })) === true : true;
      }
      if (hook) return (await hook({ channel, request })) === true;
    } catch (error) {
      emit(() => ({ type: 'error', op: 'authorize', error }));
      return false;
    }
    return this.#o.rules.policy(channel) !== undefined;
  }

  #acquire(channel: string): Promise<void> {
    let sub = this.#subs.get(channel);
    if (!sub) this.#subs.set(channel, (sub = { count: 0, ready: Promise.resolve(), failed: true }));
    if (sub.failed) {
      // First use, or the last SUBSCRIBE failed (client closing): (re)subscribe for this and later streams.
      const entry = sub;
      entry.failed = false;
      entry.ready = this.#transport.subscribe(channel);
      entry.ready.catch(() => {
        entry.failed = true;
      });
    }
    sub.count++;
    return sub.ready;
  }

  #release(channel: string): void {
    const sub = this.#subs.get(channel);
    if (!sub || --sub.count > 0) return;
    this.#subs.delete(channel);
    this.#transport.unsubscribe(channel);
  }

  #remove(conn: SseConnection): void {
    if (!this.#conns.delete(conn)) return;
    conn.end();
    for (const channel of conn.channels) {
      const set = this.#byChannel.get(channel);
      set?.delete(conn);
      if (set?.size === 0) this.#byChannel.delete(channel);
      this.#release(channel);
    }
    if (this.#conns.size === 0) this.#stopHeartbeat();
  }

  async #catchUp(conn: SseConnection, after: EventId | undefined, malformed: boolean): Promise<void> {
    conn.beginCatchUp();
    const channels = conn.replayable.map((name) => ({ name, replay: this.#replayOf(name)! }));
    let result;
    try {
      result = await this.#transport.catchUp(after, channels, this.#o.maxReplay);
    } catch (error) {
      // The browser reconnects after `retry` with the same Last-Event-ID and gets the replay then.
      emit(() => ({ type: 'error', op: 'catch-up', error }));
      conn.end();
      return;
    }
    if (conn.state === 'closed') return;
    const reason = malformed ? 'malformed' : result.status === 'ok' || result.status === 'fresh' ? undefined : result.status;
    if (reason !== undefined) {
      this.#stats.resets++;
      emit(() => ({ type: 'reset', reason, channels: conn.replayable }));
      conn.last = result.position;
      conn.goLive([], undefined, resetText(result.position, reason));
      return;
    }
    const sent = conn.goLive(
      result.entries.map((e) => frame(e.channel, e.id, e.payload)),
      result.position,
    );
    if (sent > 0) {
      this.#stats.replayed += sent;
      emit(() => ({ type: 'replayed', events: sent, channels: conn.replayable }));
    }
  }

  #onMessage(channel: string, idText: string | undefined, payload: string): void {
    const internal = this.#internal.get(channel);
    if (internal) for (const handler of internal) handler(payload);
    const set = this.#byChannel.get(channel);
    if (!set || set.size === 0) return;
    let id: EventId | undefined;
    if (idText !== undefined && (id = parseEventId(idText)) === undefined) return;
    const f = frame(channel, id, payload);
    let streams = 0;
    for (const conn of set) if (conn.deliver(f)) streams++;
    this.#stats.delivered += streams;
    emit(() => ({ type: 'delivered', channel, id: idText, streams }));
  }

  #onPosition(idText: string): void {
    const id = parseEventId(idText);
    if (id === undefined) return;
    for (const conn of this.#conns) conn.advance(id);
  }

  #onState(up: boolean): void {
    emit(() => ({ type: 'redis-state', up }));
    for (const listener of [...this.#stateListeners]) listener(up);
    if (!up) {
      this.#wasDown = true;
      return;
    }
    if (!this.#wasDown) return;
    this.#wasDown = false;
    // Live events published while the subscriber was down are in the Streams: every stream catches up from its id.
    for (const conn of this.#conns) {
      if (conn.state === 'live' && conn.replayable.length > 0) void this.#catchUp(conn, conn.last, false);
    }
  }

  #startHeartbeat(): void {
    if (this.#heartbeat) return;
    // Runs only while streams are open (whose sockets keep the process alive anyway), so it stays ref'd.
    this.#heartbeat = setInterval(() => this.#beat(), this.#o.heartbeatMs);
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  #beat(): void {
    let positions = false;
    for (const conn of this.#conns) {
      conn.write(':\n\n');
      if (conn.state === 'live' && conn.replayable.length > 0) positions = true;
    }
    // A fresh position keeps idle clients' Last-Event-ID recent (see docs/events.md, "positions").
    if (positions) this.#transport.publishPosition().catch((error: unknown) => emit(() => ({ type: 'error', op: 'position', error })));
  }
}

function envRedis(): false | { options: NonNullable<ReturnType<typeof redisOptionsFromEnv>> } {
  const options = redisOptionsFromEnv();
  return options === undefined ? false : { options };
}

function closedError(): OnionscaleError {
  return new OnionscaleError('OSC_ERR_EVENTS_CLOSED', 'the event bus is closed', { status: 503 });
}

function refuse(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const e = err instanceof OnionscaleError ? err : new OnionscaleError('OSC_ERR_BAD_REQUEST', 'event stream could not be opened', { cause: err, status: 500 });
  const body = JSON.stringify({ error: e.code, message: e.message, hint: e.hint });
  res.writeHead(e.status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Redis within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

export function createEventBus(options: EventBusOptions = {}): EventBus {
  return new EventBus(options);
}
