/**
 * The event bus's Lua scripts (run with EVALSHA, src/core/redis/script.ts). One script per publish so the Stream
 * entry, its trimming, and the live PUBLISH carrying the entry's id happen together: an instance can never see a
 * live event whose id is not yet in the Stream, nor a Stream entry whose live copy went out with another id.
 *
 * Ids are minted here from Redis TIME against one head per bus (`<prefix>head`: epoch e, last ms m, last seq s), so
 * every channel's Stream shares one total order and a compound Last-Event-ID is never needed: a client's position is
 * one id, and replay is "every entry after it" in each of its channels' Streams, merged by id.
 *
 * Trimming is exact (MAXLEN = and MINID), and the largest id it removed is kept in `<prefix>f:<channel>` (the floor):
 * a client whose position is below the floor missed events that are gone, and is told so (a reset) instead of
 * silently getting a partial replay. Stream and floor expire together `maxAge` after the channel's last publish, so
 * a position older than `maxAge` is a reset too; positions a connected client holds are refreshed every heartbeat.
 */
import { luaScript } from '../redis/script.js';

const MINT = `
local function b36(n)
  local d = '0123456789abcdefghijklmnopqrstuvwxyz'
  local s = ''
  repeat
    local r = n % 36
    s = string.sub(d, r + 1, r + 1) .. s
    n = math.floor(n / 36)
  until n == 0
  return s
end
-- Next id of the bus: max(now, last ms) and a sequence within the ms. Returns epoch, now (ms), id, previous m, s.
local function mint(head)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local h = redis.call('HMGET', head, 'e', 'm', 's')
  local e = h[1]
  if not e then
    e = b36(tonumber(t[1]) * 1000000 + tonumber(t[2]))
    redis.call('HSET', head, 'e', e)
  end
  local pm = tonumber(h[2]) or 0
  local ps = tonumber(h[3]) or 0
  local m, s = now, 0
  if pm >= now then m = pm; s = ps + 1 end
  local ms = string.format('%.0f', m)
  redis.call('HSET', head, 'm', ms, 's', s)
  return e, now, ms .. '-' .. s, pm, ps
end
local function split(id)
  local a, b = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(a), tonumber(b)
end
`;

/**
 * KEYS: head, stream, floor. ARGV: pubsub channel, payload, maxLen, maxAgeMs.
 * Returns the full id `<epoch>_<ms>-<seq>`; the live message is `<id> <payload>`.
 */
export const PUBLISH_REPLAYABLE = luaScript(`${MINT}
local e, now, id = mint(KEYS[1])
redis.call('XADD', KEYS[2], id, 'd', ARGV[2])
local maxLen = tonumber(ARGV[3])
local maxAge = tonumber(ARGV[4])
local floor = false
local len = redis.call('XLEN', KEYS[2])
if len > maxLen then
  local old = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', len - maxLen)
  floor = old[#old][1]
  redis.call('XTRIM', KEYS[2], 'MAXLEN', maxLen)
end
local minId = string.format('%.0f', now - maxAge) .. '-0'
local older = redis.call('XREVRANGE', KEYS[2], '(' .. minId, '-', 'COUNT', 1)
if #older > 0 then
  floor = older[1][1]
  redis.call('XTRIM', KEYS[2], 'MINID', minId)
end
if floor then
  redis.call('SET', KEYS[3], floor, 'PX', maxAge)
else
  redis.call('PEXPIRE', KEYS[3], maxAge)
end
redis.call('PEXPIRE', KEYS[2], maxAge)
local full = e .. '_' .. id
redis.call('PUBLISH', ARGV[1], full .. ' ' .. ARGV[2])
return full
`);

/**
 * Catch-up for one client. KEYS: head, then stream_i, floor_i per channel. ARGV: epoch ('' = fresh client), ms, seq,
 * limit, then maxAgeMs_i per channel. Mints a position (an id no event will carry) so the client's next id is
 * current even when none of its channels had events.
 * Returns { status, position, ci_1, id_1, payload_1, ... } with status ok | fresh | foreign | future | stale | too-many.
 */
export const CATCH_UP = luaScript(`${MINT}
local e, now, id, pm, ps = mint(KEYS[1])
local pos = e .. '_' .. id
if ARGV[1] == '' then return { 'fresh', pos } end
if ARGV[1] ~= e then return { 'foreign', pos } end
local am, as = tonumber(ARGV[2]), tonumber(ARGV[3])
if am > pm or (am == pm and as > ps) then return { 'future', pos } end
local limit = tonumber(ARGV[4])
local out = { 'ok', pos }
local total = 0
local n = (#KEYS - 1) / 2
for i = 1, n do
  local stream, floorKey = KEYS[2 * i], KEYS[2 * i + 1]
  local maxAge = tonumber(ARGV[4 + i])
  -- Older than maxAge: entries after it may have expired with the whole Stream (which a later publish recreates
  -- without a floor), so it cannot be told exactly what was missed.
  if am < now - maxAge then return { 'stale', pos } end
  local floor = redis.call('GET', floorKey)
  if floor then
    local fm, fs = split(floor)
    if fm > am or (fm == am and fs > as) then return { 'stale', pos } end
  end
  local entries = redis.call('XRANGE', stream, '(' .. ARGV[2] .. '-' .. ARGV[3], '+', 'COUNT', limit + 1 - total)
  total = total + #entries
  if total > limit then return { 'too-many', pos } end
  for _, entry in ipairs(entries) do
    out[#out + 1] = i
    out[#out + 1] = entry[1]
    out[#out + 1] = entry[2][2]
  end
end
return out
`);

/** KEYS: head. ARGV: position channel. Mints a position and publishes it (heartbeat ids, see bus.ts). */
export const PUBLISH_POSITION = luaScript(`${MINT}
local e, now, id = mint(KEYS[1])
local pos = e .. '_' .. id
redis.call('PUBLISH', ARGV[1], pos)
return pos
`);
