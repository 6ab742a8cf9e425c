-- keel.structured: structured output for client:chat{schema = S} and the
-- check of tool-call arguments (docs/client.md, "Structured output").
--
-- One call, several requests: ask (the provider file shapes the request:
-- OpenAI response_format, Anthropic a forced tool), then extract
-- (keel.json.extract) → validate (keel.schema) → on failure re-ask with the
-- validator's errors, up to max_reasks times. A cut-off answer is an error
-- at once (a prefix that parses is still half an object); an empty one is
-- regenerated once. The client runs this at the end of its chain, around
-- the one-request send, when a call gives a schema or tools.
local json = require "keel.json"
local kerror = require "keel.error"
local core = require "keel.core"

local now = core.now
local encode, decode = json.encode, json.decode

local M = {}

M.DEFAULT_MAX_REASKS = 2
M.DEFAULT_NAME = "response"

-- keel.schema is loaded on first use: calls without a schema or tools never
-- need it.
local schema_mod
local function schema_lib()
  if not schema_mod then schema_mod = require "keel.schema" end
  return schema_mod
end

-- ---- the strict-mode rule (OpenAI Structured Outputs) ------------------------------------
-- OpenAI's strict mode accepts a subset of JSON Schema and refuses the whole
-- request otherwise, so keel asks for it only when the schema is inside that
-- subset: the root is an object; every object has additionalProperties:
-- false and lists every property in required; only these keywords appear.
-- Anything else (a boolean schema, allOf, oneOf, not, if/then/else,
-- patternProperties, minLength, default, tuple items, ...) sends strict=false.
local STRICT_KEYWORDS = {}
for k in ([[type properties required additionalProperties items enum const anyOf $ref $defs definitions
  description title pattern format minimum maximum exclusiveMinimum exclusiveMaximum multipleOf
  minItems maxItems]]):gmatch("%S+") do STRICT_KEYWORDS[k] = true end

local function escape(k)
  return (tostring(k):gsub("~", "~0"):gsub("/", "~1"))
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks, function(a, b) return tostring(a) < tostring(b) end)
  return ks
end

local function has_type(s, name)
  local t = s.type
  if t == name then return true end
  if type(t) == "table" then
    for i = 1, #t do if t[i] == name then return true end end
  end
  return false
end

local walk_strict
local function walk_map(m, ptr, depth)
  if type(m) ~= "table" then return false, ptr .. ": not an object of schemas" end
  for _, k in ipairs(sorted_keys(m)) do
    local ok, why = walk_strict(m[k], ptr .. "/" .. escape(k), depth + 1)
    if not ok then return false, why end
  end
  return true
end

function walk_strict(s, ptr, depth)
  if type(s) ~= "table" then return false, (ptr == "" and "(root)" or ptr) .. ": a boolean schema" end
  if depth > 64 then return false, ptr .. ": nested too deep" end
  for _, k in ipairs(sorted_keys(s)) do
    if not STRICT_KEYWORDS[k] then
      return false, ("%s: keyword '%s' is outside the strict subset"):format(ptr == "" and "(root)" or ptr, tostring(k))
    end
  end
  if has_type(s, "object") or s.properties ~= nil or s.additionalProperties ~= nil then
    local at = ptr == "" and "(root)" or ptr
    if s.additionalProperties ~= false then return false, at .. ": additionalProperties is not false" end
    local req = {}
    if type(s.required) == "table" then for _, r in ipairs(s.required) do req[r] = true end end
    if s.properties ~= nil then
      if type(s.properties) ~= "table" then return false, at .. ": properties is not an object" end
      for _, k in ipairs(sorted_keys(s.properties)) do
        if not req[k] then return false, ("%s: property '%s' is not in required"):format(at, tostring(k)) end
      end
      local ok, why = walk_map(s.properties, ptr .. "/properties", depth)
      if not ok then return false, why end
    end
  end
  if s.items ~= nil then
    if type(s.items) ~= "table" or getmetatable(s.items) == json.array_mt or s.items[1] ~= nil then
      return false, ptr .. "/items: tuple items are outside the strict subset"
    end
    local ok, why = walk_strict(s.items, ptr .. "/items", depth + 1)
    if not ok then return false, why end
  end
  if s.anyOf ~= nil then
    if type(s.anyOf) ~= "table" then return false, ptr .. "/anyOf: not an array" end
    for i = 1, #s.anyOf do
      local ok, why = walk_strict(s.anyOf[i], ptr .. "/anyOf/" .. (i - 1), depth + 1)
      if not ok then return false, why end
    end
  end
  for _, defs in ipairs { "$defs", "definitions" } do
    if s[defs] ~= nil then
      local ok, why = walk_map(s[defs], ptr .. "/" .. defs, depth)
      if not ok then return false, why end
    end
  end
  return true
end

--- strict_ok(schema) -> true | false, why: whether OpenAI's strict mode
--- accepts the schema (a Lua table as keel.json.decode gives it).
function M.strict_ok(s)
  if type(s) ~= "table" then return false, "(root): a boolean schema" end
  if s.type ~= "object" then return false, "(root): the root is not {\"type\": \"object\"}" end
  return walk_strict(s, "", 0)
end

-- ---- compiled schemas, cached by their canonical text ------------------------------------
-- keel.json.encode writes the same bytes for the same value, so a table
-- edited between calls gets a new entry and never a stale compile. The
-- cache is bounded: past CACHE_MAX entries it starts over.
local CACHE_MAX = 128
local cache, ncache = {}, 0

local function entry(s, what)
  local text, value
  if type(s) == "string" then
    text = s
  else
    local ok, t = pcall(encode, s)
    if not ok then error(("keel: %s cannot be encoded as JSON: %s"):format(what, tostring(t)), 0) end
    text, value = t, s
  end
  local e = cache[text]
  if e then
    -- The caller's own table goes out in the request: equal to the cached
    -- one today, but that one may have been edited since.
    if value and e.value ~= value then e = { compiled = e.compiled, text = text, value = value, strict = e.strict } end
    return e
  end
  if not value then
    local err
    value, err = decode(text)
    if value == nil then error(("keel: %s is not valid JSON: %s"):format(what, tostring(err)), 0) end
  end
  local ok, compiled = pcall(schema_lib().compile, text)
  if not ok then error(("keel: %s is not a valid JSON Schema: %s"):format(what, tostring(compiled)), 0) end
  e = { compiled = compiled, text = text, value = value, strict = (M.strict_ok(value)) }
  if ncache >= CACHE_MAX then cache, ncache = {}, 0 end
  cache[text] = e
  ncache = ncache + 1
  return e
end
M.entry = entry

-- ---- the request --------------------------------------------------------------------------

--- engaged(req): the call needs this module (a schema, or tools to check).
function M.engaged(req)
  return req.schema ~= nil or (req.tools ~= nil and #req.tools > 0 and req.validate_tools ~= false)
end

local INSTRUCTION = "Respond with only a JSON value (no prose, no code fences) that conforms to this JSON Schema:\n"

-- The call's options, checked and compiled. Misuse raises.
local function prepare(req)
  local spec = { max_reasks = M.DEFAULT_MAX_REASKS, lenient = req.lenient and { lenient = true } or nil }
  local mr = req.max_reasks
  if mr ~= nil then
    if mr < 0 or mr % 1 ~= 0 then error(("keel: max_reasks must be an integer >= 0, got %s"):format(mr), 0) end
    spec.max_reasks = mr
  end
  if req.schema ~= nil then
    if req.response_format ~= nil then error("keel: give schema or response_format, not both", 0) end
    local name = req.schema_name or M.DEFAULT_NAME
    if not name:match("^[%w_-]+$") or #name > 64 then
      error(("keel: schema_name '%s' must be 1 to 64 letters, digits, '_' or '-'"):format(name), 0)
    end
    local e = entry(req.schema, "schema")
    spec.schema, spec.value, spec.text, spec.name = e.compiled, e.value, e.text, name
    spec.strict = req.strict
    if spec.strict == nil then spec.strict = e.strict end
    spec.instruction = INSTRUCTION .. e.text
  end
  if req.tools and #req.tools > 0 and req.validate_tools ~= false then
    spec.tools = {}
    for i, t in ipairs(req.tools) do
      spec.tools[t.name] = entry(t.parameters, ("tools[%d] (%s) parameters"):format(i, t.name)).compiled
    end
  end
  return spec
end

-- ---- judging one answer -------------------------------------------------------------------

local function err1(keyword, message)
  return { instance_path = "", schema_path = "", keyword = keyword, message = message }
end

-- Errors of one tool call's arguments against its tool's schema.
local function tool_errors(c, tools)
  local s = c.name and tools[c.name]
  if not s then
    local names = sorted_keys(tools)
    return { err1("tool", ("there is no tool named '%s' (tools: %s)"):format(tostring(c.name),
      table.concat(names, ", "))) }
  end
  local ok, errs = s:validate(c.arguments or "")
  if ok then return nil end
  return errs
end

local function append_all(dst, src, tool)
  for i = 1, #src do
    local e = src[i]
    if tool then
      local c = {}
      for k, v in pairs(e) do c[k] = v end
      c.tool = tool
      e = c
    end
    dst[#dst + 1] = e
  end
end

-- judge(resp, spec, where) -> verdict: ok, errors, source, repaired, data,
-- and what went wrong: truncated, filtered, empty; bad maps each tool call
-- whose arguments (or answer) failed to its errors. where: "content" or
-- "tool" (the answer comes as a call of the tool named spec.name).
local function judge(resp, spec, where)
  local v = { ok = false, errors = {}, bad = {} }
  local calls = resp.tool_calls or {}
  local others = {}
  for _, c in ipairs(calls) do
    if where == "tool" and spec.schema and not v.answer and c.name == spec.name then v.answer = c
    else others[#others + 1] = c end
  end
  v.others = others
  if resp.finish_reason == "length" and (spec.schema or #calls > 0) then
    v.truncated = true
    v.errors[1] = err1("length", "the answer was cut off at max_tokens (finish_reason \"length\")")
    return v
  end
  if spec.schema and resp.finish_reason == "content_filter" then
    v.filtered = true
    v.errors[1] = err1("refusal", resp.refusal or "the provider's content filter stopped the answer")
    return v
  end
  if spec.tools then
    for _, c in ipairs(others) do
      local errs = tool_errors(c, spec.tools)
      if errs then
        v.bad[c] = errs
        append_all(v.errors, errs, c.name or "?")
      end
    end
  end
  if #others > 0 then v.source = "tool" end
  if spec.schema and v.answer then
    v.source = "tool"
    local a = v.answer
    local ok, errs = spec.schema:validate(a.arguments or "")
    if ok then
      v.data = a.input
      if v.data == nil then v.data = decode(a.arguments) end
    else
      v.bad[a] = errs
      append_all(v.errors, errs)
    end
  elseif spec.schema and #others == 0 then
    local text = resp.content or ""
    if not text:find("%S") then
      v.empty = true
      v.errors[1] = err1("empty", "the model returned no output")
      return v
    end
    local value, info = json.extract(text, spec.lenient)
    if value == nil then
      v.errors[1] = err1("json", info.message)
      return v
    end
    v.source, v.repaired = info.source, info.repaired
    local ok, errs = spec.schema:validate(info.text)
    if not ok then
      append_all(v.errors, errs)
      return v
    end
    v.data = value
  end
  v.ok = #v.errors == 0
  return v
end

-- ---- re-asking ---------------------------------------------------------------------------

local MAX_LISTED = 20

local function error_lines(errs)
  local out = {}
  for i = 1, math.min(#errs, MAX_LISTED) do
    local e = errs[i]
    local at = e.instance_path
    if at == nil or at == "" then at = "(root)" end
    out[i] = ("- %s: %s"):format(at, tostring(e.message))
  end
  if #errs > MAX_LISTED then out[#out + 1] = ("- ... and %d more"):format(#errs - MAX_LISTED) end
  return table.concat(out, "\n")
end

local NOT_RUN = "Not run: another tool call in this turn had invalid arguments. Make all the calls again, " ..
  "with the invalid arguments corrected."

-- The messages that carry one failed answer and its errors into the next
-- request: the assistant's turn as given, then its errors — one tool result
-- per call when the turn called tools (both APIs require one for each), a
-- user message otherwise.
local function reask_messages(resp, v)
  local calls = resp.tool_calls
  if calls and #calls > 0 and next(v.bad) then
    local tc = {}
    for i, c in ipairs(calls) do
      -- Anthropic needs an object to send back; the text stays as written.
      tc[i] = { id = c.id, name = c.name, arguments = c.arguments, input = type(c.input) == "table" and c.input or {} }
    end
    local msgs = { { role = "assistant", content = resp.content or "", tool_calls = tc,
      thinking_blocks = resp.thinking_blocks } }
    for _, c in ipairs(calls) do
      local errs, text = v.bad[c], NOT_RUN
      if errs and c == v.answer then
        text = ("Your answer does not match the JSON Schema of %s. Errors:\n%s\nCall %s again with the " ..
          "whole corrected answer."):format(c.name, error_lines(errs), c.name)
      elseif errs then
        text = ("Invalid arguments for %s: they do not match its parameters schema. Errors:\n%s\nCall it " ..
          "again with corrected arguments."):format(tostring(c.name), error_lines(errs))
      end
      msgs[#msgs + 1] = { role = "tool", tool_call_id = c.id, content = text, is_error = errs and true or nil }
    end
    return msgs
  end
  local what = v.errors[1] and v.errors[1].keyword == "json"
    and "Your answer contains no valid JSON value. Error:\n"
    or "Your answer does not match the JSON Schema. Errors:\n"
  return {
    { role = "assistant", content = resp.content or "" },
    { role = "user", content = what .. error_lines(v.errors) ..
      "\nReply again with only the whole corrected JSON value." },
  }
end

-- ---- the loop ------------------------------------------------------------------------------

local function add_usage(sum, u)
  if type(u) ~= "table" then return sum end
  sum = sum or {}
  for k, x in pairs(u) do
    if type(x) == "number" then sum[k] = (sum[k] or 0) + x end
  end
  if u.reported == false then sum.reported = false end
  return sum
end
M.add_usage = add_usage

local function summary(errs)
  local parts = {}
  for i = 1, math.min(#errs, 3) do
    local e = errs[i]
    parts[i] = ((e.instance_path == nil or e.instance_path == "") and "(root)" or e.instance_path) .. ": " ..
      tostring(e.message)
  end
  if #errs > 3 then parts[#parts + 1] = ("(%d more)"):format(#errs - 3) end
  return table.concat(parts, "; ")
end

--- run(ctx, send) -> resp | nil, err: the call, with as many requests
--- through send(ctx) as validation needs.
function M.run(ctx, send)
  local req0, p = ctx.req, ctx.provider
  local spec = prepare(req0)
  local req = {}
  for k, v in pairs(req0) do req[k] = v end
  local where = "content"
  if spec.schema then where = p.module.schema_request(req, spec, p.settings) end
  local asked = req.messages
  local t0 = now()
  local attempts, usage, extra = {}, nil, {}
  local reasks, regenerated = 0, false
  local stream_fn = type(req0.stream) == "function" and req0.stream or nil

  local function finish_err(err, resp)
    err.validation = attempts
    err.usage = usage
    err.provider = err.provider or p.name
    err.model = err.model or req.model
    err.latency_ms = (now() - t0) * 1000
    -- The refused answer as text, for logs (never as data), as a failed
    -- stream gives what arrived.
    if resp then err.partial, err.partial_tool_calls = resp.content, resp.tool_calls end
    ctx.req = req0
    return nil, err
  end

  while true do
    local n = #attempts + 1
    if #extra > 0 then
      local msgs = {}
      for i = 1, #asked do msgs[i] = asked[i] end
      for i = 1, #extra do msgs[#asked + i] = extra[i] end
      req.messages = msgs
    end
    ctx.req = req
    local resp, err = send(ctx)
    if not resp then
      if #attempts > 0 or err.usage then
        usage = add_usage(usage, err.usage)
        return finish_err(err)
      end
      ctx.req = req0
      return nil, err
    end
    usage = add_usage(usage, resp.usage)
    local v = judge(resp, spec, where)
    attempts[n] = { attempt = n, ok = v.ok, errors = v.errors, source = v.source, repaired = v.repaired,
      finish_reason = resp.finish_reason, usage = resp.usage, latency_ms = resp.latency_ms }
    if v.ok then
      if v.answer then
        -- The answer tool's call is keel's device, not the model's: the
        -- caller sees its input as content, and resp.message carries no
        -- call that would need a tool result in the next turn.
        resp.content = v.answer.arguments
        resp.tool_calls = #v.others > 0 and v.others or nil
        if not resp.tool_calls then resp.finish_reason = "stop" end
        resp.message = { role = "assistant", content = resp.content, tool_calls = resp.tool_calls,
          thinking_blocks = resp.thinking_blocks }
      end
      resp.data = v.data
      resp.validation = attempts
      resp.usage = usage
      resp.latency_ms = (now() - t0) * 1000
      ctx.req = req0
      return resp
    end
    if v.truncated then
      return finish_err(kerror.new("truncated", ("the answer from %s was cut off at max_tokens (finish_reason " ..
        "\"length\", attempt %d): raise max_tokens or ask for less"):format(p.name, n)), resp)
    end
    if v.filtered then
      return finish_err(kerror.new("content_filter", ("%s refused to answer (attempt %d): %s"):format(p.name, n,
        v.errors[1].message), { refusal = resp.refusal }), resp)
    end
    local reason
    if v.empty then
      if regenerated then
        return finish_err(kerror.new("invalid_output", ("%s returned no output, twice (attempt %d)"):format(
          p.name, n)), resp)
      end
      regenerated, reason = true, "regenerate"
    else
      if reasks >= spec.max_reasks then
        return finish_err(kerror.new("invalid_output", ("the answer from %s failed validation after %d " ..
          "attempt%s (%d re-ask%s); last errors: %s"):format(p.name, n, n == 1 and "" or "s", reasks,
          reasks == 1 and "" or "s", summary(v.errors))), resp)
      end
      reasks, reason = reasks + 1, "reask"
      local msgs = reask_messages(resp, v)
      for i = 1, #msgs do extra[#extra + 1] = msgs[i] end
    end
    if stream_fn then stream_fn { type = "retry", attempt = n + 1, reason = reason, errors = v.errors } end
  end
end

return M
