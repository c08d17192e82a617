-- All-or-nothing reservation in one atomic step: check every reservation,
-- and only if all pass apply them all. Returns 0, or the 1-based index of
-- the first refused reservation (nothing applied then).
--
-- KEYS[i] goes with ARGV[4i-3 .. 4i]:
--   'c', amount, limit or '', expire-at unix ms or ''  (cap / budget)
--   'r', ttl ms, '', ''                                 (recency)
--   'l', limit, window ms, ''                           (rate limit)
--
-- A key may appear twice in one call; `pending` carries what earlier
-- reservations in this call would add so the checks see it.
-- Lua numbers are doubles: limits and sums are exact up to 2^53 micro-units.
local pending = {}
for i = 1, #KEYS do
  local key = KEYS[i]
  local base = (i - 1) * 4
  local kind = ARGV[base + 1]
  local seen = pending[key]
  if seen == nil then
    seen = tonumber(redis.call('GET', key) or '0')
  end
  if kind == 'c' then
    local amount = tonumber(ARGV[base + 2])
    if ARGV[base + 3] ~= '' then
      local limit = tonumber(ARGV[base + 3])
      -- A cap is full at its limit, even for zero-amount reservations.
      if not (seen < limit and seen + amount <= limit) then
        return i
      end
    end
    pending[key] = seen + amount
  elseif kind == 'r' then
    if seen > 0 then
      return i
    end
    pending[key] = 1
  else
    if seen >= tonumber(ARGV[base + 2]) then
      return i
    end
    pending[key] = seen + 1
  end
end

for i = 1, #KEYS do
  local key = KEYS[i]
  local base = (i - 1) * 4
  local kind = ARGV[base + 1]
  if kind == 'c' then
    redis.call('INCRBY', key, ARGV[base + 2])
    if ARGV[base + 4] ~= '' then
      redis.call('PEXPIREAT', key, ARGV[base + 4])
    end
  elseif kind == 'r' then
    redis.call('SET', key, 1, 'PX', ARGV[base + 2])
  else
    -- The window opens at the first hit and is never extended by later ones.
    if redis.call('INCR', key) == 1 then
      redis.call('PEXPIRE', key, ARGV[base + 3])
    end
  end
end
return 0
