import { createHash } from 'node:crypto'

/** A Lua script and the SHA-1 that `EVALSHA` knows it by. */
export interface LuaScript {
  readonly name: string
  readonly source: string
  readonly sha1: string
}

function defineLuaScript(name: string, source: string): LuaScript {
  return Object.freeze({ name, source, sha1: createHash('sha1').update(source).digest('hex') })
}

// Every script touches exactly one key (KEYS[1]), so each is legal on Redis Cluster whatever the slots.
// Hash fields of a session: v version, e expiresAt, l lastActivityAt, a absoluteExpiresAt (the index
// score, fixed at creation), u userId, d the session JSON (its lastActivityAt/expiresAt are overridden by l/e).
// Returns: 1 done, 0 refused (missing, stale version, or expired at ARGV now), -1 expiresAt beyond `a`.

/** ARGV: ttl, v, e, l, a, u, d. */
export const CREATE_SESSION = defineLuaScript(
  'create session',
  `redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[3], 'l', ARGV[4], 'a', ARGV[5], 'u', ARGV[6], 'd', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`,
)

/** ARGV: expectedVersion, now, v, e, l, d. */
export const COMPARE_AND_SWAP = defineLuaScript(
  'compare and swap session',
  `local cur = redis.call('HMGET', KEYS[1], 'v', 'e', 'a')
local now = tonumber(ARGV[2])
if not cur[1] or tonumber(cur[1]) ~= tonumber(ARGV[1]) or tonumber(cur[2]) <= now then return 0 end
local e = tonumber(ARGV[4])
if e > tonumber(cur[3]) then return -1 end
if e <= now then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'e', ARGV[4], 'l', ARGV[5], 'd', ARGV[6])
redis.call('PEXPIRE', KEYS[1], e - now)
return 1`,
)

/** ARGV: now, l, e. */
export const TOUCH = defineLuaScript(
  'touch session',
  `local cur = redis.call('HMGET', KEYS[1], 'e', 'a')
local now = tonumber(ARGV[1])
if not cur[1] or tonumber(cur[1]) <= now then return 0 end
local e = tonumber(ARGV[3])
if e > tonumber(cur[2]) then return -1 end
if e <= now then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'l', ARGV[2], 'e', ARGV[3])
redis.call('PEXPIRE', KEYS[1], e - now)
return 1`,
)

/** No ARGV. Returns the deleted session's userId, or nil when there was none. */
export const DESTROY = defineLuaScript(
  'destroy session',
  `local u = redis.call('HGET', KEYS[1], 'u')
if redis.call('DEL', KEYS[1]) == 0 then return false end
return u or ''`,
)

/** On a user index. ARGV: score, member, ttl. The index's TTL only grows, so it outlives every member. */
export const INDEX_ADD = defineLuaScript(
  'add to user index',
  `redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`,
)

/** On a user index. ARGV: prune cutoff ('' for none). Drops members scored <= cutoff, returns the rest. */
export const INDEX_LIST = defineLuaScript(
  'list user index',
  `if ARGV[1] ~= '' then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) end
return redis.call('ZRANGE', KEYS[1], 0, -1)`,
)
