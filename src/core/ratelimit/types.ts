/**
 * The shapes of the rate limiter (issue 4): rules, the subject a request is limited by, and decisions.
 *
 * A rule names what it counts (`by`: the Tor circuit, the session, the user, the route — composable) and never the
 * source IP: behind tor every connection comes from loopback. Several rules are checked in one call and one Redis
 * round trip, all-or-nothing: a request blocked by any rule consumes nothing from the others.
 */
import type { RedisClientOptions } from 'redis';
import type { AnyRedisClient } from '../redis/client.js';
import type { Duration } from '../../units.js';

export type Algorithm = 'fixed-window' | 'sliding-log' | 'sliding-window' | 'gcra';

export type SubjectPart = 'circuit' | 'session' | 'user' | 'route';

export const SUBJECT_PARTS: readonly SubjectPart[] = ['circuit', 'session', 'user', 'route'];

export interface LimitRule {
  /** 1–64 characters of letters, digits and `.` `_` `-`; unique; the policy name in the RateLimit headers. */
  name: string;
  algorithm: Algorithm;
  /** Units allowed per window (for GCRA: the burst; the rate is limit / window). */
  limit: number;
  window: Duration;
  /** What the quota is partitioned by; `[]` is one global quota. */
  by: SubjectPart[];
  /** Units one request costs by default (1). */
  cost?: number;
  /** When a part in `by` is missing from the subject, skip this rule instead of refusing the decision. */
  optional?: boolean;
}

/** What a request is limited by. Absent or empty values count as missing. */
export interface Subject {
  /** `"<torInstance>:<circuitId>"` (see `circuitSubject()`): circuit IDs are unique per tor process only. */
  circuit?: string | undefined;
  session?: string | undefined;
  user?: string | undefined;
  route?: string | undefined;
}

/** A rule after validation: durations in ms, defaults applied. */
export interface ResolvedRule {
  readonly name: string;
  readonly algorithm: Algorithm;
  readonly limit: number;
  readonly windowMs: number;
  readonly by: readonly SubjectPart[];
  readonly cost: number;
  readonly optional: boolean;
}

export interface RuleResult {
  rule: string;
  algorithm: Algorithm;
  limit: number;
  windowMs: number;
  allowed: boolean;
  /** Units still available under this rule (after this request when the decision allowed it). */
  remaining: number;
  /** ms until `remaining` next grows (0 when the quota is untouched): the RateLimit `t` parameter. */
  resetMs: number;
  /** ms until a request of this cost would pass this rule (0 when it passes now). */
  retryAfterMs: number;
}

export type DecisionSource = 'redis' | 'memory' | 'hot' | 'open' | 'closed';

export interface Decision {
  allowed: boolean;
  /**
   * One result per rule checked. A `hot` decision (answered from memory without Redis) carries only the rule that
   * blocked; a refused (`missing`) decision carries none.
   */
  results: RuleResult[];
  blockedBy?: RuleResult | undefined;
  retryAfterMs: number;
  source: DecisionSource;
  /** Subject parts absent for a non-optional rule: the caller answers 400 ("no circuit"), nothing was counted. */
  missing?: SubjectPart[] | undefined;
}

export interface CheckOptions {
  /** Names of the rules to check (default: all). */
  rules?: readonly string[];
  /** Units this request costs under every checked rule (default: each rule's `cost`). */
  cost?: number;
}

export type RedisOption = { client: AnyRedisClient } | { options: RedisClientOptions } | false;

export interface RateLimiterOptions {
  rules: LimitRule[];
  /** Omitted: `redisOptionsFromEnv()` (an app started by onionscale), else memory only. `false`: memory only. */
  redis?: RedisOption;
  /** Redis key prefix (default `osc:rl:`). */
  prefix?: string;
  /** What answers while Redis is down: the in-process limiter (default), allow everything, or refuse everything. */
  onRedisDown?: 'local' | 'open' | 'closed';
  /** Per-command timeout (default 250 ms). */
  commandTimeout?: Duration;
  /** How long a failed Redis call keeps decisions away from Redis before one is tried again (default 1 s). */
  breakerCooldown?: Duration;
  /** ms clock. When given it is also sent to Redis as now_ms; otherwise Redis TIME decides windows. */
  clock?: () => number;
  /** Blocked keys answered from an in-process LRU until they unblock (default `{ max: 10 000 }`; `false` = off). */
  hotBlocks?: { max: number } | false;
  /** Bound on keys the in-process limiter keeps (default 100 000, least recently used dropped first). */
  memoryMaxKeys?: number;
  /** Name in diagnostics events (default `default`). */
  name?: string;
}
