/**
 * Rule validation (every problem reported at once, then frozen) and Redis keys:
 * `<prefix><rule name>:<part>=<value>:…` in the rule's `by` order (`<prefix><rule name>:global` for `by: []`).
 *
 * Values are user-controlled (session ids, user names, routes): `encodeKeyPart` (src/core/redis/key-part.ts) keeps
 * them readable or hashes them, so no value can reach into another key, glob pattern or part.
 */
import { OnionscaleError } from '../../errors.js';
import { durationMs } from '../../units.js';
import { circuitIdOf } from '../circuit.js';
import { encodeKeyPart } from '../redis/key-part.js';
import { ALGO_CODES } from './lua.js';
import { SUBJECT_PARTS, type LimitRule, type ResolvedRule, type Subject, type SubjectPart } from './types.js';

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
const INSTANCE_RE = /^[A-Za-z0-9._-]{1,64}$/;
const RULE_KEYS = new Set(['name', 'algorithm', 'limit', 'window', 'by', 'cost', 'optional']);
/** GCRA and the sliding-window counter compute in limit × window ms integers: keep them exact in a double. */
const MAX_LIMIT_TIMES_WINDOW = 2 ** 50;
const MAX_LIMIT = 1_000_000_000;

/** `"<torInstance>:<circuitId>"` for `Subject.circuit`, from haproxy's circuit header; `undefined` without one. */
export function circuitSubject(torInstance: string, header: string | string[] | undefined): string | undefined {
  const id = circuitIdOf(header);
  return id === undefined ? undefined : `${torInstance}:${id}`;
}

/** The key part for a circuit subject; throws OSC_ERR_RATELIMIT_SUBJECT when it is not `<instance>:<id>`. */
function circuitPart(value: string): string {
  const at = value.lastIndexOf(':');
  const instance = value.slice(0, at);
  const id = value.slice(at + 1);
  if (at < 1 || !INSTANCE_RE.test(instance) || !/^\d{1,10}$/.test(id) || Number(id) > 0xffffffff) {
    throw new OnionscaleError('OSC_ERR_RATELIMIT_SUBJECT', `subject.circuit must be "<torInstance>:<circuitId>" (build it with circuitSubject()), got ${JSON.stringify(value.slice(0, 80))}`, {
      details: { part: 'circuit' },
    });
  }
  return `${instance}.${Number(id)}`;
}

/** The key form of one subject value (throws OSC_ERR_RATELIMIT_SUBJECT for a malformed circuit). */
export function partValue(part: SubjectPart, value: string): string {
  return part === 'circuit' ? circuitPart(value) : encodeKeyPart(value);
}

/** The parts of `rule.by` the subject lacks (absent or empty). */
export function missingParts(rule: ResolvedRule, subject: Subject): SubjectPart[] {
  return rule.by.filter((part) => {
    const v = subject[part];
    return typeof v !== 'string' || v === '';
  });
}

/** The Redis key of `rule` for `subject` (all of `rule.by` present). */
export function ruleKey(prefix: string, rule: ResolvedRule, subject: Subject): string {
  if (rule.by.length === 0) return `${prefix}${rule.name}:global`;
  let key = prefix + rule.name;
  for (const part of rule.by) {
    const v = subject[part]!;
    key += `:${part}=${partValue(part, v)}`;
  }
  return key;
}

/**
 * `ruleKey` with the `late` part left open: `[before, after]` such that `before + encodeKeyPart(value) + after` is the
 * key. The request pipeline uses it for user-keyed rules, whose user is only known inside its Lua script.
 */
export function ruleKeyAround(prefix: string, rule: ResolvedRule, subject: Subject, late: SubjectPart): [string, string] {
  let before = prefix + rule.name;
  let after = '';
  let open = false;
  for (const part of rule.by) {
    if (part === late) {
      before += `:${part}=`;
      open = true;
    } else if (open) after += `:${part}=${partValue(part, subject[part]!)}`;
    else before += `:${part}=${partValue(part, subject[part]!)}`;
  }
  return [before, after];
}

export function validateSubject(subject: unknown): asserts subject is Subject {
  const problems: string[] = [];
  if (subject === null || typeof subject !== 'object' || Array.isArray(subject)) {
    problems.push('subject must be an object { circuit?, session?, user?, route? }');
  } else {
    for (const [k, v] of Object.entries(subject)) {
      if (!(SUBJECT_PARTS as readonly string[]).includes(k)) problems.push(`subject.${k}: unknown part (use ${SUBJECT_PARTS.join(', ')})`);
      else if (v !== undefined && typeof v !== 'string') problems.push(`subject.${k}: must be a string, got ${typeof v}`);
    }
  }
  if (problems.length > 0) {
    throw new OnionscaleError('OSC_ERR_RATELIMIT_SUBJECT', problems.join('; '), { details: { problems } });
  }
}

const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/** Validates every rule, reports all problems in one OSC_ERR_RATELIMIT_OPTIONS error, returns frozen rules. */
export function resolveRules(rules: unknown): readonly ResolvedRule[] {
  const problems: string[] = [];
  const out: ResolvedRule[] = [];
  if (!Array.isArray(rules) || rules.length === 0) {
    problems.push('rules: must be a non-empty array of { name, algorithm, limit, window, by }');
  } else {
    const names = new Set<string>();
    rules.forEach((raw: unknown, i) => {
      const at = `rules[${i}]`;
      if (raw === null || typeof raw !== 'object') {
        problems.push(`${at}: must be an object`);
        return;
      }
      const r = raw as Partial<Record<keyof LimitRule, unknown>>;
      const before = problems.length;
      for (const k of Object.keys(r)) if (!RULE_KEYS.has(k)) problems.push(`${at}.${k}: unknown key`);
      if (typeof r.name !== 'string' || !NAME_RE.test(r.name)) problems.push(`${at}.name: 1–64 characters of letters, digits, . _ - (got ${JSON.stringify(r.name)})`);
      else if (names.has(r.name)) problems.push(`${at}.name: "${r.name}" is used by another rule`);
      else names.add(r.name);
      if (typeof r.algorithm !== 'string' || !(r.algorithm in ALGO_CODES)) problems.push(`${at}.algorithm: one of ${Object.keys(ALGO_CODES).join(', ')} (got ${JSON.stringify(r.algorithm)})`);
      if (!isInt(r.limit, 1, MAX_LIMIT)) problems.push(`${at}.limit: an integer from 1 to ${MAX_LIMIT} (got ${JSON.stringify(r.limit)})`);
      const windowMs = durationMs(r.window, 1);
      if (windowMs === undefined) problems.push(`${at}.window: a duration ≥ 1 ms such as 1000, '1s', '1m', '1d' (got ${JSON.stringify(r.window)})`);
      else if (isInt(r.limit, 1, MAX_LIMIT) && r.limit * windowMs > MAX_LIMIT_TIMES_WINDOW) problems.push(`${at}: limit × window (ms) must stay below 2^50; use a shorter window or a smaller limit`);
      if (r.algorithm === 'sliding-log' && isInt(r.limit, 1, MAX_LIMIT) && r.limit > 100_000) problems.push(`${at}.limit: sliding-log keeps one entry per request; use at most 100000 or another algorithm`);
      if (!Array.isArray(r.by)) problems.push(`${at}.by: an array of ${SUBJECT_PARTS.join(', ')} (never the source IP: behind tor it is always loopback)`);
      else {
        const seen = new Set<unknown>();
        for (const p of r.by as unknown[]) {
          if (!(SUBJECT_PARTS as readonly unknown[]).includes(p)) problems.push(`${at}.by: unknown part ${JSON.stringify(p)} (use ${SUBJECT_PARTS.join(', ')})`);
          else if (seen.has(p)) problems.push(`${at}.by: "${String(p)}" twice`);
          seen.add(p);
        }
      }
      if (r.cost !== undefined && !isInt(r.cost, 1, MAX_LIMIT)) problems.push(`${at}.cost: a positive integer (got ${JSON.stringify(r.cost)})`);
      if (r.optional !== undefined && typeof r.optional !== 'boolean') problems.push(`${at}.optional: true or false`);
      if (problems.length > before) return;
      out.push(
        Object.freeze({
          name: r.name as string,
          algorithm: r.algorithm as LimitRule['algorithm'],
          limit: r.limit as number,
          windowMs: windowMs!,
          by: Object.freeze([...(r.by as SubjectPart[])]),
          cost: (r.cost as number | undefined) ?? 1,
          optional: (r.optional as boolean | undefined) ?? false,
        }),
      );
    });
  }
  if (problems.length > 0) {
    throw new OnionscaleError('OSC_ERR_RATELIMIT_OPTIONS', `${problems.length} rate-limit problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`, {
      details: { problems },
    });
  }
  return Object.freeze(out);
}
