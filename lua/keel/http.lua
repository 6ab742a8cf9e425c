-- keel.http: HTTP requests from Lua, synchronous to the caller, concurrent
-- under keel.spawn. An HTTP status is not an error here: a 500 is a
-- response. Errors (nil, err) are transport failures: connect, timeout, tls,
-- too_large, cancelled.
local core = require "keel.core"
local sched = require "keel.sched"

local chttp = core.http
local M = {}

--- Defaults a demanding user expects: never hang forever on connect, and
--- give long completions ten minutes (the OpenAI SDKs' default).
M.defaults = { connect_timeout = 10, timeout = 600 }

-- Response headers have lower-case keys; any spelling finds them.
local header_mt = {
  __index = function(t, k)
    if type(k) == "string" then
      local lk = k:lower()
      if lk ~= k then return rawget(t, lk) end
    end
  end,
}
M.header_mt = header_mt

local Client = {}
Client.__index = Client
Client.__name = "keel.http.client"

function Client:__tostring()
  return self.c and tostring(self.c) or "keel.http.client (closed)"
end

local cjson

-- Adds headers (map or "Name: value" array form) to the merged list, one
-- entry per lower-cased name: a later source replaces an earlier one
-- whatever the spelling, and array entries never collide by index.
local function merge_headers(into, index, headers)
  for k, v in pairs(headers) do
    local name, value = k, v
    if type(k) == "number" then
      if type(v) ~= "string" then error("keel.http: array headers must be 'Name: value' strings", 4) end
      name, value = v:match("^([^:]+):%s*(.*)$")
      if not name then error("keel.http: array header without a ':'", 4) end
    elseif type(k) ~= "string" then
      error("keel.http: header names must be strings", 4)
    end
    local lk = name:lower()
    local at = index[lk]
    if at then into[at] = { name, value } else
      into[#into + 1] = { name, value }
      index[lk] = #into
    end
  end
end

-- Merges client headers and encodes json=; plain options pass through as is.
local function prepare(self, opts)
  local defaults = self.headers
  if opts.json == nil and not defaults then return opts end
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  local list, index = {}, {}
  if defaults then merge_headers(list, index, defaults) end
  if opts.headers then merge_headers(list, index, opts.headers) end
  if opts.json ~= nil then
    if o.body ~= nil then error("keel.http: give 'body' or 'json', not both", 3) end
    cjson = cjson or require "cjson"
    o.body = cjson.encode(opts.json)
    o.json = nil
    if not o.method then o.method = "POST" end
    if not index["content-type"] then list[#list + 1] = { "Content-Type", "application/json" } end
  end
  local h = {}
  for i = 1, #list do h[list[i][1]] = list[i][2] end
  o.headers = h
  return o
end

local wait_done, forget = sched.wait_done, sched.forget

-- An interrupted wait (cancel, interrupt, error in on_event): stop the
-- transfer, then re-raise once curl has let go of it.
local function abort(r, e)
  forget(r)
  r:cancel("aborted: " .. tostring(e))
  r:close()
  error(e, 0)
end

local function finish(r)
  local status, headers, body, version, reused, total, first_byte, connect, events, incomplete = r:result()
  r:close()
  if not status then return nil, headers end
  local sse = nil
  if events then sse = true else incomplete = nil end -- a body, not a stream: no such fields
  return {
    status = status,
    headers = setmetatable(headers, header_mt),
    body = body,
    http_version = version,
    reused = reused,
    total_time = total,
    first_byte_time = first_byte,
    connect_time = connect,
    sse = sse,
    events = events,
    incomplete = incomplete,
  }
end

local function check(self, opts, what)
  local c = self.c
  if not c then error("keel.http: client is closed", 3) end
  if type(opts) ~= "table" then error(("keel.http.%s: options table expected"):format(what), 3) end
  return c
end

--- client:request{url=, method=, headers=, body= | json=, timeouts, caps}
--- -> resp {status, headers, body, http_version, reused, total_time, ...}
--- | nil, err
function Client:request(opts)
  local c = check(self, opts, "request")
  local r = c:request(prepare(self, opts))
  if not r:done() then
    local ok, e = pcall(wait_done, r)
    if not ok then abort(r, e) end
  end
  return finish(r)
end

local function pump(r, on_event)
  while true do
    local done = r:done()
    local evs = r:events()
    if #evs == 0 then
      if done then return end
      sched.wait(r)   -- nothing queued: no Lua ran since we looked
    else
      for i = 1, #evs do on_event(evs[i]) end  -- may drive the loop: look again
    end
  end
end

--- client:stream{..., on_event = fn}: like request, but a 2xx response that
--- is not JSON is parsed as server-sent events and fn(ev) runs per event
--- ({event=, data=, id=, retry=}). An error raised in fn stops the transfer
--- and is re-raised once curl has let go of it. Non-2xx keeps resp.body.
function Client:stream(opts)
  local c = check(self, opts, "stream")
  if type(opts.on_event) ~= "function" then
    error("keel.http.stream: options with an on_event function expected", 2)
  end
  local o = prepare(self, opts)
  if o == opts then
    o = {}
    for k, v in pairs(opts) do o[k] = v end
  end
  o.sse, o.on_event = true, nil
  local r = c:request(o)
  local ok, e = pcall(pump, r, opts.on_event)
  if not ok then abort(r, e) end
  return finish(r)
end

function Client:close()
  if self.c then
    self.c:close()
    self.c = nil
  end
end
Client.__close = Client.close

-- Options of keel.http.client, with their types (keel.config checks the
-- `http:` table of a provider against this list).
local CLIENT_OPTS = {
  connect_timeout = "number", timeout = "number", idle_timeout = "number", max_body = "number",
  max_header = "number", max_event = "number", compress = "boolean", cainfo = "string", proxy = "string",
  max_host_connections = "number", max_connections = "number", connection_cache = "number",
  headers = "table",
}
M.CLIENT_OPTS = CLIENT_OPTS

--- keel.http.client{...}: its own connection pool (one curl multi handle)
--- and defaults for every request made through it.
function M.client(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("keel.http.client: options table expected", 2) end
  for k in pairs(opts) do
    if not CLIENT_OPTS[k] then error(("keel.http.client: unknown option '%s'"):format(tostring(k)), 2) end
  end
  local o = {}
  for k, v in pairs(M.defaults) do o[k] = v end
  for k, v in pairs(opts) do o[k] = v end
  local headers = o.headers
  o.headers = nil
  if headers ~= nil and type(headers) ~= "table" then error("keel.http.client: 'headers' must be a table", 2) end
  return setmetatable({ c = chttp.client(o), headers = headers }, Client)
end

local default
function M.default()
  if not default then default = M.client() end
  return default
end

function M.request(opts) return M.default():request(opts) end
function M.stream(opts) return M.default():stream(opts) end

M.curl_version = chttp.curl_version
return M
