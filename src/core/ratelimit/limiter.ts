/**
 * `createRateLimiter()`: several rules per request, one Redis round trip, all-or-nothing (lua.ts).
 *
 * `check()` is built from three steps the request pipeline can also call itself when it folds the limiter's Lua
 * into a bigger script: `plan()` (keys + ARGV tail, or an immediate decision: hot block, missing subject part),
 * `settle()` (the script's flat reply → Decision), `fallback()` (Redis failed or is off: in-process limiter, open or
 * closed). Redis errors never reach the caller; the link's breaker keeps a dead Redis from costing latency.
 *
 * Hot blocks: a key Redis reported blocked until T is answered from an LRU until T (for requests costing at least
 * as much), with no Redis call — a client hammering while blocked costs the shared Redis nothing.
 */
import { LRUCache } from 'lru-cache';
import { OnionscaleError } from '../../errors.js';
import { durationMs } from '../../units.js';
import { emit } from './channels.js';
import { encodeKeyPart } from '../redis/key-part.js';
import type { AnyRedisClient } from '../redis/client.js';
import { missingParts, resolveRules, ruleKey, ruleKeyAround, validateSubject } from './keys.js';
import { ALGO_CODES, LIMIT_SCRIPT } from './lua.js';
import { MemoryLimiter } from './memory.js';
import { linkFor, type RedisLink } from './redis-link.js';
import type { CheckOptions, Decision, DecisionSource, RateLimiterOptions, ResolvedRule, RuleResult, Subject, SubjectPart } from './types.js';

export interface LimitPlan {
  readonly rules: readonly ResolvedRule[];
  /** One Redis key per rule (the script's KEYS). */
  readonly keys: readonly string[];
  /** ARGV[1]: now in ms, or '' for Redis TIME. */
  readonly now: string;
  /** ARGV[2…]: 4 per rule — algo, limit, window_ms, cost. */
  readonly args: readonly string[];
  readonly costs: readonly number[];
  /** Set when no Redis call is needed (hot block, missing subject part, every rule skipped). */
  readonly decision?: Decision | undefined;
  /** Rules keyed by the user, planned before the user is known (`plan(…, { lateUser: true })`). */
  readonly late?: readonly LateRule[] | undefined;
}

/** A user-keyed rule whose key is `before + <user in key form> + after` (see `complete()`). */
export interface LateRule {
  readonly rule: ResolvedRule;
  readonly before: string;
  readonly after: string;
  readonly cost: number;
}

interface HotBlock {
  at: number;
  until: number;
  cost: number;
  result: RuleResult;
}

const ON_DOWN = new Set(['local', 'open', 'closed']);
const OPTION_KEYS = new Set(['rules', 'redis', 'prefix', 'onRedisDown', 'commandTimeout', 'breakerCooldown', 'clock', 'hotBlocks', 'memoryMaxKeys', 'name']);

export class RateLimiter {
  readonly rules: readonly ResolvedRule[];
  readonly #byName: Map<string, ResolvedRule>;
  readonly #prefix: string;
  readonly #onDown: 'local' | 'open' | 'closed';
  readonly #cooldown: number;
  readonly #clock: (() => number) | undefined;
  readonly #hot: LRUCache<string, HotBlock> | undefined;
  readonly #memory: MemoryLimiter;
  readonly #link: RedisLink | undefined;
  readonly #name: string;

  constructor(options: RateLimiterOptions) {
    const problems: string[] = [];
    if (options === null || typeof options !== 'object') throw new OnionscaleError('OSC_ERR_RATELIMIT_OPTIONS', 'createRateLimiter(options): options must be an object with rules');
    for (const k of Object.keys(options)) if (!OPTION_KEYS.has(k)) problems.push(`${k}: unknown option`);
    const prefix = options.prefix ?? 'osc:rl:';
    if (typeof prefix !== 'string' || /[\s*?[\]]/.test(prefix)) problems.push('prefix: a string without whitespace or glob characters');
    const onDown = options.onRedisDown ?? 'local';
    if (!ON_DOWN.has(onDown)) problems.push(`onRedisDown: 'local', 'open' or 'closed' (got ${JSON.stringify(onDown)})`);
    const commandTimeout = durationMs(options.commandTimeout ?? 250, 1);
    if (commandTimeout === undefined) problems.push(`commandTimeout: a duration ≥ 1 ms (got ${JSON.stringify(options.commandTimeout)})`);
    const cooldown = durationMs(options.breakerCooldown ?? 1000, 1);
    if (cooldown === undefined) problems.push(`breakerCooldown: a duration ≥ 1 ms (got ${JSON.stringify(options.breakerCooldown)})`);
    if (options.clock !== undefined && typeof options.clock !== 'function') problems.push('clock: a function returning ms');
    const hot = options.hotBlocks ?? { max: 10_000 };
    if (hot !== false && !(typeof hot === 'object' && Number.isInteger(hot.max) && hot.max >= 1)) problems.push('hotBlocks: { max: positive integer } or false');
    if (options.memoryMaxKeys !== undefined && !(Number.isInteger(options.memoryMaxKeys) && options.memoryMaxKeys >= 1)) problems.push('memoryMaxKeys: a positive integer');
    let rules: readonly ResolvedRule[] = [];
    try {
      rules = resolveRules(options.rules);
    } catch (err) {
      problems.push(...((err as OnionscaleError).details.problems as string[]));
    }
    if (problems.length > 0) {
      throw new OnionscaleError('OSC_ERR_RATELIMIT_OPTIONS', `createRateLimiter: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`, {
        details: { problems },
      });
    }
    this.rules = rules;
    this.#byName = new Map(rules.map((r) => [r.name, r]));
    this.#prefix = prefix;
    this.#onDown = onDown;
    this.#cooldown = cooldown!;
    this.#clock = options.clock;
    this.#name = options.name ?? 'default';
    this.#hot = hot === false ? undefined : new LRUCache({ max: hot.max });
    this.#memory = new MemoryLimiter({ maxKeys: options.memoryMaxKeys ?? 100_000, clock: () => this.#now() });
    this.#link = linkFor(options.redis, { commandTimeout: commandTimeout!, breakerCooldown: cooldown!, name: this.#name });
  }

  #now(): number {
    return Math.floor(this.#clock ? this.#clock() : Date.now());
  }

  /** Whether Redis is connected (waits up to `timeoutMs`); always false in memory-only mode. */
  async ready(timeoutMs = 5000): Promise<boolean> {
    return this.#link ? this.#link.ready(timeoutMs) : false;
  }

  /** Closes the Redis client if the limiter created it. Idempotent. */
  async close(): Promise<void> {
    await this.#link?.close();
  }

  async check(subject: Subject, options: CheckOptions = {}): Promise<Decision> {
    return this.decide(this.plan(subject, options));
  }

  /** The Redis client decisions go to (`undefined`: memory only). The request pipeline shares a script with it. */
  get client(): AnyRedisClient | undefined {
    return this.#link?.client;
  }

  /** Whether a decision would go to Redis now (client ready, breaker closed). */
  get redisUsable(): boolean {
    return this.#link?.usable ?? false;
  }

  /** Decides a plan (from `plan()`, completed when it has late rules): Redis, or the fallback. */
  async decide(plan: LimitPlan): Promise<Decision> {
    if (plan.decision) return plan.decision;
    if (plan.keys.length === 0) return this.#decided({ allowed: true, results: [], retryAfterMs: 0, source: 'memory' });
    if (this.#link === undefined) return this.#local(plan, 'memory');
    if (!this.#link.usable) return this.fallback(plan);
    let reply: unknown;
    try {
      reply = await this.#link.eval<unknown>(LIMIT_SCRIPT, plan.keys, [plan.now, ...plan.args]);
    } catch (err) {
      return this.fallback(plan, err);
    }
    return this.settle(plan, reply);
  }

  /**
   * Keys and arguments for `osc_limits`, or an immediate decision. Throws coded errors for bad subjects/options.
   * `lateUser`: rules that lack only the user are put in `late` instead of being refused or skipped (the request
   * pipeline learns the user from the session inside the same script); `complete()` turns them into rules.
   */
  plan(subject: Subject, options: CheckOptions = {}, lateUser = false): LimitPlan {
    validateSubject(subject);
    const selected = this.#select(options);
    const cost = options.cost;
    if (cost !== undefined && !(Number.isInteger(cost) && cost >= 1)) {
      throw new OnionscaleError('OSC_ERR_RATELIMIT_OPTIONS', `check({ cost }): a positive integer (got ${JSON.stringify(cost)})`);
    }
    const rules: ResolvedRule[] = [];
    const late: LateRule[] = [];
    const missing = new Set<SubjectPart>();
    for (const rule of selected) {
      const lacks = missingParts(rule, subject);
      if (lacks.length === 0) rules.push(rule);
      else if (lateUser && lacks.length === 1 && lacks[0] === 'user') {
        const [before, after] = ruleKeyAround(this.#prefix, rule, subject, 'user');
        late.push({ rule, before, after, cost: cost ?? rule.cost });
      } else if (!rule.optional) for (const p of lacks) missing.add(p);
    }
    const empty = { rules, keys: [], now: '', args: [], costs: [] };
    if (missing.size > 0) return { ...empty, decision: this.#missing([...missing]) };
    if (rules.length === 0 && late.length === 0) return { ...empty, decision: this.#decided({ allowed: true, results: [], retryAfterMs: 0, source: 'memory' }) };
    return this.#planOf(rules, rules.map((r) => ruleKey(this.#prefix, r, subject)), rules.map((r) => cost ?? r.cost), late);
  }

  /**
   * A plan's late rules with the user known: `user` is its key form (`encodeKeyPart`), or `undefined` when the
   * request has no user — then optional late rules are skipped and any other refuses the decision (`missing`).
   */
  complete(plan: LimitPlan, user: string | undefined): LimitPlan {
    const late = plan.late ?? [];
    if (late.length === 0 || plan.decision) return plan;
    if (user === undefined) {
      if (late.some((l) => !l.rule.optional)) return { ...plan, late: undefined, decision: this.#missing(['user']) };
      return { ...plan, late: undefined };
    }
    return this.#planOf(
      [...plan.rules, ...late.map((l) => l.rule)],
      [...plan.keys, ...late.map((l) => l.before + user + l.after)],
      [...plan.costs, ...late.map((l) => l.cost)],
      undefined,
    );
  }

  /** `complete()` for a user id as the session holds it (not yet in key form). */
  completeWithUser(plan: LimitPlan, userId: string | undefined): LimitPlan {
    return this.complete(plan, userId === undefined || userId === '' ? undefined : encodeKeyPart(userId));
  }

  #planOf(rules: readonly ResolvedRule[], keys: readonly string[], costs: readonly number[], late: readonly LateRule[] | undefined): LimitPlan {
    const args: string[] = [];
    rules.forEach((r, i) => args.push(ALGO_CODES[r.algorithm], String(r.limit), String(r.windowMs), String(costs[i])));
    return { rules, keys, now: this.#clock ? String(this.#now()) : '', args, costs, decision: this.#hotBlock(keys, costs), late };
  }

  #missing(parts: SubjectPart[]): Decision {
    return this.#decided({ allowed: false, results: [], retryAfterMs: 0, source: 'memory', missing: parts });
  }

  /** The Decision for the flat reply of `osc_limits` (4 integers per rule). A malformed reply falls back. */
  settle(plan: LimitPlan, reply: unknown): Decision {
    const n = plan.rules.length;
    if (!Array.isArray(reply) || reply.length !== n * 4 || !reply.every((v) => typeof v === 'number')) {
      return this.fallback(plan, new Error(`osc_limits replied ${JSON.stringify(reply)?.slice(0, 200)}, expected ${n * 4} integers`));
    }
    const decision = this.#fromFlat(plan, reply, 'redis');
    if (!decision.allowed && this.#hot) {
      const now = this.#now();
      decision.results.forEach((r, i) => {
        if (!r.allowed && r.retryAfterMs > 0) this.#hot!.set(plan.keys[i]!, { at: now, until: now + r.retryAfterMs, cost: plan.costs[i]!, result: r });
      });
    }
    return this.#decided(decision);
  }

  /** The decision while Redis is unusable (`error` given: a call just failed, which trips the breaker). */
  fallback(plan: LimitPlan, error?: unknown): Decision {
    if (plan.decision) return plan.decision;
    if (error !== undefined) this.#link?.failed();
    emit(() => ({ event: 'fallback', limiter: this.#name, mode: this.#onDown, error }));
    if (this.#onDown === 'open') return this.#decided({ allowed: true, results: [], retryAfterMs: 0, source: 'open' });
    if (this.#onDown === 'closed') return this.#decided({ allowed: false, results: [], retryAfterMs: this.#cooldown, source: 'closed' });
    return this.#local(plan, 'memory');
  }

  #local(plan: LimitPlan, source: DecisionSource): Decision {
    const flat = this.#memory.limits(
      plan.keys,
      plan.rules.map((r) => ALGO_CODES[r.algorithm]),
      plan.rules.map((r) => r.limit),
      plan.rules.map((r) => r.windowMs),
      plan.costs,
      this.#now(),
    );
    return this.#decided(this.#fromFlat(plan, flat, source));
  }

  #fromFlat(plan: LimitPlan, flat: readonly number[], source: DecisionSource): Decision {
    const results: RuleResult[] = plan.rules.map((rule, i) => ({
      rule: rule.name,
      algorithm: rule.algorithm,
      limit: rule.limit,
      windowMs: rule.windowMs,
      allowed: flat[i * 4] === 1,
      remaining: flat[i * 4 + 1]!,
      resetMs: flat[i * 4 + 2]!,
      retryAfterMs: flat[i * 4 + 3]!,
    }));
    let blockedBy: RuleResult | undefined;
    for (const r of results) if (!r.allowed && (blockedBy === undefined || r.retryAfterMs > blockedBy.retryAfterMs)) blockedBy = r;
    return { allowed: blockedBy === undefined, results, blockedBy, retryAfterMs: blockedBy?.retryAfterMs ?? 0, source };
  }

  #select(options: CheckOptions): readonly ResolvedRule[] {
    if (options.rules === undefined) return this.rules;
    const unknown = options.rules.filter((n) => !this.#byName.has(n));
    if (unknown.length > 0) {
      throw new OnionscaleError('OSC_ERR_RATELIMIT_OPTIONS', `check({ rules }): no rule named ${unknown.map((n) => JSON.stringify(n)).join(', ')} (rules: ${[...this.#byName.keys()].join(', ')})`);
    }
    return [...new Set(options.rules)].map((n) => this.#byName.get(n)!);
  }

  #hotBlock(keys: readonly string[], costs: readonly number[]): Decision | undefined {
    if (this.#hot === undefined || this.#hot.size === 0) return undefined;
    const now = this.#now();
    for (let i = 0; i < keys.length; i++) {
      const hit = this.#hot.get(keys[i]!);
      if (hit === undefined) continue;
      if (hit.until <= now) {
        this.#hot.delete(keys[i]!);
        continue;
      }
      if (costs[i]! < hit.cost) continue;
      const left = hit.until - now;
      const result: RuleResult = { ...hit.result, allowed: false, resetMs: Math.max(0, hit.result.resetMs - (now - hit.at)), retryAfterMs: left };
      return this.#decided({ allowed: false, results: [result], blockedBy: result, retryAfterMs: left, source: 'hot' });
    }
    return undefined;
  }

  #decided(d: Decision): Decision {
    emit(() => ({ event: 'decision', limiter: this.#name, allowed: d.allowed, source: d.source, blockedBy: d.blockedBy?.rule }));
    return d;
  }
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  return new RateLimiter(options);
}
