/** Lua shared by the scripts: the pattern rules of `matchPattern`, segment by segment. */
const MATCHES = `
local function segments(text)
  local list = {}
  for segment in string.gmatch(text, '[^.]+') do list[#list + 1] = segment end
  return list
end
local function matches(pattern, eventType)
  if pattern == '*' or pattern == '**' then return true end
  local wanted, actual = segments(pattern), segments(eventType)
  for i = 1, #wanted do
    if wanted[i] == '**' then return #actual >= i end
    if i > #actual then return false end
    if wanted[i] ~= '*' and wanted[i] ~= actual[i] then return false end
  end
  return #wanted == #actual
end
local function matches_any(patterns, eventType)
  for _, pattern in ipairs(patterns) do
    if matches(pattern, eventType) then return true end
  end
  return false
end
`;

/**
 * Appends events and writes their history records in one step, so that the groups an event is
 * counted for are exactly the groups that will read it. A second publish of an id is a no-op.
 * KEYS: stream, groups, history. ARGV: retention ms, max events, event key prefix, now ms, then
 * per event: its JSON, id, created ms, type, skipped groups (comma-separated), traceparent (or '').
 * Returns the entry id of each event.
 */
export const PUBLISH_SCRIPT = `${MATCHES}
local retention, maxEvents, prefix, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local groups = {}
local registered = redis.call('HGETALL', KEYS[2])
for i = 1, #registered, 2 do groups[#groups + 1] = { name = registered[i], patterns = cjson.decode(registered[i + 1]).patterns } end
local entries = {}
for first = 5, #ARGV, 6 do
  local body, id, created, eventType, skip, traceparent = ARGV[first], ARGV[first + 1], ARGV[first + 2], ARGV[first + 3], ARGV[first + 4], ARGV[first + 5]
  local key = prefix .. id
  local entry = redis.call('HGET', key, 'entry')
  if not entry then
    local entryFields = {'event', body}
    if skip ~= '' then
      entryFields[#entryFields + 1] = 'skip'
      entryFields[#entryFields + 1] = skip
    end
    if traceparent ~= '' then
      entryFields[#entryFields + 1] = 'traceparent'
      entryFields[#entryFields + 1] = traceparent
    end
    entry = redis.call('XADD', KEYS[1], '*', unpack(entryFields))
    local fields = {'event', body, 'entry', entry, 'retryCount', 0, 'failed', 0}
    local targets = 0
    local skipped = {}
    for name in string.gmatch(skip, '[^,]+') do
      skipped[name] = true
      targets = targets + 1
      fields[#fields + 1] = 'g:' .. name
      fields[#fields + 1] = 'pending'
    end
    for _, group in ipairs(groups) do
      if not skipped[group.name] and matches_any(group.patterns, eventType) then
        targets = targets + 1
        fields[#fields + 1] = 'g:' .. group.name
        fields[#fields + 1] = 'pending'
      end
    end
    fields[#fields + 1] = 'pending'
    fields[#fields + 1] = targets
    fields[#fields + 1] = 'status'
    if targets == 0 then
      fields[#fields + 1] = 'completed'
      fields[#fields + 1] = 'completedAt'
      fields[#fields + 1] = now
    else
      fields[#fields + 1] = 'pending'
    end
    redis.call('HSET', key, unpack(fields))
    redis.call('PEXPIRE', key, retention)
    redis.call('ZADD', KEYS[3], created, id)
  end
  entries[#entries + 1] = entry
end
local excess = redis.call('ZCARD', KEYS[3]) - maxEvents
if excess > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[3], excess)
  for i = 1, #oldest, 2 do redis.call('DEL', prefix .. oldest[i]) end
end
return entries
`;

/**
 * Creates the consumer group (if new) and records its patterns, in one step with respect to
 * publishes. KEYS: stream, groups. ARGV: group, spec JSON, start id (`$` or `0`).
 */
export const REGISTER_GROUP_SCRIPT = `
local created = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], ARGV[3], 'MKSTREAM')
if type(created) == 'table' and created.err and not string.find(created.err, 'BUSYGROUP') then
  return redis.error_reply(created.err)
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`;

/** KEYS: the event keys. ARGV: now ms. */
export const MARK_PROCESSING_SCRIPT = `
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 'status') == 'pending' then
    redis.call('HSET', KEYS[i], 'status', 'processing', 'processedAt', ARGV[1])
  end
end
return 1
`;

/** Acks entries of a group and counts them done. KEYS: stream, then the event keys. ARGV: group, now ms, then the entry ids. */
export const ACK_SCRIPT = `
local field = 'g:' .. ARGV[1]
for i = 2, #KEYS do
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i + 1])
  if redis.call('HGET', KEYS[i], field) == 'pending' then
    redis.call('HSET', KEYS[i], field, 'done')
    local pending = redis.call('HINCRBY', KEYS[i], 'pending', -1)
    if pending <= 0 and redis.call('HGET', KEYS[i], 'failed') == '0' then
      redis.call('HSET', KEYS[i], 'status', 'completed', 'completedAt', ARGV[2])
    end
  end
end
return 1
`;

/**
 * Keeps the entry pending but makes it claimable (by XAUTOCLAIM, on any instance) only once its
 * retry is due: its delivery time is set to due − ack timeout. JUSTID: the delivery count, which
 * counts attempts, is not bumped. KEYS: stream, event key. ARGV: group, consumer, entry id,
 * delivery time ms, retry count.
 */
export const RETRY_SCRIPT = `
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'TIME', ARGV[4], 'JUSTID')
if redis.call('EXISTS', KEYS[2]) == 1 then
  local current = tonumber(redis.call('HGET', KEYS[2], 'retryCount') or '0')
  if tonumber(ARGV[5]) > current then redis.call('HSET', KEYS[2], 'retryCount', ARGV[5]) end
end
return 1
`;

/**
 * KEYS: stream, event key, dead-letter stream. ARGV: group, entry id, event JSON (or the raw
 * message), error, attempts, now ms, max dead letters.
 */
export const DEAD_LETTER_SCRIPT = `
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'event', ARGV[3], 'error', ARGV[4], 'attempts', ARGV[5], 'entry', ARGV[2], 'at', ARGV[6])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
local field = 'g:' .. ARGV[1]
if redis.call('HGET', KEYS[2], field) == 'pending' then redis.call('HINCRBY', KEYS[2], 'pending', -1) end
redis.call('HSET', KEYS[2], field, 'failed', 'status', 'failed', 'error', ARGV[4])
redis.call('HINCRBY', KEYS[2], 'failed', 1)
local current = tonumber(redis.call('HGET', KEYS[2], 'retryCount') or '0')
if tonumber(ARGV[5]) - 1 > current then redis.call('HSET', KEYS[2], 'retryCount', tonumber(ARGV[5]) - 1) end
return 1
`;

/**
 * Appends the dead-lettered event again for its group only, and counts the group as pending.
 * KEYS: stream, event key, dead-letter stream, groups. ARGV: group, dead-letter entry id, event JSON.
 */
export const REPLAY_SCRIPT = `
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 0 then return redis.error_reply('NOGROUP no consumer group ' .. ARGV[1]) end
if redis.call('XDEL', KEYS[3], ARGV[2]) == 0 then return redis.error_reply('NODEAD no such dead letter') end
local entry = redis.call('XADD', KEYS[1], '*', 'event', ARGV[3], 'only', ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  local field = 'g:' .. ARGV[1]
  if redis.call('HGET', KEYS[2], field) == 'failed' then
    if redis.call('HINCRBY', KEYS[2], 'failed', -1) <= 0 then
      redis.call('HSET', KEYS[2], 'status', 'pending')
      redis.call('HDEL', KEYS[2], 'error')
    end
  end
  redis.call('HSET', KEYS[2], field, 'pending')
  redis.call('HINCRBY', KEYS[2], 'pending', 1)
end
return entry
`;
