-- Sends `CLICKS` requests (env, default 10,000,000), each with its own sub1 and
-- one of 100 sub2 values, as a partner passing its own click id would.
local wanted = tonumber(os.getenv("CLICKS") or "10000000")
local sent = 0
request = function()
  sent = sent + 1
  if sent > wanted then
    wrk.thread:stop()
  end
  return wrk.format("GET", wrk.path .. "&sub1=c" .. sent .. "&sub2=p" .. (sent % 100))
end
