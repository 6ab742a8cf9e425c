-- keel.client: the call API. A client holds providers (each with its own
-- connection pool), models and tasks, and runs each call through a list of
-- stages (DESIGN.md, "The shape of one call"); today the stages are route
-- and send, and client:use() inserts more.
--
--   local client = keel.client{ provider = "openai", model = "gpt-4o-mini" }
--   local client = keel.client(keel.config.load("keel.yaml"))
--   local resp, err = client:chat{ messages = {...}, stream = function(d) ... end }
--   local resp, err = client:task("sentiment"):chat{ prompt = "..." }
--   local emb, err = client:embed{ input = {"a", "b"} }
local http = require "keel.http"
local json = require "keel.json"
local kerror = require "keel.error"
local core = require "keel.core"
local base = require "keel.providers.base"
local structured = require "keel.structured"

local now = core.now
local encode, decode = json.encode, json.decode

local M = {}

M.providers = {
  openai = require "keel.providers.openai",
  anthropic = require "keel.providers.anthropic",
}

-- Environment defaults, used only for a provider's official endpoint: an
-- OpenAI key is never sent to a base_url the user named for another server.
local ENV = {
  openai = { key = "OPENAI_API_KEY", base_url = "OPENAI_BASE_URL" },
  anthropic = { key = "ANTHROPIC_API_KEY", base_url = "ANTHROPIC_BASE_URL" },
}

-- Settings of one provider (keel.client{...} or the config's providers:).
M.PROVIDER_KEYS = {
  type = "string", base_url = "string", api_key = "string", headers = "table",
  timeout = "number", connect_timeout = "number", idle_timeout = "number",
  max_tokens_field = "string", organization = "string", project = "string",
  anthropic_version = "string", max_tokens = "number", http = "table", structured_output = "string",
}
-- Set by keel.config when api_key's variable is unset: raised on first use.
local INTERNAL = { api_key_error = true }
-- Options of one chat call; tasks may set the same ones (but not messages).
M.CHAT_KEYS = {
  messages = "table", prompt = "string", system = "string", model = "string",
  max_tokens = "number", temperature = "number", top_p = "number", stop = "string|table",
  seed = "number", user = "string", tools = "table", tool_choice = "string|table",
  parallel_tool_calls = "boolean", response_format = "table", presence_penalty = "number",
  frequency_penalty = "number", stream = "function|boolean", headers = "table", timeout = "number",
  connect_timeout = "number", idle_timeout = "number", extra = "table",
  -- structured output (keel.structured)
  schema = "table|string", schema_name = "string", max_reasks = "number", strict = "boolean",
  lenient = "boolean", validate_tools = "boolean",
}
M.EMBED_KEYS = {
  input = "string|table", model = "string", dimensions = "number", user = "string",
  headers = "table", timeout = "number", connect_timeout = "number", extra = "table",
}

-- Messages read "keel: unknown chat option 'x'" for a call, and
-- "keel.client: unknown option 'x'" for a constructor (what has a dot).
-- Allowed types as sets, built once per key list: this runs on every call.
local SETS = setmetatable({}, { __mode = "k" })
local function sets_of(keys)
  local s = {}
  for k, want in pairs(keys) do
    local set = {}
    for t in want:gmatch("[^|]+") do set[t] = true end
    s[k] = set
  end
  SETS[keys] = s
  return s
end

local function check_keys(t, keys, what, level)
  local sets = SETS[keys] or sets_of(keys)
  for k, v in pairs(t) do
    local set = sets[k]
    if not (set and set[type(v)]) then
      local dotted = what:find(".", 1, true)
      local want = keys[k]
      if not want then
        error((dotted and (what .. ": unknown option '%s'") or ("keel: unknown " .. what .. " option '%s'"))
          :format(tostring(k)), level + 1)
      end
      error((dotted and (what .. ": option '%s' must be a %s, got %s")
        or ("keel: " .. what .. " option '%s' must be a %s, got %s")):format(k, (want:gsub("|", " or ")), type(v)),
        level + 1)
    end
  end
end

-- Headers merged one entry per name whatever its spelling: the provider
-- file's, then the settings', then the call's.
local function merge_headers(base, extra)
  if not extra then return base end
  local h, index = {}, {}
  for k, v in pairs(base) do h[k] = v; index[k:lower()] = k end
  for k, v in pairs(extra) do
    local old = index[k:lower()]
    if old then h[old] = nil end
    h[k] = v
    index[k:lower()] = k
  end
  return h
end

local Provider = {}
Provider.__index = Provider

local function new_provider(name, s)
  local kind = s.type or name
  local mod = M.providers[kind]
  if not mod then
    error(("keel: provider '%s' has unknown type '%s' (known: openai, anthropic)"):format(name, tostring(kind)), 0)
  end
  if s.api_key_error then error(s.api_key_error, 0) end
  if s.structured_output and not mod.structured_outputs[s.structured_output] then
    local known = {}
    for k in pairs(mod.structured_outputs) do known[#known + 1] = k end
    table.sort(known)
    error(("keel: provider '%s': structured_output '%s' is not one of %s's (%s)"):format(name,
      tostring(s.structured_output), kind, table.concat(known, ", ")), 0)
  end
  local env = ENV[kind]
  local p = { name = name, type = kind, module = mod, settings = {} }
  for k, v in pairs(s) do if not INTERNAL[k] then p.settings[k] = v end end
  local st = p.settings
  st.name = name
  if not st.base_url then
    st.base_url = env and os.getenv(env.base_url) or mod.default_base_url
    if st.api_key == nil and env then st.api_key = os.getenv(env.key) end
  end
  st.base_url = st.base_url:gsub("/+$", "")
  if (st.api_key == nil or st.api_key == "") and st.base_url == mod.default_base_url and env then
    -- Fail before a request goes out: the provider's own endpoint always
    -- wants a key, and its 401 would only say so after a round trip.
    error(("keel: provider '%s' needs an api_key: set %s or give api_key="):format(name, env.key), 0)
  end
  p.base_url = st.base_url
  p.headers = merge_headers(mod.headers(st), st.headers)
  return setmetatable(p, Provider)
end

-- The connection pool opens on first use, so a config may list providers a
-- run never calls.
function Provider:http_client()
  local c = self.http
  if c then return c end
  local st = self.settings
  local o = { connect_timeout = st.connect_timeout, timeout = st.timeout }
  if st.http then for k, v in pairs(st.http) do o[k] = v end end
  c = http.client(o)
  self.http = c
  return c
end

-- ---- request normalization --------------------------------------------------------------

-- Tools in any of the three shapes users have at hand: keel's
-- {name, description, parameters}, OpenAI's {type="function", function={...}}
-- and Anthropic's {name, description, input_schema}.
local function normalize_tools(tools)
  local out = {}
  for i = 1, #tools do
    local t = tools[i]
    if type(t) ~= "table" then error(("keel: tools[%d] must be a table"):format(i), 0) end
    local f = t["function"]
    if type(f) == "table" then t = f end
    if type(t.name) ~= "string" or t.name == "" then error(("keel: tools[%d] has no name"):format(i), 0) end
    out[i] = {
      name = t.name,
      description = t.description,
      parameters = t.parameters or t.input_schema or { type = "object", properties = {} },
      strict = t.strict,
      cache_control = t.cache_control,
    }
  end
  return out
end

local function normalize_tool_choice(tc)
  if type(tc) == "string" then
    if tc == "auto" or tc == "none" or tc == "required" then return tc end
    if tc == "any" then return "required" end
    return { name = tc }
  end
  local f = tc["function"]
  local name = tc.name or (type(f) == "table" and f.name)
  if tc.type == "auto" or tc.type == "none" then return tc.type end
  if tc.type == "any" then return "required" end
  if type(name) ~= "string" then error("keel: tool_choice table needs a tool name", 0) end
  return { name = name }
end

-- ---- the client ------------------------------------------------------------------------

local Client = {}
Client.__index = Client
Client.__name = "keel.client"

function Client:__tostring()
  local names = {}
  for k in pairs(self.provider_settings) do names[#names + 1] = k end
  table.sort(names)
  return ("keel.client (%s)%s"):format(table.concat(names, ", "), self.closed and " (closed)" or "")
end

function Client:provider(name)
  local p = self.provider_cache[name]
  if p then return p end
  local s = self.provider_settings[name]
  if not s then
    local known = {}
    for k in pairs(self.provider_settings) do known[#known + 1] = k end
    table.sort(known)
    error(("keel: no provider '%s' (known: %s)"):format(name, table.concat(known, ", ")), 0)
  end
  p = new_provider(name, s)
  self.provider_cache[name] = p
  return p
end

-- route: the model and provider a call goes to. Named models come from the
-- config (models:), any other name goes to the client's default provider.
local function route(ctx)
  local c, req = ctx.client, ctx.req
  local name = req.model or (ctx.op == "chat" and c.default_model or nil)
  if not name then
    if ctx.op == "embed" then
      error("keel: no embedding model: give model= to the call or embed_model= to keel.client", 0)
    end
    error("keel: no model: give model= to the call, the task or keel.client", 0)
  end
  local m = c.models[name]
  local pname
  if m then
    pname = m.provider
    ctx.model = m
    req.model = m.name or name
  else
    pname = c.default_provider
    req.model = name
    if not pname then
      error(("keel: model '%s' is not in the config's models and the client has several providers; " ..
        "add it to models: with its provider"):format(name), 0)
    end
  end
  local p = c:provider(pname)
  ctx.provider = p
  ctx.model_name = name
  -- Anthropic requires max_tokens: the model's output limit from the config
  -- is a better default than the provider file's fixed one.
  if ctx.op == "chat" and req.max_tokens == nil and m and m.max_output_tokens and p.type == "anthropic" then
    req.max_tokens = m.max_output_tokens
  end
end

local function fail(ctx, err, t0)
  err.provider = err.provider or ctx.provider.name
  err.model = err.model or ctx.req.model
  err.latency_ms = (now() - t0) * 1000
  return nil, err
end

local function http_options(ctx, path, body)
  local p, req = ctx.provider, ctx.req
  return {
    url = p.base_url .. path,
    method = "POST",
    headers = merge_headers(p.headers, req.headers),
    body = encode(body),
    timeout = req.timeout,
    connect_timeout = req.connect_timeout,
    -- Only when asked for: a plain call gets no bytes until the answer is done.
    idle_timeout = req.idle_timeout,
  }
end

local STOP = {} -- marks our own abort of a stream from inside on_event

local function finish_chat(ctx, resp, r, t0)
  local p = ctx.provider
  resp.provider = p.name
  resp.model = resp.model or ctx.req.model
  resp.latency_ms = (now() - t0) * 1000
  resp.status = r.status
  resp.request_id = r.headers["x-request-id"] or r.headers["request-id"]
  resp.message = { role = "assistant", content = resp.content, tool_calls = resp.tool_calls,
    thinking_blocks = resp.thinking_blocks }
  return resp
end

-- A whole JSON body, through the provider's parser for the operation.
local function parse_body(ctx, body)
  local p = ctx.provider
  local obj = decode(body)
  if type(obj) ~= "table" then
    return nil, base.bad_response(p.name, "the body is not JSON: " .. tostring(body):sub(1, 80))
  end
  local parse = ctx.op == "embed" and p.module.embed_response or p.module.chat_response
  local resp, err = parse(obj, p.settings)
  if not resp then return nil, err end
  resp.raw = obj
  return resp
end

local function send_plain(ctx, t0, opts)
  local p = ctx.provider
  local r, err = p:http_client():request(opts)
  if not r then return fail(ctx, err, t0) end
  if r.status >= 300 then return fail(ctx, p.module.error(r.status, r.headers, r.body, p.settings), t0) end
  local resp
  resp, err = parse_body(ctx, r.body)
  if not resp then return fail(ctx, err, t0) end
  if ctx.op == "embed" then
    resp.provider, resp.model = p.name, resp.model or ctx.req.model
    resp.latency_ms = (now() - t0) * 1000
    return resp
  end
  return finish_chat(ctx, resp, r, t0)
end

local function send_stream(ctx, t0, opts)
  local p, req = ctx.provider, ctx.req
  local mod, st = p.module, p.settings
  local state = mod.stream_new(req, st)
  local fn = type(req.stream) == "function" and req.stream or nil
  local ttft
  local function emit(delta)
    if not ttft then ttft = now() end
    if fn then fn(delta) end
  end
  local stop_err
  opts.idle_timeout = req.idle_timeout or st.idle_timeout or 120
  local nevents = 0
  opts.on_event = function(ev)
    nevents = nevents + 1
    local ok, err = mod.stream_event(state, ev, emit)
    if not ok then
      stop_err = err
      error(STOP, 0)
    end
  end
  local client = p:http_client()
  local ok, r, err = pcall(client.stream, client, opts)
  if not ok then
    if r ~= STOP then error(r, 0) end
    r, err = nil, stop_err
  end
  -- Whatever arrived before a failure goes with the error.
  local function partial_of(e, resp)
    resp = resp or mod.stream_finish(state)
    e.partial = resp.content
    e.partial_tool_calls = resp.tool_calls
    if resp.usage.reported ~= false then e.usage = resp.usage end
    return e
  end
  if not r then
    -- The connection closing after events arrived is a stream cut short:
    -- truncated, as a clean end before the terminal event is.
    if err.kind == "connect" and nevents > 0 then
      err = kerror.new("truncated", ("stream from %s broke before its terminal event: %s"):format(
        p.name, err.message), { curl_code = err.curl_code })
    end
    return fail(ctx, partial_of(err), t0)
  end
  if r.status >= 300 then return fail(ctx, mod.error(r.status, r.headers, r.body, st), t0) end
  if not r.sse then
    -- A server that ignored stream=true and answered with one JSON body.
    local resp
    resp, err = parse_body(ctx, r.body)
    if not resp then return fail(ctx, err, t0) end
    if resp.content ~= "" then emit { type = "content", content = resp.content } end
    resp.ttft_ms = ttft and (ttft - t0) * 1000
    return finish_chat(ctx, resp, r, t0)
  end
  local resp, complete = mod.stream_finish(state)
  if complete and not resp.finish_reason then
    return fail(ctx, partial_of(base.bad_response(p.name, "the stream ended without a finish reason"), resp), t0)
  end
  if not complete then
    local terminal = p.type == "anthropic" and "message_stop" or "[DONE]"
    local e = kerror.new("truncated", ("stream from %s ended before its terminal event (%s)%s"):format(
      p.name, terminal, r.incomplete and ": the connection closed mid-stream" or ""), { status = r.status })
    return fail(ctx, partial_of(e, resp), t0)
  end
  resp.ttft_ms = ttft and (ttft - t0) * 1000
  return finish_chat(ctx, resp, r, t0)
end

-- One request: build, send, parse, normalize.
local function send_one(ctx)
  local req = ctx.req
  local mod, st = ctx.provider.module, ctx.provider.settings
  local t0 = now()
  if ctx.op == "embed" then
    if not mod.embeddings then
      error(("keel: provider %s (%s) has no embeddings API"):format(ctx.provider.name, ctx.provider.type), 0)
    end
    return send_plain(ctx, t0, http_options(ctx, mod.embed_request(req, st)))
  end
  local opts = http_options(ctx, mod.chat_request(req, st))
  if req.stream then return send_stream(ctx, t0, opts) end
  return send_plain(ctx, t0, opts)
end

-- send: the last stage. A call with a schema or tools to check may take
-- several requests (keel.structured re-asks); any other takes one.
local function send(ctx)
  if ctx.op == "chat" and structured.engaged(ctx.req) then return structured.run(ctx, send_one) end
  return send_one(ctx)
end

-- Composes the stages once, so a call costs no closures: each stage is a
-- factory stage(next) -> function(ctx) ... next(ctx) ... end.
local function rebuild(self)
  local f = send
  for i = #self.stages, 1, -1 do f = self.stages[i].factory(f) end
  self.chain = f
end

local function route_stage(next)
  return function(ctx)
    route(ctx)
    return next(ctx)
  end
end

--- client:use(name, factory [, {before = name}]): adds a stage, before
--- send or before the named stage. factory(next) returns function(ctx).
function Client:use(name, factory, where)
  if type(name) ~= "string" or type(factory) ~= "function" then
    error("keel: client:use(name, factory [, {before=}]) expected", 2)
  end
  local at = #self.stages + 1
  if where and where.before then
    at = nil
    for i, s in ipairs(self.stages) do if s.name == where.before then at = i end end
    if not at then error(("keel: no stage '%s'"):format(where.before), 2) end
  end
  table.insert(self.stages, at, { name = name, factory = factory })
  rebuild(self)
  return self
end

--- client:remove(name): takes a stage out.
function Client:remove(name)
  for i, s in ipairs(self.stages) do
    if s.name == name then
      table.remove(self.stages, i)
      rebuild(self)
      return self
    end
  end
  error(("keel: no stage '%s'"):format(tostring(name)), 2)
end

--- client:stage_names() -> {"route", ..., "send"}
function Client:stage_names()
  local out = {}
  for i, s in ipairs(self.stages) do out[i] = s.name end
  out[#out + 1] = "send"
  return out
end

local function chat_req(self, req, task, level)
  if type(req) ~= "table" then error("keel: client:chat expects a request table", level + 1) end
  if self.closed then error("keel: client is closed", level + 1) end
  check_keys(req, M.CHAT_KEYS, "chat", level + 1)
  -- Sized for a typical call in the constructor, so the copy does not rehash.
  local r = { messages = nil, model = nil, max_tokens = nil, temperature = nil }
  if task then for k, v in pairs(task) do r[k] = v end end
  for k, v in pairs(req) do r[k] = v end
  local msgs = r.messages
  if r.prompt then
    if msgs then error("keel: give messages or prompt, not both", level + 1) end
    msgs = { { role = "user", content = r.prompt } }
    r.prompt = nil
  end
  if type(msgs) ~= "table" or #msgs == 0 then
    error("keel: chat needs messages (a non-empty array) or prompt", level + 1)
  end
  r.messages = msgs
  if r.tools then
    local ok, t = pcall(normalize_tools, r.tools)
    if not ok then error(t, level + 1) end
    r.tools = t
  end
  if r.tool_choice then
    local ok, t = pcall(normalize_tool_choice, r.tool_choice)
    if not ok then error(t, level + 1) end
    r.tool_choice = t
  end
  return r
end

--- client:chat(req) -> resp | nil, err
function Client:chat(req)
  local ctx = { client = self, op = "chat", req = chat_req(self, req, nil, 2),
    provider = nil, model_name = nil, model = nil, task = nil }
  return self.chain(ctx)
end

--- client:embed{input = "text" | {...}, model=, dimensions=} -> emb | nil, err
function Client:embed(req)
  if type(req) ~= "table" then error("keel: client:embed expects a request table", 2) end
  if self.closed then error("keel: client is closed", 2) end
  check_keys(req, M.EMBED_KEYS, "embed", 2)
  local input = req.input
  if input == nil or (type(input) == "table" and #input == 0) then
    error("keel: embed needs input (a string or a non-empty array)", 2)
  end
  local r = {}
  for k, v in pairs(req) do r[k] = v end
  if not r.model then r.model = self.default_embed_model end
  return self.chain { client = self, op = "embed", req = r }
end

-- A task: named call settings from the config, bound to this client.
local Task = {}
Task.__index = Task

function Task:chat(req)
  local ctx = { client = self.client, op = "chat", task = self.name,
    req = chat_req(self.client, req, self.settings, 2) }
  return self.client.chain(ctx)
end

function Task:__tostring() return ("keel.task %s"):format(self.name) end

--- client:task(name) -> task with :chat{...}; its settings (model,
--- temperature, max_tokens, system, ...) apply where the call gives none.
function Client:task(name)
  local t = self.task_cache[name]
  if t then return t end
  local s = self.tasks[name]
  if not s then
    local known = {}
    for k in pairs(self.tasks) do known[#known + 1] = k end
    table.sort(known)
    error(("keel: no task '%s' (known: %s)"):format(tostring(name),
      #known > 0 and table.concat(known, ", ") or "none"), 2)
  end
  local settings = {}
  for k, v in pairs(s) do if k ~= "description" then settings[k] = v end end
  t = setmetatable({ client = self, name = name, settings = settings }, Task)
  self.task_cache[name] = t
  return t
end

function Client:close()
  if self.closed then return end
  self.closed = true
  for _, p in pairs(self.provider_cache) do
    if p.http then p.http:close(); p.http = nil end
  end
end
Client.__close = Client.close
Client.__gc = Client.close

--- keel.client(opts | config) -> client
--- opts: provider settings (M.PROVIDER_KEYS) plus provider= (type), model=,
--- embed_model=. config: what keel.config.load returns.
function M.new(opts)
  if type(opts) ~= "table" then error("keel.client: options table or config expected", 2) end
  local self = setmetatable({
    provider_settings = {}, provider_cache = {}, models = {}, tasks = {}, task_cache = {},
    stages = {}, closed = false,
  }, Client)
  if opts.providers then
    -- A config from keel.config.load is checked already (with file
    -- positions); one written as a Lua table is checked by the same rules.
    local config = require "keel.config"
    if getmetatable(opts) ~= config.config_mt then
      local ok, cfg = pcall(config.check, opts, "keel.client")
      if not ok then error(cfg, 2) end
      opts = cfg
    end
    self.provider_settings = opts.providers
    self.models = opts.models or {}
    self.tasks = opts.tasks or {}
    local d = opts.defaults or {}
    self.default_model = d.model
    self.default_embed_model = d.embed_model
    self.default_provider = d.provider
    if not self.default_provider then
      local only, n = nil, 0
      for k in pairs(opts.providers) do only, n = k, n + 1 end
      if n == 1 then self.default_provider = only end
    end
  else
    local s = {}
    for k, v in pairs(opts) do
      if k ~= "provider" and k ~= "model" and k ~= "embed_model" then s[k] = v end
    end
    local ok, err = pcall(check_keys, s, M.PROVIDER_KEYS, "keel.client", 1)
    if not ok then error(err, 2) end
    local kind = opts.provider or "openai"
    if type(kind) ~= "string" or not M.providers[kind] then
      error(("keel.client: unknown provider '%s' (known: openai, anthropic)"):format(tostring(kind)), 2)
    end
    s.type = kind
    self.provider_settings[kind] = s
    self.default_provider = kind
    self.default_model = opts.model
    self.default_embed_model = opts.embed_model
  end
  self.stages[1] = { name = "route", factory = route_stage }
  rebuild(self)
  return self
end

return M
