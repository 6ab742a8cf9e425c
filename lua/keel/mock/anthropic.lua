-- keel.mock.anthropic: Anthropic-shaped responses for the mock provider
-- (POST /v1/messages, streamed or not, error bodies and error events).
-- Every builder takes the parsed request and the options table described in
-- keel.mock and returns a plan; see docs/mock.md.
local base = require "keel.mock.base"

local null, array = base.null, base.array
local M = {}

-- ---- errors ----------------------------------------------------------------------------

local TYPES = {
  [400] = "invalid_request_error", [401] = "authentication_error", [402] = "billing_error",
  [403] = "permission_error", [404] = "not_found_error", [413] = "request_too_large",
  [429] = "rate_limit_error", [500] = "api_error", [504] = "timeout_error", [529] = "overloaded_error",
}
local MESSAGES = {
  [400] = "Invalid request.", [401] = "invalid x-api-key",
  [403] = "Your API key does not have permission to use the specified resource.",
  [404] = "Not found.", [413] = "Request exceeds the maximum allowed number of bytes.",
  [429] = "Number of request tokens has exceeded your per-minute rate limit.",
  [500] = "Internal server error", [504] = "Request timed out.", [529] = "Overloaded",
}

--- error_body(status, message, fields) -> {type="error", error={type, message}}
function M.error_body(status, message, fields)
  fields = fields or {}
  return {
    type = "error",
    error = {
      type = fields.type or TYPES[status] or (status >= 500 and "api_error" or "invalid_request_error"),
      message = message or MESSAGES[status] or ("Mock error " .. tostring(status) .. "."),
    },
  }
end

--- error(status, message, fields) -> plan; fields: type, retry_after, headers, delay.
function M.error(status, message, fields)
  fields = fields or {}
  local plan = { status = status, json = M.error_body(status, message, fields), headers = {} }
  return base.finish(plan, { retry_after = fields.retry_after, headers = fields.headers, delay = fields.delay })
end

-- Errors by kind, for X-Mock-Error and error_kind(): status, message, type.
M.ERRORS = {
  rate_limit = { 429, MESSAGES[429], "rate_limit_error" },
  quota = { 400, "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing " ..
    "to upgrade or purchase credits.", "invalid_request_error" },
  context_length = { 400, "prompt is too long: 210000 tokens > 200000 maximum", "invalid_request_error" },
  content_filter = { 400, "Output blocked by content filtering policy", "invalid_request_error" },
  auth = { 401, MESSAGES[401], "authentication_error" },
  permission = { 403, MESSAGES[403], "permission_error" },
  not_found = { 404, "model: mock", "not_found_error" },
  server = { 500, MESSAGES[500], "api_error" },
  overloaded = { 529, MESSAGES[529], "overloaded_error" },
}

function M.error_kind(kind, o)
  local e = M.ERRORS[kind]
  if not e then return nil end
  o = o or {}
  return M.error(e[1], e[2], { type = e[3], retry_after = o.retry_after, headers = o.headers, delay = o.delay })
end

local function headers_for(req)
  return { ["request-id"] = "req_mock_" .. tostring(req.n or 0) }
end

-- ---- messages -----------------------------------------------------------------------------

local STOP = { stop = "end_turn", length = "max_tokens", tool_calls = "tool_use", content_filter = "refusal" }

local function find_tool(tools, choice)
  local want = type(choice) == "table" and choice.type == "tool" and choice.name
  for _, t in ipairs(tools) do
    if type(t) == "table" and t.name and (not want or t.name == want) then return t end
  end
end

local function has_tool_result(content)
  if type(content) ~= "table" then return false end
  for _, b in ipairs(content) do
    if type(b) == "table" and b.type == "tool_result" then return true end
  end
  return false
end

-- Decides the reply: {content=text|nil, tool_uses=list|nil, stop=,
-- stop_sequence=, input_tokens=, output_tokens=}.
function M.compose(req, o)
  o = o or {}
  local body = req.json
  local msgs = body.messages
  local prompt = base.words(base.text_of(body.system))
  local user_text = ""
  for i = 1, #msgs do
    local m = msgs[i]
    if type(m) == "table" then
      prompt = prompt + base.words(base.text_of(m.content))
      if m.role == "user" and not has_tool_result(m.content) then user_text = base.text_of(m.content) end
    end
  end
  local last = msgs[#msgs]
  local after_tool = type(last) == "table" and has_tool_result(last.content)
  local r = { input_tokens = prompt > 0 and prompt or 1, stop_sequence = null }

  local calls
  local choice = body.tool_choice
  if type(o.tool_calls) == "table" then
    calls = o.tool_calls
  elseif o.tool_calls ~= false and o.content == nil and not after_tool and type(body.tools) == "table"
    and not (type(choice) == "table" and choice.type == "none") then
    local t = find_tool(body.tools, choice)
    if t then calls = { { name = t.name, arguments = base.from_schema(t.input_schema or {}, t.name) } } end
  end
  if calls and #calls > 0 then
    r.tool_uses, r.output_tokens = {}, 0
    for i, c in ipairs(calls) do
      local input = c.arguments
      if type(input) == "string" then input = base.decode(input) or {} end
      local json = base.encode(input or {})
      r.tool_uses[i] = { id = c.id or ("toolu_mock_%d_%d"):format(req.n or 0, i), name = c.name,
        input = input or {}, json = json }
      r.output_tokens = r.output_tokens + math.floor((#json + 3) / 4)
    end
    r.stop = o.finish_reason and (STOP[o.finish_reason] or o.finish_reason) or "tool_use"
    return r
  end

  local text = o.content
  if text == nil then
    if after_tool then
      text = base.reply_text(base.text_of(last.content), "Mock reply to tool result: ")
    else
      text = base.reply_text(user_text)
    end
  end
  local stop, seq = "end_turn", nil
  text, seq = base.stop_at(text, body.stop_sequences)
  if seq then stop, r.stop_sequence = "stop_sequence", seq end
  local forced, limited
  text, forced, limited = base.limit(text, tonumber(body.max_tokens),
    o.finish_reason and (STOP[o.finish_reason] or o.finish_reason), "max_tokens")
  if limited then r.stop_sequence = null end
  stop = forced or stop
  r.content, r.stop, r.output_tokens = text, stop, base.words(text)
  return r
end

local function usage_of(r, o, output_tokens)
  local u = {
    input_tokens = r.input_tokens,
    output_tokens = output_tokens or r.output_tokens,
    cache_creation_input_tokens = 0,
    cache_read_input_tokens = 0,
  }
  return base.merge(u, o.usage)
end

-- Checks the request as the real API does; an error plan or nil.
local function check(req)
  local body = req.json
  if type(body) ~= "table" then
    return M.error(400, "There was an error parsing the body of your request. " ..
      (req.json_error or "The body is not valid JSON."))
  end
  if body.model == nil then return M.error(400, "model: Field required") end
  if body.max_tokens == nil then return M.error(400, "max_tokens: Field required") end
  if type(body.max_tokens) ~= "number" then return M.error(400, "max_tokens: Input should be a valid integer") end
  if body.messages == nil then return M.error(400, "messages: Field required") end
  if type(body.messages) ~= "table" or #body.messages == 0 then
    return M.error(400, "messages: at least one message is required")
  end
end

--- message_object(req, opts) -> the "message" object (a table)
function M.message_object(req, o)
  o = o or {}
  local r = M.compose(req, o)
  local content = array()
  if r.tool_uses then
    for i, t in ipairs(r.tool_uses) do content[i] = { type = "tool_use", id = t.id, name = t.name, input = t.input } end
  else
    content[1] = { type = "text", text = r.content }
  end
  return {
    id = "msg_mock_" .. tostring(req.n or 0),
    type = "message",
    role = "assistant",
    model = o.model or req.json.model,
    content = content,
    stop_reason = r.stop,
    stop_sequence = r.stop_sequence,
    usage = usage_of(r, o),
  }
end

--- stream_events(req, opts) -> array of {event=name, data=table}:
--- message_start, content_block_start, ping, content_block_delta (text_delta
--- per word, or input_json_delta fragments), content_block_stop,
--- message_delta, message_stop.
function M.stream_events(req, o)
  o = o or {}
  local r = M.compose(req, o)
  local ev = {}
  local function add(name, data) ev[#ev + 1] = { event = name, data = data } end
  add("message_start", { type = "message_start", message = {
    id = "msg_mock_" .. tostring(req.n or 0), type = "message", role = "assistant", content = array(),
    model = o.model or req.json.model, stop_reason = null, stop_sequence = null, usage = usage_of(r, o, 1),
  } })
  if r.tool_uses then
    for i, t in ipairs(r.tool_uses) do
      add("content_block_start", { type = "content_block_start", index = i - 1,
        content_block = { type = "tool_use", id = t.id, name = t.name, input = {} } })
      if i == 1 then add("ping", { type = "ping" }) end
      local pieces = base.split(t.json, math.max(8, math.ceil(#t.json / 16)))
      table.insert(pieces, 1, "")
      for _, p in ipairs(pieces) do
        add("content_block_delta", { type = "content_block_delta", index = i - 1,
          delta = { type = "input_json_delta", partial_json = p } })
      end
      add("content_block_stop", { type = "content_block_stop", index = i - 1 })
    end
  else
    add("content_block_start", { type = "content_block_start", index = 0,
      content_block = { type = "text", text = "" } })
    add("ping", { type = "ping" })
    for _, p in ipairs(base.pieces(r.content)) do
      add("content_block_delta", { type = "content_block_delta", index = 0, delta = { type = "text_delta", text = p } })
    end
    add("content_block_stop", { type = "content_block_stop", index = 0 })
  end
  add("message_delta", { type = "message_delta", delta = { stop_reason = r.stop, stop_sequence = r.stop_sequence },
    usage = { output_tokens = usage_of(r, o).output_tokens } }) -- opts.usage counts here too
  add("message_stop", { type = "message_stop" })
  return ev
end

--- stream_error(type, message): an `event: error` SSE string.
function M.stream_error(etype, message)
  etype = etype or "overloaded_error"
  return base.sse("error", { type = "error", error = { type = etype, message = message or "Overloaded" } })
end

--- message(req, opts) -> plan: a message, or an SSE stream when the request
--- (or opts.stream) says stream; 400 invalid_request_error for a bad request.
function M.message(req, o)
  o = o or {}
  local err = check(req)
  if err then return base.shape(err, { delay = o.delay }) end
  local stream = o.stream
  if stream == nil then stream = req.json.stream == true end
  if stream and not o.body_bytes then
    return base.stream_plan(M.stream_events(req, o), o, nil, M.stream_error(), headers_for(req))
  end
  return base.body_plan(M.message_object(req, o), o, headers_for(req), function(obj)
    obj.content = array { { type = "text", text = base.FILL } }
  end)
end

return M
