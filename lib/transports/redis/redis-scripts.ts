/** Lua shared by the scripts: stream ids compared as `<ms>-<seq>`. */
export const LUA_IDS = `
local function parse_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function id_above(a, b)
  local am, as = parse_id(a)
  local bm, bs = parse_id(b)
  return am > bm or (am == bm and as > bs)
end
`;

/** Lua shared by the scripts that record what happened to an (entry, group) pair in the outcomes hash. */
const LUA_OUTCOMES = `
local function set_outcome(key, entry, group, outcome)
  local record = redis.call('HGET', key, entry)
  local outcomes = record and cjson.decode(record) or {}
  outcomes[group] = outcome
  redis.call('HSET', key, entry, cjson.encode(outcomes))
end
`;

/**
 * Appends events, each with an id index key that makes a second publish of an event id a no-op.
 * The entry id is the event's `createdAt` (ms), or just after the newest entry when that is
 * later; how much later is kept in the skew hash, for `until`. KEYS: stream, skew. ARGV: id key
 * prefix, retention ms, then per event: its id, created ms, body, skipped groups (comma-separated),
 * traceparent (or ''). Returns the entry id of each event.
 */
export const PUBLISH_SCRIPT = `${LUA_IDS}
local idPrefix, retention = ARGV[1], ARGV[2]
local lastMs, lastSeq = 0, 0
local info = redis.pcall('XINFO', 'STREAM', KEYS[1])
if type(info) == 'table' and not info.err then
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then lastMs, lastSeq = parse_id(info[i + 1]) end
  end
end
local behind = 0
local entries = {}
for first = 3, #ARGV, 5 do
  local eventId, created, body, skip, traceparent = ARGV[first], tonumber(ARGV[first + 1]), ARGV[first + 2], ARGV[first + 3], ARGV[first + 4]
  local ms, seq = lastMs, lastSeq + 1
  if created > lastMs then ms, seq = created, 0 end
  local entry = string.format('%d-%d', ms, seq)
  if redis.call('SET', idPrefix .. eventId, entry, 'NX', 'PX', retention) then
    local fields = {'id', eventId, 'event', body}
    if skip ~= '' then
      fields[#fields + 1] = 'skip'
      fields[#fields + 1] = skip
    end
    if traceparent ~= '' then
      fields[#fields + 1] = 'traceparent'
      fields[#fields + 1] = traceparent
    end
    redis.call('XADD', KEYS[1], entry, unpack(fields))
    lastMs, lastSeq = ms, seq
    if ms - created > behind then behind = ms - created end
  else
    entry = redis.call('GET', idPrefix .. eventId)
  end
  entries[#entries + 1] = entry
end
if behind > 0 and behind > tonumber(redis.call('HGET', KEYS[2], 'behind') or '0') then
  redis.call('HSET', KEYS[2], 'behind', string.format('%d', behind))
end
return entries
`;

/**
 * Indexes entries another program appended (they have no `id` field) by their event id, as a
 * publish does, and widens the skew by how far their `createdAt` is from their entry id.
 * KEYS: skew. ARGV: id key prefix, retention ms, then per entry: event id, entry id, created ms.
 */
export const INDEX_FOREIGN_SCRIPT = `${LUA_IDS}
local behind, ahead = 0, 0
for first = 3, #ARGV, 3 do
  redis.call('SET', ARGV[1] .. ARGV[first], ARGV[first + 1], 'NX', 'PX', ARGV[2])
  local ms = parse_id(ARGV[first + 1])
  local created = tonumber(ARGV[first + 2])
  if ms - created > behind then behind = ms - created end
  if created - ms > ahead then ahead = created - ms end
end
local recorded = redis.call('HMGET', KEYS[1], 'behind', 'ahead')
if behind > tonumber(recorded[1] or '0') then redis.call('HSET', KEYS[1], 'behind', string.format('%d', behind)) end
if ahead > tonumber(recorded[2] or '0') then redis.call('HSET', KEYS[1], 'ahead', string.format('%d', ahead)) end
return 1
`;

/**
 * Creates the consumer group (if new) and records its patterns and the entry it starts after, in
 * one step with respect to publishes: the events after that entry were routed to it. A group that
 * exists keeps its start. KEYS: stream, groups. ARGV: group, patterns JSON, start (`$` or `0`).
 */
export const REGISTER_GROUP_SCRIPT = `
local start = '0-0'
local created = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[3], 'MKSTREAM')
if type(created) == 'table' and created.err then
  if not string.find(created.err, 'BUSYGROUP') then return redis.error_reply(created.err) end
  local known = redis.call('HGET', KEYS[2], ARGV[1])
  if known then start = cjson.decode(known).start or start end
elseif ARGV[3] ~= '0' then
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local record = {}
    for i = 1, #group, 2 do record[group[i]] = group[i + 1] end
    if record.name == ARGV[1] then start = record['last-delivered-id'] end
  end
end
redis.call('HSET', KEYS[2], ARGV[1], '{"patterns":' .. ARGV[2] .. ',"start":"' .. start .. '"}')
return start
`;

/**
 * Reads new entries for a consumer of a group, and gives the newest entry of the stream as it was
 * before the read: when the read found nothing, a blocking XREAD from that entry wakes on the first
 * entry the group has not seen (an XREAD takes nothing from the group, so several partitions can be
 * waited on without taking more than the consumer has room for). Records when the group's reads
 * reached the furthest entry read (refused, and ignored, when another consumer recorded a later
 * read first). KEYS: stream, the group's delivered progress stream. ARGV: group, consumer, count,
 * now ms. Returns the newest entry id ('0-0' for none) and the entries read.
 */
export const READ_SCRIPT = `
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], '>')
local entries = read and read[1][2] or {}
if #entries > 0 then redis.pcall('XADD', KEYS[2], entries[#entries][1], 'at', ARGV[4]) end
return {newest and newest[1] or '0-0', entries}
`;

/**
 * Acks entries of a group, and records the time when the batch went past the furthest entry the
 * group acked before (an XADD with a lower id is refused, and ignored). KEYS: stream, the group's
 * acked progress stream. ARGV: group, now ms, then the entry ids.
 */
export const ACK_SCRIPT = `${LUA_IDS}
local ids = {}
local furthest = ARGV[3]
for i = 3, #ARGV do
  ids[#ids + 1] = ARGV[i]
  if id_above(ARGV[i], furthest) then furthest = ARGV[i] end
end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
redis.pcall('XADD', KEYS[2], furthest, 'at', ARGV[2])
return 1
`;

/**
 * Keeps the entry pending but makes it claimable (by XAUTOCLAIM, on any instance) only once its
 * retry is due: its delivery time is set to due − ack timeout. JUSTID: the delivery count, which
 * counts attempts, is not bumped. The retries are recorded, as a completed event still has them.
 * KEYS: stream, outcomes. ARGV: group, consumer, entry id, delivery time ms, retries.
 */
export const RETRY_SCRIPT = `${LUA_OUTCOMES}
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'TIME', ARGV[4], 'JUSTID')
set_outcome(KEYS[2], ARGV[3], ARGV[1], { retries = tonumber(ARGV[5]) })
return 1
`;

/**
 * KEYS: stream, dead-letter stream, outcomes. ARGV: group, entry id, event JSON (or the raw
 * message), error, attempts, now ms, max dead letters.
 */
export const DEAD_LETTER_SCRIPT = `${LUA_OUTCOMES}
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], '*', 'event', ARGV[3], 'error', ARGV[4], 'attempts', ARGV[5], 'entry', ARGV[2], 'at', ARGV[6])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
set_outcome(KEYS[3], ARGV[2], ARGV[1], { error = ARGV[4], attempts = tonumber(ARGV[5]) })
return 1
`;

/**
 * Appends the dead-lettered event again for its group only, and records that the pair's outcome
 * is now that entry's. KEYS: stream, dead-letter stream, groups, outcomes, replays. ARGV: group,
 * dead-letter entry id, event id, event JSON, the entry it replays.
 */
export const REPLAY_SCRIPT = `${LUA_OUTCOMES}
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then return redis.error_reply('NOGROUP no consumer group ' .. ARGV[1]) end
if redis.call('XDEL', KEYS[2], ARGV[2]) == 0 then return redis.error_reply('NODEAD no such dead letter') end
local entry = redis.call('XADD', KEYS[1], '*', 'id', ARGV[3], 'event', ARGV[4], 'only', ARGV[1])
set_outcome(KEYS[4], ARGV[5], ARGV[1], { replay = entry })
redis.call('HSET', KEYS[5], entry, ARGV[5])
return entry
`;
