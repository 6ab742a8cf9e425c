-- bench/tokenizer, keel's side (Lua 5.4 via bin/keel, or LuaJIT with
-- LUA_PATH/LUA_CPATH set). One measurement per process:
--   tp    ENC FILE MODE PASSES  -> "tokens median_ms best_ms"
--         MODE cold:  set_cache(false), tok:encode_ordinary (a table of ids)
--              ccold: set_cache(false), tok:count (no table)
--              warm:  cache on, encode_ordinary, after a warm-up pass
--              count: cache on, tok:count (no table), after a warm-up pass
--         every mode does one untimed pass first; a full GC before each pass
--   chat  FILE ITERS            -> "tokens us_count_warm us_count_cold us_messages messages_n"
--         FILE as one user message, gpt-4o (o200k_base): tok:count(text) with
--         the cache on and off, and keel.tokens.count_messages; median of
--         batches of 100 calls
--   long  ENC CHAR BYTES REPS   -> "tokens median_ms first_ms"
--         tok:encode of CHAR ("space" or a letter) repeated BYTES times,
--         cache off; the first call (scratch growth) and the median of REPS
--   load  ENC                   -> "require_ms get_ms first_count_ms rss_kb"
--         in a fresh process: require "keel.tokenizer", tokenizer.get(ENC),
--         its first count, and the VmRSS they added together
local core = require "keel.core"
local now = core.now
local mode = arg[1]

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
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
local function min(t)
  local m = math.huge
  for i = 1, #t do if t[i] < m then m = t[i] end end
  return m
end
local function rss_kb()
  for line in io.lines("/proc/self/status") do
    local v = line:match("^VmRSS:%s+(%d+)")
    if v then return tonumber(v) end
  end
end

if mode == "load" then
  collectgarbage()
  collectgarbage()
  local r0 = rss_kb()
  local t0 = now()
  local tokenizer = require "keel.tokenizer"
  local t1 = now()
  local tok = tokenizer.get(arg[2])
  local t2 = now()
  assert(tok:count("hello world") > 0)
  local t3 = now()
  local r1 = rss_kb()
  print(("%.3f %.3f %.3f %d"):format((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, r1 - r0))
  return
end

local tokenizer = require "keel.tokenizer"

if mode == "tp" then
  local enc, file, how, passes = arg[2], arg[3], arg[4], tonumber(arg[5] or "3")
  local tok = tokenizer.get(enc)
  local text = slurp(file)
  local f
  if how == "cold" then
    tok:set_cache(false)
    f = function(s) return #tok:encode_ordinary(s) end
  elseif how == "warm" then
    tok:set_cache(true)
    f = function(s) return #tok:encode_ordinary(s) end
  elseif how == "count" or how == "ccold" then
    tok:set_cache(how == "count")
    f = function(s) return tok:count(s) end
  else
    error("tp: cold, ccold, warm or count expected")
  end
  local n = f(text)
  local ts = {}
  for i = 1, passes do
    collectgarbage()
    collectgarbage()
    local t0 = now()
    local m = f(text)
    ts[i] = (now() - t0) * 1e3
    if m ~= n then error(("count changed between passes: %d then %d"):format(n, m)) end
  end
  print(("%d %.3f %.3f"):format(n, median(ts), min(ts)))
elseif mode == "chat" then
  local text, iters = slurp(arg[2]), tonumber(arg[3] or "20000")
  local tokens = require "keel.tokens"
  local tok = tokenizer.for_model("gpt-4o")
  local msgs = { { role = "user", content = text } }
  local B = 100
  local function per_call(fn)
    for _ = 1, 2000 do fn() end
    local ts = {}
    for b = 1, math.max(1, math.floor(iters / B)) do
      local t0 = now()
      for _ = 1, B do fn() end
      ts[b] = (now() - t0) * 1e6 / B
    end
    return median(ts)
  end
  local n = tok:count(text)
  tok:set_cache(true)
  local warm = per_call(function() return tok:count(text) end)
  local msg_n = tokens.count_messages(msgs, "gpt-4o")
  local msgs_us = per_call(function() return tokens.count_messages(msgs, "gpt-4o") end)
  tok:set_cache(false)
  local cold = per_call(function() return tok:count(text) end)
  tok:set_cache(true)
  print(("%d %.3f %.3f %.3f %d"):format(n, warm, cold, msgs_us, msg_n))
elseif mode == "long" then
  local enc, ch, bytes, reps = arg[2], arg[3], tonumber(arg[4]), tonumber(arg[5] or "5")
  if ch == "space" then ch = " " end
  local tok = tokenizer.get(enc)
  tok:set_cache(false)
  local text = ch:rep(bytes)
  local t0 = now()
  local n = #tok:encode(text)
  local first = (now() - t0) * 1e3
  local ts = {}
  for i = 1, reps do
    collectgarbage()
    local t = now()
    local m = #tok:encode(text)
    ts[i] = (now() - t) * 1e3
    if m ~= n then error(("count changed between calls: %d then %d"):format(n, m)) end
  end
  print(("%d %.3f %.3f"):format(n, median(ts), first))
else
  error("usage: keel_bench.lua tp|chat|long|load ...")
end
