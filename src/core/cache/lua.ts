/**
 * The Lua scripts of the Redis store, run with EVALSHA and loaded on NOSCRIPT. Each one is atomic on the server,
 * which is the point: a tag invalidation racing a `set` cannot leave a half-deleted tag behind.
 *
 * Tag sets hold internal keys (without the prefix); the scripts prepend ARGV prefix to reach the data keys. That
 * builds key names inside the script, which Redis Cluster forbids; onionscale runs one local Redis, so it is fine.
 */
import { luaScript as script } from '../redis/script.js';

/** KEYS[1] data key, KEYS[2..n] tag sets; ARGV[1] value, ARGV[2] ttl ms, ARGV[3] member (internal key). */
export const SET_TAGGED = script(`
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[3])
  -- A tag set lives as long as its longest-lived member; -1 (just created) also takes the new ttl.
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return 1
`);

/**
 * For Redis < 7.0, which refuses `SET … NX GET`: the same atomic "value, or a lock marker in its place".
 * KEYS[1] data key; ARGV[1] marker, ARGV[2] lock ttl ms. Returns the value, or false when the marker was set.
 */
export const GET_OR_LOCK = script(`
local v = redis.call('GET', KEYS[1])
if v then return v end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`);

/** KEYS[1] tag set; ARGV[1] data key prefix. Returns the members (internal keys). */
export const DELETE_BY_TAG = script(`
local members = redis.call('SMEMBERS', KEYS[1])
local batch = {}
for i = 1, #members do
  batch[#batch + 1] = ARGV[1] .. members[i]
  -- unpack() has a stack limit: delete in chunks.
  if #batch == 500 then redis.call('DEL', unpack(batch)); batch = {} end
end
if #batch > 0 then redis.call('DEL', unpack(batch)) end
redis.call('DEL', KEYS[1])
return members
`);

/**
 * KEYS[1] lock key, KEYS[2] data key; ARGV[1] token, ARGV[2] the marker `getOrLock` puts in the data key.
 * Compare-and-delete of whichever of the two locks the token owns, so only the owner releases.
 */
export const RELEASE_LOCK = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
if redis.call('GET', KEYS[2]) == ARGV[2] then return redis.call('DEL', KEYS[2]) end
return 0
`);
