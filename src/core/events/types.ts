/**
 * Options and contracts of the event bus (issue 5). `Transport` is the core interface with two implementations:
 * Redis (pub/sub + one Stream per replayable channel, every instance) and memory (one process, tests and
 * `redis: false`). The bus, the SSE connections and the cache bus only ever talk to a `Transport`.
 */
import type { RedisClientOptions } from 'redis';
import type { Duration } from '../../units.js';
import type { AnyRedisClient } from '../redis/client.js';
import type { ReplayPolicy } from './channels.js';
import type { EventId } from './ids.js';

export interface AuthorizeContext {
  channel: string;
  /** What the adapter passed: the Express `req`, the Fastify `request`, or the node:http `IncomingMessage`. */
  request: unknown;
}

export interface ChannelOptions {
  /** Keep this channel's events in a Redis Stream for `Last-Event-ID` replay. `true` = the defaults. */
  replay?: boolean | { maxLen?: number; maxAge?: Duration };
}

export interface EventBusOptions {
  /**
   * Omitted: `redisOptionsFromEnv()` (an instance started by onionscale), in-memory when that is unset.
   * `{ client }`: your node-redis client (never closed by us; the subscriber is a `duplicate()` we own).
   * `{ options }`: we create and close the client. `false`: in-memory, one process only.
   */
  redis?: false | { client: AnyRedisClient } | { options: RedisClientOptions };
  /** Prefix of every Redis key and pub/sub channel. Default `'osc:ev:'`. */
  prefix?: string;
  /** Per channel name or pattern (`user:*`). Channels SSE clients may subscribe to by default are the ones listed here. */
  channels?: Record<string, ChannelOptions>;
  /** Largest event (JSON) in bytes. Default 64 KiB. */
  maxPayloadBytes?: number;
  /** SSE comment heartbeat; must stay below haproxy's client/server/tunnel timeouts. Default 15 s. */
  heartbeat?: Duration;
  /** The `retry:` hint sent to browsers (reconnect delay). Default 2 s. */
  retry?: Duration;
  /** Bytes a stream may have queued (unsent) before it is cut off as a slow reader. Default 1 MiB. */
  maxBufferBytes?: number;
  /** Channels one stream may carry. Default 16. */
  maxChannelsPerStream?: number;
  /** Most events one reconnect replays; more means a reset event. Default 1000. */
  maxReplay?: number;
  /** Redis command timeout in ms. Default 1000. */
  commandTimeout?: number;
  /**
   * Decides whether `request` may read `channel`. Internal channels (`cacheBus`) are always refused and `user:<id>`
   * channels always need `userOf(request) === id` first; the hook can only narrow that. Default: allow channels
   * named in `channels`.
   */
  authorize?: (ctx: AuthorizeContext) => boolean | Promise<boolean>;
  /** The signed-in user of a request. Default: `request.session.userId` (onionscale sessions) when it is a string. */
  userOf?: (request: unknown) => string | undefined | Promise<string | undefined>;
  /** Clock of the in-memory mode (ms since the epoch). Redis mode uses Redis TIME. */
  now?: () => number;
}

export interface HandleOptions {
  /** Channels fixed by the route; default: `?channels=a,b` from the query string. */
  channels?: readonly string[];
  /** Passed to `authorize`/`userOf` (adapters pass their framework's request). Default: the IncomingMessage. */
  request?: unknown;
  /** Override of the bus's `retry`. */
  retry?: Duration;
}

export type CatchUpStatus = 'ok' | 'fresh' | 'foreign' | 'future' | 'stale' | 'too-many';

export interface Entry {
  channel: string;
  id: EventId;
  payload: string;
}

export interface CatchUpResult {
  status: CatchUpStatus;
  /** A freshly minted position: every event of the requested channels up to it is in `entries` (when `ok`). */
  position: EventId;
  /** In id order across channels. */
  entries: Entry[];
}

export interface TransportHooks {
  /** A live event: `id` is undefined for non-replayable channels. */
  message(channel: string, id: string | undefined, payload: string): void;
  /** A position minted by some instance; every event before it has already reached `message`. */
  position(id: string): void;
  state(up: boolean): void;
  error(error: unknown): void;
}

export interface Transport {
  readonly kind: 'redis' | 'memory';
  /** Whether live delivery works right now (the subscriber connection is ready). */
  readonly up: boolean;
  /** Resolves to the event id for replayable channels. */
  publish(channel: string, payload: string, replay: ReplayPolicy | undefined): Promise<string | undefined>;
  catchUp(after: EventId | undefined, channels: readonly { name: string; replay: ReplayPolicy }[], limit: number): Promise<CatchUpResult>;
  publishPosition(): Promise<void>;
  /** Resolves once live messages of `channel` reach `hooks.message`. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): void;
  close(): Promise<void>;
  destroy(): void;
}

export interface EventBusStats {
  mode: 'redis' | 'memory';
  redisUp: boolean;
  openStreams: number;
  subscribedChannels: number;
  published: number;
  delivered: number;
  replayed: number;
  resets: number;
  droppedSlow: number;
}
