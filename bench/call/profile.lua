-- bench/call breakdown: what one client:chat call costs in Lua, step by step,
-- with no network (the transport is a stub returning the canned response).
-- Each step runs alone in a tight loop on the same inputs as the call; the
-- client's local functions are reached through debug.getupvalue, so a rename
-- in lua/keel/client.lua shows here as "(not found)" rather than an error.
-- usage: keel profile.lua BASE_URL [ITERATIONS]
--   -> one line per step: µs per call, bytes allocated per call; then the GC
local keel = require "keel"
local cjson = require "cjson"
local oa = require "keel.providers.openai"
local now = keel.now

local base, iters = arg[1] or "http://127.0.0.1:9/v1", tonumber(arg[2] or "100000")
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local function slurp(name)
  local f = assert(io.open(dir .. "/" .. name, "rb"))
  local s = f:read("a")
  f:close()
  return (s:gsub("\n$", ""))
end
local inputs = cjson.decode(slurp("inputs.json"))
local RESPONSE = slurp("response.json")

local function chat_args()
  return {
    messages = { { role = "system", content = inputs.system }, { role = "user", content = inputs.user } },
    max_tokens = inputs.max_tokens, temperature = inputs.temperature,
  }
end

local client = keel.client { provider = "openai", base_url = base, api_key = "sk-bench", model = inputs.model }
local canned = { status = 200, headers = setmetatable({ ["content-type"] = "application/json",
  ["x-request-id"] = "req_bench" }, keel.http.header_mt), body = RESPONSE }
local provider = client:provider("openai")
provider.http = { request = function() return canned end }
local st = provider.settings

-- upvalue(fn, "a", "b", ...): the function named b among a's upvalues, ...
local function upvalue(fn, ...)
  for _, want in ipairs { ... } do
    if type(fn) ~= "function" then return nil end
    local found
    for i = 1, 255 do
      local name, v = debug.getupvalue(fn, i)
      if not name then break end
      if name == want then found = v break end
    end
    fn = found
  end
  return fn
end
local Client = getmetatable(client)
local chat_req = upvalue(Client.chat, "chat_req")
local check_keys = upvalue(chat_req, "check_keys")
local route = upvalue(client.chain, "route")
local send = upvalue(client.chain, "next")
local http_options = upvalue(send, "http_options")
local send_plain = upvalue(send, "send_plain")
local finish_chat = upvalue(send_plain, "finish_chat")
local encode, decode = keel.json.encode, keel.json.decode

-- µs and bytes allocated per call of fn, less the empty loop's
local function measure(fn)
  for _ = 1, iters // 10 do fn() end
  collectgarbage()
  collectgarbage()
  local k0 = collectgarbage("count")
  local t0 = now()
  for _ = 1, iters do fn() end
  local t = now() - t0
  local kb = collectgarbage("count") - k0
  return t * 1e6 / iters, kb * 1024 / iters
end
-- bytes allocated: with the collector stopped, so the count only grows
local function alloc(fn)
  collectgarbage()
  collectgarbage("stop")
  local k0 = collectgarbage("count")
  for _ = 1, 1000 do fn() end
  local b = (collectgarbage("count") - k0) * 1024 / 1000
  collectgarbage("restart")
  return b
end
local empty = measure(function() end)

local rows = {}
local sum = 0
local function step(name, fn, note)
  if not fn then
    rows[#rows + 1] = ("%-50s %s"):format(name, "(not found)")
    return
  end
  local us = measure(fn) - empty
  if name:match("^  %S") and name ~= "  keel.now()" then sum = sum + us end
  rows[#rows + 1] = ("%-50s %6.2f µs %6.0f B%s"):format(name, us, alloc(fn), note and ("  " .. note) or "")
  return us
end

-- the pieces of one call, each with ready-made inputs from the step before
local args = chat_args()
local req = chat_req and chat_req(client, chat_args(), nil, 1)
local ctx = { client = client, op = "chat", req = req }
if route then route(ctx) end
local path, body = oa.chat_request(req, st)
local obj = decode(RESPONSE)
local resp0 = oa.chat_response(obj, st)

local total = step("client:chat, all of it (stub transport)", function() client:chat(chat_args()) end)
step("  the caller's request table (chat_args)", chat_args, "user side: every peer pays it")
step("  chat_req: check_keys + copy of the request", chat_req and function() chat_req(client, args, nil, 1) end)
local CHAT_KEYS = require("keel.client").CHAT_KEYS
step("    of which check_keys", check_keys and function() check_keys(args, CHAT_KEYS, "chat", 1) end)
step("  ctx table + route (model, provider lookup)", route and function()
  local c = { client = client, op = "chat", req = { messages = req.messages, model = nil } }
  route(c)
end)
step("  openai.chat_request (body table)", function() oa.chat_request(req, st) end)
step("    of which max_tokens_field (url:find)", function() oa.max_tokens_field(st) end)
step("  http_options (merge_headers + encode + table)", http_options and function()
  http_options(ctx, path, body) end)
step("    of which keel.json.encode of the body", function() encode(body) end, ("%d bytes out"):format(#encode(body)))
step("  json.decode of the response", function() decode(RESPONSE) end, "the raw caller pays this too")
step("  openai.chat_response + finish_chat", finish_chat and function()
  finish_chat(ctx, oa.chat_response(obj, st), canned, 0) end)
step("    of which openai.chat_response (normalize)", function() oa.chat_response(obj, st) end)
step("  keel.now()", now, "called 2x per call")
for _, r in ipairs(rows) do print(r) end
print(("%-50s %6.2f µs  (the rest: method and stage calls, send/send_plain, now())"):format(
  "sum of the steps", sum))
-- The collector's share: the same loop in generational mode (keel leaves
-- Lua's default, incremental).
local function loop(k)
  local t0 = now()
  for _ = 1, k do client:chat(chat_args()) end
  return (now() - t0) * 1e6 / k
end
loop(iters // 10)
local inc = loop(iters)
collectgarbage("generational")
loop(iters // 10)
local gen = loop(iters)
collectgarbage("incremental")
print(("client:chat allocates %.0f B per call; %.2f µs per call with the incremental collector, %.2f µs with the " ..
  "generational one"):format(alloc(function() client:chat(chat_args()) end), inc, gen))
