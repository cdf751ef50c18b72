/**
 * `createPipeline()`: what a request needs from Redis before its handler runs — its session, its rate-limit
 * decision and (for cached routes) its cached data — in ONE round trip: the session load and every limit rule in
 * one script (lua.ts), and the cache reads issued in the same tick on the same client, which node-redis writes to
 * the socket together with the script. The Express middleware and the Fastify plugin (`requestPipeline`) are thin
 * wrappers around `run()`.
 *
 * One round trip needs one connection: give the sessions, the limiter and the cache the same node-redis client
 * (`{ client }`). With different clients, or sessions in memory, the pipeline still works, in more round trips.
 * Redis failing: the session is `degraded` (cookie kept, writes dropped) and the limiter answers from its
 * fallback (memory, open or closed), exactly as each does on its own.
 */
import { OnionscaleError } from '../../errors.js';
import type { Cache } from '../cache/cache.js';
import { circuitSubject } from '../ratelimit/keys.js';
import type { LimitPlan, RateLimiter } from '../ratelimit/limiter.js';
import { ALGO_CODES } from '../ratelimit/lua.js';
import type { CheckOptions, Decision, Subject } from '../ratelimit/types.js';
import { fieldsFromFlat, RedisSessionStore } from '../session/store.js';
import type { Session } from '../session/session.js';
import type { RequestInfo, Sessions } from '../session/sessions.js';
import { PIPELINE_SCRIPT } from './lua.js';

export interface PipelineRequest extends RequestInfo {
  method: string;
  /** Path and query, as received. */
  url: string;
}

export interface PipelineOptions {
  sessions: Sessions;
  /** Checked on every request (or as `limits` says); omitted: no rate limits. */
  limiter?: RateLimiter;
  /**
   * Which rules a request is checked against: `CheckOptions` for all requests, or per request (`false`: none).
   * Default: every rule of the limiter.
   */
  limits?: CheckOptions | ((req: PipelineRequest) => CheckOptions | false | undefined);
  /** The route part of the limit subject (e.g. `req => 'POST /login'`); default none. */
  route?: (req: PipelineRequest) => string | undefined;
  /** Header haproxy sets from tor's PROXY line. Default `$ONIONSCALE_CIRCUIT_HEADER` or `x-onion-circuit`. */
  circuitHeader?: string;
  /** Names the tor process circuit ids come from (ids are unique per tor only). Default `$ONIONSCALE_TOR_INSTANCE` or `tor`. */
  torInstance?: string;
  /**
   * A request without a (valid) circuit header did not come through haproxy. `'refuse'` (default): rules keyed by
   * the circuit refuse it (400 OSC_ERR_CIRCUIT_REQUIRED). `'shared'`: such requests share one circuit subject,
   * `direct:0` — for instances reachable only on 127.0.0.1 where local tools and tests talk to them directly.
   */
  noCircuit?: 'refuse' | 'shared';
  /** The cache whose entries `prefetch` reads (into its L1) before the handler runs. */
  cache?: Cache;
  /** Cache keys this request will read (e.g. `queryKey(sql, params)`): fetched in the same round trip. */
  prefetch?: (req: PipelineRequest) => string | readonly string[] | undefined;
}

export interface PipelineResult {
  session: Session;
  /** `undefined` when no limits apply to this request. */
  decision: Decision | undefined;
  subject: Subject;
}

interface Resolved {
  sessions: Sessions;
  limiter: RateLimiter | undefined;
  limits: (req: PipelineRequest) => CheckOptions | false | undefined;
  route: (req: PipelineRequest) => string | undefined;
  circuitHeader: string;
  torInstance: string;
  directCircuit: string | undefined;
  cache: Cache | undefined;
  prefetch: ((req: PipelineRequest) => string | readonly string[] | undefined) | undefined;
}

const fn = (v: unknown): boolean => v === undefined || typeof v === 'function';

function resolve(options: PipelineOptions): Resolved {
  const problems: string[] = [];
  if (options === null || typeof options !== 'object') throw new OnionscaleError('OSC_ERR_PIPELINE_OPTIONS', 'createPipeline(options): options must be an object with sessions');
  if (options.sessions === undefined || typeof options.sessions.readCookie !== 'function') problems.push('sessions: a Sessions object from createSessions()');
  if (options.limiter !== undefined && typeof options.limiter.plan !== 'function') problems.push('limiter: a RateLimiter from createRateLimiter()');
  if (options.limits !== undefined && typeof options.limits !== 'function' && typeof options.limits !== 'object') problems.push('limits: CheckOptions or (req) => CheckOptions | false');
  if (!fn(options.route)) problems.push('route: a function (req) => string | undefined');
  if (!fn(options.prefetch)) problems.push('prefetch: a function (req) => cache key(s)');
  if (options.prefetch !== undefined && options.cache === undefined) problems.push('prefetch: needs `cache`');
  const header = (options.circuitHeader ?? process.env.ONIONSCALE_CIRCUIT_HEADER ?? 'x-onion-circuit').toLowerCase();
  if (!/^[a-z0-9-]{1,64}$/.test(header)) problems.push('circuitHeader: a header name (letters, digits, -)');
  const torInstance = options.torInstance ?? process.env.ONIONSCALE_TOR_INSTANCE ?? 'tor';
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(torInstance)) problems.push('torInstance: 1–64 characters of letters, digits, . _ -');
  if (options.noCircuit !== undefined && options.noCircuit !== 'refuse' && options.noCircuit !== 'shared') problems.push("noCircuit: 'refuse' or 'shared'");
  if (problems.length > 0) {
    throw new OnionscaleError('OSC_ERR_PIPELINE_OPTIONS', `invalid request pipeline options:\n  ${problems.join('\n  ')}`, { details: { problems } });
  }
  const limits = options.limits;
  return {
    sessions: options.sessions,
    limiter: options.limiter,
    limits: typeof limits === 'function' ? limits : () => limits ?? {},
    route: options.route ?? (() => undefined),
    circuitHeader: header,
    torInstance,
    directCircuit: options.noCircuit === 'shared' ? 'direct:0' : undefined,
    cache: options.cache,
    prefetch: options.prefetch,
  };
}

export class RequestPipeline {
  readonly #o: Resolved;

  constructor(options: PipelineOptions) {
    this.#o = resolve(options);
  }

  get sessions(): Sessions {
    return this.#o.sessions;
  }

  /** Session, decision and prefetched cache entries for one request. Rejects only for programming errors (bad `limits`). */
  async run(req: PipelineRequest): Promise<PipelineResult> {
    const { sessions, limiter } = this.#o;
    const cookie = sessions.readCookie(req.headers);
    const id = cookie === undefined || cookie === 'invalid' ? undefined : cookie.id;
    const sessionKey = id === undefined ? undefined : sessions.keyOf(id);
    const subject: Subject = {
      circuit: circuitSubject(this.#o.torInstance, req.headers[this.#o.circuitHeader]) ?? this.#o.directCircuit,
      // The session's storage hash, never the id itself: limit keys are as safe to list as session keys.
      session: sessionKey?.slice(sessions.options.prefix.length),
      route: this.#o.route(req),
    };
    const check = limiter ? this.#o.limits(req) : false;
    const plan = limiter && check ? limiter.plan(subject, check, true) : undefined;

    // Refused before Redis (hot block, missing circuit): the handler will not run, so nothing is loaded — not even
    // the prefetch: a blocked client must cost the shared Redis nothing.
    if (plan?.decision && !plan.decision.allowed) return { session: sessions.unloaded(cookie), decision: plan.decision, subject };
    const store = sessions.store;
    const shared = store instanceof RedisSessionStore && (!limiter || !plan || (limiter.client === store.client && limiter.redisUsable));
    if (!shared) {
      const prefetched = this.#prefetch(req);
      const session = await sessions.open(req);
      const decision = plan && limiter ? await limiter.decide(limiter.completeWithUser(plan, session.userId)) : undefined;
      await prefetched;
      return { session, decision, subject };
    }
    const { keys, args } = scriptCall(sessions, store, plan, sessionKey);
    // The cache GETs and the script are sent in this same tick: node-redis writes them to the socket together.
    const prefetched = this.#prefetch(req);
    const reply = store.eval<unknown>(PIPELINE_SCRIPT, keys, args).then(
      (r) => r,
      (error: unknown) => ({ error }),
    );
    const [r] = await Promise.all([reply, prefetched]);
    return { ...this.#settle(r, cookie, plan), subject };
  }

  #settle(r: unknown, cookie: ReturnType<Sessions['readCookie']>, plan: LimitPlan | undefined): Omit<PipelineResult, 'subject'> {
    const { sessions, limiter } = this.#o;
    const valid = cookie !== undefined && cookie !== 'invalid';
    if (!Array.isArray(r) || r.length !== 4 || !Array.isArray(r[0]) || !Array.isArray(r[1])) {
      const error = (r as { error?: unknown } | undefined)?.error ?? new Error('malformed pipeline reply');
      return {
        session: sessions.fromLoad(cookie, valid ? 'error' : undefined),
        decision: plan && limiter ? limiter.fallback(plan, error) : undefined,
      };
    }
    const [flat, limits, user, status] = r as [unknown[], unknown[], unknown, unknown];
    const session = sessions.fromLoad(cookie, valid ? fieldsFromFlat(flat) : undefined);
    if (!plan || !limiter) return { session, decision: undefined };
    const completed = limiter.complete(plan, status === 'ok' && typeof user === 'string' && user !== '' ? user : undefined);
    if (completed.decision) return { session, decision: completed.decision };
    return { session, decision: completed.keys.length === 0 ? undefined : limiter.settle(completed, limits) };
  }

  #prefetch(req: PipelineRequest): Promise<unknown> {
    const { cache, prefetch } = this.#o;
    if (!cache || !prefetch) return Promise.resolve();
    let keys: string | readonly string[] | undefined;
    try {
      keys = prefetch(req);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (keys === undefined) return Promise.resolve();
    // Each get() sends its GET synchronously (L1 misses only), in the tick the script is sent in. A failed read is
    // the handler's miss, never this request's error.
    return Promise.all((typeof keys === 'string' ? [keys] : keys).map((k) => cache.get(k).catch(() => undefined)));
  }
}

function scriptCall(sessions: Sessions, store: RedisSessionStore, plan: LimitPlan | undefined, sessionKey: string | undefined): { keys: string[]; args: string[] } {
  const o = sessions.options;
  const fixed = plan && !plan.decision ? plan : undefined;
  const late = fixed?.late ?? [];
  const keys = [...(fixed?.keys ?? [])];
  if (sessionKey !== undefined) keys.push(sessionKey);
  const args = [
    fixed?.now || store.nowArg(),
    String(Math.ceil(o.idleMs)),
    String(Math.ceil(o.absoluteMs)),
    sessionKey === undefined ? '0' : '1',
    String(fixed?.keys.length ?? 0),
    String(late.length),
    ...(fixed?.args ?? []),
  ];
  for (const l of late) {
    const r = l.rule;
    args.push(ALGO_CODES[r.algorithm], String(r.limit), String(r.windowMs), String(l.cost), r.optional ? '1' : '0', l.before, l.after);
  }
  return { keys, args };
}

export function createPipeline(options: PipelineOptions): RequestPipeline {
  return new RequestPipeline(options);
}
