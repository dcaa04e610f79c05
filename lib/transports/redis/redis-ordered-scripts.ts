/**
 * The scripts of ordered groups: a partition is owned by one consumer of the group at a time,
 * under a lease key in the partition's hash tag, so that a read can check the lease in the same
 * script. The group's live consumers heartbeat in a sorted set of their own.
 */

/**
 * Records the consumer alive until `until`, drops those whose time passed, and gives the live
 * ones. KEYS: members. ARGV: token, now ms, until ms.
 */
export const MEMBERS_SCRIPT = `
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(ARGV[3]) - tonumber(ARGV[2])) * 2)
return redis.call('ZRANGE', KEYS[1], 0, -1)
`;

/**
 * Takes the partition when no consumer holds it (never owned, its lease ran out, or given back).
 * KEYS: lease. ARGV: token, lease ms. Returns `released` when its owner gave it back, `free`
 * otherwise, and nothing when another consumer holds it.
 */
export const ACQUIRE_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= 'released' then return false end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return holder or 'free'
`;

/** Extends the lease if the consumer still holds it. KEYS: lease. ARGV: token, lease ms. Returns 1, or 0 when it lost it. */
export const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * Gives the partition back: the next owner takes its pending entries knowing that none is being
 * handled (their delivery counts are the attempts to come). KEYS: lease. ARGV: token.
 */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], 'released')
return 1
`;

/**
 * Reads new entries, as the unordered read does, only while the consumer holds the partition's
 * lease. KEYS: stream, the group's delivered progress stream, lease. ARGV: group, consumer, count,
 * now ms, token. Returns the newest entry id and the entries read, or nothing without the lease.
 */
export const ORDERED_READ_SCRIPT = `
if redis.call('GET', KEYS[3]) ~= ARGV[5] then return false end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
local entries = read and read[1][2] or {}
if #entries > 0 then redis.pcall('XADD', KEYS[2], entries[#entries][1], 'at', ARGV[4]) end
return {newest and newest[1] or '0-0', entries}
`;

/**
 * Takes up to `count` of the group's pending entries of the partition, from `cursor` on, whoever
 * holds them, without counting a delivery (JUSTID): the new owner decides which were attempts.
 * KEYS: stream. ARGV: group, consumer, cursor, count. Returns the next cursor, the entries and
 * their delivery counts.
 */
export const TAKE_OVER_SCRIPT = `
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'COUNT', ARGV[4], 'JUSTID')
local ids = claimed[2]
local entries, counts = {}, {}
if #ids == 0 then return {claimed[1], entries, counts} end
local deliveries = {}
for _, pending in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], ids[1], ids[#ids], #ids)) do
  deliveries[pending[1]] = pending[4]
end
for _, id in ipairs(ids) do
  local entry = redis.call('XRANGE', KEYS[1], id, id)[1]
  if entry then
    entries[#entries + 1] = entry
    counts[#counts + 1] = deliveries[id] or 1
  end
end
return {claimed[1], entries, counts}
`;
