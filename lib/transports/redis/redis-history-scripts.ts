import { LUA_IDS } from './redis-scripts.js';

/**
 * Reads a page of the history, newest first, with everything its statuses are derived from, in one
 * step (a consistent view): the entries, the group registry, and for each group that may have been
 * routed one of them its last-delivered id, its pending entries among them, its progress records
 * around them, then the outcomes and overrides of the entries and where each replayed pair went.
 * KEYS: stream, groups, outcomes, overrides, skew. ARGV: delivered key prefix, acked key prefix,
 * then `id` and the id key of an event, or `range`, the end (or '' for `until` + skew, or '+'),
 * `until` ms (or ''), `since` ms (or ''), the page size.
 */
export const HISTORY_PAGE_SCRIPT = `${LUA_IDS}
local deliveredPrefix, ackedPrefix, mode = ARGV[1], ARGV[2], ARGV[3]
local entries
if mode == 'id' then
  local entry = redis.call('GET', ARGV[4])
  entries = entry and redis.call('XRANGE', KEYS[1], entry, entry) or {}
else
  local skew = redis.call('HMGET', KEYS[5], 'behind', 'ahead')
  local finish = ARGV[4]
  if finish == '' then finish = ARGV[5] ~= '' and string.format('%d', tonumber(ARGV[5]) + tonumber(skew[1] or '0')) or '+' end
  local start = ARGV[6] ~= '' and string.format('%d', math.max(0, tonumber(ARGV[6]) - tonumber(skew[2] or '0'))) or '-'
  entries = redis.call('XREVRANGE', KEYS[1], finish, start, 'COUNT', ARGV[7])
end
if #entries == 0 then return {entries} end

local ids = {}
for i, entry in ipairs(entries) do ids[i] = entry[1] end
local lo, hi = ids[#ids], ids[1]

local registry = redis.call('HGETALL', KEYS[2])
local names, seen = {}, {}
for i = 1, #registry, 2 do
  names[#names + 1] = registry[i]
  seen[registry[i]] = true
end
for _, entry in ipairs(entries) do
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == 'skip' then
      for name in string.gmatch(fields[i + 1], '[^,]+') do
        if not seen[name] then
          names[#names + 1] = name
          seen[name] = true
        end
      end
    end
  end
end

local positions = {}
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local record = {}
  for i = 1, #group, 2 do record[group[i]] = group[i + 1] end
  positions[record.name] = record['last-delivered-id']
end

local function progress(key, from, to)
  local list = {}
  for _, record in ipairs(redis.call('XRANGE', key, from, to)) do
    list[#list + 1] = record[1]
    list[#list + 1] = record[2][2]
  end
  local beyond = redis.call('XRANGE', key, '(' .. to, '+', 'COUNT', 1)
  if beyond[1] then
    list[#list + 1] = beyond[1][1]
    list[#list + 1] = beyond[1][2][2]
  end
  return list
end
local function state(name, from, to)
  local pending = {}
  if positions[name] then pending = redis.call('XPENDING', KEYS[1], name, from, to, #ids + 1000) end
  return {name, positions[name] or false, pending, progress(deliveredPrefix .. name, from, to), progress(ackedPrefix .. name, from, to)}
end

local groups = {}
for _, name in ipairs(names) do groups[#groups + 1] = state(name, lo, hi) end

local outcomes = redis.call('HMGET', KEYS[3], unpack(ids))
local overrides = redis.call('HMGET', KEYS[4], unpack(ids))
local replays = {}
for i, record in ipairs(outcomes) do
  if record then
    for group, outcome in pairs(cjson.decode(record)) do
      local target, final = nil, false
      while type(outcome) == 'table' and outcome.replay do
        target = outcome.replay
        local next = redis.call('HGET', KEYS[3], target)
        outcome = next and cjson.decode(next)[group]
        final = outcome and cjson.encode(outcome) or false
      end
      if target then replays[#replays + 1] = {ids[i], group, target, final, state(group, target, target)} end
    end
  end
end
return {entries, registry, groups, outcomes, overrides, replays}
`;

/**
 * Sets fields of the status override of an event (over those set before). KEYS: id key, stream,
 * overrides. ARGV: the fields as JSON. Returns the entry id, or nil when the event is not held.
 */
export const UPDATE_STATUS_SCRIPT = `
local entry = redis.call('GET', KEYS[1])
if not entry or #redis.call('XRANGE', KEYS[2], entry, entry) == 0 then return false end
local known = redis.call('HGET', KEYS[3], entry)
local override = known and cjson.decode(known) or {}
for key, value in pairs(cjson.decode(ARGV[1])) do override[key] = value end
redis.call('HSET', KEYS[3], entry, cjson.encode(override))
return entry
`;

/**
 * Removes an event from the history: its entry, the entries that replayed it, its id key, its
 * outcomes and override. KEYS: id key, stream, outcomes, overrides, replays. Returns how many of
 * its entries were still in the stream.
 */
export const DELETE_SCRIPT = `
local entry = redis.call('GET', KEYS[1])
if not entry then return 0 end
redis.call('DEL', KEYS[1])
local removed = redis.call('XDEL', KEYS[2], entry)
local remaining = {entry}
while #remaining > 0 do
  local current = table.remove(remaining)
  local record = redis.call('HGET', KEYS[3], current)
  if record then
    for _, outcome in pairs(cjson.decode(record)) do
      if type(outcome) == 'table' and outcome.replay then
        redis.call('XDEL', KEYS[2], outcome.replay)
        redis.call('HDEL', KEYS[5], outcome.replay)
        remaining[#remaining + 1] = outcome.replay
      end
    end
    redis.call('HDEL', KEYS[3], current)
  end
  redis.call('HDEL', KEYS[4], current)
end
return removed
`;

/**
 * After the stream was trimmed: drops what only concerned trimmed entries (their outcomes,
 * replays, overrides and the progress records below the first entry). KEYS: stream, outcomes,
 * replays, overrides, then the groups' progress streams.
 */
export const FORGET_TRIMMED_SCRIPT = `${LUA_IDS}
local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
for i = 2, 4 do
  for _, field in ipairs(redis.call('HKEYS', KEYS[i])) do
    if not oldest or id_above(oldest[1], field) then redis.call('HDEL', KEYS[i], field) end
  end
end
for i = 5, #KEYS do
  if oldest then redis.call('XTRIM', KEYS[i], 'MINID', oldest[1]) else redis.call('DEL', KEYS[i]) end
end
return 1
`;
