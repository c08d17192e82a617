-- Cycles through a pre-generated request list (env REQUESTS: a file of lines
-- "path TAB client IP TAB user agent", from catalog.py). The client IP travels in
-- X-Forwarded-For, which the server believes because the harness trusts
-- 127.0.0.1 as a proxy. Requests are formatted once, at start, so wrk spends its
-- core on sending, not on building strings.
local requests = {}
local next_index = 1

init = function(args)
  local file = assert(io.open(os.getenv("REQUESTS"), "r"))
  for line in file:lines() do
    local path, ip, ua = line:match("^([^\t]+)\t([^\t]+)\t(.+)$")
    if path then
      requests[#requests + 1] = wrk.format("GET", path, {
        ["X-Forwarded-For"] = ip,
        ["User-Agent"] = ua,
        ["Accept-Language"] = "en-US,en;q=0.8",
      })
    end
  end
  file:close()
  assert(#requests > 0, "no requests in " .. os.getenv("REQUESTS"))
end

request = function()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end
