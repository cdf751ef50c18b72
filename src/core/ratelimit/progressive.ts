/**
 * Progressive delay for login and registration (issue 4): after n failures an account, and a circuit, must wait
 * min(n², max) seconds from the last failure before the next attempt; success resets both. It never sleeps: `check`
 * answers at once with `retryAfterMs` and the caller replies 429 + Retry-After, so no worker is held busy by an
 * attacker. A refusal applies when ANY given subject is still waiting (a circuit trying many accounts, or many
 * circuits trying one account). `forgetAfter` without failures forgets the count.
 *
 * Each call is one round trip (a Lua script for check and failure, DEL for success). While Redis is down an
 * in-process table answers (per instance, not shared; it does not sync back).
 */
import { LRUCache } from 'lru-cache';
import { OnionscaleError } from '../../errors.js';
import { durationMs, type Duration } from '../../units.js';
import { luaScript } from '../redis/script.js';
import { emit } from './channels.js';
import { partValue } from './keys.js';
import { linkFor, type RedisLink } from './redis-link.js';
import type { RedisOption } from './types.js';

export interface ProgressiveDelayOptions {
  /** As for createRateLimiter: omitted = `ONIONSCALE_REDIS` if set, else memory only. */
  redis?: RedisOption;
  /** Key prefix (default `osc:pd:`). */
  prefix?: string;
  /** Longest delay (default '30s'). */
  max?: Duration;
  /** Failures are forgotten this long after the last one (default '1h'). */
  forgetAfter?: Duration;
  clock?: () => number;
  commandTimeout?: Duration;
  breakerCooldown?: Duration;
  maxKeys?: number;
  name?: string;
}

export interface DelaySubjects {
  account?: string | undefined;
  /** `"<torInstance>:<circuitId>"`, as `Subject.circuit`. */
  circuit?: string | undefined;
}

export interface DelayDecision {
  allowed: boolean;
  retryAfterMs: number;
  source: 'redis' | 'memory';
}

/** KEYS: subjects; ARGV: now ('' = TIME), max_ms, forget_ms. Returns ms to wait (0 = allowed). */
const CHECK = luaScript(`
local now = tonumber(ARGV[1])
if now == nil then local t = redis.call('TIME'); now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
local max, forget, wait = tonumber(ARGV[2]), tonumber(ARGV[3]), 0
for i = 1, #KEYS do
  local st = redis.call('HMGET', KEYS[i], 'n', 't')
  local n, t = tonumber(st[1]), tonumber(st[2])
  if n and t and now - t < forget then
    local left = t + math.min(n * n * 1000, max) - now
    if left > wait then wait = left end
  end
end
return wait
`);

/** KEYS: subjects; ARGV: now, max_ms, forget_ms. Counts a failure on each; returns the delay now imposed (ms). */
const FAILURE = luaScript(`
local now = tonumber(ARGV[1])
if now == nil then local t = redis.call('TIME'); now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end
local max, forget, delay = tonumber(ARGV[2]), tonumber(ARGV[3]), 0
for i = 1, #KEYS do
  local st = redis.call('HMGET', KEYS[i], 'n', 't')
  local n, t = tonumber(st[1]) or 0, tonumber(st[2])
  if t == nil or now - t >= forget then n = 0 end
  n = n + 1
  redis.call('HSET', KEYS[i], 'n', n, 't', string.format('%.0f', now))
  redis.call('PEXPIRE', KEYS[i], forget)
  local d = math.min(n * n * 1000, max)
  if d > delay then delay = d end
end
return delay
`);

interface Entry {
  n: number;
  t: number;
}

export class ProgressiveDelay {
  readonly #prefix: string;
  readonly #max: number;
  readonly #forget: number;
  readonly #clock: (() => number) | undefined;
  readonly #memory: LRUCache<string, Entry>;
  readonly #link: RedisLink | undefined;
  readonly #name: string;

  constructor(options: ProgressiveDelayOptions = {}) {
    const problems: string[] = [];
    const max = durationMs(options.max ?? '30s', 1000);
    if (max === undefined) problems.push(`max: a duration ≥ 1s (got ${JSON.stringify(options.max)})`);
    const forget = durationMs(options.forgetAfter ?? '1h', 1000);
    if (forget === undefined) problems.push(`forgetAfter: a duration ≥ 1s (got ${JSON.stringify(options.forgetAfter)})`);
    const commandTimeout = durationMs(options.commandTimeout ?? 250, 1);
    if (commandTimeout === undefined) problems.push('commandTimeout: a duration ≥ 1 ms');
    const cooldown = durationMs(options.breakerCooldown ?? 1000, 1);
    if (cooldown === undefined) problems.push('breakerCooldown: a duration ≥ 1 ms');
    const prefix = options.prefix ?? 'osc:pd:';
    if (typeof prefix !== 'string' || /[\s*?[\]]/.test(prefix)) problems.push('prefix: a string without whitespace or glob characters');
    if (problems.length > 0) {
      throw new OnionscaleError('OSC_ERR_RATELIMIT_OPTIONS', `createProgressiveDelay: ${problems.join('; ')}`, { details: { problems } });
    }
    this.#prefix = prefix;
    this.#max = max!;
    this.#forget = forget!;
    this.#clock = options.clock;
    this.#name = options.name ?? 'progressive';
    this.#memory = new LRUCache({ max: options.maxKeys ?? 100_000 });
    this.#link = linkFor(options.redis, { commandTimeout: commandTimeout!, breakerCooldown: cooldown!, name: this.#name });
  }

  #now(): number {
    return Math.floor(this.#clock ? this.#clock() : Date.now());
  }

  #keys(subjects: DelaySubjects): string[] {
    const keys: string[] = [];
    if (subjects !== null && typeof subjects === 'object') {
      if (typeof subjects.account === 'string' && subjects.account !== '') keys.push(`${this.#prefix}account=${partValue('user', subjects.account)}`);
      if (typeof subjects.circuit === 'string' && subjects.circuit !== '') keys.push(`${this.#prefix}circuit=${partValue('circuit', subjects.circuit)}`);
    }
    if (keys.length === 0) {
      throw new OnionscaleError('OSC_ERR_RATELIMIT_SUBJECT', 'progressive delay: give an account, a circuit or both (a missing circuit means the request bypassed the balancer)');
    }
    return keys;
  }

  async #redis<T>(script: ReturnType<typeof luaScript>, keys: string[]): Promise<T | undefined> {
    if (this.#link === undefined || !this.#link.usable) return undefined;
    try {
      return await this.#link.eval<T>(script, keys, [this.#clock ? String(this.#now()) : '', String(this.#max), String(this.#forget)]);
    } catch (error) {
      this.#link.failed();
      emit(() => ({ event: 'fallback', limiter: this.#name, mode: 'local', error }));
      return undefined;
    }
  }

  #live(key: string, now: number): Entry | undefined {
    const e = this.#memory.get(key);
    if (e === undefined || now - e.t >= this.#forget) return undefined;
    return e;
  }

  async check(subjects: DelaySubjects): Promise<DelayDecision> {
    const keys = this.#keys(subjects);
    const wait = await this.#redis<number>(CHECK, keys);
    if (wait !== undefined) return { allowed: Number(wait) <= 0, retryAfterMs: Math.max(0, Number(wait)), source: 'redis' };
    const now = this.#now();
    let left = 0;
    for (const k of keys) {
      const e = this.#live(k, now);
      if (e) left = Math.max(left, e.t + Math.min(e.n * e.n * 1000, this.#max) - now);
    }
    return { allowed: left <= 0, retryAfterMs: Math.max(0, left), source: 'memory' };
  }

  /** Counts a failed attempt for every subject; resolves to the delay (ms) the next attempt must wait. */
  async failure(subjects: DelaySubjects): Promise<{ retryAfterMs: number }> {
    const keys = this.#keys(subjects);
    const delay = await this.#redis<number>(FAILURE, keys);
    if (delay !== undefined) return { retryAfterMs: Number(delay) };
    const now = this.#now();
    let most = 0;
    for (const k of keys) {
      const n = (this.#live(k, now)?.n ?? 0) + 1;
      this.#memory.set(k, { n, t: now });
      most = Math.max(most, Math.min(n * n * 1000, this.#max));
    }
    return { retryAfterMs: most };
  }

  /** A successful attempt: forgets the failures of every subject. */
  async success(subjects: DelaySubjects): Promise<void> {
    const keys = this.#keys(subjects);
    for (const k of keys) this.#memory.delete(k);
    if (this.#link === undefined || !this.#link.usable) return;
    try {
      await this.#link.send(['DEL', ...keys]);
    } catch (error) {
      this.#link.failed();
      emit(() => ({ event: 'fallback', limiter: this.#name, mode: 'local', error }));
    }
  }

  ready(timeoutMs = 5000): Promise<boolean> {
    return this.#link ? this.#link.ready(timeoutMs) : Promise.resolve(false);
  }

  async close(): Promise<void> {
    await this.#link?.close();
  }
}

export function createProgressiveDelay(options: ProgressiveDelayOptions = {}): ProgressiveDelay {
  return new ProgressiveDelay(options);
}
