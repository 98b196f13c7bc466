-- A streaming write that never goes back in time: one entity, one event.
-- Each field is written, with its event time beside it and both given the field TTL, only when
-- this event is newer than the one that wrote the stored value. An equal event time is a replay
-- and changes nothing; an older one is late and dropped. Redis runs the script atomically, so two
-- writers racing on one entity cannot interleave between the compare and the write.
--
-- KEYS[1]  the entity's hash
-- ARGV[1]  the field TTL in seconds
-- ARGV[2]  the event time, epoch milliseconds
-- ARGV[3]  "1": write with HSETEX (Redis 8), else HSET + HEXPIRE (Redis 7.4)
-- ARGV[4]  the event-time field suffix ("@event_time")
-- ARGV[5..] field, value, field, value, ...
-- Returns {applied, late, replayed}: how many fields were written, dropped as older, left as replays.

local key, ttl, event_time, suffix = KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[4]
local time_fields = {}
for i = 5, #ARGV, 2 do
  time_fields[#time_fields + 1] = ARGV[i] .. suffix
end
local stored = redis.call('HMGET', key, unpack(time_fields))

local writes, applied, late, replayed = {}, 0, 0, 0
for i, time_field in ipairs(time_fields) do
  local seen = tonumber(stored[i])  -- nil: no event time yet (never written, expired, or written without one)
  if seen == nil or event_time > seen then
    local at = 3 + 2 * i  -- where this field's name and value sit in ARGV
    writes[#writes + 1] = ARGV[at]
    writes[#writes + 1] = ARGV[at + 1]
    writes[#writes + 1] = time_field
    writes[#writes + 1] = ARGV[2]
    applied = applied + 1
  elseif event_time == seen then
    replayed = replayed + 1
  else
    late = late + 1
  end
end

if applied > 0 then
  if ARGV[3] == '1' then
    -- HSETEX key EX ttl FIELDS n field value ...: values, event times and their TTL in one command.
    if redis.call('HSETEX', key, 'EX', ttl, 'FIELDS', #writes / 2, unpack(writes)) ~= 1 then
      return redis.error_reply('HSETEX did not set every field with its TTL on ' .. key)
    end
  else
    redis.call('HSET', key, unpack(writes))
    local written = {}
    for i = 1, #writes, 2 do
      written[#written + 1] = writes[i]
    end
    for _, code in ipairs(redis.call('HEXPIRE', key, ttl, 'FIELDS', #written, unpack(written))) do
      if code ~= 1 then  -- cannot happen after the HSET above with a TTL > 0; checked all the same
        return redis.error_reply('HEXPIRE did not give every field its TTL on ' .. key)
      end
    end
  end
end
return {applied, late, replayed}
