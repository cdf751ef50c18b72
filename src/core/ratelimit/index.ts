/** Rate limiting (issue 4): multi-rule limiter over Redis with an in-process fallback, headers, progressive delay. */
export { createRateLimiter, RateLimiter, type LimitPlan } from './limiter.js';
export { MemoryLimiter } from './memory.js';
export { rateLimitHeaders } from './headers.js';
export { createProgressiveDelay, ProgressiveDelay, type ProgressiveDelayOptions, type DelaySubjects, type DelayDecision } from './progressive.js';
export { circuitSubject } from './keys.js';
export { LIMITER_LUA, LIMIT_SCRIPT } from './lua.js';
export { RATELIMIT_CHANNEL, type RateLimitEvent } from './channels.js';
export type { Algorithm, CheckOptions, Decision, DecisionSource, LimitRule, RateLimiterOptions, ResolvedRule, RuleResult, Subject, SubjectPart } from './types.js';
