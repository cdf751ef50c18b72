/**
 * The limiter in Lua: every rule of a request peeked and (only if all allow) consumed in one atomic script, one
 * round trip. `memory.ts` implements the same arithmetic in TypeScript; one contract suite holds both to it.
 *
 * `LIMITER_LUA` only defines `osc_limits` (and helpers named `osc_*`), so the request pipeline can paste it into a
 * bigger script (session + limits in one call). `LIMIT_SCRIPT` is the stand-alone script:
 *   KEYS = one key per rule; ARGV[1] = now in ms, or '' for Redis TIME; then 4 ARGV per rule: algo, limit,
 *   window_ms, cost. Reply: 4 integers per rule — allowed (1/0), remaining, reset_ms, retry_after_ms.
 *
 * Every algorithm follows `now_ms`, never Redis's own expiry clock, so injected clocks give exact window edges; TTLs
 * only garbage-collect (every key gets one). Shapes:
 *   fw    fixed window from the first request: hash {s = window start, n = count}; HINCRBY + PEXPIRE. (A plain
 *         INCRBY counter would take its window from Redis's TTL clock, not from now_ms.)
 *   sl    sliding log: ZSET of request times; ZREMRANGEBYSCORE, ZCARD, ZADD unique members, PEXPIRE.
 *   sw    sliding-window counter, epoch-aligned windows: hash {i = window index, c = count, p = previous count};
 *         used = c + p·(w − elapsed)/w, compared in integers (·w) so edges are exact.
 *   gcra  generic cell rate: string "base:units:limit" where TAT = base + units/limit ms (integers, exact for any
 *         limit); burst = limit per window, one unit every window/limit ms.
 * A request whose cost exceeds a rule's limit never passes it; its retry_after is one window.
 */
import { luaScript } from '../redis/script.js';

export const ALGO_CODES = { 'fixed-window': 'fw', 'sliding-log': 'sl', 'sliding-window': 'sw', gcra: 'gcra' } as const;

export const LIMITER_LUA = `
local function osc_fmt(x) return string.format('%.0f', x) end

local function osc_fw_peek(k, lim, w, c, now)
  local st = redis.call('HMGET', k, 's', 'n')
  local s, n = tonumber(st[1]), tonumber(st[2])
  if s == nil or n == nil or now >= s + w then s, n = nil, 0 end
  local p = { k = k, s = s, n = n, lim = lim, w = w, c = c, now = now }
  p.ok = n + c <= lim
  p.rem = lim - n
  p.reset = s and (s + w - now) or 0
  if p.ok then p.retry = 0 elseif c > lim then p.retry = w else p.retry = s + w - now end
  return p
end

local function osc_fw_take(p)
  if p.s == nil then
    redis.call('HSET', p.k, 's', osc_fmt(p.now), 'n', p.c)
    redis.call('PEXPIRE', p.k, p.w)
    p.s = p.now
  else
    redis.call('HINCRBY', p.k, 'n', p.c)
  end
  p.rem = p.lim - p.n - p.c
  p.reset = p.s + p.w - p.now
end

local function osc_sl_peek(k, lim, w, c, now)
  redis.call('ZREMRANGEBYSCORE', k, '-inf', osc_fmt(now - w))
  local n = redis.call('ZCARD', k)
  local p = { k = k, n = n, lim = lim, w = w, c = c, now = now, reset = 0 }
  if n > 0 then
    local o = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
    p.reset = tonumber(o[2]) + w - now
  end
  p.ok = n + c <= lim
  p.rem = lim - n
  if p.ok then p.retry = 0
  elseif c > lim then p.retry = w
  else
    local idx = n + c - lim
    local e = redis.call('ZRANGE', k, idx - 1, idx - 1, 'WITHSCORES')
    p.retry = tonumber(e[2]) + w - now
  end
  return p
end

local function osc_sl_take(p)
  local t = redis.call('TIME')
  local tag = osc_fmt(p.now) .. ':' .. t[1] .. '.' .. t[2] .. ':'
  local j = 1
  while j <= p.c do
    local args = {}
    local last = math.min(p.c, j + 499)
    for m = j, last do
      args[#args + 1] = osc_fmt(p.now)
      args[#args + 1] = tag .. (p.n + m)
    end
    redis.call('ZADD', p.k, unpack(args))
    j = last + 1
  end
  redis.call('PEXPIRE', p.k, p.w)
  if p.n == 0 then p.reset = p.w end
  p.rem = p.lim - p.n - p.c
end

-- ms from elapsed e until need more units fit under c + p*(w - x)/w (then, next window, under c*(w - y)/w);
-- -1 when they never do (need > lim).
local function osc_sw_wait(c, p, e, w, lim, need)
  if need > lim then return -1 end
  local room = lim - c - need
  if room >= 0 then
    local x = 0
    if p > 0 then x = w - math.floor(room * w / p) end
    if x <= e then return 0 end
    if x < w then return x - e end
  end
  local y = 0
  if c > 0 then y = w - math.floor((lim - need) * w / c) end
  if y < 0 then y = 0 end
  return (w - e) + y
end

local function osc_sw_reset(c, p, e, w, lim, rem)
  if c == 0 and p == 0 then return 0 end
  local r = osc_sw_wait(c, p, e, w, lim, math.max(rem, 0) + 1)
  if r < 0 then return 0 end
  return r
end

local function osc_sw_peek(k, lim, w, c, now)
  local st = redis.call('HMGET', k, 'i', 'c', 'p')
  local idx = math.floor(now / w)
  local i, cur, prev = tonumber(st[1]), tonumber(st[2]) or 0, tonumber(st[3]) or 0
  if i == nil then cur, prev = 0, 0
  elseif i == idx - 1 then prev, cur = cur, 0
  elseif i < idx - 1 then cur, prev = 0, 0 end
  local e = now - idx * w
  local used = cur * w + prev * (w - e)
  local p = { k = k, idx = idx, cur = cur, prev = prev, e = e, used = used, lim = lim, w = w, c = c, now = now }
  p.ok = used + c * w <= lim * w
  p.rem = math.floor((lim * w - used) / w)
  if p.ok then p.retry = 0 else
    p.retry = osc_sw_wait(cur, prev, e, w, lim, c)
    if p.retry < 0 then p.retry = w end
  end
  p.reset = osc_sw_reset(cur, prev, e, w, lim, p.rem)
  return p
end

local function osc_sw_take(p)
  local cur = p.cur + p.c
  redis.call('HSET', p.k, 'i', osc_fmt(p.idx), 'c', cur, 'p', p.prev)
  redis.call('PEXPIRE', p.k, osc_fmt((p.idx + 2) * p.w - p.now))
  p.rem = math.floor((p.lim * p.w - p.used - p.c * p.w) / p.w)
  p.reset = osc_sw_reset(cur, p.prev, p.e, p.w, p.lim, p.rem)
end

local function osc_gcra_reset(u, cap, w, lim, rem)
  if u <= 0 or rem >= lim then return 0 end
  return math.ceil((u - cap + (rem + 1) * w) / lim)
end

local function osc_gcra_peek(k, lim, w, c, now)
  local v = redis.call('GET', k)
  local u = 0
  if v then
    local b, off, l0 = string.match(v, '^(%-?%d+):(%-?%d+):(%d+)$')
    if b then
      b, off, l0 = tonumber(b), tonumber(off), tonumber(l0)
      if l0 ~= lim and l0 > 0 then off = math.ceil(off * lim / l0) end
      u = (b - now) * lim + off
      if u < 0 then u = 0 end
    end
  end
  local cap = w * lim
  local p = { k = k, u = u, nu = u + c * w, cap = cap, lim = lim, w = w, c = c, now = now }
  p.ok = p.nu <= cap
  p.rem = math.floor((cap - u) / w)
  if p.ok then p.retry = 0 elseif c > lim then p.retry = w else p.retry = math.ceil((p.nu - cap) / lim) end
  p.reset = osc_gcra_reset(u, cap, w, lim, p.rem)
  return p
end

local function osc_gcra_take(p)
  redis.call('SET', p.k, osc_fmt(p.now) .. ':' .. osc_fmt(p.nu) .. ':' .. osc_fmt(p.lim), 'PX', osc_fmt(math.max(1, math.ceil(p.nu / p.lim))))
  p.rem = math.floor((p.cap - p.nu) / p.w)
  p.reset = osc_gcra_reset(p.nu, p.cap, p.w, p.lim, p.rem)
end

local osc_peek = { fw = osc_fw_peek, sl = osc_sl_peek, sw = osc_sw_peek, gcra = osc_gcra_peek }
local osc_take = { fw = osc_fw_take, sl = osc_sl_take, sw = osc_sw_take, gcra = osc_gcra_take }

-- Two-phase: peek every rule; only if all allow, consume on every rule. A blocked request consumes nothing (rules
-- that would have allowed it report allowed = 1 and their untouched quota). Reply: 4 integers per rule.
local function osc_limits(keys, algos, limits, windows, costs, now_ms)
  local peeks, all = {}, true
  for i = 1, #keys do
    local f = osc_peek[algos[i]]
    if f == nil then error('osc_limits: unknown algorithm ' .. tostring(algos[i])) end
    local p = f(keys[i], limits[i], windows[i], costs[i], now_ms)
    p.a = algos[i]
    peeks[i] = p
    if not p.ok then all = false end
  end
  if all then
    for i = 1, #keys do osc_take[peeks[i].a](peeks[i]) end
  end
  local out = {}
  for i = 1, #keys do
    local p = peeks[i]
    out[#out + 1] = p.ok and 1 or 0
    out[#out + 1] = math.max(0, p.rem)
    out[#out + 1] = math.max(0, p.reset)
    out[#out + 1] = math.max(0, p.retry)
  end
  return out
end
`;

const MAIN = `
local now_ms = tonumber(ARGV[1])
if now_ms == nil then
  local t = redis.call('TIME')
  now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
now_ms = math.floor(now_ms)
local algos, limits, windows, costs = {}, {}, {}, {}
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 4
  algos[i] = ARGV[b + 1]
  limits[i] = tonumber(ARGV[b + 2])
  windows[i] = tonumber(ARGV[b + 3])
  costs[i] = tonumber(ARGV[b + 4])
end
return osc_limits(KEYS, algos, limits, windows, costs, now_ms)
`;

export const LIMIT_SCRIPT = luaScript(LIMITER_LUA + MAIN);
