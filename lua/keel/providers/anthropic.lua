-- keel.providers.anthropic: the Anthropic Messages API, mapped to and from
-- keel's shape: the system prompt goes to its own field, max_tokens is always
-- sent (it is required), tool use is mapped both ways, stop_reason becomes
-- finish_reason. Same functions as keel.providers.openai.
local base = require "keel.providers.base"
local json = require "keel.json"

local int, str = base.int, base.str
local decode = json.decode
local concat = table.concat

local M = {
  name = "anthropic",
  default_base_url = "https://api.anthropic.com/v1",
  version = "2023-06-01",
  default_max_tokens = 4096,
  embeddings = false,
  structured_outputs = { tool = true }, -- a schema is always asked for as a forced tool
}

function M.headers(p)
  local h = { ["Content-Type"] = "application/json", Accept = "application/json",
    ["anthropic-version"] = p.anthropic_version or M.version }
  if p.api_key and p.api_key ~= "" then h["x-api-key"] = p.api_key end
  return h
end

-- ---- request -------------------------------------------------------------------------

-- OpenAI-style content parts → Anthropic blocks. Images: a data: URL becomes
-- a base64 source, any other URL a url source.
local function blocks_of(content)
  if type(content) == "string" then return content end
  if type(content) ~= "table" then return "" end
  local out = json.array {}
  for i = 1, #content do
    local part = content[i]
    local t = part.type
    if t == "text" then
      out[#out + 1] = { type = "text", text = part.text, cache_control = part.cache_control }
    elseif t == "image_url" then
      local url = type(part.image_url) == "table" and part.image_url.url or part.image_url
      local mt, data = tostring(url):match("^data:([^;,]+);base64,(.*)$")
      if mt then
        out[#out + 1] = { type = "image", source = { type = "base64", media_type = mt, data = data } }
      else
        out[#out + 1] = { type = "image", source = { type = "url", url = url } }
      end
    else
      out[#out + 1] = part -- already an Anthropic block (image, document, tool_result, ...)
    end
  end
  return out
end

local function as_blocks(content)
  local b = blocks_of(content)
  if type(b) == "string" then
    if b == "" then return json.array {} end
    return json.array { { type = "text", text = b } }
  end
  return b
end

local function input_of(call)
  if type(call.input) == "table" then return call.input end
  local args = call.arguments
  if type(call["function"]) == "table" then args = call["function"].arguments end
  if args == nil or args == "" then return {} end
  local v = decode(args)
  if type(v) ~= "table" then
    error(("keel: tool call %s has arguments that are not a JSON object"):format(tostring(call.id)), 0)
  end
  return v
end

local function append(msgs, role, blocks)
  local last = msgs[#msgs]
  -- Anthropic wants user and assistant turns to alternate: consecutive
  -- turns of one role (tool results then a user note) become one message.
  if last and last.role == role then
    for i = 1, #blocks do last.content[#last.content + 1] = blocks[i] end
  else
    msgs[#msgs + 1] = { role = role, content = json.array(blocks) }
  end
end

local function convert(messages, system)
  -- System text as blocks, so a cache_control breakpoint on a system part
  -- survives; plain text when there is none.
  local systems, cached, msgs = {}, false, {}
  if system then systems[1] = { type = "text", text = system } end
  for i = 1, #messages do
    local m = messages[i]
    local role = m.role
    if role == "system" or role == "developer" then
      local c = m.content
      if type(c) == "table" then
        for j = 1, #c do
          systems[#systems + 1] = { type = "text", text = c[j].text or "", cache_control = c[j].cache_control }
          if c[j].cache_control ~= nil then cached = true end
        end
      else
        systems[#systems + 1] = { type = "text", text = c }
      end
    elseif role == "tool" then
      append(msgs, "user", { { type = "tool_result", tool_use_id = m.tool_call_id, content = blocks_of(m.content),
        is_error = m.is_error } })
    elseif role == "assistant" then
      local blocks = json.array {}
      -- Thinking blocks go back first, signature intact: Anthropic requires
      -- them in a tool-use turn when extended thinking is on.
      if type(m.thinking_blocks) == "table" then
        for j = 1, #m.thinking_blocks do blocks[#blocks + 1] = m.thinking_blocks[j] end
      end
      local content = as_blocks(m.content)
      for j = 1, #content do blocks[#blocks + 1] = content[j] end
      local calls = m.tool_calls
      if type(calls) == "table" then
        for j = 1, #calls do
          local c = calls[j]
          local name = c.name or (type(c["function"]) == "table" and c["function"].name)
          blocks[#blocks + 1] = { type = "tool_use", id = c.id, name = name, input = input_of(c) }
        end
      end
      -- An assistant turn with nothing in it carries no information, and
      -- Anthropic refuses empty content.
      if #blocks > 0 then append(msgs, "assistant", blocks) end
    else
      append(msgs, "user", as_blocks(m.content))
    end
  end
  -- One-block text messages go back to the plain string form: shorter, and
  -- what Anthropic's own examples send.
  for i = 1, #msgs do
    local c = msgs[i].content
    if #c == 1 and c[1].type == "text" and c[1].cache_control == nil then msgs[i].content = c[1].text end
  end
  local sys
  if cached then
    sys = json.array(systems)
  elseif #systems > 0 then
    local texts = {}
    for i = 1, #systems do texts[i] = systems[i].text end
    sys = concat(texts, "\n\n")
  end
  return msgs, sys
end

local function tool_choice_of(tc, parallel)
  local out
  if tc == "auto" or tc == nil then out = { type = "auto" }
  elseif tc == "required" or tc == "any" then out = { type = "any" }
  elseif tc == "none" then out = { type = "none" }
  else out = { type = "tool", name = tc.name } end
  if parallel == false and out.type ~= "none" then out.disable_parallel_tool_use = true end
  return out
end

function M.chat_request(req, p)
  local msgs, system = convert(req.messages, req.system)
  local stop = req.stop
  if type(stop) == "string" then stop = { stop } end
  local body = {
    model = req.model,
    max_tokens = req.max_tokens or p.max_tokens or M.default_max_tokens,
    messages = msgs,
    system = system,
    temperature = req.temperature,
    top_p = req.top_p,
    stop_sequences = stop,
  }
  if req.user then body.metadata = { user_id = req.user } end
  if req.tools and #req.tools > 0 then
    local tools = {}
    for i = 1, #req.tools do
      local t = req.tools[i]
      tools[i] = { name = t.name, description = t.description, input_schema = t.parameters,
        cache_control = t.cache_control }
    end
    body.tools = tools
    if req.tool_choice or req.parallel_tool_calls == false then
      body.tool_choice = tool_choice_of(req.tool_choice, req.parallel_tool_calls)
    end
  end
  if req.stream then body.stream = true end
  if req.extra then for k, v in pairs(req.extra) do body[k] = v end end
  return "/messages", body
end

--- schema_request(req, spec, p) -> "tool": asks for an answer matching spec
--- (keel.structured) as the input of a tool named spec.name that the model
--- must call. A tool's input is always an object, so the schema must be one.
--- With the call's own tools the model must call one of them or the answer
--- tool (tool_choice any); with extended thinking, which refuses a forced
--- tool, it is asked in the system prompt and the text answer is read too.
function M.schema_request(req, spec, p)
  local v = spec.value
  if type(v) ~= "table" or not (v.type == "object" or (v.type == nil and v.properties ~= nil)) then
    error("keel: anthropic answers a schema as a tool's input, which is always an object: give a schema " ..
      "with type = \"object\" (a list goes in a property)", 0)
  end
  if req.tool_choice ~= nil then
    error("keel: tool_choice cannot be combined with schema on anthropic: keel chooses the answer tool", 0)
  end
  local tools = {}
  for i, t in ipairs(req.tools or {}) do
    if t.name == spec.name then
      error(("keel: schema_name '%s' is also the name of tools[%d]: choose another schema_name"):format(
        spec.name, i), 0)
    end
    tools[i] = t
  end
  tools[#tools + 1] = { name = spec.name, parameters = v,
    description = "Give your final answer as this tool's input, which must match its input schema." }
  req.tools = tools
  if type(req.extra) == "table" and req.extra.thinking ~= nil then
    req.tool_choice = "auto"
    local ask = ("Give your final answer by calling the tool %s."):format(spec.name)
    req.system = req.system and (req.system .. "\n\n" .. ask) or ask
  else
    req.tool_choice = #tools == 1 and { name = spec.name } or "required"
  end
  return "tool"
end

-- ---- response ------------------------------------------------------------------------

local FINISH = { end_turn = "stop", stop_sequence = "stop", max_tokens = "length", tool_use = "tool_calls",
  refusal = "content_filter", pause_turn = "stop", model_context_window_exceeded = "length" }

M.finish_reason = base.finish_mapper(FINISH)

-- Anthropic's input_tokens leave out cache reads and writes; keel's
-- input_tokens is every prompt token (as OpenAI counts), cached_tokens the
-- part read from the cache, cache_write_tokens the part written to it.
local function usage_of(u)
  if type(u) ~= "table" then
    local u0 = base.unreported_usage()
    u0.cache_write_tokens = 0
    return u0
  end
  local read, write = int(u.cache_read_input_tokens) or 0, int(u.cache_creation_input_tokens) or 0
  local input = (int(u.input_tokens) or 0) + read + write
  local output = int(u.output_tokens) or 0
  return { input_tokens = input, output_tokens = output, cached_tokens = read, reasoning_tokens = 0,
    total_tokens = input + output, cache_write_tokens = write }
end
M.usage = usage_of

local function tool_call(id, name, input, arguments)
  arguments = arguments or json.encode(input)
  if input == nil then
    local v = decode(arguments ~= "" and arguments or "{}")
    input = type(v) == "table" and v or nil
  end
  return { id = id, name = name, arguments = arguments, input = input }
end

function M.chat_response(obj, p)
  local content = obj.content
  if type(content) ~= "table" then return nil, base.bad_response(p.name, "no content in the response") end
  local text, reasoning, calls, thinking = {}, {}, nil, nil
  for i = 1, #content do
    local b = content[i]
    local t = type(b) == "table" and b.type
    if t == "text" then
      text[#text + 1] = str(b.text) or ""
    elseif t == "tool_use" then
      calls = calls or {}
      calls[#calls + 1] = tool_call(str(b.id), str(b.name), type(b.input) == "table" and b.input or {})
    elseif t == "thinking" or t == "redacted_thinking" then
      if t == "thinking" then reasoning[#reasoning + 1] = str(b.thinking) or "" end
      thinking = thinking or {}
      thinking[#thinking + 1] = b
    end
  end
  local resp = {
    id = str(obj.id),
    content = concat(text),
    model = str(obj.model),
    stop_reason = str(obj.stop_reason),
    finish_reason = M.finish_reason(obj.stop_reason),
    usage = usage_of(obj.usage),
    tool_calls = calls,
  }
  if #reasoning > 0 then resp.reasoning = concat(reasoning) end
  resp.thinking_blocks = thinking
  if not resp.finish_reason then return nil, base.bad_response(p.name, "no stop_reason in the response") end
  return resp
end

-- ---- streams ----------------------------------------------------------------------------

function M.stream_new(req, p)
  return { provider = p.name, text = {}, reasoning = {}, blocks = {}, calls = {}, thinking = {}, nraw = 0,
    done = false }
end

local KIND_BY_TYPE = { overloaded_error = "server", api_error = "server", rate_limit_error = "rate_limit",
  authentication_error = "auth", permission_error = "auth", invalid_request_error = "client",
  request_too_large = "client", not_found_error = "client", billing_error = "rate_limit",
  timeout_error = "timeout" }

local function assemble(st)
  local resp = base.stream_response(st, M.finish_reason, usage_of)
  if #st.reasoning > 0 then resp.reasoning = concat(st.reasoning) end
  if #st.thinking > 0 then
    local blocks = {}
    for i, tb in ipairs(st.thinking) do
      if tb.parts then tb.block.thinking = concat(tb.parts) end
      blocks[i] = tb.block
    end
    resp.thinking_blocks = blocks
  end
  if #st.calls > 0 then
    local tc = {}
    for i = 1, #st.calls do
      local c = st.calls[i]
      local args = concat(c.args)
      tc[i] = tool_call(c.id, c.name, nil, args ~= "" and args or "{}")
    end
    resp.tool_calls = tc
  end
  return resp
end

function M.stream_event(st, ev, emit)
  local t = ev.event
  if t == "ping" then return true end
  if st.done then return true end
  local obj = decode(ev.data)
  if type(obj) ~= "table" then
    return nil, base.bad_response(st.provider, "stream event is not JSON: " .. ev.data:sub(1, 80))
  end
  t = str(obj.type) or t
  st.nraw = st.nraw + 1
  st.first_raw = st.first_raw or obj
  st.last_raw = obj
  if t == "content_block_delta" then
    local d = obj.delta
    if type(d) ~= "table" then return true end
    local dt = d.type
    if dt == "text_delta" then
      local piece = str(d.text)
      if piece and piece ~= "" then
        st.text[#st.text + 1] = piece
        if emit then emit { type = "content", content = piece } end
      end
    elseif dt == "input_json_delta" then
      local call = st.blocks[int(obj.index) or -1]
      local piece = str(d.partial_json)
      if call and piece and piece ~= "" then
        call.args[#call.args + 1] = piece
        if emit then emit { type = "tool_call", index = call.n, arguments = piece } end
      end
    elseif dt == "thinking_delta" then
      local piece = str(d.thinking)
      if piece and piece ~= "" then
        st.reasoning[#st.reasoning + 1] = piece
        local tb = st.blocks[int(obj.index) or -1]
        if tb and tb.parts then tb.parts[#tb.parts + 1] = piece end
        if emit then emit { type = "reasoning", content = piece } end
      end
    elseif dt == "signature_delta" then
      local tb = st.blocks[int(obj.index) or -1]
      if tb and tb.parts then tb.block.signature = (tb.block.signature or "") .. (str(d.signature) or "") end
    end
  elseif t == "content_block_start" then
    local b = obj.content_block
    if type(b) == "table" and b.type == "tool_use" then
      local n = #st.calls + 1
      local call = { id = str(b.id), name = str(b.name), args = {}, n = n }
      st.calls[n] = call
      st.blocks[int(obj.index) or -1] = call
      if emit then emit { type = "tool_call", index = n, id = call.id, name = call.name, arguments = "" } end
    elseif type(b) == "table" and (b.type == "thinking" or b.type == "redacted_thinking") then
      -- Kept whole (signature, redacted data) for resp.message: the next
      -- turn must send them back unchanged.
      local block = {}
      for k, v in pairs(b) do block[k] = v end
      local tb = { block = block, parts = b.type == "thinking" and { str(b.thinking) or "" } or nil }
      st.blocks[int(obj.index) or -1] = tb
      st.thinking[#st.thinking + 1] = tb
    elseif type(b) == "table" and b.type == "text" and str(b.text) and b.text ~= "" then
      st.text[#st.text + 1] = b.text
      if emit then emit { type = "content", content = b.text } end
    end
  elseif t == "message_start" then
    local m = obj.message
    if type(m) == "table" then
      st.id, st.model = str(m.id), str(m.model)
      if type(m.usage) == "table" then
        local u = {}  -- a copy: message_delta updates it, raw stays as sent
        for k, v in pairs(m.usage) do u[k] = v end
        st.usage = u
      end
    end
  elseif t == "message_delta" then
    local d = obj.delta
    if type(d) == "table" and str(d.stop_reason) then st.stop_reason = d.stop_reason end
    local u = obj.usage
    if type(u) == "table" then
      -- message_delta's usage is cumulative: it overrides what message_start said.
      local cur = st.usage or {}
      for k, v in pairs(u) do if v ~= json.null then cur[k] = v end end
      st.usage = cur
    end
  elseif t == "message_stop" then
    st.done = true
  elseif t == "error" then
    local e = obj.error
    e = type(e) == "table" and e or {}
    return nil, base.event_error(st.provider, str(e.message), nil, str(e.type), KIND_BY_TYPE,
      { overloaded = e.type == "overloaded_error" or nil })
  end
  return true
end

function M.stream_finish(st)
  return assemble(st), st.done
end

-- ---- embeddings: Anthropic has no embeddings API --------------------------------------

function M.embed_request()
  error("keel: provider anthropic has no embeddings API (use an OpenAI-compatible provider)", 0)
end

-- ---- errors --------------------------------------------------------------------------------

local function detail(obj)
  local e = obj.error
  if type(e) == "table" then return str(e.message), nil, str(e.type) end
end

function M.error(status, headers, body, p)
  return base.http_error(p.name, status, headers, body, detail)
end

return M
