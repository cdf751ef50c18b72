/**
 * The request pipeline's one script: the session load (session/lua.ts) and every rate-limit rule of the request
 * (ratelimit/lua.ts) in one EVALSHA — one Redis round trip at request start instead of one per middleware.
 *
 * Rules keyed by the user cannot be keyed in Node: the user is in the session this same script loads. Node sends
 * such a key in two halves around the user; the script splices in the session's `~u` field (the user id in key
 * form, written by the session itself). Those keys are built inside the script, which standalone Redis allows; on
 * Redis Cluster they would have to share the session's hash slot (not supported: onionscale runs one Redis).
 *
 * KEYS: the fixed limit keys (nf), then the session key when the request has a valid cookie.
 * ARGV: [1] now ms or '' (Redis TIME), [2] session idle ms, [3] absolute ms, [4] '1' when a session key is given,
 *       [5] nf, [6] nl (late, user-keyed rules), then 4 per fixed rule (algo, limit, window_ms, cost), then 7 per
 *       late rule (algo, limit, window_ms, cost, optional '1'/'0', key before, key after).
 * Reply: { session fields (flat), limit results (4 integers per rule: fixed, then late), user key part or '',
 *          status 'ok' | 'no-user' }. 'no-user': a non-optional user rule and no signed-in user — nothing counted.
 */
import { luaScript } from '../redis/script.js';
import { LIMITER_LUA } from '../ratelimit/lua.js';
import { SESSION_LUA, USER_KEY_FIELD } from '../session/lua.js';

export const PIPELINE_SCRIPT = luaScript(`${SESSION_LUA}${LIMITER_LUA}
local now = math.floor(osc_now(ARGV[1]))
local nf, nl = tonumber(ARGV[5]), tonumber(ARGV[6])
local flat = {}
if ARGV[4] == '1' then flat = osc_session_load(KEYS[nf + 1], now, tonumber(ARGV[2]), tonumber(ARGV[3])) end
local user = false
for i = 1, #flat, 2 do
  if flat[i] == '${USER_KEY_FIELD}' then user = flat[i + 1] end
end
local keys, algos, limits, windows, costs = {}, {}, {}, {}, {}
local b = 7
for i = 1, nf do
  keys[i], algos[i], limits[i], windows[i], costs[i] = KEYS[i], ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  b = b + 4
end
for _ = 1, nl do
  if user then
    local i = #keys + 1
    keys[i], algos[i], limits[i], windows[i], costs[i] = ARGV[b + 5] .. user .. ARGV[b + 6], ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  elseif ARGV[b + 4] ~= '1' then
    return { flat, {}, '', 'no-user' }
  end
  b = b + 7
end
local out = {}
if #keys > 0 then out = osc_limits(keys, algos, limits, windows, costs, now) end
return { flat, out, user or '', 'ok' }
`);
