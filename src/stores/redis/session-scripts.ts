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
// A session is a string: the compact encoding of src/core/sessions/session-codec.ts,
// `[version,createdAt,lastActivityAt-createdAt,expiresAt-lastActivityAt,absoluteExpiresAt-createdAt,...]`,
// whose five leading numbers the scripts read (and touch rewrites) without parsing the rest.
// Returns: 1 done, 0 refused (missing, stale version, or expired at ARGV now), -1 expiresAt beyond the
// absolute cap. A session still in the hash of earlier versions is refused too: a read migrates it first.

/**
 * The session string at `key`, then its head: version, createdAt and the three differences (as texts), and
 * where the rest (`,userId,...`) starts; only nils when the key holds no session string. Lua prints numbers
 * with 14 significant digits, which is exact for integer milliseconds (up to the year 5138).
 */
const SPLIT_HEAD = `local function split_head(key)
  local value = redis.pcall('GET', key)
  if type(value) ~= 'string' then return nil end
  return value, string.match(value, '^%[([^,]+),([^,]+),([^,]+),([^,]+),([^,]+)(),')
end
`

/** ARGV: expectedVersion, now, expiresAt, encoded session. */
export const COMPARE_AND_SWAP = defineLuaScript(
  'compare and swap session',
  `${SPLIT_HEAD}
local _, v, c, dl, de, da = split_head(KEYS[1])
if not v then return 0 end
local created, now = tonumber(c), tonumber(ARGV[2])
if tonumber(v) ~= tonumber(ARGV[1]) or created + tonumber(dl) + tonumber(de) <= now then return 0 end
local e = tonumber(ARGV[3])
if e > created + tonumber(da) then return -1 end
if e <= now then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('SET', KEYS[1], ARGV[4], 'PX', e - now)
return 1`,
)

/** ARGV: now, lastActivityAt, expiresAt. Rewrites only the head; data and version stay as they are. */
export const TOUCH = defineLuaScript(
  'touch session',
  `${SPLIT_HEAD}
local value, v, c, dl, de, da, rest = split_head(KEYS[1])
if not v then return 0 end
local created, now = tonumber(c), tonumber(ARGV[1])
if created + tonumber(dl) + tonumber(de) <= now then return 0 end
local l, e = tonumber(ARGV[2]), tonumber(ARGV[3])
if e > created + tonumber(da) then return -1 end
if e <= now then
  redis.call('DEL', KEYS[1])
  return 1
end
local head = '[' .. v .. ',' .. c .. ',' .. (l - created) .. ',' .. (e - l) .. ',' .. da
redis.call('SET', KEYS[1], head .. string.sub(value, rest), 'PX', e - now)
return 1`,
)

/** No ARGV. Returns the deleted session's userId, or nil when there was none (either stored form). */
export const DESTROY = defineLuaScript(
  'destroy session',
  `local kind = redis.call('TYPE', KEYS[1]).ok
local u
if kind == 'string' then u = cjson.decode(redis.call('GET', KEYS[1]))[6]
elseif kind == 'hash' then u = redis.call('HGET', KEYS[1], 'u')
else return false end
redis.call('DEL', KEYS[1])
return u or ''`,
)

/**
 * Replaces a session still in the hash of earlier versions (fields v version, l lastActivityAt, e, a, u,
 * d the session JSON) with its encoding, keeping its TTL, unless it changed since it was read.
 * ARGV: the version and lastActivityAt read, encoded session.
 */
export const MIGRATE_LEGACY = defineLuaScript(
  'migrate legacy session',
  `if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return 0 end
local cur = redis.call('HMGET', KEYS[1], 'v', 'l')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
return 1`,
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
