-- keel.config: the YAML config file — providers, models, tasks, defaults.
--
--   local cfg = keel.config.load("keel.yaml")     -- raises "file:line:col: ..." on bad config
--   local client = keel.client(cfg)
--
-- ${VAR} and ${VAR:-default} read the environment ($$ is a literal $), so
-- secrets stay out of the file; an api_key written literally is refused.
-- An api_key whose variable is unset fails when that provider is first
-- used, not at load, so one file can list providers a run does not call.
-- Unknown keys and wrong types are errors naming file:line:column.
local yaml = require("keel.core").yaml
local client = require "keel.client"

local M = {}
local null = yaml.null

-- What each section may hold. A type is "string", "number", "integer",
-- "boolean", a union such as "string|table", "map:string" (a map of
-- strings), "table" (any table), or a nested spec table.
local PRICE = { input = "number", output = "number", cached_input = "number", cache_write = "number" }
local MODEL = {
  provider = "string", name = "string", context_window = "integer", max_output_tokens = "integer",
  price = PRICE, embedding = "boolean", description = "string",
}
local PROVIDER = {}
for k, t in pairs(client.PROVIDER_KEYS) do PROVIDER[k] = t end
PROVIDER.headers = "map:string"
PROVIDER.http = require("keel.http").CLIENT_OPTS
PROVIDER.max_tokens = "integer"
local TASK = {}
for k, t in pairs(client.CHAT_KEYS) do
  if k ~= "messages" and k ~= "prompt" and k ~= "stream" then
    TASK[k] = t
  end
end
TASK.headers = "map:string"
TASK.max_tokens = "integer"
TASK.tools = "table"
TASK.extra = "table"
TASK.response_format = "table"
TASK.description = "string"
local DEFAULTS = { model = "string", embed_model = "string", provider = "string" }
local TOP = { providers = "map", models = "map", tasks = "map", defaults = DEFAULTS }
local SECTIONS = { providers = PROVIDER, models = MODEL, tasks = TASK }

-- ---- errors with positions ---------------------------------------------------------------

local Loader = {}
Loader.__index = Loader

function Loader:pos(tbl, key, which)
  local m = self.marks[tbl]
  local p
  if m then
    if key ~= nil then p = m[which or "values"] and m[which or "values"][key] end
    p = p or m
  end
  if p and p.line then return ("%s:%d:%d"):format(self.file, p.line, p.col) end
  return self.file
end

-- "file:line:col: message" for the key or value at tbl[key].
function Loader:message(tbl, key, which, fmt, ...)
  return ("%s: %s"):format(self:pos(tbl, key, which), fmt:format(...))
end

function Loader:fail(tbl, key, which, fmt, ...)
  error(self:message(tbl, key, which, fmt, ...), 0)
end


local function distance(a, b)
  if math.abs(#a - #b) > 2 then return 99 end
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function suggest(key, spec)
  local best, bd = nil, 3
  for k in pairs(spec) do
    local d = distance(key, k)
    if d < bd then best, bd = k, d end
  end
  return best and (" (did you mean '%s'?)"):format(best) or ""
end

-- ---- ${VAR} interpolation ------------------------------------------------------------------

-- Returns the string with variables replaced, or nil and the name of an
-- unset variable. One left-to-right scan: "$$" is a literal "$", and text a
-- variable brought in is never scanned again (a secret may contain "$").
local function interpolate(s, getenv)
  if not s:find("$", 1, true) then return s end
  local out, i, n, missing = {}, 1, #s, nil
  while i <= n do
    local d = s:find("$", i, true)
    if not d then
      out[#out + 1] = s:sub(i)
      break
    end
    out[#out + 1] = s:sub(i, d - 1)
    local nxt = s:sub(d + 1, d + 1)
    if nxt == "$" then
      out[#out + 1] = "$"
      i = d + 2
    elseif nxt == "{" then
      local close = s:find("}", d + 2, true)
      local body = close and s:sub(d + 2, close - 1)
      local name, def = nil, nil
      if body then
        name, def = body:match("^([%a_][%w_]*):%-(.*)$")
        if not name then name = body:match("^([%a_][%w_]*)$") end
      end
      if not name then
        out[#out + 1] = "$"
        i = d + 1
      else
        local v = getenv(name)
        if v == nil or (def and v == "") then
          if def then v = def else missing = missing or name; v = "" end
        end
        out[#out + 1] = v
        i = close + 1
      end
    else
      out[#out + 1] = "$"
      i = d + 1
    end
  end
  if missing then return nil, missing end
  return table.concat(out)
end
M.interpolate = interpolate

-- tbl[key]'s string with ${...} replaced; an unset variable is an error
-- there, returned (not raised) when defer is set.
function Loader:env(tbl, key, s, path, defer)
  local out, missing = interpolate(s, self.getenv)
  if out then return out end
  local msg = self:message(tbl, key, nil, "%s: environment variable %s is not set", path, missing)
  if defer then return nil, msg end
  error(msg, 0)
end

-- ---- checking ----------------------------------------------------------------------------------

local function is_integer(v)
  return type(v) == "number" and v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53
end

function Loader:value(tbl, key, want, path)
  local v = tbl[key]
  if v == null then return nil end
  if type(v) == "string" and not self.lua then
    local s, deferred = self:env(tbl, key, v, path, key == "api_key")
    if not s then return nil, deferred end
    if key == "api_key" and not v:find("${", 1, true) then
      self:fail(tbl, key, nil, "%s: keys must not be written in the file; name the environment variable " ..
        "that holds it: api_key: ${VARIABLE}", path)
    end
    if s ~= v and (want == "number" or want == "integer") then
      v = tonumber(s)
      if v == nil then self:fail(tbl, key, nil, "%s: expected a %s, ${...} gave '%s'", path, want, s) end
    else
      v = s
    end
  end
  if type(want) == "table" then
    if type(v) ~= "table" then self:fail(tbl, key, nil, "%s: expected a mapping, got %s", path, type(v)) end
    return self:map(v, want, path)
  end
  local ok
  if want == "integer" then ok = is_integer(v)
  elseif want == "map:string" then
    ok = type(v) == "table"
    if ok then
      local out = {}
      for k in pairs(v) do
        if type(k) ~= "string" then self:fail(v, k, "keys", "%s: keys must be names", path) end
        out[k] = self:value(v, k, "string", path .. "." .. k)
      end
      return out
    end
  elseif want == "table" then ok = type(v) == "table"
  else ok = want:find(type(v), 1, true) ~= nil end
  if not ok then
    local got = type(v)
    if got == "table" then got = "a mapping or list" elseif got == "number" then got = "the number " .. tostring(v)
    elseif got == "string" then got = ("'%s'"):format(v) end
    self:fail(tbl, key, nil, "%s: expected %s, got %s", path, want:gsub("|", " or "), got)
  end
  if type(v) == "table" then return self:plain(v, path) end
  return v
end

-- Tables with free-form content (tools, extra): nulls become absent,
-- strings are interpolated like any other.
function Loader:plain(v, path)
  local out = {}
  for k, x in pairs(v) do
    if type(x) == "table" then out[k] = self:plain(x, path .. "." .. tostring(k))
    elseif type(x) == "string" and not self.lua then
      out[k] = self:env(v, k, x, path .. "." .. tostring(k))
    elseif x ~= null then out[k] = x end
  end
  return out
end

function Loader:map(tbl, spec, path)
  local out = {}
  for k in pairs(tbl) do
    local want = spec[k]
    if type(k) ~= "string" or not want then
      self:fail(tbl, k, "keys", "unknown key '%s' in %s%s", tostring(k), path, suggest(tostring(k), spec))
    end
    local v, deferred = self:value(tbl, k, want, path .. "." .. k)
    out[k] = v
    if deferred then out.api_key_error = deferred end
  end
  return out
end

function Loader:section(root, name, spec)
  local t = root[name]
  if t == nil or t == null then return {} end
  if type(t) ~= "table" then self:fail(root, name, nil, "%s: expected a mapping", name) end
  local out = {}
  for k, v in pairs(t) do
    if type(v) ~= "table" then
      self:fail(t, k, nil, "%s.%s: expected a mapping, got %s", name, k, v == null and "nothing" or type(v))
    end
    out[k] = self:map(v, spec, name .. "." .. k)
  end
  return out
end

local function build(self, root)
  local file = self.file
  if type(root) ~= "table" or (self.marks[root] and not self.marks[root].keys and #root > 0) then
    error(("%s:1:1: expected a mapping at the top"):format(file), 0)
  end
  for k in pairs(root) do
    if not TOP[k] then self:fail(root, k, "keys", "unknown key '%s' at the top%s", tostring(k), suggest(tostring(k), TOP)) end
  end
  local cfg = {
    file = file,
    providers = self:section(root, "providers", PROVIDER),
    models = self:section(root, "models", MODEL),
    tasks = self:section(root, "tasks", TASK),
    defaults = root.defaults and root.defaults ~= null and self:value(root, "defaults", DEFAULTS, "defaults") or {},
  }
  -- Cross references, each reported where it is written.
  for name, p in pairs(cfg.providers) do
    local kind = p.type or name
    if not client.providers[kind] then
      self:fail(p.type and root.providers[name] or root.providers, p.type and "type" or name, p.type and "values" or "keys",
        "providers.%s: unknown provider type '%s' (known: openai, anthropic); set type:", name, kind)
    end
    p.type = kind
  end
  for name, m in pairs(cfg.models) do
    if not m.provider then
      self:fail(root.models, name, nil, "models.%s: needs provider:", name)
    elseif not cfg.providers[m.provider] then
      self:fail(root.models[name], "provider", nil, "models.%s: no provider '%s' in providers:", name, m.provider)
    end
  end
  local function check_model(tbl, key, where)
    local v = tbl and tbl[key]
    if type(v) == "string" and not cfg.models[v] and not cfg.defaults.provider then
      local n = 0
      for _ in pairs(cfg.providers) do n = n + 1 end
      if n ~= 1 then
        self:fail(tbl, key, nil, "%s: model '%s' is not in models: (with several providers keel cannot " ..
          "tell which one serves it)", where, v)
      end
    end
  end
  for name in pairs(cfg.tasks) do check_model(root.tasks[name], "model", "tasks." .. name .. ".model") end
  if type(root.defaults) == "table" then
    check_model(root.defaults, "model", "defaults.model")
    if cfg.defaults.provider and not cfg.providers[cfg.defaults.provider] then
      self:fail(root.defaults, "provider", nil, "defaults.provider: no provider '%s'", cfg.defaults.provider)
    end
  end
  return setmetatable(cfg, M.config_mt)
end

--- A config value: what parse and load return; keel.client takes it as is.
M.config_mt = { __name = "keel.config" }

--- parse(text, file [, getenv]) -> config (see load)
function M.parse(text, file, getenv)
  file = file or "config"
  local root, marks = yaml.load(text, file)
  if root == nil then root = {} end
  return build(setmetatable({ file = file, marks = marks or {}, getenv = getenv or os.getenv }, Loader), root)
end

--- check(t, name) -> config: a config written as a Lua table (providers=,
--- models=, tasks=, defaults=) checked by the same rules, without ${...}
--- (Lua code reads the environment itself). Raises "name: ...".
function M.check(t, name)
  return build(setmetatable({ file = name or "config", marks = {}, lua = true }, Loader), t)
end

--- load(path [, getenv]) -> config: {file, providers, models, tasks, defaults}
--- Raises "path:line:col: message" on a bad file.
function M.load(path, getenv)
  if type(path) ~= "string" then error("keel.config.load: path expected", 2) end
  local f, err = io.open(path, "rb")
  if not f then error("keel.config.load: " .. err, 2) end
  local text = f:read("*a")
  f:close()
  return M.parse(text, path, getenv)
end

return M
