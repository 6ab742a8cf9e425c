-- bench/schema, the Lua sides: one process, one measurement.
--   MODE DIR PASSES  ->  "count median_ms best_ms"
--   keel      (bin/keel) keel.schema.compile once, then s:validate(text) per
--             document: parse + validate from the JSON text; count = valid
--             documents; writes DIR/valid.keel ("1"/"0" per document)
--   value     (bin/keel) keel.json.decode(text) then s:validate_value(v):
--             the path for a Lua value; count = valid; writes DIR/valid.value
--   decode    (bin/keel) keel.json.decode alone; count = documents decoded
--   cjson     (lua5.4, Debian lua-cjson) cjson.decode alone; count = decoded
-- Reading and splitting DIR/docs.jsonl are not timed. One untimed pass, then
-- PASSES timed passes (median), a full GC before each. The clock is
-- keel.core.now (monotonic) when keel.core loads (bin/keel, or lua5.4 with
-- LUA_CPATH set to build/5.4), else os.clock (CPU time; says so on stderr).
local mode, dir, passes = arg[1], arg[2], tonumber(arg[3] or "3")
assert(mode and dir, "usage: lua_bench.lua keel|value|decode|cjson DIR [PASSES]")

local ok, core = pcall(require, "keel.core")
local now = ok and core.now or nil
if not now then
  io.stderr:write("lua_bench: keel.core not found, timing with os.clock (CPU time)\n")
  now = os.clock
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
local function median(t)
  local s = {}
  for i = 1, #t do s[i] = t[i] end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

local docs = {}
for line in slurp(dir .. "/docs.jsonl"):gmatch("[^\n]+") do docs[#docs + 1] = line end
local n = #docs
local flags = {}

local pass
if mode == "keel" or mode == "value" then
  local schema = require "keel.schema"
  local s = schema.compile(slurp(dir .. "/schema.json"))
  if mode == "keel" then
    pass = function()
      local valid = 0
      for i = 1, n do
        local r = s:validate(docs[i])
        flags[i] = r and "1" or "0"
        if r then valid = valid + 1 end
      end
      return valid
    end
  else
    local decode = require("keel.json").decode
    pass = function()
      local valid = 0
      for i = 1, n do
        local v = decode(docs[i])
        local r = v ~= nil and s:validate_value(v)
        flags[i] = r and "1" or "0"
        if r then valid = valid + 1 end
      end
      return valid
    end
  end
elseif mode == "decode" or mode == "cjson" then
  local decode = mode == "cjson" and require("cjson").decode or require("keel.json").decode
  pass = function()
    local decoded = 0
    for i = 1, n do
      if decode(docs[i]) ~= nil then decoded = decoded + 1 end
    end
    return decoded
  end
else
  error("unknown mode " .. mode)
end

local count = pass()
local ts = {}
for p = 1, passes do
  collectgarbage()
  collectgarbage()
  local t0 = now()
  local c = pass()
  ts[p] = (now() - t0) * 1000
  if c ~= count then error(("count changed between passes: %d then %d"):format(count, c)) end
end
if mode == "keel" or mode == "value" then
  local f = assert(io.open(dir .. "/valid." .. mode, "wb"))
  f:write(table.concat(flags))
  f:close()
end
local best = math.huge
for i = 1, #ts do if ts[i] < best then best = ts[i] end end
print(("%d %.3f %.3f"):format(count, median(ts), best))
