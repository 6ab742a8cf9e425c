-- RSS checks: an idle keel with a client open, and a soak of many requests
-- (64 in flight) whose RSS must stay flat after warm-up.
-- usage: keel keel_memory.lua URL BODYFILE N
local keel = require "keel"
local url, bodyfile, n = arg[1], arg[2], tonumber(arg[3])
local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmRSS:%s+(%d+)")
    if v then return tonumber(v) end
  end
end
local client = keel.http.client()
local idle = rss_kb()
local f = assert(io.open(bodyfile, "rb"))
local body = f:read("a")
f:close()
local req = { method = "POST", url = url, body = body,
  headers = { ["Content-Type"] = "application/json", Authorization = "Bearer sk-bench" } }
local inflight, done = 64, 0
local samples = {}
local warm = n // 10
local function worker()
  while done < n do
    done = done + 1
    local r = client:request(req)
    if not r or r.status ~= 200 then error("request failed") end
    if done % (n // 20) == 0 then
      collectgarbage()
      samples[#samples + 1] = { done, rss_kb() }
    end
  end
end
local fns = {}
for i = 1, inflight do fns[i] = worker end
keel.gather(fns)
local after_warm, final, max = nil, samples[#samples][2], 0
for _, s in ipairs(samples) do
  if s[1] >= warm and not after_warm then after_warm = s[2] end
  if s[1] >= warm and s[2] > max then max = s[2] end
end
print(("idle_rss_kb=%d warm_rss_kb=%d final_rss_kb=%d max_after_warm_kb=%d growth_kb=%d"):format(
  idle, after_warm, final, max, max - after_warm))
