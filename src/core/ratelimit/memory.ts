/**
 * `MemoryLimiter`: the Lua limiter (lua.ts) re-stated in TypeScript, same arithmetic line for line, for
 * single-process mode and as the fallback while Redis is down. `limits()` takes and returns exactly what
 * `osc_limits` does, so the contract suite can hold both to the same window-edge cases.
 *
 * State lives in a bounded LRU (least recently used keys dropped first); each entry carries its expiry in the
 * limiter's own clock (the `now` passed in), mirroring the Redis TTLs.
 */
import { LRUCache } from 'lru-cache';
import type { ALGO_CODES } from './lua.js';

export type AlgoCode = (typeof ALGO_CODES)[keyof typeof ALGO_CODES];

type State =
  | { t: 'fw'; exp: number; s: number; n: number }
  | { t: 'sl'; exp: number; log: number[] }
  | { t: 'sw'; exp: number; i: number; c: number; p: number }
  | { t: 'gcra'; exp: number; base: number; units: number; lim: number };

interface Peek {
  ok: boolean;
  rem: number;
  reset: number;
  retry: number;
  take: () => void;
}

function swWait(c: number, p: number, e: number, w: number, lim: number, need: number): number {
  if (need > lim) return -1;
  const room = lim - c - need;
  if (room >= 0) {
    const x = p > 0 ? w - Math.floor((room * w) / p) : 0;
    if (x <= e) return 0;
    if (x < w) return x - e;
  }
  let y = c > 0 ? w - Math.floor(((lim - need) * w) / c) : 0;
  if (y < 0) y = 0;
  return w - e + y;
}

function swReset(c: number, p: number, e: number, w: number, lim: number, rem: number): number {
  if (c === 0 && p === 0) return 0;
  const r = swWait(c, p, e, w, lim, Math.max(rem, 0) + 1);
  return r < 0 ? 0 : r;
}

function gcraReset(u: number, cap: number, w: number, lim: number, rem: number): number {
  if (u <= 0 || rem >= lim) return 0;
  return Math.ceil((u - cap + (rem + 1) * w) / lim);
}

export class MemoryLimiter {
  readonly #state: LRUCache<string, State>;
  readonly #clock: () => number;

  constructor(options: { maxKeys?: number; clock?: () => number } = {}) {
    this.#state = new LRUCache({ max: options.maxKeys ?? 100_000 });
    this.#clock = options.clock ?? Date.now;
  }

  /** ms now, by the injected clock. */
  now(): number {
    return Math.floor(this.#clock());
  }

  /** Keys currently held (for tests and stats). */
  get size(): number {
    return this.#state.size;
  }

  clear(): void {
    this.#state.clear();
  }

  delete(key: string): void {
    this.#state.delete(key);
  }

  #get<T extends State['t']>(key: string, t: T, now: number): Extract<State, { t: T }> | undefined {
    const s = this.#state.get(key);
    if (s === undefined || s.t !== t || now >= s.exp) return undefined;
    return s as Extract<State, { t: T }>;
  }

  /** Same contract as `osc_limits`: 4 numbers per rule (allowed 1/0, remaining, reset_ms, retry_after_ms). */
  limits(keys: readonly string[], algos: readonly AlgoCode[], limits: readonly number[], windows: readonly number[], costs: readonly number[], nowMs?: number): number[] {
    const now = Math.floor(nowMs ?? this.now());
    const peeks: Peek[] = keys.map((k, i) => this.#peek(algos[i]!, k, limits[i]!, windows[i]!, costs[i]!, now));
    if (peeks.every((p) => p.ok)) for (const p of peeks) p.take();
    return peeks.flatMap((p) => [p.ok ? 1 : 0, Math.max(0, p.rem), Math.max(0, p.reset), Math.max(0, p.retry)]);
  }

  #peek(a: AlgoCode, k: string, lim: number, w: number, c: number, now: number): Peek {
    switch (a) {
      case 'fw':
        return this.#fw(k, lim, w, c, now);
      case 'sl':
        return this.#sl(k, lim, w, c, now);
      case 'sw':
        return this.#sw(k, lim, w, c, now);
      case 'gcra':
        return this.#gcra(k, lim, w, c, now);
    }
  }

  #fw(k: string, lim: number, w: number, c: number, now: number): Peek {
    const st = this.#get(k, 'fw', now);
    let s: number | undefined = st?.s;
    let n = st?.n ?? 0;
    if (s === undefined || now >= s + w) {
      s = undefined;
      n = 0;
    }
    const ok = n + c <= lim;
    const p: Peek = {
      ok,
      rem: lim - n,
      reset: s === undefined ? 0 : s + w - now,
      retry: ok ? 0 : c > lim ? w : s! + w - now,
      take: () => {
        if (s === undefined || st === undefined || st.s !== s) {
          this.#state.set(k, { t: 'fw', exp: now + w, s: now, n: c });
          s = now;
        } else {
          st.n += c;
        }
        p.rem = lim - n - c;
        p.reset = s + w - now;
      },
    };
    return p;
  }

  #sl(k: string, lim: number, w: number, c: number, now: number): Peek {
    const st = this.#get(k, 'sl', now);
    const log = st ? st.log.filter((t) => t > now - w) : [];
    if (st) st.log = log;
    const n = log.length;
    const ok = n + c <= lim;
    const p: Peek = {
      ok,
      rem: lim - n,
      reset: n > 0 ? log[0]! + w - now : 0,
      retry: ok ? 0 : c > lim ? w : log[n + c - lim - 1]! + w - now,
      take: () => {
        for (let j = 0; j < c; j++) log.push(now);
        log.sort((x, y) => x - y);
        this.#state.set(k, { t: 'sl', exp: now + w, log });
        if (n === 0) p.reset = w;
        p.rem = lim - n - c;
      },
    };
    return p;
  }

  #sw(k: string, lim: number, w: number, c: number, now: number): Peek {
    const st = this.#get(k, 'sw', now);
    const idx = Math.floor(now / w);
    let cur = st?.c ?? 0;
    let prev = st?.p ?? 0;
    if (st === undefined) [cur, prev] = [0, 0];
    else if (st.i === idx - 1) [prev, cur] = [cur, 0];
    else if (st.i < idx - 1) [cur, prev] = [0, 0];
    const e = now - idx * w;
    const used = cur * w + prev * (w - e);
    const ok = used + c * w <= lim * w;
    const rem = Math.floor((lim * w - used) / w);
    let retry = 0;
    if (!ok) {
      retry = swWait(cur, prev, e, w, lim, c);
      if (retry < 0) retry = w;
    }
    const p: Peek = {
      ok,
      rem,
      reset: swReset(cur, prev, e, w, lim, rem),
      retry,
      take: () => {
        const next = cur + c;
        this.#state.set(k, { t: 'sw', exp: (idx + 2) * w, i: idx, c: next, p: prev });
        p.rem = Math.floor((lim * w - used - c * w) / w);
        p.reset = swReset(next, prev, e, w, lim, p.rem);
      },
    };
    return p;
  }

  #gcra(k: string, lim: number, w: number, c: number, now: number): Peek {
    const st = this.#get(k, 'gcra', now);
    let u = 0;
    if (st) {
      const off = st.lim !== lim && st.lim > 0 ? Math.ceil((st.units * lim) / st.lim) : st.units;
      u = Math.max(0, (st.base - now) * lim + off);
    }
    const cap = w * lim;
    const nu = u + c * w;
    const ok = nu <= cap;
    const rem = Math.floor((cap - u) / w);
    const p: Peek = {
      ok,
      rem,
      reset: gcraReset(u, cap, w, lim, rem),
      retry: ok ? 0 : c > lim ? w : Math.ceil((nu - cap) / lim),
      take: () => {
        this.#state.set(k, { t: 'gcra', exp: now + Math.max(1, Math.ceil(nu / lim)), base: now, units: nu, lim });
        p.rem = Math.floor((cap - nu) / w);
        p.reset = gcraReset(nu, cap, w, lim, p.rem);
      },
    };
    return p;
  }
}
