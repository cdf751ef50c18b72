/**
 * Channel names and the per-channel policy. Names are 1–128 characters of letters, digits and `. _ - :` so they are
 * safe in Redis keys, in SSE `event:` lines and in query strings. Policies come from the bus's `channels` option,
 * keyed by an exact name or a pattern where `*` matches any run of characters (`user:*`); an exact name wins, then
 * the longest pattern.
 */
import { OnionscaleError } from '../../errors.js';

const NAME_RE = /^[A-Za-z0-9._:-]{1,128}$/;
const PATTERN_RE = /^[A-Za-z0-9._:*-]{1,128}$/;

/** Channels of one user: `user:<id>`; only that user may read them (see bus.ts authorize). */
export const USER_PREFIX = 'user:';

export function isChannelName(name: unknown): name is string {
  return typeof name === 'string' && NAME_RE.test(name);
}

export function assertChannel(name: unknown): string {
  if (!isChannelName(name)) {
    const shown = typeof name === 'string' ? JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name) : typeof name;
    throw new OnionscaleError('OSC_ERR_EVENTS_CHANNEL', `invalid channel name ${shown}`, { details: { channel: typeof name === 'string' ? name.slice(0, 128) : undefined } });
  }
  return name;
}

export interface ReplayPolicy {
  maxLen: number;
  maxAgeMs: number;
}

export interface ChannelPolicy {
  /** The config key that matched (name or pattern). */
  readonly rule: string;
  readonly replay: ReplayPolicy | undefined;
}

export class ChannelRules {
  readonly #exact = new Map<string, ChannelPolicy>();
  readonly #patterns: { re: RegExp; policy: ChannelPolicy }[] = [];

  constructor(rules: ReadonlyMap<string, ReplayPolicy | undefined>) {
    for (const [rule, replay] of rules) {
      const policy: ChannelPolicy = { rule, replay };
      if (!rule.includes('*')) this.#exact.set(rule, policy);
      else this.#patterns.push({ re: new RegExp(`^${rule.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`), policy });
    }
    this.#patterns.sort((a, b) => b.policy.rule.length - a.policy.rule.length);
  }

  static isPattern(rule: string): boolean {
    return PATTERN_RE.test(rule);
  }

  /** The policy of a configured channel, or `undefined` when no rule names it. */
  policy(channel: string): ChannelPolicy | undefined {
    return this.#exact.get(channel) ?? this.#patterns.find((p) => p.re.test(channel))?.policy;
  }
}
