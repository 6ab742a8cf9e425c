-- keel.providers.openai: OpenAI chat completions and embeddings, and every
-- server that speaks them (Ollama, llama.cpp, vLLM, ...) through base_url.
--
-- Every provider file has the same functions (see keel.providers):
--   headers(p), chat_request(req, p), chat_response(obj, p),
--   stream_new(req, p), stream_event(st, ev, emit), stream_finish(st),
--   embed_request(req, p), embed_response(obj, p), error(status, headers, body, p)
-- req is keel's request after the client merged task settings into it; p is
-- the provider's settings from the client or the config file.
local base = require "keel.providers.base"
local json = require "keel.json"

local int, str, is_null = base.int, base.str, base.is_null
local decode = json.decode
local concat = table.concat

local M = {
  name = "openai",
  default_base_url = "https://api.openai.com/v1",
  embeddings = true,
  -- The provider setting structured_output: how a schema is asked for
  -- (schema_request below); json_schema unless the server lacks it.
  structured_outputs = { json_schema = true, json_object = true, prompt = true },
}

function M.headers(p)
  local h = { ["Content-Type"] = "application/json", Accept = "application/json" }
  if p.api_key and p.api_key ~= "" then h.Authorization = "Bearer " .. p.api_key end
  if p.organization then h["OpenAI-Organization"] = p.organization end
  if p.project then h["OpenAI-Project"] = p.project end
  return h
end

-- OpenAI renamed max_tokens to max_completion_tokens (and its reasoning
-- models refuse the old name); compatible servers mostly know only the old
-- one. The provider setting max_tokens_field overrides the guess.
function M.max_tokens_field(p)
  if p.max_tokens_field then return p.max_tokens_field end
  local url = p.base_url or M.default_base_url
  if url:find("^https://api%.openai%.com/") then return "max_completion_tokens" end
  return "max_tokens"
end

-- Tools arrive in keel's form {name, description, parameters, strict}
-- (normalized by the client); OpenAI wants them wrapped.
local function tools_of(tools)
  local out = {}
  for i = 1, #tools do
    local t = tools[i]
    out[i] = { type = "function", ["function"] = {
      name = t.name, description = t.description, parameters = t.parameters, strict = t.strict } }
  end
  return out
end

local function tool_choice_of(tc)
  if type(tc) == "string" then return tc end             -- auto | none | required
  return { type = "function", ["function"] = { name = tc.name } }
end

-- An assistant message given back in keel's shape (resp.message, with
-- tool_calls {id, name, arguments}) becomes OpenAI's shape.
local function message_of(m)
  local calls = m.tool_calls
  if type(calls) ~= "table" or #calls == 0 or calls[1]["function"] then return m end
  local out = {}
  for k, v in pairs(m) do out[k] = v end
  local tc = {}
  for i = 1, #calls do
    local c = calls[i]
    tc[i] = { id = c.id, type = "function", ["function"] = {
      name = c.name, arguments = c.arguments or json.encode(c.input or {}) } }
  end
  out.tool_calls = tc
  if out.content == nil then out.content = json.null end
  return out
end

-- A tool result as keel writes it for both APIs: is_error is Anthropic's
-- field, and OpenAI refuses a message with a field it does not know.
local function tool_message_of(m)
  local out = {}
  for k, v in pairs(m) do if k ~= "is_error" then out[k] = v end end
  return out
end

function M.chat_request(req, p)
  local msgs, n = {}, 0
  if req.system then
    n = 1
    msgs[1] = { role = "system", content = req.system }
  end
  local src = req.messages
  for i = 1, #src do
    local m = src[i]
    n = n + 1
    if m.tool_calls then
      m = message_of(m)
    elseif m.is_error ~= nil and m.role == "tool" then
      m = tool_message_of(m)
    end
    msgs[n] = m
  end
  local body = {
    model = req.model,
    messages = msgs,
    temperature = req.temperature,
    top_p = req.top_p,
    stop = req.stop,
    seed = req.seed,
    user = req.user,
    presence_penalty = req.presence_penalty,
    frequency_penalty = req.frequency_penalty,
    response_format = req.response_format,
    parallel_tool_calls = req.parallel_tool_calls,
  }
  local max = req.max_tokens or p.max_tokens
  if max then body[M.max_tokens_field(p)] = max end
  if req.tools and #req.tools > 0 then body.tools = tools_of(req.tools) end
  if req.tool_choice then body.tool_choice = tool_choice_of(req.tool_choice) end
  if req.stream then
    body.stream = true
    body.stream_options = { include_usage = true } -- honest usage, always
  end
  if req.extra then for k, v in pairs(req.extra) do body[k] = v end end
  return "/chat/completions", body
end

--- schema_request(req, spec, p) -> "content": asks for an answer matching
--- spec (keel.structured) on a copy of the request. json_schema: OpenAI's
--- response_format, strict when the schema is in the strict subset (or the
--- call says strict=); json_object, for compatible servers without
--- json_schema, and prompt, for servers with neither: the schema goes in the
--- system prompt (json_object mode also needs the word JSON there).
function M.schema_request(req, spec, p)
  local mode = p.structured_output or "json_schema"
  if mode == "json_schema" then
    req.response_format = { type = "json_schema",
      json_schema = { name = spec.name, schema = spec.value, strict = spec.strict } }
  else
    if mode == "json_object" then req.response_format = { type = "json_object" } end
    req.system = req.system and (req.system .. "\n\n" .. spec.instruction) or spec.instruction
  end
  return "content"
end

local FINISH = { stop = "stop", length = "length", tool_calls = "tool_calls", function_call = "tool_calls",
  content_filter = "content_filter", eos = "stop", eos_token = "stop", stop_sequence = "stop" }

M.finish_reason = base.finish_mapper(FINISH)

local function usage_of(u)
  if type(u) ~= "table" then
    return base.unreported_usage()
  end
  local pd, cd = u.prompt_tokens_details, u.completion_tokens_details
  local input, output = int(u.prompt_tokens) or 0, int(u.completion_tokens) or 0
  return {
    input_tokens = input,
    output_tokens = output,
    cached_tokens = type(pd) == "table" and int(pd.cached_tokens) or 0,
    reasoning_tokens = type(cd) == "table" and int(cd.reasoning_tokens) or 0,
    total_tokens = int(u.total_tokens) or input + output,
  }
end
M.usage = usage_of

local function tool_call(id, name, arguments)
  local input = decode(arguments)
  return { id = id, name = name, arguments = arguments, input = type(input) == "table" and input or nil }
end

function M.chat_response(obj, p)
  local choices = obj.choices
  local choice = type(choices) == "table" and choices[1]
  if type(choice) ~= "table" then return nil, base.bad_response(p.name, "no choices[0] in the response") end
  local msg = choice.message
  if type(msg) ~= "table" then return nil, base.bad_response(p.name, "no choices[0].message in the response") end
  local resp = {
    id = str(obj.id),
    content = str(msg.content) or "",
    model = str(obj.model),
    stop_reason = str(choice.finish_reason),
    finish_reason = M.finish_reason(choice.finish_reason),
    usage = usage_of(obj.usage),
    reasoning = str(msg.reasoning_content) or str(msg.reasoning),
    -- set later here or by the client: sized once
    tool_calls = nil, refusal = nil, raw = nil, provider = nil, latency_ms = nil, status = nil,
    request_id = nil, message = nil,
  }
  local calls = msg.tool_calls
  if type(calls) == "table" and #calls > 0 then
    local tc = {}
    for i = 1, #calls do
      local c = calls[i]
      local f = type(c) == "table" and c["function"]
      if type(f) ~= "table" then return nil, base.bad_response(p.name, "tool call without a function") end
      tc[i] = tool_call(str(c.id), str(f.name), str(f.arguments) or "")
    end
    resp.tool_calls = tc
  elseif type(msg.function_call) == "table" then
    local f = msg.function_call
    resp.tool_calls = { tool_call(nil, str(f.name), str(f.arguments) or "") }
  end
  local refusal = str(msg.refusal)
  if refusal then
    resp.refusal = refusal
    if resp.content == "" then resp.finish_reason = "content_filter" end
  end
  if not resp.finish_reason then
    return nil, base.bad_response(p.name, "no finish_reason in the response")
  end
  return resp
end

-- ---- streams ---------------------------------------------------------------------

function M.stream_new(req, p)
  return { provider = p.name, text = {}, reasoning = {}, calls = {}, ncalls = 0, nraw = 0, done = false }
end

-- The state after a stream: the response as far as it got.
local function assemble(st)
  local resp = base.stream_response(st, M.finish_reason, usage_of)
  if #st.reasoning > 0 then resp.reasoning = concat(st.reasoning) end
  if st.ncalls > 0 then
    local tc = {}
    for i = 1, st.ncalls do
      local c = st.calls[i]
      if c then tc[#tc + 1] = tool_call(c.id, c.name, concat(c.args)) end
    end
    resp.tool_calls = tc
  end
  if st.refusal then
    resp.refusal = concat(st.refusal)
    if resp.content == "" then resp.finish_reason = "content_filter" end
  end
  return resp
end

-- Stream error events carry OpenAI's error types, without a status.
local KIND_BY_TYPE = { server_error = "server", rate_limit_exceeded = "rate_limit", requests = "rate_limit",
  tokens = "rate_limit", invalid_request_error = "client", authentication_error = "auth" }

--- stream_event(st, ev, emit) -> true | nil, err. emit(delta) hands a
--- normalized delta to the caller's stream function.
function M.stream_event(st, ev, emit)
  local data = ev.data
  if data == "[DONE]" then
    st.done = true
    return true
  end
  if st.done then return true end -- nothing counts after the terminal event
  local obj = decode(data)
  if type(obj) ~= "table" then
    return nil, base.bad_response(st.provider, "stream event is not JSON: " .. data:sub(1, 80))
  end
  st.nraw = st.nraw + 1
  st.first_raw = st.first_raw or obj
  st.last_raw = obj
  local e = obj.error
  if type(e) == "table" then
    return nil, base.event_error(st.provider, str(e.message), str(e.code), str(e.type), KIND_BY_TYPE)
  end
  -- Azure's first chunk (prompt_filter_results) has "" for both: keep the
  -- first real ones.
  if not st.id and obj.id ~= "" then st.id = str(obj.id) end
  if not st.model and obj.model ~= "" then st.model = str(obj.model) end
  if type(obj.usage) == "table" then st.usage = obj.usage end
  local choice = type(obj.choices) == "table" and obj.choices[1]
  if type(choice) ~= "table" then return true end -- the usage chunk has no choices
  local d = choice.delta
  if type(d) == "table" then
    local piece = d.content
    if type(piece) == "string" and piece ~= "" then
      st.text[#st.text + 1] = piece
      if emit then emit { type = "content", content = piece } end
    end
    local r = str(d.reasoning_content) or str(d.reasoning)
    if r and r ~= "" then
      st.reasoning[#st.reasoning + 1] = r
      if emit then emit { type = "reasoning", content = r } end
    end
    if type(d.refusal) == "string" then
      st.refusal = st.refusal or {}
      st.refusal[#st.refusal + 1] = d.refusal
    end
    local calls = d.tool_calls
    if type(calls) == "table" then
      for i = 1, #calls do
        local c = calls[i]
        local idx = (int(c.index) or (i - 1)) + 1
        local f = type(c["function"]) == "table" and c["function"] or {}
        local cur = st.calls[idx]
        if not cur then
          cur = { args = {} }
          st.calls[idx] = cur
          if idx > st.ncalls then st.ncalls = idx end
        end
        local id, name, args = str(c.id), str(f.name), str(f.arguments)
        if id then cur.id = id end
        if name then cur.name = (cur.name or "") .. name end
        if args and args ~= "" then cur.args[#cur.args + 1] = args end
        if emit and (id or name or (args and args ~= "")) then
          emit { type = "tool_call", index = idx, id = id, name = name, arguments = args or "" }
        end
      end
    end
  end
  local fr = choice.finish_reason
  if type(fr) == "string" then st.stop_reason = fr end
  return true
end

--- stream_finish(st) -> resp, complete: what arrived, and whether the
--- terminal event did (the client turns the rest into errors).
function M.stream_finish(st)
  return assemble(st), st.done
end

-- ---- embeddings --------------------------------------------------------------------

function M.embed_request(req, p)
  local body = { model = req.model, input = req.input, dimensions = req.dimensions, user = req.user,
    encoding_format = "float" }
  if req.extra then for k, v in pairs(req.extra) do body[k] = v end end
  return "/embeddings", body
end

function M.embed_response(obj, p)
  local data = obj.data
  if type(data) ~= "table" then return nil, base.bad_response(p.name, "no data in the embeddings response") end
  local vectors = {}
  for i = 1, #data do
    local d = data[i]
    local v = type(d) == "table" and d.embedding
    if type(v) ~= "table" then return nil, base.bad_response(p.name, "embedding " .. (i - 1) .. " is not an array") end
    local at = (int(d.index) or (i - 1)) + 1
    vectors[at] = v
  end
  for i = 1, #data do
    if not vectors[i] then return nil, base.bad_response(p.name, "embedding indexes are not 0.." .. (#data - 1)) end
  end
  local u = obj.usage
  local input = type(u) == "table" and int(u.prompt_tokens) or 0
  return {
    vectors = vectors,
    model = str(obj.model),
    usage = { input_tokens = input, output_tokens = 0, cached_tokens = 0, reasoning_tokens = 0,
      total_tokens = type(u) == "table" and int(u.total_tokens) or input, reported = type(u) == "table" or nil },
  }
end

-- ---- errors ---------------------------------------------------------------------------

local function detail(obj)
  local e = obj.error
  if type(e) == "table" then
    return str(e.message), str(e.code) or (type(e.code) == "number" and tostring(int(e.code)) or nil), str(e.type)
  end
  if type(e) == "string" then return e end   -- Ollama and llama.cpp: {"error": "text"}
  if type(obj.message) == "string" then  -- vLLM: {"object": "error", "message", "type", "code": 400}
    return obj.message, str(obj.code) or (type(obj.code) == "number" and tostring(int(obj.code)) or nil), str(obj.type)
  end
end

function M.error(status, headers, body, p)
  return base.http_error(p.name, status, headers, body, detail)
end

return M
