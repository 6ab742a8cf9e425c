-- keel peers of bench/call: one chat call, sequential, against nginx's canned
-- chat.completion (or with no network at all).
-- usage: keel keel_call.lua MODE BASE_URL N [WARMUP]
--   MODE raw     keel.http.client + c:request{} with the pre-encoded body
--                (request.json) + cjson.decode: a hand-rolled caller, the floor
--        client  keel.client{provider="openai", ...} + client:chat{...}
--        stub    client:chat{...} with the transport swapped for a function
--                returning the canned response: all of keel's Lua work for a
--                call, no network (BASE_URL is then only a name)
--        parts   the non-network steps by hand: chat_request + keel.json.encode
--                + cjson decode + chat_response on the canned response
--        decode  cjson.decode of the canned response alone (what raw adds to
--                its transport: subtract it from stub/parts)
--        pair    raw and client in one process, alternating blocks: the
--                Lua layer's cost per call with the machine's drift cancelled
--   -> microseconds per call (wall), then process CPU per call (user + system);
--      pair: raw µs, client µs, then client - raw in wall and in CPU µs
local keel = require "keel"
local cjson = require "cjson"

local mode, base, n, warmup = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4] or "2000")
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
local function slurp(name)
  local f = assert(io.open(dir .. "/" .. name, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
local inputs = cjson.decode(slurp("inputs.json"))
local REQUEST = slurp("request.json"):gsub("\n$", "")
local RESPONSE = slurp("response.json"):gsub("\n$", "")
local WANT = cjson.decode(RESPONSE).choices[1].message.content

local function chat_args()
  return {
    messages = { { role = "system", content = inputs.system }, { role = "user", content = inputs.user } },
    max_tokens = inputs.max_tokens, temperature = inputs.temperature,
  }
end

local function make(mode)
local one
if mode == "raw" then
  local c = keel.http.client {}
  local decode = cjson.decode
  local opts = {
    url = base .. "/chat/completions", method = "POST", body = REQUEST,
    headers = { ["Content-Type"] = "application/json", Accept = "application/json",
      Authorization = "Bearer sk-bench" },
  }
  one = function()
    local r, err = c:request(opts)
    if not r or r.status ~= 200 then error("request failed: " .. tostring(err or r.status)) end
    return decode(r.body).choices[1].message.content
  end
elseif mode == "client" or mode == "stub" then
  local client = keel.client { provider = "openai", base_url = base, api_key = "sk-bench", model = inputs.model }
  if mode == "stub" then
    -- The provider's connection pool, replaced by a function: everything
    -- client:chat does except curl and the socket.
    local canned = { status = 200, headers = setmetatable({ ["content-type"] = "application/json",
      ["x-request-id"] = "req_bench" }, keel.http.header_mt), body = RESPONSE }
    local sent
    client:provider("openai").http = { request = function(_, o) sent = o.body; return canned end }
    client:chat(chat_args())
    if sent ~= REQUEST then
      io.stderr:write("note: client:chat sent a body that differs from request.json:\n", sent, "\n")
    end
  end
  one = function()
    local resp, err = client:chat(chat_args())
    if not resp then error("chat failed: " .. tostring(err)) end
    return resp.content
  end
elseif mode == "parts" then
  local oa = require "keel.providers.openai"
  local encode, decode = keel.json.encode, keel.json.decode
  local settings = { name = "openai", base_url = base, api_key = "sk-bench" }
  one = function()
    local req = chat_args()
    req.model = inputs.model
    local _, body = oa.chat_request(req, settings)
    local s = encode(body)
    if #s ~= #REQUEST then error("encoded body differs from request.json") end
    local resp = oa.chat_response(decode(RESPONSE), settings)
    return resp.content
  end
elseif mode == "decode" then
  local decode = cjson.decode
  one = function() return decode(RESPONSE).choices[1].message.content end
else
  error("usage: keel keel_call.lua raw|client|stub|parts|decode|pair BASE_URL N [WARMUP]")
end
local got = one()
if got ~= WANT then error(("%s: unexpected content %q"):format(mode, tostring(got))) end
return one
end

if mode == "pair" then
  -- raw and client in one process, alternating blocks of BLOCK calls, so a
  -- slow spell of the machine hits both: the median over blocks of
  -- (client block - raw block) is the Lua layer's cost per call, in wall
  -- time and in process CPU time (os.clock).
  local BLOCK = 500
  local raw, client = make("raw"), make("client")
  for _ = 2, warmup do raw(); client() end
  local clock = os.clock
  local function block(fn)
    local t0, c0 = keel.now(), clock()
    for _ = 1, BLOCK do fn() end
    return (keel.now() - t0) * 1e6 / BLOCK, (clock() - c0) * 1e6 / BLOCK
  end
  local dw, dc, rw, cw = {}, {}, {}, {}
  for i = 1, math.max(1, n // BLOCK) do
    local w1, c1, w2, c2
    if i % 2 == 1 then
      w1, c1 = block(raw); w2, c2 = block(client)
    else
      w2, c2 = block(client); w1, c1 = block(raw)
    end
    rw[i], cw[i], dw[i], dc[i] = w1, w2, w2 - w1, c2 - c1
  end
  local function median(t)
    table.sort(t)
    local m = #t
    return m % 2 == 1 and t[(m + 1) // 2] or (t[m // 2] + t[m // 2 + 1]) / 2
  end
  -- raw µs, client µs, wall difference, CPU difference (medians over blocks)
  print(("%.3f %.3f %.3f %.3f"):format(median(rw), median(cw), median(dw), median(dc)))
  return
end

local one = make(mode)
for _ = 2, warmup do one() end
collectgarbage()
local c0 = os.clock()
local t0 = keel.now()
for _ = 1, n do one() end
local elapsed = keel.now() - t0
local c1 = os.clock()
-- wall µs per call, process CPU µs per call (user + system)
print(("%.3f %.2f"):format(elapsed * 1e6 / n, (c1 - c0) * 1e6 / n))
