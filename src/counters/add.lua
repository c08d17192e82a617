-- Count without a limit (e.g. payout when a conversion arrives).
-- KEYS[1]; ARGV: amount, expire-at unix ms or ''.
redis.call('INCRBY', KEYS[1], ARGV[1])
if ARGV[2] ~= '' then
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 0
