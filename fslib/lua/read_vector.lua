-- Freshness reads, atomic per entity: does each hash exist, and what do these fields hold?
-- Redis runs the script as one step, so no write lands between an entity's two answers
-- (sent as two commands, a delete between them showed an entity that exists with no features).
-- KEYS: the entities' hashes (on a cluster, all in one hash slot).  ARGV: the fields to read.
-- Returns one {exists, values} per key; for a key that is not a hash, {1, the error}.
local out = {}
for i, key in ipairs(KEYS) do
  local values = redis.pcall('HMGET', key, unpack(ARGV))
  local exists = 0
  if values.err then
    exists = 1  -- a key of another type (WRONGTYPE): it exists, and its features are unreadable
  else
    for _, value in ipairs(values) do
      if value then  -- a field was there, so the hash is
        exists = 1
        break
      end
    end
    if exists == 0 then
      exists = redis.call('EXISTS', key)  -- none of these fields: is the hash there at all?
    end
  end
  out[i] = {exists, values}
end
return out
