/**
 * Sessions live in one Redis hash per session: each field of the session is one hash field (JSON), plus `~c`
 * (created at, ms) and, while a user is signed in, `~u` (the user id in key form). Writing only the changed fields (HSET/HDEL) is what makes two concurrent requests of one session
 * that write different fields both survive — express-session rewrites the whole blob and the last write wins.
 *
 * `SESSION_LUA` only defines functions, so the request pipeline can compose them with the rate limiter into one
 * script (one round trip per request); `LOAD` and `WRITE` are the standalone scripts.
 */
import { luaScript } from '../redis/script.js';

export const CREATED_FIELD = '~c';
/** The user (`userField`) in Redis-key form (`encodeKeyPart`): what the request pipeline's Lua keys user limits by. */
export const USER_KEY_FIELD = '~u';

export const SESSION_LUA = `
local function osc_now(arg)
  if arg ~= nil and arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The session's fields (flat name/value list, empty when absent), its idle expiry pushed forward: rolling expiry on
-- every request that reads the session, not only on writes. Past the absolute lifetime it is deleted instead.
local function osc_session_load(key, now, idle_ms, absolute_ms)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return flat end
  if absolute_ms > 0 then
    for i = 1, #flat, 2 do
      if flat[i] == '${CREATED_FIELD}' and now - tonumber(flat[i + 1]) >= absolute_ms then
        redis.call('DEL', key)
        return {}
      end
    end
  end
  redis.call('PEXPIRE', key, idle_ms)
  return flat
end
`;

/** KEYS[1] session key; ARGV[1] now ms or '' (Redis TIME), ARGV[2] idle ms, ARGV[3] absolute ms (0: none). */
export const LOAD = luaScript(`${SESSION_LUA}
return osc_session_load(KEYS[1], osc_now(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
`);

/**
 * KEYS[1] session key, KEYS[2] (optional) a key to delete in the same step (regenerate: the old id dies with the
 * new one's birth). ARGV[1] now or '', ARGV[2] idle ms, ARGV[3] '1' create / '0' update, ARGV[4] n fields to set,
 * then n name/value pairs, then the names to delete. An update of a session that no longer exists (destroyed by a
 * concurrent logout, expired) does nothing and returns 0: a destroyed session is never resurrected by a late write.
 */
export const WRITE = luaScript(`${SESSION_LUA}
local key = KEYS[1]
local create = ARGV[3] == '1'
if KEYS[2] then redis.call('DEL', KEYS[2]) end
if not create and redis.call('EXISTS', key) == 0 then return 0 end
local n = tonumber(ARGV[4])
local i = 5
if create then redis.call('HSET', key, '${CREATED_FIELD}', osc_now(ARGV[1])) end
for _ = 1, n do
  redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', key, ARGV[i])
  i = i + 1
end
redis.call('PEXPIRE', key, ARGV[2])
return 1
`);
