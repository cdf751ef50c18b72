/**
 * The Redis `Transport`: commands (PUBLISH, the Lua scripts of lua.ts) on the command client, live messages on one
 * subscriber connection per bus — a `duplicate()` of the command client that this transport owns. node-redis
 * resubscribes every channel by itself after a reconnect, before it emits 'ready' again; the bus hears that 'ready'
 * as `state(true)` and replays what each stream missed while the connection was down.
 *
 * Keys (all under `prefix`): `head` (id minting), `s:<channel>` (Stream), `f:<channel>` (floor); pub/sub channels
 * `c:<channel>` (messages `<id> <payload>`, id empty for non-replayable channels) and `pos` (positions).
 */
import { SharedDeadline } from '../cache/deadline.js';
import { NO_CLIENT_TIMEOUT, whenReady, type AnyRedisClient } from '../redis/client.js';
import { evalScript, type Script } from '../redis/script.js';
import type { ReplayPolicy } from './channels.js';
import { compareIds, fromStreamId, parseEventId, type EventId } from './ids.js';
import { CATCH_UP, PUBLISH_POSITION, PUBLISH_REPLAYABLE } from './lua.js';
import type { CatchUpResult, CatchUpStatus, Entry, Transport, TransportHooks } from './types.js';


export interface RedisTransportOptions {
  client: AnyRedisClient;
  /** Whether `client` is ours to close. */
  ownsClient: boolean;
  prefix: string;
  commandTimeout: number;
}

export class RedisTransport implements Transport {
  readonly kind = 'redis';
  readonly #client: AnyRedisClient;
  readonly #subscriber: AnyRedisClient;
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #deadline: SharedDeadline;
  readonly #hooks: TransportHooks;
  readonly #listener = (message: string, wire: string): void => this.#receive(message, wire);
  #up = false;
  #started = false;
  #closed = false;

  constructor(options: RedisTransportOptions, hooks: TransportHooks) {
    this.#client = options.client;
    this.#ownsClient = options.ownsClient;
    this.#prefix = options.prefix;
    this.#timeoutMs = options.commandTimeout;
    this.#deadline = new SharedDeadline(options.commandTimeout);
    this.#hooks = hooks;
    if (!this.#client.isOpen) this.#client.connect().catch(() => {});
    // Subscriber mode must not refuse the SUBSCRIBE sent while (re)connecting, so the offline queue stays on here.
    this.#subscriber = this.#client.duplicate({ disableOfflineQueue: false });
    this.#subscriber.on('error', (err: unknown) => {
      this.#setUp(false);
      this.#hooks.error(err);
    });
    this.#subscriber.on('end', () => this.#setUp(false));
    this.#subscriber.on('reconnecting', () => this.#setUp(false));
    this.#subscriber.on('ready', () => {
      if (this.#started) this.#setUp(true);
    });
    this.#start().catch((err: unknown) => this.#hooks.error(err));
  }

  async #start(): Promise<void> {
    await this.#subscriber.connect();
    if (this.#closed) return;
    await this.#subscriber.subscribe(`${this.#prefix}pos`, (id: string) => this.#hooks.position(id));
    this.#started = true;
    if (this.#subscriber.isReady) this.#setUp(true);
  }

  #setUp(up: boolean): void {
    if (this.#closed || up === this.#up) return;
    this.#up = up;
    this.#hooks.state(up);
  }

  #receive(message: string, wire: string): void {
    const space = message.indexOf(' ');
    if (space < 0) return;
    const channel = wire.slice(this.#prefix.length + 2);
    this.#hooks.message(channel, space === 0 ? undefined : message.slice(0, space), message.slice(space + 1));
  }

  get up(): boolean {
    return this.#up && !this.#closed;
  }

  #send<T>(args: readonly string[]): Promise<T> {
    return this.#deadline.race(this.#client.sendCommand<T>(args as string[], NO_CLIENT_TIMEOUT));
  }

  #eval<T>(s: Script, keys: readonly string[], args: readonly string[]): Promise<T> {
    return evalScript<T>((a) => this.#send(a), s, keys, args);
  }

  async publish(channel: string, payload: string, replay: ReplayPolicy | undefined): Promise<string | undefined> {
    const p = this.#prefix;
    if (replay === undefined) {
      await this.#send(['PUBLISH', `${p}c:${channel}`, ` ${payload}`]);
      return undefined;
    }
    return this.#eval<string>(PUBLISH_REPLAYABLE, [`${p}head`, `${p}s:${channel}`, `${p}f:${channel}`], [`${p}c:${channel}`, payload, String(replay.maxLen), String(replay.maxAgeMs)]);
  }

  async catchUp(after: EventId | undefined, channels: readonly { name: string; replay: ReplayPolicy }[], limit: number): Promise<CatchUpResult> {
    // The subscriber may come back before the command client after a Redis restart.
    await whenReady(this.#client, this.#timeoutMs);
    const p = this.#prefix;
    const keys = [`${p}head`, ...channels.flatMap((c) => [`${p}s:${c.name}`, `${p}f:${c.name}`])];
    const args = [after?.epoch ?? '', String(after?.ms ?? 0), String(after?.seq ?? 0), String(limit), ...channels.map((c) => String(c.replay.maxAgeMs))];
    const reply = await this.#eval<unknown[]>(CATCH_UP, keys, args);
    const status = String(reply[0]) as CatchUpStatus;
    const position = parseEventId(String(reply[1]));
    if (position === undefined) throw new Error(`catch-up script returned a malformed position ${String(reply[1])}`);
    const entries: Entry[] = [];
    for (let i = 2; i + 2 < reply.length; i += 3) {
      const channel = channels[Number(reply[i]) - 1]!.name;
      entries.push({ channel, id: fromStreamId(position.epoch, String(reply[i + 1])), payload: String(reply[i + 2]) });
    }
    entries.sort((a, b) => compareIds(a.id, b.id));
    return { status, position, entries };
  }

  async publishPosition(): Promise<void> {
    await this.#eval(PUBLISH_POSITION, [`${this.#prefix}head`], [`${this.#prefix}pos`]);
  }

  subscribe(channel: string): Promise<void> {
    return this.#subscriber.subscribe(`${this.#prefix}c:${channel}`, this.#listener);
  }

  unsubscribe(channel: string): void {
    if (this.#closed) return;
    this.#subscriber.unsubscribe(`${this.#prefix}c:${channel}`, this.#listener).catch((err: unknown) => this.#hooks.error(err));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#up = false;
    await Promise.all([closeClient(this.#subscriber), this.#ownsClient ? closeClient(this.#client) : undefined]);
  }

  destroy(): void {
    this.#closed = true;
    this.#up = false;
    if (this.#subscriber.isOpen) this.#subscriber.destroy();
    if (this.#ownsClient && this.#client.isOpen) this.#client.destroy();
  }
}

async function closeClient(client: AnyRedisClient): Promise<void> {
  if (!client.isOpen) return;
  try {
    await client.close();
  } catch {
    client.destroy();
  }
}
