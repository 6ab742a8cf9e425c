-- keel.mock.base: the pieces the mock's providers share (see keel.mock):
-- a JSON encoder with a stable key order and explicit arrays, SSE framing,
-- the deterministic reply text and token counts, values generated from a
-- JSON Schema, deterministic embeddings, and the plan shapers (delays,
-- stall/cut/drop after N events, very large bodies streamed in pieces).
--
-- Lua 5.1/LuaJIT/5.4 syntax: no integer division, bit operators or goto.
local json = require "keel.json"

local M = {}

M.null = json.null

-- An empty Lua table encodes as {}; a table with keel's one array marker
-- (keel.json.array_mt) encodes as an array even when empty ("choices": [],
-- "content": []), here as in keel.json.
local array_mt = json.array_mt
M.array_mt = array_mt
M.array = json.array

-- ---- JSON encoding -----------------------------------------------------------------
-- cjson 2.1.0 (Debian) can't say "empty array" and orders keys by hash; the
-- mock needs both right, and deterministic output helps specs.

local FIRST = { type = 1, id = 2, object = 3 } -- these keys lead, as the real APIs do
local function key_less(a, b)
  local ra, rb = FIRST[a] or 9, FIRST[b] or 9
  if ra ~= rb then return ra < rb end
  return a < b
end

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function esc_char(c) return ESC[c] or ("\\u%04x"):format(c:byte()) end
local function encode_string(s) return '"' .. s:gsub('[%c"\\]', esc_char) .. '"' end
M.encode_string = encode_string

local function encode_number(x)
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  if x % 1 == 0 and x > -2 ^ 53 and x < 2 ^ 53 then return ("%d"):format(x) end
  return ("%.14g"):format(x)
end

local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then return false end
    count = count + 1
  end
  return count == n
end

local encode_into
function encode_into(v, out, depth)
  local tv = type(v)
  if tv == "string" then
    out[#out + 1] = encode_string(v)
  elseif tv == "number" then
    out[#out + 1] = encode_number(v)
  elseif tv == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif v == nil or v == json.null then
    out[#out + 1] = "null"
  elseif tv == "table" then
    if depth > 64 then error("keel.mock: JSON nesting too deep (a cycle?)", 0) end
    if is_array(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode_into(v[i], out, depth + 1)
      end
      out[#out + 1] = "]"
    else
      local keys, byname = {}, {}
      for k in pairs(v) do
        local s = type(k) == "string" and k or tostring(k)
        keys[#keys + 1] = s
        byname[s] = k
      end
      table.sort(keys, key_less)
      out[#out + 1] = "{"
      for i, s in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(s)
        out[#out + 1] = ":"
        encode_into(v[byname[s]], out, depth + 1)
      end
      out[#out + 1] = "}"
    end
  else
    error("keel.mock: cannot encode a " .. tv .. " value as JSON", 0)
  end
end

--- encode(v) -> JSON text; keys sorted (type, id, object first).
function M.encode(v)
  local out = {}
  encode_into(v, out, 0)
  return table.concat(out)
end

local safe = require "cjson.safe"
--- decode(s) -> value | nil, err (never raises)
function M.decode(s)
  if type(s) ~= "string" then return nil, "not a string" end
  return safe.decode(s)
end

-- ---- SSE -----------------------------------------------------------------------------

--- sse(event, data) -> "event: E\ndata: D\n\n"; event may be nil; data is a
--- string (split on newlines into data: lines) or a table (JSON-encoded).
function M.sse(event, data)
  if type(data) ~= "string" then data = M.encode(data) end
  local out = {}
  if event then out[1] = "event: " .. event .. "\n" end
  for line in (data .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = "data: " .. line .. "\n" end
  out[#out + 1] = "\n"
  return table.concat(out)
end

-- ---- text and token counts --------------------------------------------------------------

--- text_of(content): a message's text, whether content is a string or an
--- array of parts/blocks ({type="text", text=...}, tool results inside).
function M.text_of(content)
  if type(content) == "string" then return content end
  if type(content) ~= "table" then return "" end
  local parts = {}
  for _, p in ipairs(content) do
    if type(p) == "string" then
      parts[#parts + 1] = p
    elseif type(p) == "table" then
      if type(p.text) == "string" then
        parts[#parts + 1] = p.text
      elseif p.content ~= nil then
        parts[#parts + 1] = M.text_of(p.content)
      end
    end
  end
  return table.concat(parts, " ")
end

--- last_text(req): the text of the request's last message (a user
--- message, an OpenAI tool message, Anthropic tool_result blocks), so a
--- scenario can answer what it was told: e.g. a re-ask listing errors.
function M.last_text(req)
  local body = req.json
  local msgs = type(body) == "table" and body.messages
  local last = type(msgs) == "table" and msgs[#msgs]
  return type(last) == "table" and M.text_of(last.content) or ""
end

--- words(s): the mock's token count, one per whitespace-separated word.
function M.words(s)
  local n = 0
  for _ in tostring(s or ""):gmatch("%S+") do n = n + 1 end
  return n
end

--- first_words(s, n): the first n words of s (original spacing kept).
function M.first_words(s, n)
  if n <= 0 then return "" end
  local out, k = {}, 0
  for piece in s:gmatch("%s*%S+") do
    k = k + 1
    if k > n then break end
    out[#out + 1] = piece
  end
  return (table.concat(out):gsub("^%s+", ""))
end

--- limit(text, max_tokens, wanted, cut): applies a max_tokens limit and a
--- forced finish reason in a provider's vocabulary, `cut` being its word for
--- "stopped at the limit" ("length", "max_tokens"). Returns the text and the
--- finish reason to report (nil: keep the provider's natural one), and
--- whether the max_tokens limit cut the text.
function M.limit(text, max, wanted, cut)
  local finish, limited = nil, false
  if max and M.words(text) > max then
    text, finish, limited = M.first_words(text, max), cut, true
  end
  if wanted then
    if wanted == cut and finish ~= cut then
      -- a forced "length" looks like one: the reply stops halfway
      local n = M.words(text)
      text = M.first_words(text, n - math.floor(n / 2))
    end
    finish = wanted
  end
  return text, finish, limited
end

--- pieces(s): s split before each word, so that the pieces concatenate
--- back to s; how streamed content is cut into deltas.
function M.pieces(s)
  local out, len = {}, 0
  for piece in s:gmatch("%s*%S+") do
    out[#out + 1] = piece
    len = len + #piece
  end
  if len < #s then out[#out + 1] = s:sub(len + 1) end
  return out
end

--- split(s, n): s cut into pieces of at most n bytes (tool-call arguments).
function M.split(s, n)
  local out = {}
  for i = 1, #s, n do out[#out + 1] = s:sub(i, i + n - 1) end
  return out
end

-- Cuts s to at most n bytes without splitting a UTF-8 sequence.
local function utf8_prefix(s, n)
  if #s <= n then return s end
  local i = n
  while i > 0 do
    local b = s:byte(i + 1)
    if not b or b < 0x80 or b >= 0xC0 then break end
    i = i - 1
  end
  return s:sub(1, i)
end
M.utf8_prefix = utf8_prefix

--- reply_text(user_text): the default reply, "Mock reply to: <first 60 bytes>".
function M.reply_text(user_text, prefix)
  local t = tostring(user_text or ""):gsub("%s+", " ")
  t = t:gsub("^ ", ""):gsub(" $", "")
  if t == "" then t = "(empty)" end
  return (prefix or "Mock reply to: ") .. utf8_prefix(t, 60)
end

--- stop_at(text, stops): cuts text before the first stop sequence found.
--- -> text, the stop sequence or nil
function M.stop_at(text, stops)
  if type(stops) == "string" then stops = { stops } end
  if type(stops) ~= "table" then return text end
  local best, seq
  for _, s in ipairs(stops) do
    if type(s) == "string" and s ~= "" then
      local i = text:find(s, 1, true)
      if i and (not best or i < best) then best, seq = i, s end
    end
  end
  if not best then return text end
  return text:sub(1, best - 1), seq
end

-- ---- values from a JSON Schema (tool arguments, structured output) ---------------------------

local FORMATS = {
  ["date-time"] = "2024-01-01T00:00:00Z", date = "2024-01-01", time = "00:00:00Z",
  email = "mock@example.com", uri = "https://example.com/mock", uuid = "00000000-0000-4000-8000-000000000000",
}

--- from_schema(schema, name): a deterministic value that satisfies the
--- common parts of schema (type, properties, items, enum, const, bounds,
--- string formats and lengths). Every property is filled, in sorted order.
function M.from_schema(schema, name, depth)
  depth = depth or 0
  if type(schema) ~= "table" or depth > 12 then return "mock " .. tostring(name or "value") end
  if schema.const ~= nil then return schema.const end
  if type(schema.enum) == "table" and schema.enum[1] ~= nil then return schema.enum[1] end
  local alts = schema.anyOf or schema.oneOf or schema.allOf
  if type(alts) == "table" then
    for _, s in ipairs(alts) do
      if type(s) == "table" and s.type ~= "null" then return M.from_schema(s, name, depth + 1) end
    end
  end
  local t = schema.type
  if type(t) == "table" then
    local pick
    for _, x in ipairs(t) do if x ~= "null" then pick = x break end end
    t = pick or "null"
  end
  if t == nil then
    t = (schema.properties and "object") or (schema.items and "array") or "string"
  end
  if t == "object" then
    local o = {}
    if type(schema.properties) == "table" then
      for k, sub in pairs(schema.properties) do o[k] = M.from_schema(sub, k, depth + 1) end
    end
    return o
  elseif t == "array" then
    local n = tonumber(schema.minItems) or 1
    if tonumber(schema.maxItems) and tonumber(schema.maxItems) < n then n = tonumber(schema.maxItems) end
    local a = M.array()
    for i = 1, n do a[i] = M.from_schema(schema.items, name, depth + 1) end
    return a
  elseif t == "integer" or t == "number" then
    local lo, hi = tonumber(schema.minimum), tonumber(schema.maximum)
    local v = lo or (t == "integer" and 1 or 1.5)
    if tonumber(schema.exclusiveMinimum) and v <= tonumber(schema.exclusiveMinimum) then
      v = tonumber(schema.exclusiveMinimum) + 1
    end
    if hi and v > hi then v = hi end
    if t == "integer" then v = math.floor(v) end
    return v
  elseif t == "boolean" then
    return true
  elseif t == "null" then
    return json.null
  end
  local s = FORMATS[schema.format] or ("mock " .. tostring(name or "value"))
  local minl, maxl = tonumber(schema.minLength), tonumber(schema.maxLength)
  if minl and #s < minl then s = s .. string.rep("x", minl - #s) end
  if maxl and #s > maxl then s = s:sub(1, maxl) end
  return s
end

-- ---- deterministic embeddings ---------------------------------------------------------------

-- A polynomial hash mod 2^32 (no bit operators: must run on Lua 5.1 too);
-- every intermediate stays below 2^53, so doubles compute it exactly.
function M.hash(s)
  local h = 5381
  for i = 1, #s do h = (h * 31 + s:byte(i)) % 4294967296 end
  return h
end

--- unit_vector(s, dims): a unit vector that depends only on s and dims
--- (a MINSTD generator seeded by the hash of s).
function M.unit_vector(s, dims)
  local x = M.hash(s) % 2147483646 + 1
  local v, norm = {}, 0
  for i = 1, dims do
    x = (x * 48271) % 2147483647
    local c = x / 2147483647 * 2 - 1
    v[i] = c
    norm = norm + c * c
  end
  norm = math.sqrt(norm)
  if norm == 0 then norm = 1 end
  for i = 1, dims do v[i] = v[i] / norm end
  return M.array(v)
end

--- merge(dst, src): copies src into dst, recursing into tables both have.
function M.merge(dst, src)
  if type(src) ~= "table" then return dst end
  for k, v in pairs(src) do
    if type(v) == "table" and type(dst[k]) == "table" then M.merge(dst[k], v) else dst[k] = v end
  end
  return dst
end

-- ---- plans --------------------------------------------------------------------------------

M.REASONS = {
  [200] = "OK", [201] = "Created", [202] = "Accepted", [204] = "No Content",
  [400] = "Bad Request", [401] = "Unauthorized", [402] = "Payment Required", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [408] = "Request Timeout", [409] = "Conflict",
  [413] = "Payload Too Large", [415] = "Unsupported Media Type", [422] = "Unprocessable Entity",
  [429] = "Too Many Requests", [500] = "Internal Server Error", [501] = "Not Implemented",
  [502] = "Bad Gateway", [503] = "Service Unavailable", [504] = "Gateway Timeout", [529] = "Overloaded",
}

local function header_set(plan, name, value)
  plan.headers = plan.headers or {}
  local lname = name:lower()
  for k in pairs(plan.headers) do
    if type(k) == "string" and k:lower() == lname then
      plan.headers[k] = value
      return
    end
  end
  plan.headers[name] = value
end
M.header_set = header_set

local function header_get(plan, name)
  if not plan.headers then return nil end
  local lname = name:lower()
  for k, v in pairs(plan.headers) do
    if type(k) == "string" and k:lower() == lname then return v end
  end
end
M.header_get = header_get

--- html_error(status): an nginx-style HTML error page, as a proxy in front
--- of a provider sends it.
function M.html_error(status)
  status = tonumber(status) or 502
  local title = ("%d %s"):format(status, M.REASONS[status] or "Error")
  return {
    status = status,
    headers = { ["Content-Type"] = "text/html" },
    body = "<html>\r\n<head><title>" .. title .. "</title></head>\r\n<body>\r\n<center><h1>" .. title ..
      "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n",
  }
end

--- filler(prefix, n, suffix): an iterator over prefix, n bytes of "x" in
--- 64 KiB pieces, then suffix: the body is never held whole.
function M.filler(prefix, n, suffix)
  local PIECE = 65536
  local block = string.rep("x", PIECE)
  local stage, left = 0, n
  return function()
    if stage == 0 then
      stage = 1
      if prefix ~= "" then return prefix end
    end
    if stage == 1 then
      if left > 0 then
        local k = left < PIECE and left or PIECE
        left = left - k
        return k == PIECE and block or block:sub(1, k)
      end
      stage = 2
      if suffix ~= "" then return suffix end
    end
    return nil
  end
end

--- big_body(bytes, opts): a 200 plan whose JSON body {"padding":"xxx..."}
--- is exactly `bytes` long (just x's when that is too short for JSON),
--- streamed in pieces. opts.content_length = true declares the length
--- up front instead of using chunked transfer encoding.
function M.big_body(bytes, opts)
  bytes = math.floor(tonumber(bytes) or 0)
  local prefix, suffix = '{"padding":"', '"}'
  if bytes < #prefix + #suffix then prefix, suffix = "", "" end
  local plan = {
    status = 200,
    headers = { ["Content-Type"] = "application/json" },
    chunks = M.filler(prefix, bytes - #prefix - #suffix, suffix),
  }
  if opts and opts.content_length then plan.headers["Content-Length"] = tostring(bytes) end
  return plan
end

local FILL = "@@KEEL_MOCK_FILL@@"
M.FILL = FILL
--- sized_body(obj, bytes): obj (whose text field holds M.FILL) encoded and
--- padded at that spot to exactly `bytes`, as a streamed plan.
function M.sized_body(obj, bytes)
  local s = M.encode(obj)
  local i = s:find(FILL, 1, true)
  local prefix, suffix = s:sub(1, i - 1), s:sub(i + #FILL)
  local n = bytes - #prefix - #suffix
  if n < 0 then n = 0 end
  return { status = 200, headers = { ["Content-Type"] = "application/json" }, chunks = M.filler(prefix, n, suffix) }
end

--- rename(t, spec): renames fields of a decoded body, for "a JSON body with
--- a misspelled field". spec maps a dotted path to the new last name:
--- { choices = "choises", ["choices.1.message.content"] = "contnet" }.
--- Paths that don't exist in t are skipped. Modifies and returns t.
function M.rename(t, spec)
  if type(spec) ~= "table" or type(t) ~= "table" then return t end
  local paths = {}
  for p in pairs(spec) do paths[#paths + 1] = p end
  table.sort(paths, function(a, b) return #a > #b end) -- deepest first
  for _, path in ipairs(paths) do
    local segs = {}
    for seg in path:gmatch("[^%.]+") do segs[#segs + 1] = tonumber(seg) or seg end
    local node = t
    for i = 1, #segs - 1 do
      node = type(node) == "table" and node[segs[i]] or nil
    end
    local last = segs[#segs]
    if type(node) == "table" and node[last] ~= nil then
      node[spec[path]] = node[last]
      node[last] = nil
    end
  end
  return t
end

--- malformed(s): s cut in half, so the JSON is broken.
function M.malformed(s)
  return s:sub(1, math.floor(#s / 2))
end

-- Wraps an iterator so that a {delay=} item reads as a number, and checks
-- each item. Used for chunks given as a function.
local function check_item(item, where)
  local t = type(item)
  if t == "string" or t == "number" or item == nil then return item end
  if t == "table" and tonumber(item.delay) then return tonumber(item.delay) end
  error(("%s: expected a string, a number of seconds or {delay=seconds}, got %s"):format(where, t), 0)
end
M.check_item = check_item

--- shape(plan, opts): the timing options every plan takes:
---   delay        seconds before the status line
---   chunk_delay  seconds between streamed items
---   stall_after  send N items (events; bytes of a whole body), then stop
---                sending and keep the connection open
---   cut_after    send N items, then end the body cleanly (no terminal event)
---   drop_after   send N items, then close the connection mid-body
--- Returns plan (modified).
function M.shape(plan, o)
  if type(o) ~= "table" then return plan end
  if o.delay then plan.delay = o.delay end
  local n, ending
  if o.stall_after then
    n, ending = o.stall_after, "stall"
  elseif o.drop_after then
    n, ending = o.drop_after, "abort"
  elseif o.cut_after then
    n, ending = o.cut_after, "end"
  end
  if plan.chunks == nil then
    if n == nil then return plan end
    local body = plan.body
    if body == nil and plan.json ~= nil then
      body = M.encode(plan.json)
      if not header_get(plan, "Content-Type") then header_set(plan, "Content-Type", "application/json") end
    end
    plan.body, plan.json = nil, nil
    plan.chunks = { (body or ""):sub(1, n) }
    plan.ending = ending
    return plan
  end
  local cd = o.chunk_delay
  if cd == nil and n == nil then return plan end
  if type(plan.chunks) == "table" then
    local out, count = {}, 0
    for i, item in ipairs(plan.chunks) do
      item = check_item(item, "chunk " .. i)
      if type(item) == "string" then
        if n and count >= n then break end
        if cd and count > 0 then out[#out + 1] = cd end
        count = count + 1
      end
      out[#out + 1] = item
    end
    plan.chunks = out
  else
    local src, count, done = plan.chunks, 0, false
    local pending
    plan.chunks = function()
      if pending then
        local p = pending
        pending = nil
        return p
      end
      if done then return nil end
      local item = check_item(src(), "chunks()")
      if type(item) == "string" then
        if n and count >= n then
          done = true
          return nil
        end
        count = count + 1
        if cd and count > 1 then
          pending = item
          return cd
        end
      end
      return item
    end
  end
  if n then plan.ending = ending end
  return plan
end

--- finish(plan, opts): the options common to every builder: status (for a
--- non-error plan), retry_after, extra headers, then shape().
function M.finish(plan, o)
  if type(o) ~= "table" then return plan end
  if o.status and (plan.status or 200) < 400 then plan.status = o.status end
  if o.retry_after ~= nil then header_set(plan, "Retry-After", tostring(o.retry_after)) end
  if type(o.headers) == "table" then
    for k, v in pairs(o.headers) do header_set(plan, k, v) end
  end
  return M.shape(plan, o)
end

--- stream_plan(events, opts, terminal, error_event): an SSE plan from
--- events {event=name|nil, data=table}: renames (opts.rename), breaks one
--- event's JSON (opts.malformed), appends the terminal string, and with
--- opts.error_after = N keeps N events and ends with error_event instead.
function M.stream_plan(events, o, terminal, error_event, headers)
  o = o or {}
  local chunks = {}
  local bad = o.malformed and (#events >= 2 and 2 or 1)
  for i, e in ipairs(events) do
    local data = e.data
    if o.rename then data = M.rename(data, o.rename) end
    local s = M.encode(data)
    if i == bad then s = M.malformed(s) end
    chunks[#chunks + 1] = M.sse(e.event, s)
  end
  if terminal then chunks[#chunks + 1] = terminal end
  if o.error_after then
    for i = #chunks, o.error_after + 1, -1 do chunks[i] = nil end
    chunks[#chunks + 1] = error_event
  end
  local h = { ["Content-Type"] = "text/event-stream; charset=utf-8", ["Cache-Control"] = "no-cache" }
  if headers then for k, v in pairs(headers) do h[k] = v end end
  return M.finish({ status = 200, headers = h, chunks = chunks }, o)
end

--- body_plan(obj, opts, headers, fill): a JSON plan from a response object:
--- renames, then a body padded to opts.body_bytes (fill(obj) puts M.FILL
--- where the padding goes), a broken one (opts.malformed), or obj as json.
function M.body_plan(obj, o, headers, fill)
  o = o or {}
  local plan
  if o.rename then M.rename(obj, o.rename) end
  if o.body_bytes and fill then
    fill(obj)
    plan = M.sized_body(obj, o.body_bytes)
  elseif o.malformed then
    plan = { status = 200, headers = { ["Content-Type"] = "application/json" }, body = M.malformed(M.encode(obj)) }
  else
    plan = { status = 200, json = obj, headers = {} }
  end
  if headers then for k, v in pairs(headers) do header_set(plan, k, v) end end
  return M.finish(plan, o)
end

return M
