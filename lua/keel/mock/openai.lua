-- keel.mock.openai: OpenAI-shaped responses for the mock provider
-- (POST /v1/chat/completions, POST /v1/embeddings, error bodies).
-- Every builder takes the parsed request and the options table described in
-- keel.mock and returns a plan; see docs/mock.md.
local base = require "keel.mock.base"

local null, array = base.null, base.array
local M = {}

-- ---- errors -----------------------------------------------------------------------

local TYPES = { [429] = "requests" }
local CODES = { [401] = "invalid_api_key", [404] = "model_not_found", [429] = "rate_limit_exceeded" }
local MESSAGES = {
  [400] = "Invalid request.",
  [401] = "Incorrect API key provided: sk-mock. You can find your API key at " ..
    "https://platform.openai.com/account/api-keys.",
  [403] = "You are not allowed to sample from this model.",
  [404] = "The model `mock` does not exist or you do not have access to it.",
  [429] = "Rate limit reached for requests. Please try again in 1s.",
  [500] = "The server had an error while processing your request. Sorry about that!",
  [502] = "Bad gateway.",
  [503] = "The engine is currently overloaded, please try again later.",
}

--- error_body(status, message, fields) -> {error={message, type, param, code}}
--- fields: type, code, param override the defaults for the status.
function M.error_body(status, message, fields)
  fields = fields or {}
  local etype = fields.type or TYPES[status] or (status >= 500 and "server_error" or "invalid_request_error")
  return {
    error = {
      message = message or MESSAGES[status] or ("Mock error " .. tostring(status) .. "."),
      type = etype,
      param = fields.param or null,
      code = fields.code or CODES[status] or null,
    },
  }
end

--- error(status, message, fields) -> plan; fields as error_body plus
--- retry_after (a Retry-After header), headers, delay.
function M.error(status, message, fields)
  fields = fields or {}
  local plan = { status = status, json = M.error_body(status, message, fields), headers = {} }
  return base.finish(plan, {
    retry_after = fields.retry_after, headers = fields.headers, delay = fields.delay,
  })
end

-- Errors by kind, for X-Mock-Error and error_kind(): status, message, type, code, param.
M.ERRORS = {
  rate_limit = { 429, MESSAGES[429], "requests", "rate_limit_exceeded" },
  quota = { 429, "You exceeded your current quota, please check your plan and billing details.",
    "insufficient_quota", "insufficient_quota" },
  context_length = { 400, "This model's maximum context length is 128000 tokens. However, your messages " ..
    "resulted in 130000 tokens. Please reduce the length of the messages.",
    "invalid_request_error", "context_length_exceeded", "messages" },
  content_filter = { 400, "Your request was rejected as a result of our safety system.",
    "invalid_request_error", "content_policy_violation" },
  auth = { 401, MESSAGES[401], "invalid_request_error", "invalid_api_key" },
  permission = { 403, MESSAGES[403], "invalid_request_error" },
  not_found = { 404, MESSAGES[404], "invalid_request_error", "model_not_found", "model" },
  server = { 500, MESSAGES[500], "server_error" },
  overloaded = { 503, MESSAGES[503], "server_error" },
}

--- error_kind(kind, opts) -> plan | nil (unknown kind)
function M.error_kind(kind, o)
  local e = M.ERRORS[kind]
  if not e then return nil end
  o = o or {}
  return M.error(e[1], e[2], {
    type = e[3], code = e[4], param = e[5], retry_after = o.retry_after, headers = o.headers, delay = o.delay,
  })
end

local function bad_json(req)
  return M.error(400, "We could not parse the JSON body of your request. (HINT: This likely means you " ..
    "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent " ..
    "was not valid JSON.)" .. (req.json_error and (" " .. req.json_error) or ""))
end

local function missing(name)
  return M.error(400, ("Missing required parameter: '%s'."):format(name),
    { param = name, code = "missing_required_parameter" })
end

local function headers_for(req)
  return { ["x-request-id"] = "req_mock_" .. tostring(req.n or 0), ["openai-processing-ms"] = "1" }
end

-- ---- chat completions ---------------------------------------------------------------------

local FINISH = { end_turn = "stop", stop_sequence = "stop", max_tokens = "length", tool_use = "tool_calls",
  refusal = "content_filter" }

local function find_tool(tools, choice)
  local want = type(choice) == "table" and type(choice["function"]) == "table" and choice["function"].name
  for _, t in ipairs(tools) do
    local f = type(t) == "table" and t["function"]
    if type(f) == "table" and (not want or f.name == want) then return f end
  end
end

-- The prompt tokens the real API would report, when the request names an
-- OpenAI model keel knows and its vocabulary is at hand (keel.tokens is
-- exact for those); nil otherwise (the mock then counts words), so a demo
-- against the mock shows the same count keel makes before sending.
local function exact_prompt(body)
  local ok, n = pcall(function()
    local tokens = require "keel.tokens"
    local r = tokens.rules(body.model)
    if r.estimated then return nil end
    return (tokens.count_messages(body.messages, body.model, { tools = body.tools }))
  end)
  return ok and n or nil
end

-- Decides the reply: {content=string|nil, tool_calls=list|nil, finish=,
-- prompt_tokens=, completion_tokens=}. Deterministic in the request.
function M.compose(req, o)
  o = o or {}
  local body = req.json
  local msgs = body.messages
  local prompt = 0
  local user_text = ""
  for i = 1, #msgs do
    local m = msgs[i]
    if type(m) == "table" then
      prompt = prompt + base.words(base.text_of(m.content))
      if m.role == "user" then user_text = base.text_of(m.content) end
    end
  end
  local last = msgs[#msgs]
  local after_tool = type(last) == "table" and last.role == "tool"
  local r = { prompt_tokens = exact_prompt(body) or (prompt > 0 and prompt or 1) }

  local calls
  if type(o.tool_calls) == "table" then
    calls = o.tool_calls
  elseif o.tool_calls ~= false and o.content == nil and not after_tool and type(body.tools) == "table"
    and body.tool_choice ~= "none" then
    local f = find_tool(body.tools, body.tool_choice)
    if f then calls = { { name = f.name, arguments = base.from_schema(f.parameters or {}, f.name) } } end
  end
  if calls and #calls > 0 then
    r.tool_calls, r.completion_tokens = {}, 0
    for i, c in ipairs(calls) do
      local args = c.arguments
      if type(args) ~= "string" then args = base.encode(args or {}) end
      r.tool_calls[i] = { id = c.id or ("call_mock_%d_%d"):format(req.n or 0, i), name = c.name, arguments = args }
      r.completion_tokens = r.completion_tokens + math.floor((#args + 3) / 4)
    end
    r.finish = o.finish_reason and (FINISH[o.finish_reason] or o.finish_reason) or "tool_calls"
    return r
  end

  local text = o.content
  if text == nil then
    local rf = type(body.response_format) == "table" and body.response_format or {}
    if after_tool then
      text = base.reply_text(base.text_of(last.content), "Mock reply to tool result: ")
    elseif rf.type == "json_schema" and type(rf.json_schema) == "table" then
      text = base.encode(base.from_schema(rf.json_schema.schema or {}, rf.json_schema.name))
    elseif rf.type == "json_object" then
      text = base.encode({ reply = base.reply_text(user_text) })
    else
      text = base.reply_text(user_text)
    end
  end
  local finish = "stop"
  text = base.stop_at(text, body.stop)
  local forced
  text, forced = base.limit(text, tonumber(body.max_completion_tokens or body.max_tokens),
    o.finish_reason and (FINISH[o.finish_reason] or o.finish_reason), "length")
  finish = forced or finish
  r.content, r.finish, r.completion_tokens = text, finish, base.words(text)
  return r
end

local function usage_of(r, o)
  local u = {
    prompt_tokens = r.prompt_tokens,
    completion_tokens = r.completion_tokens,
    total_tokens = r.prompt_tokens + r.completion_tokens,
    prompt_tokens_details = { cached_tokens = 0, audio_tokens = 0 },
    completion_tokens_details = { reasoning_tokens = 0, audio_tokens = 0,
      accepted_prediction_tokens = 0, rejected_prediction_tokens = 0 },
  }
  return base.merge(u, o.usage)
end

-- Checks the request; returns an error plan, or nil when it can be served.
local function check_chat(req)
  local body = req.json
  if type(body) ~= "table" then return bad_json(req) end
  if body.model == nil then return M.error(400, "you must provide a model parameter") end
  if type(body.messages) ~= "table" then return missing("messages") end
  if #body.messages == 0 then
    return M.error(400, "[] is too short - 'messages'", { param = "messages", code = "empty_array" })
  end
end

--- completion(req, opts) -> the chat.completion object (a table)
function M.completion(req, o)
  o = o or {}
  local r = M.compose(req, o)
  local message = { role = "assistant", content = r.content or null, refusal = null }
  if r.tool_calls then
    local tcs = array()
    for i, c in ipairs(r.tool_calls) do
      tcs[i] = { id = c.id, type = "function", ["function"] = { name = c.name, arguments = c.arguments } }
    end
    message.tool_calls = tcs
  end
  return {
    id = "chatcmpl-mock" .. tostring(req.n or 0),
    object = "chat.completion",
    created = os.time(),
    model = o.model or req.json.model,
    choices = array { { index = 0, message = message, logprobs = null, finish_reason = r.finish } },
    usage = usage_of(r, o),
    service_tier = "default",
    system_fingerprint = "fp_mock",
  }
end

--- stream_chunks(req, opts) -> array of chat.completion.chunk objects, as
--- OpenAI streams them: role first, content in several deltas (tool-call
--- arguments in several fragments), a finish chunk, and with
--- stream_options.include_usage a last chunk with "choices": [] and usage.
function M.stream_chunks(req, o)
  o = o or {}
  local body = req.json
  local r = M.compose(req, o)
  local id, created, model = "chatcmpl-mock" .. tostring(req.n or 0), os.time(), o.model or body.model
  local include_usage = type(body.stream_options) == "table" and body.stream_options.include_usage == true
  local out = {}
  local function chunk(delta, finish)
    local c = {
      id = id, object = "chat.completion.chunk", created = created, model = model,
      system_fingerprint = "fp_mock",
      choices = array { { index = 0, delta = delta, logprobs = null, finish_reason = finish or null } },
    }
    if include_usage then c.usage = null end
    out[#out + 1] = c
  end
  if r.tool_calls then
    for i, c in ipairs(r.tool_calls) do
      local head = { index = i - 1, id = c.id, type = "function", ["function"] = { name = c.name, arguments = "" } }
      if i == 1 then
        chunk({ role = "assistant", content = null, refusal = null, tool_calls = array { head } })
      else
        chunk({ tool_calls = array { head } })
      end
      local size = math.max(8, math.ceil(#c.arguments / 16))
      for _, piece in ipairs(base.split(c.arguments, size)) do
        chunk({ tool_calls = array { { index = i - 1, ["function"] = { arguments = piece } } } })
      end
    end
  else
    chunk({ role = "assistant", content = "", refusal = null })
    for _, p in ipairs(base.pieces(r.content)) do chunk({ content = p }) end
  end
  chunk({}, r.finish)
  if include_usage then
    out[#out + 1] = {
      id = id, object = "chat.completion.chunk", created = created, model = model,
      system_fingerprint = "fp_mock", choices = array(), usage = usage_of(r, o),
    }
  end
  return out
end

M.DONE = "data: [DONE]\n\n"

--- stream_error(message): the error event OpenAI sends mid-stream.
function M.stream_error(message)
  return base.sse(nil, M.error_body(500, message or "The server had an error while processing your request."))
end

--- chat(req, opts) -> plan: a chat.completion, or an SSE stream when the
--- request (or opts.stream) says stream; 400 for a bad request.
function M.chat(req, o)
  o = o or {}
  local err = check_chat(req)
  if err then return base.shape(err, { delay = o.delay }) end
  local stream = o.stream
  if stream == nil then stream = req.json.stream == true end
  if stream and not o.body_bytes then
    local events = {}
    for i, c in ipairs(M.stream_chunks(req, o)) do events[i] = { data = c } end
    return base.stream_plan(events, o, M.DONE, M.stream_error(), headers_for(req))
  end
  return base.body_plan(M.completion(req, o), o, headers_for(req), function(obj)
    obj.choices[1].message.content = base.FILL
  end)
end

-- ---- embeddings --------------------------------------------------------------------------

--- embeddings(req, opts) -> plan: one deterministic unit vector per input
--- string (a hash of it seeds the numbers); dimensions from the request or
--- opts.dimensions, default 8. Token-array inputs are hashed as their text.
function M.embeddings(req, o)
  o = o or {}
  local body = req.json
  if type(body) ~= "table" then return bad_json(req) end
  if body.model == nil then return M.error(400, "you must provide a model parameter") end
  local input = body.input
  if input == nil then return missing("input") end
  local list = type(input) == "table" and input or { input }
  if #list == 0 then return M.error(400, "'input' : input must be a non-empty list", { param = "input" }) end
  local dims = tonumber(body.dimensions or o.dimensions or 8)
  if not dims or dims < 1 or dims > 4096 or dims % 1 ~= 0 then
    return M.error(400, "Invalid value for 'dimensions': must be an integer between 1 and 4096.",
      { param = "dimensions" })
  end
  local data, tokens = array(), 0
  for i, x in ipairs(list) do
    local s
    if type(x) == "string" then
      s = x
      tokens = tokens + math.max(1, base.words(x))
    elseif type(x) == "table" then
      local parts = {}
      for j, v in ipairs(x) do parts[j] = tostring(v) end
      s = table.concat(parts, " ")
      tokens = tokens + #parts
    elseif type(x) == "number" then
      s = tostring(x)
      tokens = tokens + 1
    else
      return M.error(400, ("Invalid type for 'input[%d]'."):format(i - 1), { param = "input" })
    end
    data[i] = { object = "embedding", index = i - 1, embedding = base.unit_vector(s, dims) }
  end
  local obj = {
    object = "list", data = data, model = o.model or body.model,
    usage = base.merge({ prompt_tokens = tokens, total_tokens = tokens }, o.usage),
  }
  return base.body_plan(obj, o, headers_for(req))
end

return M
