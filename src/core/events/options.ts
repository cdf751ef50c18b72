/**
 * `createEventBus` options: validated once, every problem reported together (OSC_ERR_EVENTS_OPTIONS), then frozen.
 */
import { OnionscaleError } from '../../errors.js';
import { durationMs } from '../../units.js';
import { ChannelRules, type ReplayPolicy } from './channels.js';
import type { AuthorizeContext, EventBusOptions } from './types.js';

/** 15 s: well below haproxy's default client/server/tunnel timeouts (5 m; see bus.test.ts). */
export const DEFAULT_HEARTBEAT_MS = 15_000;
export const DEFAULT_REPLAY: ReplayPolicy = Object.freeze({ maxLen: 1000, maxAgeMs: 3_600_000 });

export interface ResolvedEventBusOptions {
  prefix: string;
  rules: ChannelRules;
  maxPayloadBytes: number;
  heartbeatMs: number;
  retryMs: number;
  maxBufferBytes: number;
  maxChannelsPerStream: number;
  maxReplay: number;
  commandTimeout: number;
  authorize: ((ctx: AuthorizeContext) => boolean | Promise<boolean>) | undefined;
  userOf: (request: unknown) => string | undefined | Promise<string | undefined>;
  now: () => number;
}

/** onionscale sessions put `session.userId` on the request (Express `req`, Fastify `request`). */
export function sessionUser(request: unknown): string | undefined {
  const session = (request as { session?: { userId?: unknown } } | null | undefined)?.session;
  const id = session?.userId;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

export function resolveEventBusOptions(options: EventBusOptions): ResolvedEventBusOptions {
  const problems: string[] = [];
  const int = (path: string, value: unknown, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      problems.push(`${path}: an integer >= ${min}`);
      return fallback;
    }
    return value;
  };
  const dur = (path: string, value: unknown, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    const ms = durationMs(value, min);
    if (ms === undefined) problems.push(`${path}: milliseconds >= ${min} or a duration such as '15s'`);
    return ms ?? fallback;
  };
  const prefix = options.prefix ?? 'osc:ev:';
  if (typeof prefix !== 'string' || prefix === '' || /[\s*?[\]]/.test(prefix)) problems.push('prefix: a non-empty string without whitespace or glob characters');
  const rules = new Map<string, ReplayPolicy | undefined>();
  const channels = options.channels ?? {};
  if (typeof channels !== 'object' || channels === null) problems.push('channels: an object of channel name or pattern → { replay }');
  else {
    for (const [rule, c] of Object.entries(channels)) {
      if (!ChannelRules.isPattern(rule)) {
        problems.push(`channels["${rule.slice(0, 40)}"]: names and patterns are 1–128 characters of letters, digits, . _ - : and *`);
        continue;
      }
      const replay = c?.replay;
      if (replay === undefined || replay === false) rules.set(rule, undefined);
      else if (replay === true) rules.set(rule, DEFAULT_REPLAY);
      else if (typeof replay === 'object' && replay !== null) {
        rules.set(rule, {
          maxLen: int(`channels["${rule}"].replay.maxLen`, replay.maxLen, DEFAULT_REPLAY.maxLen, 1),
          maxAgeMs: dur(`channels["${rule}"].replay.maxAge`, replay.maxAge, DEFAULT_REPLAY.maxAgeMs, 1000),
        });
      } else problems.push(`channels["${rule}"].replay: true, false or { maxLen, maxAge }`);
    }
  }
  const redis = options.redis;
  if (redis !== undefined && redis !== false && (typeof redis !== 'object' || redis === null || !('client' in redis || 'options' in redis))) {
    problems.push('redis: { client }, { options } or false');
  }
  if (options.authorize !== undefined && typeof options.authorize !== 'function') problems.push('authorize: a function ({ channel, request }) => boolean');
  if (options.userOf !== undefined && typeof options.userOf !== 'function') problems.push('userOf: a function (request) => user id | undefined');
  if (options.now !== undefined && typeof options.now !== 'function') problems.push('now: a function returning ms since the epoch');
  const resolved: ResolvedEventBusOptions = {
    prefix,
    rules: new ChannelRules(rules),
    maxPayloadBytes: int('maxPayloadBytes', options.maxPayloadBytes, 64 * 1024, 16),
    heartbeatMs: dur('heartbeat', options.heartbeat, DEFAULT_HEARTBEAT_MS, 100),
    retryMs: dur('retry', options.retry, 2000, 100),
    maxBufferBytes: int('maxBufferBytes', options.maxBufferBytes, 1024 * 1024, 1024),
    maxChannelsPerStream: int('maxChannelsPerStream', options.maxChannelsPerStream, 16, 1),
    maxReplay: int('maxReplay', options.maxReplay, 1000, 1),
    commandTimeout: int('commandTimeout', options.commandTimeout, 1000, 1),
    authorize: options.authorize,
    userOf: options.userOf ?? sessionUser,
    now: options.now ?? Date.now,
  };
  if (resolved.maxBufferBytes < resolved.maxPayloadBytes * 2) {
    problems.push('maxBufferBytes: at least twice maxPayloadBytes, or one large event cuts off every reader');
  }
  if (problems.length > 0) {
    throw new OnionscaleError('OSC_ERR_EVENTS_OPTIONS', `invalid event bus options:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  return Object.freeze(resolved);
}
