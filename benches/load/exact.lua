-- Sends exactly `wanted` requests on one connection, each with its own sub1, so
-- the rows written can be matched one to one with the requests sent.
local wanted = 10000
local sent = 0
request = function()
  sent = sent + 1
  if sent > wanted then
    wrk.thread:stop()
  end
  return wrk.format("GET", wrk.path .. "&sub1=n" .. sent)
end
