-- keel peers: sequential, and `inflight` requests at once on one client.
-- usage: keel keel_bench.lua URL BODYFILE N [INFLIGHT]
--   -> microseconds per request (wall), then user and system CPU per request
local keel = require "keel"
local url, bodyfile, n, inflight = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4] or "1")
local f = assert(io.open(bodyfile, "rb"))
local body = f:read("a")
f:close()
local client = keel.http.client()
local req = {
  method = "POST", url = url, body = body,
  headers = { ["Content-Type"] = "application/json", Authorization = "Bearer sk-bench" },
}
local function one()
  local r, err = client:request(req)
  if not r or r.status ~= 200 then error("request failed: " .. tostring(err or r.status)) end
end
-- user and system CPU seconds of this process (/proc/self/stat, clock ticks)
local function cpu()
  local f = assert(io.open("/proc/self/stat"))
  local st = f:read("a")
  f:close()
  local fields = {}
  for x in st:gsub("^.*%) ", ""):gmatch("%S+") do fields[#fields + 1] = x end
  return tonumber(fields[12]) / 100, tonumber(fields[13]) / 100
end
one() -- connect outside the timing, as every peer does
local u0, s0 = cpu()
local t0 = keel.now()
if inflight <= 1 then
  for _ = 1, n do one() end
else
  local per = n // inflight
  n = per * inflight
  local fns = {}
  for i = 1, inflight do fns[i] = function() for _ = 1, per do one() end end end
  keel.gather(fns)
end
local elapsed = keel.now() - t0
local u1, s1 = cpu()
print(("%.3f %.1f %.1f"):format(elapsed * 1e6 / n, (u1 - u0) * 1e6 / n, (s1 - s0) * 1e6 / n))
