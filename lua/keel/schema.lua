-- keel.schema: JSON Schema validation in C (src/core/schema.h).
--
--   local s = keel.schema.compile(schema [, {dialect=, registry=, formats=, base=}])
--   s:validate(json_text)   -> true | false, errors
--   s:validate_value(value) -> true | false, errors
--   keel.schema.basic(errors) -> the spec's "basic" output
--
-- schema: a Lua table or JSON text. dialect: used when the schema has no
-- $schema: "2020-12" (default), "2019-09", "draft7", "draft6", "draft4".
-- registry: { [uri] = JSON text or Lua table } for remote $refs (keel never
-- fetches). formats = true: `format` asserts (default: annotation only).
-- The official meta-schemas are found without a registry entry when `make
-- metaschema` (run by make test/demo/bench, copied by make install) has
-- fetched them.
--
-- errors[i] = { instance_path =, schema_path =, absolute_path =, keyword =,
-- message = } (JSON pointers; schema_path is the evaluation path, through
-- $ref), in schema keyword order, then instance order; at most max_errors
-- (default 100; errors.capped = true when there were more).
local core = require("keel.core").schema
local json = require "keel.json"

local M = {}

local DIALECTS = {
  ["2020-12"] = 2020, ["2019-09"] = 2019, draft7 = 7, ["draft-07"] = 7, draft6 = 6, ["draft-06"] = 6,
  draft4 = 4, ["draft-04"] = 4,
}
M.dialects = DIALECTS

-- Meta-schema URIs → files under a meta-schema directory.
local function meta_file(uri)
  local d, rest = uri:match("^https://json%-schema%.org/draft/(20%d%d%-%d%d)/(.*)$")
  if d then return ("json-schema-%s/%s.json"):format(d, rest) end
  local n = uri:match("^https?://json%-schema%.org/draft%-0(%d)/schema#?$")
  if n then return ("json-schema-draft-0%s.json"):format(n) end
end

local meta_cache = {}
local function meta_text(uri)
  local f = meta_file(uri)
  if not f then return nil end
  if meta_cache[f] then return meta_cache[f] end
  local dirs = {}
  if os.getenv("KEEL_METASCHEMA_DIR") then dirs[1] = os.getenv("KEEL_METASCHEMA_DIR") end
  for _, d in ipairs(core.metaschema_dirs) do dirs[#dirs + 1] = d end
  for _, d in ipairs(dirs) do
    local h = io.open(d .. "/" .. f, "rb")
    if h then
      local t = h:read("a")
      h:close()
      meta_cache[f] = t
      return t
    end
  end
end

local OPTS = { dialect = true, registry = true, formats = true, base = true, max_errors = true }

local Schema = {}
Schema.__index = Schema

local function as_text(v, what)
  if type(v) == "string" then return v end
  if type(v) == "table" or type(v) == "boolean" then return json.encode(v) end
  error(("keel.schema.compile: %s must be a table, a boolean or JSON text, got %s"):format(what, type(v)), 3)
end

--- compile(schema [, opts]) -> schema object; raises "keel.schema: <pointer>: <what>"
--- for a schema that is not valid, and for a $ref nobody can resolve.
function M.compile(schema, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("keel.schema.compile: options table expected", 2) end
  for k in pairs(opts) do
    if not OPTS[k] then error(("keel.schema.compile: unknown option '%s'"):format(tostring(k)), 2) end
  end
  local text = as_text(schema, "the schema")
  local dialect = 0
  if opts.dialect ~= nil then
    dialect = DIALECTS[opts.dialect]
    if not dialect then
      error(("keel.schema.compile: unknown dialect '%s' (2020-12, 2019-09, draft7, draft6, draft4)")
        :format(tostring(opts.dialect)), 2)
    end
  end
  local docs = {}
  if opts.registry ~= nil then
    if type(opts.registry) ~= "table" then error("keel.schema.compile: registry must be a table", 2) end
    local uris = {}
    for uri in pairs(opts.registry) do
      if type(uri) ~= "string" then error("keel.schema.compile: registry keys must be URIs", 2) end
      uris[#uris + 1] = uri
    end
    table.sort(uris)
    for _, uri in ipairs(uris) do docs[#docs + 1] = { uri, as_text(opts.registry[uri], "registry[" .. uri .. "]") } end
  end
  local copts = { dialect = dialect, formats = opts.formats and true or false, base = opts.base, docs = docs }
  local tried = {}
  while true do
    local s, code, msg, uri = core.compile(text, copts)
    if s then
      return setmetatable({ c = s, max_errors = opts.max_errors or 100 }, Schema)
    end
    -- a meta-schema nobody put in the registry: add it from disk and retry
    local mt = code == "unresolved" and not tried[uri] and meta_text(uri)
    if not mt then
      if code == "unresolved" and meta_file(uri) then
        msg = msg .. " (the official meta-schemas come with `make metaschema`)"
      end
      error("keel.schema: " .. msg, 2)
    end
    tried[uri] = true
    docs[#docs + 1] = { uri, mt }
  end
end

--- s:validate(json_text [, max_errors]) -> true | false, errors
function Schema:validate(text, max_errors)
  if type(text) ~= "string" then error("keel.schema: validate: JSON text expected, got " .. type(text), 2) end
  return self.c:validate(text, max_errors or self.max_errors)
end

--- s:validate_value(value [, max_errors]) -> true | false, errors (the value
--- as keel.json.decode gives it: json.null, json.array for empty arrays).
function Schema:validate_value(value, max_errors)
  local ok, text = pcall(json.encode, value)
  if not ok then
    return false, { { instance_path = "", schema_path = "", absolute_path = "", keyword = "json",
      message = "not representable as JSON: " .. tostring(text) } }
  end
  return self.c:validate(text, max_errors or self.max_errors)
end

local NAMES = { [2020] = "2020-12", [2019] = "2019-09", [7] = "draft7", [6] = "draft6", [4] = "draft4" }
--- s:dialect() -> "2020-12" | "2019-09" | "draft7" | "draft6" | "draft4" (of the root resource)
function Schema:dialect() return NAMES[self.c:dialect()] end

function Schema:close() self.c:close() end
Schema.__close = Schema.close
function Schema:__tostring() return tostring(self.c) end

--- basic(errors) -> { valid = bool, errors = { {keywordLocation=, absoluteKeywordLocation=,
--- instanceLocation=, error=}, ... } } (JSON Schema 2020-12, section 12.4.2).
function M.basic(errors)
  if not errors or #errors == 0 then return { valid = true } end
  local out = {}
  for i, e in ipairs(errors) do
    local u = { keywordLocation = e.schema_path, instanceLocation = e.instance_path, error = e.message }
    if e.absolute_path and e.absolute_path ~= "" and not e.absolute_path:find("^keel:/") then
      u.absoluteKeywordLocation = e.absolute_path
    end
    out[i] = u
  end
  return { valid = false, errors = out }
end

return M
