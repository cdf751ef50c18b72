/**
 * Cache options: validated once, every problem reported together (OSC_ERR_CACHE_OPTIONS), defaults applied, frozen.
 */
import { OnionscaleError } from '../../errors.js';
import { durationMs, type Duration } from '../../units.js';
import type { CacheOptions, Serializer } from './types.js';

export const jsonSerializer: Serializer = Object.freeze({
  serialize: (value: unknown) => JSON.stringify(value),
  deserialize: (raw: string) => JSON.parse(raw) as unknown,
});

export interface ResolvedCacheOptions {
  name: string;
  prefix: string;
  ttl: number;
  grace: number;
  graceBackoff: number;
  loaderTimeout: number;
  maxValueBytes: number;
  hashKeys: boolean;
  serializer: Serializer;
  l1: false | { maxEntries: number; maxBytes: number };
  lockTtl: number;
  lockWait: number;
  breakerCooldown: number;
  now: () => number;
}

const DEFAULTS = {
  name: 'default',
  prefix: 'osc:cache:',
  ttl: 60_000,
  grace: 0,
  graceBackoff: 1000,
  loaderTimeout: 0,
  maxValueBytes: 1024 * 1024,
  maxEntries: 10_000,
  maxBytes: 64 * 1024 * 1024,
  lockTtl: 10_000,
  lockWait: 3000,
  breakerCooldown: 1000,
} as const;

export function resolveOptions(options: CacheOptions): ResolvedCacheOptions {
  const problems: string[] = [];
  const num = (path: string, value: number | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      problems.push(`${path}: must be a finite number >= ${min}`);
      return fallback;
    }
    return value;
  };
  const dur = (path: string, value: Duration | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    const ms = durationMs(value, min);
    if (ms === undefined) problems.push(`${path}: must be milliseconds >= ${min} or a duration such as '30s'`);
    return ms ?? fallback;
  };
  const str = (path: string, value: string | undefined, fallback: string, re: RegExp): string => {
    if (value === undefined) return fallback;
    if (typeof value !== 'string' || !re.test(value)) {
      problems.push(`${path}: must match ${String(re)}`);
      return fallback;
    }
    return value;
  };
  const l1 =
    options.l1 === false
      ? false
      : {
          maxEntries: Math.floor(num('l1.maxEntries', options.l1?.maxEntries, DEFAULTS.maxEntries, 1)),
          maxBytes: Math.floor(num('l1.maxBytes', options.l1?.maxBytes, DEFAULTS.maxBytes, 1)),
        };
  const serializer = options.serializer ?? jsonSerializer;
  if (typeof serializer.serialize !== 'function' || typeof serializer.deserialize !== 'function') {
    problems.push('serializer: must have serialize() and deserialize()');
  }
  const resolved: ResolvedCacheOptions = {
    name: str('name', options.name, DEFAULTS.name, /^[\w.:-]{1,100}$/),
    // The prefix becomes part of Redis key names and the bus channel: same rules as keys, but kept short.
    prefix: str('prefix', options.prefix, DEFAULTS.prefix, /^[\w.:{}-]{0,100}$/),
    ttl: dur('ttl', options.ttl, DEFAULTS.ttl, 1),
    grace: dur('grace', options.grace, DEFAULTS.grace, 0),
    graceBackoff: dur('graceBackoff', options.graceBackoff, DEFAULTS.graceBackoff, 0),
    loaderTimeout: dur('loaderTimeout', options.loaderTimeout, DEFAULTS.loaderTimeout, 0),
    maxValueBytes: num('maxValueBytes', options.maxValueBytes, DEFAULTS.maxValueBytes, 1),
    hashKeys: options.hashKeys ?? false,
    serializer,
    l1,
    lockTtl: dur('lock.ttl', options.lock?.ttl, DEFAULTS.lockTtl, 1),
    lockWait: dur('lock.wait', options.lock?.wait, DEFAULTS.lockWait, 0),
    breakerCooldown: dur('breakerCooldown', options.breakerCooldown, DEFAULTS.breakerCooldown, 0),
    now: options.now ?? Date.now,
  };
  if (problems.length > 0) {
    throw new OnionscaleError('OSC_ERR_CACHE_OPTIONS', `invalid cache options:\n  ${problems.join('\n  ')}`, {
      details: { problems },
    });
  }
  return Object.freeze(resolved);
}

/** Per-entry durations: same rules, thrown at the call that passed them. Numbers take the fast path. */
export function entryDuration(name: 'ttl' | 'grace' | 'timeout', value: Duration | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const min = name === 'ttl' ? 1 : 0;
  const ms = typeof value === 'number' && Number.isFinite(value) && value >= min ? value : durationMs(value, min);
  if (ms === undefined) {
    throw new OnionscaleError('OSC_ERR_CACHE_OPTIONS', `${name} must be milliseconds >= ${min} or a duration such as '30s'`);
  }
  return ms;
}
