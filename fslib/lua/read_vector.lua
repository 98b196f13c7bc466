-- One entity's freshness read, atomic: does its hash exist, and what do these fields hold?
-- A cluster runs no transaction across hash slots, so fslib reads each entity with this
-- script there (one server reads the whole batch in one MULTI/EXEC instead).
-- KEYS[1]: the entity's hash.  ARGV: the fields to read.
-- Returns {1 or 0, {value or nil, ...}}: EXISTS and HMGET, seen at the same moment.
return {redis.call('EXISTS', KEYS[1]), redis.call('HMGET', KEYS[1], unpack(ARGV))}
