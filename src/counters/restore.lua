-- Raise a counter to at least ARGV[1] after a restart: what was counted
-- since the database snapshot must not be lowered.
-- KEYS[1]; ARGV: value, expire-at unix ms or ''.
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  -- SET drops any TTL; the PEXPIREAT below puts the period end back.
  redis.call('SET', KEYS[1], ARGV[1])
end
if ARGV[2] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 0
