-- keel.mock: the Lua half of `keel mock`, a local fake LLM provider.
--
-- src/cli/mock.c does HTTP and timing (libevent); this module decides what
-- each request gets: control endpoints, the scenario, the default provider
-- behaviour and its X-Mock-* headers. It returns a *plan* that C carries out.
--
-- A scenario file returns a handler, or a table {handle = handler}:
--
--   local mock = ...                       -- the helpers below (also 2nd arg)
--   return function(req, mock)
--     if req.n <= 2 then return mock.openai.error(429, "slow down", { retry_after = 1 }) end
--     return mock.openai.chat(req, { content = "hello", finish_reason = "length" })
--   end                                    -- returning nil: default behaviour
--
-- req = { method, path, query, headers (lower-case keys), body (string),
--         json (decoded body or nil), n (1-based count of provider requests
--         since start or reset), provider ("openai" | "anthropic" | nil) }
--
-- A plan is a table:
--   status   = 200                 HTTP status
--   headers  = { [name] = value }  (or an array of {name, value})
--   body     = "..." | json = {...} (encoded by keel.mock's encoder)
--   chunks   = { "bytes", 0.2, {delay = 0.2}, ... } or an iterator function
--              returning the same items, nil at the end; sent with chunked
--              transfer encoding (or raw, when headers give Content-Length);
--              a number or {delay=} pauses without blocking other requests
--   delay    = seconds before the status line
--   ending   = "end" (default: finish the body) | "abort" (close the
--              connection mid-body) | "stall" (send nothing more, keep the
--              connection open)
--
-- The scenario's state lives in its upvalues and in mock.state; POST
-- /_mock/reset runs the scenario file's chunk again, so both start fresh.
-- An error in the handler answers 500 with the message and logs to stderr.
local base = require "keel.mock.base"
local openai = require "keel.mock.openai"
local anthropic = require "keel.mock.anthropic"

local M = {
  openai = openai,
  anthropic = anthropic,
  null = base.null,
  array = base.array,
  encode = base.encode,
  decode = base.decode,
  sse = base.sse,
  shape = base.shape,
  big_body = base.big_body,
  html_error = base.html_error,
  rename = base.rename,
  from_schema = base.from_schema,
  last_text = base.last_text,
}

local PROVIDERS = { openai = openai, anthropic = anthropic }

--- reply(req, opts): the chat plan of the request's provider (OpenAI chat
--- completion or Anthropic message), so one scenario serves both APIs.
function M.reply(req, o)
  if req.provider == "anthropic" then return anthropic.message(req, o) end
  return openai.chat(req, o)
end

local function provider_of(path)
  if path == "/v1/messages" or path:sub(1, 13) == "/v1/messages/" then return "anthropic" end
  if path:sub(1, 4) == "/v1/" then return "openai" end
end

-- ---- X-Mock-* request headers --------------------------------------------------------------

local function hnum(h, name, integer)
  local v = h[name]
  if v == nil then return nil end
  local x = tonumber(v)
  if not x or x < 0 or (integer and x % 1 ~= 0) then
    local canon = name:gsub("(%a)(%a*)", function(a, b) return a:upper() .. b end)
    error(("invalid %s header: '%s' (expected a %s)"):format(canon, v,
      integer and "non-negative integer" or "number of seconds"), 0)
  end
  return x
end

local function hflag(h, name)
  local v = h[name]
  return v ~= nil and v ~= "0" and v:lower() ~= "false" and v:lower() ~= "no"
end

--- options(req) -> the builder options the X-Mock-* headers ask for
--- (raises "invalid X-Mock-... header" on a bad value).
function M.options(req)
  local h = req.headers
  local o = {
    status = hnum(h, "x-mock-status", true),
    error = h["x-mock-error"],
    retry_after = h["x-mock-retry-after"],
    delay = hnum(h, "x-mock-delay"),
    chunk_delay = hnum(h, "x-mock-chunk-delay"),
    stall_after = hnum(h, "x-mock-stall-after", true),
    cut_after = hnum(h, "x-mock-cut-after", true),
    drop_after = hnum(h, "x-mock-drop-after", true),
    error_after = hnum(h, "x-mock-error-after", true),
    body_bytes = hnum(h, "x-mock-body-bytes", true),
    html_error = hnum(h, "x-mock-html-error", true),
    malformed = hflag(h, "x-mock-malformed") or nil,
    finish_reason = h["x-mock-finish"],
    content = h["x-mock-content"],
  }
  if h["x-mock-rename"] then
    o.rename = {}
    for from, to in h["x-mock-rename"]:gmatch("%s*([^=,%s]+)%s*=%s*([^,%s]+)%s*") do o.rename[from] = to end
  end
  return o
end

local ROUTES = {
  ["/v1/chat/completions"] = openai.chat,
  ["/v1/embeddings"] = openai.embeddings,
  ["/v1/messages"] = anthropic.message,
}

--- default(req) -> plan: what the mock answers without a scenario (or when
--- the scenario returns nil), honouring the X-Mock-* headers.
function M.default(req)
  local p = PROVIDERS[req.provider or provider_of(req.path)] or openai
  local ok, o = pcall(M.options, req)
  if not ok then return p.error(400, o) end
  if o.html_error then return base.shape(base.html_error(o.html_error), o) end
  if o.error then
    local plan = p.error_kind(o.error, o)
    if not plan then
      local kinds = {}
      for k in pairs(p.ERRORS) do kinds[#kinds + 1] = k end
      table.sort(kinds)
      return p.error(400, ("unknown X-Mock-Error kind '%s' (one of: %s)"):format(o.error, table.concat(kinds, ", ")))
    end
    return plan
  end
  if o.status and o.status >= 400 then
    return p.error(o.status, nil, { retry_after = o.retry_after, delay = o.delay })
  end
  local route = ROUTES[req.path]
  if not route then
    return openai.error(404, ("Invalid URL (%s %s)"):format(req.method, req.path), { code = base.null })
  end
  if req.method ~= "POST" then
    return p.error(405, ("Method %s not allowed for %s"):format(req.method, req.path))
  end
  if o.body_bytes and req.path == "/v1/embeddings" then
    return base.finish(base.big_body(o.body_bytes), o)
  end
  return route(req, o)
end

-- ---- plans for C ---------------------------------------------------------------------------

local ENDINGS = { ["end"] = true, abort = true, stall = true }

local function check_header(k, v)
  if type(k) ~= "string" or not k:match("^[%w!#$%%&'*+%.^_`|~-]+$") then
    error(("bad header name %s"):format(tostring(k)), 0)
  end
  if type(v) == "number" then v = tostring(v) end
  if type(v) ~= "string" or v:find("[\r\n%z]") then
    error(("bad value for header %s"):format(k), 0)
  end
  return v
end

local function iterator(chunks)
  if type(chunks) == "function" then
    return function() return base.check_item(chunks(), "chunks()") end
  end
  if type(chunks) ~= "table" then error("'chunks' must be an array or a function", 0) end
  local items = {}
  for i, item in ipairs(chunks) do items[i] = base.check_item(item, "chunk " .. i) end
  local i = 0
  return function()
    i = i + 1
    return items[i]
  end
end

--- normalize(plan) -> the plan as C takes it: {status, reason, headers =
--- {{name, value}...}, delay, body | next (iterator), ending}. Raises on a
--- malformed plan.
function M.normalize(p)
  if type(p) ~= "table" then error(("a plan must be a table, got %s"):format(type(p)), 0) end
  local status = p.status or 200
  if type(status) ~= "number" or status % 1 ~= 0 or status < 200 or status > 999 then
    error(("bad status %s"):format(tostring(status)), 0)
  end
  local headers, seen = {}, {}
  local ph = p.headers
  if ph ~= nil and type(ph) ~= "table" then error("'headers' must be a table", 0) end
  if ph and #ph > 0 then
    for _, kv in ipairs(ph) do
      if type(kv) ~= "table" then error("'headers' array items must be {name, value}", 0) end
      headers[#headers + 1] = { kv[1], check_header(kv[1], kv[2]) }
      seen[kv[1]:lower()] = true
    end
  elseif ph then
    local names = {}
    for k in pairs(ph) do names[#names + 1] = k end
    table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(names) do
      headers[#headers + 1] = { k, check_header(k, ph[k]) }
      seen[k:lower()] = true
    end
  end
  local body, chunks = p.body, p.chunks
  if p.json ~= nil then
    if body ~= nil then error("give 'body' or 'json', not both", 0) end
    local j = p.json
    if type(j) == "table" and (j.json ~= nil or j.body ~= nil) and type(j.status) == "number" then
      error("'json' holds a plan: return the error builder's plan itself (mock.openai.error(...))", 0)
    end
    body = base.encode(j)
    if not seen["content-type"] then headers[#headers + 1] = { "Content-Type", "application/json" } end
  end
  if body ~= nil and type(body) ~= "string" then error("'body' must be a string", 0) end
  if body ~= nil and chunks ~= nil then error("give 'body' or 'chunks', not both", 0) end
  local ending = p.ending or "end"
  if not ENDINGS[ending] then error(("bad ending '%s' (end, abort or stall)"):format(tostring(ending)), 0) end
  if ending ~= "end" and body ~= nil then chunks, body = { body }, nil end
  if chunks ~= nil and not seen["content-type"] and p.json == nil then
    headers[#headers + 1] = { "Content-Type", "text/event-stream" }
  end
  local delay = p.delay
  if delay ~= nil and (type(delay) ~= "number" or delay < 0) then error("'delay' must be seconds >= 0", 0) end
  return {
    status = status,
    reason = base.REASONS[status],
    headers = headers,
    delay = delay or 0,
    body = chunks == nil and (body or "") or nil,
    next = chunks ~= nil and iterator(chunks) or nil,
    ending = ending,
  }
end

-- ---- the server ---------------------------------------------------------------------------------

local Server = {}
Server.__index = Server

local function json_plan(status, v)
  return { status = status, headers = { { "Content-Type", "application/json" } }, body = base.encode(v),
    reason = base.REASONS[status], delay = 0, ending = "end" }
end

local function first_line(s)
  return (tostring(s):match("^[^\n]*"))
end

-- Runs the scenario file's chunk: a fresh handler and fresh state.
function Server:load_scenario()
  local api = setmetatable({ state = {} }, { __index = M })
  local ok, ret = pcall(self.chunk, api, self.scenario)
  if not ok then
    if type(ret) ~= "string" then ret = ("%s: scenario raised a %s value"):format(self.scenario, type(ret)) end
    error(ret, 0)
  end
  local handler = ret
  if type(ret) == "table" then handler = ret.handle end
  if type(handler) ~= "function" then
    error(("%s: a scenario must return a function or a table with a 'handle' function (got %s)"):format(
      self.scenario, type(ret)), 0)
  end
  self.api, self.handler = api, handler
end

--- server{scenario = path, host = {counters=, reset=}, quiet = bool}
--- Loads the scenario; raises "file:line: message" when it is bad.
function M.server(opts)
  opts = opts or {}
  local self = setmetatable({
    host = opts.host or {},
    quiet = opts.quiet,
    log = opts.log or function(s) io.stderr:write(s, "\n") io.stderr:flush() end,
    records = {},
    n = 0,
    scenario = opts.scenario,
  }, Server)
  if self.scenario then
    local chunk, err = loadfile(self.scenario)
    if not chunk then error(err, 0) end
    self.chunk = chunk
    self:load_scenario()
  end
  return self
end

local function parse(creq)
  local uri = creq.uri or "/"
  local path, query = uri:match("^([^?]*)%??(.*)$")
  local headers = {}
  for _, kv in ipairs(creq.headers or {}) do
    local k = kv[1]:lower()
    headers[k] = headers[k] and (headers[k] .. ", " .. kv[2]) or kv[2]
  end
  local req = {
    method = creq.method or "GET", path = path, query = query ~= "" and query or nil,
    headers = headers, body = creq.body or "",
  }
  req.provider = provider_of(path)
  return req
end

function Server:control(req)
  local host = self.host
  if req.path == "/_mock/stats" and req.method == "GET" then
    local conns, open = 0, 0
    if host.counters then conns, open = host.counters() end
    return json_plan(200, { connections = conns, requests = self.n, open_connections = open })
  elseif req.path == "/_mock/requests" and req.method == "GET" then
    return json_plan(200, base.array(self.records))
  elseif req.path == "/_mock/reset" and req.method == "POST" then
    self.records, self.n = {}, 0
    if host.reset then host.reset() end
    if self.chunk then
      local ok, err = pcall(self.load_scenario, self)
      if not ok then
        self.log("keel mock: reset: " .. tostring(err))
        return json_plan(500, { error = { message = "reset: " .. tostring(err), type = "mock_scenario_error" } })
      end
    end
    return json_plan(200, { ok = true })
  end
  return json_plan(404, { error = { message = ("no control endpoint %s %s"):format(req.method, req.path),
    type = "invalid_request_error" } })
end

local function traceback(e)
  if type(e) ~= "string" then e = ("(error object is a %s value)"):format(type(e)) end
  return debug.traceback(e, 2)
end

-- A 500 in the shape of the provider the request was for.
local function failure(req, message)
  local p = PROVIDERS[req.provider] or openai
  return M.normalize(p.error(500, message, { type = "mock_scenario_error" }))
end

--- server:handle(creq) -> plan for C. creq = {method, uri, headers =
--- {{name, value}...}, body}. Never raises for a scenario's fault.
function Server:handle(creq)
  local req = parse(creq)
  if req.path:sub(1, 7) == "/_mock/" then
    local plan = self:control(req)
    if not self.quiet then self.log(("keel mock: %s %s -> %d"):format(req.method, req.path, plan.status)) end
    return plan
  end
  self.n = self.n + 1
  req.n = self.n
  local headers = {}
  for k, v in pairs(req.headers) do headers[k] = v end -- the scenario may edit req's
  self.records[#self.records + 1] = { method = req.method, path = req.path, query = req.query,
    headers = headers, body = req.body, n = req.n }
  if req.body ~= "" then
    local j, err = base.decode(req.body)
    if type(j) == "table" then req.json = j else req.json_error = err end
  end
  local plan, ok, res
  if self.handler then
    ok, res = xpcall(function() return self.handler(req, self.api) end, traceback)
    if not ok then
      self.log(("keel mock: scenario error (request %d, %s %s): %s"):format(req.n, req.method, req.path, res))
      plan = failure(req, "scenario error: " .. first_line(res))
    elseif res ~= nil then
      ok, plan = pcall(M.normalize, res)
      if not ok then
        self.log(("keel mock: scenario returned a bad plan (request %d): %s"):format(req.n, plan))
        plan = failure(req, "scenario returned a bad plan: " .. tostring(plan))
      end
    end
  end
  if not plan then
    ok, res = xpcall(function() return M.normalize(M.default(req)) end, traceback)
    if ok then
      plan = res
    else
      self.log("keel mock: internal error: " .. res)
      plan = failure(req, "mock internal error: " .. first_line(res))
    end
  end
  if not self.quiet then
    local how = ""
    if plan.next then how = plan.ending == "end" and " (streamed)" or (" (streamed, " .. plan.ending .. ")") end
    self.log(("keel mock: #%d %s %s -> %d%s"):format(req.n, req.method, req.path, plan.status, how))
  end
  return plan
end

return M
