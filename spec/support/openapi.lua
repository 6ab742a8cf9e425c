-- spec.support.openapi: validates decoded JSON against a schema of an OpenAPI
-- 3.1 document, for the conformance spec (spec/conformance_spec.lua).
--
--   local openapi = require "spec.support.openapi"
--   local doc = openapi.load("../shared/data/openai-openapi/openapi.yaml")
--   local ok, errs = openapi.validate(doc, "CreateChatCompletionRequest", value)
--
-- A stop-gap until keel's C JSON Schema validator exists: it covers the subset
-- of JSON Schema 2020-12 / OpenAPI 3.1 that OpenAI's request schemas use, and
-- refuses loudly (raises) when a schema reachable from the root uses anything
-- else, so that a spec update cannot silently weaken the check.
--
-- Semantics, keyword by keyword:
--   type        a name or a list of names; "integer" is any number with an
--               integral value (cjson gives floats); "null" is cjson.null.
--   nullable    (OpenAPI 3.0, still used by OpenAI's 3.1 document) when true,
--               null is valid against that schema whatever else it says.
--   enum/const  deep equality (1 == 1.0).
--   properties, required, additionalProperties (boolean or schema; only
--               siblings' `properties` count, as in 2020-12),
--               minProperties/maxProperties.
--   items (a schema; the draft-4 list form is refused), prefixItems,
--               minItems/maxItems, uniqueItems.
--   minLength/maxLength in code points.
--   minimum/maximum, exclusiveMinimum/exclusiveMaximum (a number, or the 3.0
--               boolean form), multipleOf.
--   pattern     Lua has no regular expressions: only the patterns listed in
--               PATTERNS below are checked; any other raises.
--   format      only the formats in FORMATS are checked; any other raises.
--   oneOf (exactly one), anyOf, allOf, not; $ref to "#/..." pointers in the
--               same document (~0 ~1 and %XX unescaped), siblings of $ref
--               applied too (2020-12).
--   discriminator is an annotation (used only to pick the branch whose
--               errors are reported); description, title, default, example,
--               examples, deprecated, $comment, externalDocs and x-* are
--               ignored. Boolean schemas (true/false) are supported.
--
-- JSON values: null is cjson.null (the same lightuserdata as keel's
-- yaml.null). Lua cannot tell [] from {} after cjson.decode, so an empty
-- unmarked table is taken as both an empty array and an empty object; decode
-- with openapi.decode (marks arrays and objects) to keep the difference.
-- Tables carrying keel's json.array_mt count as arrays.
local cjson = require "cjson"

local NULL = cjson.null
local M = {}

M.array_mt = { __name = "openapi.array" }
M.object_mt = { __name = "openapi.object" }

local keel_array_mt
do
  local ok, core = pcall(require, "keel.core")
  if ok and type(core) == "table" and type(core.json) == "table" then
    keel_array_mt = core.json.array_mt
  end
end

---------------------------------------------------------------------------
-- keyword tables

-- Keywords whose value is a schema / a list of schemas / a map of schemas.
local SUB_ONE = { items = true, additionalProperties = true, ["not"] = true }
local SUB_LIST = { oneOf = true, anyOf = true, allOf = true, prefixItems = true }
local SUB_MAP = { properties = true }

-- Keywords the validator asserts (besides the subschema ones above).
local ASSERT = {
  ["$ref"] = true, type = true, nullable = true, enum = true, const = true,
  required = true, minProperties = true, maxProperties = true,
  minItems = true, maxItems = true, uniqueItems = true,
  minLength = true, maxLength = true, pattern = true, format = true,
  minimum = true, maximum = true, exclusiveMinimum = true, exclusiveMaximum = true,
  multipleOf = true,
}

-- Annotations: ignored. (Anything starting with "x-" is ignored too.)
local ANNOTATION = {
  description = true, title = true, default = true, example = true, examples = true,
  deprecated = true, discriminator = true, ["$comment"] = true, externalDocs = true,
}

local TYPES = {
  null = true, boolean = true, object = true, array = true,
  number = true, integer = true, string = true,
}

-- pattern (an ECMA-262 regex) -> function(s) -> boolean. Add a hand
-- translation here when a reachable schema starts using a pattern; until
-- then check_schemas raises naming it.
local PATTERNS = {}

-- format -> function(s) -> boolean.
local FORMATS = {
  -- RFC 3986 absolute URI, loosely: a scheme, then no whitespace, controls or
  -- characters a URI never holds, and every % followed by two hex digits.
  -- (data: URLs pass, as they should.)
  uri = function(s)
    if not s:find("^[A-Za-z][A-Za-z0-9+.%-]*:") then return false end
    if s:find("[%s%c<>\"{}|\\^`]") then return false end
    for at in s:gmatch("()%%") do
      if not s:find("^%x%x", at + 1) then return false end
    end
    return true
  end,
}

---------------------------------------------------------------------------
-- helpers

local function esc(token) -- one JSON pointer token
  token = tostring(token)
  return (token:gsub("~", "~0"):gsub("/", "~1"))
end

local function unesc(token)
  token = token:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  return (token:gsub("~1", "/"):gsub("~0", "~"))
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    return a < b
  end)
  return ks
end

local function utf8_len(s) -- code points; bytes that are not continuation bytes
  local _, n = s:gsub("[^\128-\191]", "")
  return n
end

local function is_integral(x)
  return x == x and x ~= math.huge and x ~= -math.huge and x == math.floor(x)
end

-- The JSON type of a Lua value: "null", "boolean", "number", "string",
-- "array", "object", "empty" (an unmarked empty table: array or object), or
-- nil and a reason when it is no JSON value.
local function jtype(v)
  local t = type(v)
  if t == "string" or t == "boolean" then return t end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return nil, "number is not finite" end
    return "number"
  end
  if v == NULL then return "null" end
  if t ~= "table" then return nil, "a Lua " .. t .. " is no JSON value" end
  local mt = getmetatable(v)
  if mt == M.array_mt or (keel_array_mt ~= nil and mt == keel_array_mt) then return "array" end
  if mt == M.object_mt then return "object" end
  if next(v) == nil then return "empty" end
  local strings, ints, max = 0, 0, 0
  for k in pairs(v) do
    if type(k) == "string" then strings = strings + 1
    elseif type(k) == "number" and k >= 1 and is_integral(k) then
      ints = ints + 1
      if k > max then max = k end
    else return nil, "table has a key of type " .. type(k) end
  end
  if strings > 0 and ints > 0 then return nil, "table mixes string and integer keys" end
  if strings > 0 then return "object" end
  if ints ~= max then return nil, "table is a sparse array" end
  return "array"
end

local function array_len(v)
  local n = 0
  for k in pairs(v) do
    if type(k) == "number" and k > n then n = k end
  end
  return n
end

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, x in pairs(a) do
    if not deep_equal(x, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

local function show(v) -- a short JSON-ish rendering for messages
  local t = type(v)
  if t == "string" then return ("%q"):format(#v > 60 and v:sub(1, 57) .. "..." or v) end
  if v == NULL then return "null" end
  if t == "table" then
    local jt = jtype(v)
    if next(v) == nil then return jt == "array" and "[]" or "{}" end
    return jt == "array" and "[...]" or "{...}"
  end
  if t == "number" and is_integral(v) and math.abs(v) < 2 ^ 53 then
    return ("%d"):format(v)
  end
  return tostring(v)
end

local function show_list(list, max)
  max = max or 12
  local parts = {}
  for i, v in ipairs(list) do
    if i > max then
      parts[#parts + 1] = ("... (%d in all)"):format(#list)
      break
    end
    parts[#parts + 1] = show(v)
  end
  return table.concat(parts, ", ")
end

---------------------------------------------------------------------------
-- loading

local docs = {}              -- path -> doc
local state = setmetatable({}, { __mode = "k" }) -- doc -> { refs, checked }

local function read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

--- load(path) -> doc: the parsed OpenAPI document, cached per path. Raises
--- with a clear message when the file is missing or does not parse.
function M.load(path)
  if docs[path] then return docs[path] end
  local text, err = read(path)
  if not text then
    error(("openapi.load: cannot read %s (%s); the conformance check needs "
      .. "the shared data directory beside the repository clone"):format(path, err), 2)
  end
  local yaml = require("keel.core").yaml
  if type(yaml) ~= "table" or type(yaml.load) ~= "function" then
    error("openapi.load: keel.core.yaml.load is missing (build keel: make lua54 luajit)", 2)
  end
  local ok, doc = pcall(yaml.load, text, path)
  if not ok or type(doc) ~= "table" then
    error(("openapi.load: %s does not parse: %s"):format(path, tostring(doc)), 2)
  end
  if type(doc.openapi) ~= "string" or type(doc.components) ~= "table" then
    error(("openapi.load: %s is not an OpenAPI document with components"):format(path), 2)
  end
  docs[path] = doc
  return doc
end

local function st(doc)
  local s = state[doc]
  if not s then
    s = { refs = {}, checked = {} }
    state[doc] = s
  end
  return s
end

-- The node a local reference points to, or nil and a reason.
local function resolve(doc, ref)
  local s = st(doc)
  local hit = s.refs[ref]
  if hit ~= nil then return hit end
  if type(ref) ~= "string" or ref:sub(1, 1) ~= "#" then
    return nil, "only local references (#/...) are supported"
  end
  local node = doc
  local rest = ref:sub(2)
  if rest ~= "" and rest:sub(1, 1) ~= "/" then return nil, "not a JSON pointer" end
  for raw in rest:gmatch("/([^/]*)") do
    local token = unesc(raw)
    if type(node) ~= "table" then return nil, "no such node" end
    local nxt = node[token]
    if nxt == nil and token:find("^%d+$") then nxt = node[tonumber(token) + 1] end
    if nxt == nil then return nil, "no such node" end
    node = nxt
  end
  s.refs[ref] = node
  return node
end

local function root_ref(name)
  if name:sub(1, 1) == "#" then return name end
  return "#/components/schemas/" .. esc(name)
end

---------------------------------------------------------------------------
-- schema survey: every keyword reachable from a root, and the problems

local function is_list(v)
  return type(v) == "table" and jtype(v) ~= "object"
end

local function is_num(v) return type(v) == "number" end
local function is_count(v) return type(v) == "number" and v >= 0 and is_integral(v) end

-- Shape checks for keyword values: nil when fine, else a message.
local SHAPE = {
  ["$ref"] = function(v) return type(v) ~= "string" and "must be a string" or nil end,
  type = function(v)
    local list = type(v) == "table" and v or { v }
    if type(v) == "table" and #v == 0 then return "empty type list" end
    for _, t in ipairs(list) do
      if not TYPES[t] then return "unknown type " .. show(t) end
    end
  end,
  nullable = function(v) return type(v) ~= "boolean" and "must be a boolean" or nil end,
  enum = function(v) return not is_list(v) and "must be a list" or nil end,
  required = function(v)
    if not is_list(v) then return "must be a list" end
    for _, n in ipairs(v) do if type(n) ~= "string" then return "must list strings" end end
  end,
  minProperties = function(v) return not is_count(v) and "must be a count" or nil end,
  maxProperties = function(v) return not is_count(v) and "must be a count" or nil end,
  minItems = function(v) return not is_count(v) and "must be a count" or nil end,
  maxItems = function(v) return not is_count(v) and "must be a count" or nil end,
  minLength = function(v) return not is_count(v) and "must be a count" or nil end,
  maxLength = function(v) return not is_count(v) and "must be a count" or nil end,
  uniqueItems = function(v) return type(v) ~= "boolean" and "must be a boolean" or nil end,
  minimum = function(v) return not is_num(v) and "must be a number" or nil end,
  maximum = function(v) return not is_num(v) and "must be a number" or nil end,
  exclusiveMinimum = function(v)
    return not (is_num(v) or type(v) == "boolean") and "must be a number or boolean" or nil
  end,
  exclusiveMaximum = function(v)
    return not (is_num(v) or type(v) == "boolean") and "must be a number or boolean" or nil
  end,
  multipleOf = function(v) return not (is_num(v) and v > 0) and "must be a positive number" or nil end,
  pattern = function(v)
    if type(v) ~= "string" then return "must be a string" end
    if not PATTERNS[v] then
      return ("regex %q cannot be checked in Lua: add a translation to PATTERNS in "
        .. "spec/support/openapi.lua"):format(v)
    end
  end,
  format = function(v)
    if type(v) ~= "string" then return "must be a string" end
    if not FORMATS[v] then
      return ("format %q is not checked: add it to FORMATS in spec/support/openapi.lua"):format(v)
    end
  end,
  items = function(v)
    if type(v) == "table" and jtype(v) == "array" then
      return "the list form of items (draft 4 tuples) is not OpenAPI 3.1; use prefixItems"
    end
  end,
}

--- survey(doc, name) -> keywords, problems, schemas: walks every schema
--- reachable from the root (following $ref transitively). keywords maps each
--- keyword used to the number of schema nodes using it; problems lists
--- "schema-pointer: message" for keywords the validator does not know or
--- cannot check; schemas lists the $ref targets reached, sorted.
function M.survey(doc, name)
  local keywords, problems, reached = {}, {}, {}
  local seen = {}
  local function problem(ptr, msg) problems[#problems + 1] = ptr .. ": " .. msg end
  local function walk(node, ptr)
    if type(node) == "boolean" then return end
    if type(node) ~= "table" or jtype(node) ~= "object" then
      if not (type(node) == "table" and next(node) == nil) then
        problem(ptr, "a schema must be an object or a boolean")
      end
      return
    end
    if seen[node] then return end
    seen[node] = true
    for _, k in ipairs(sorted_keys(node)) do
      local v = node[k]
      local here = ptr .. "/" .. esc(k)
      if type(k) ~= "string" then
        problem(here, "non-string key")
      elseif ANNOTATION[k] or k:sub(1, 2) == "x-" then
        keywords[k] = (keywords[k] or 0) + 1
      elseif SUB_ONE[k] or SUB_LIST[k] or SUB_MAP[k] or ASSERT[k] then
        keywords[k] = (keywords[k] or 0) + 1
        local bad = SHAPE[k] and SHAPE[k](v)
        if bad then problem(here, bad) end
        if k == "$ref" and type(v) == "string" then
          local target, why = resolve(doc, v)
          if target == nil then
            problem(here, ("cannot resolve %s: %s"):format(v, why))
          else
            reached[v] = true
            walk(target, v)
          end
        elseif SUB_ONE[k] and not bad then
          walk(v, here)
        elseif SUB_LIST[k] then
          if not is_list(v) or #v == 0 then problem(here, "must be a non-empty list of schemas")
          else for i, sub in ipairs(v) do walk(sub, here .. "/" .. (i - 1)) end end
        elseif SUB_MAP[k] then
          if type(v) ~= "table" or jtype(v) == "array" then problem(here, "must be a map of schemas")
          else for _, pk in ipairs(sorted_keys(v)) do walk(v[pk], here .. "/" .. esc(pk)) end end
        end
      else
        problem(here, "keyword " .. show(k) .. " is not supported by spec/support/openapi.lua")
      end
    end
  end
  local ref = root_ref(name)
  local root, why = resolve(doc, ref)
  if root == nil then
    problems[1] = ref .. ": " .. why
  else
    reached[ref] = true
    walk(root, ref)
  end
  local schemas = sorted_keys(reached)
  return keywords, problems, schemas
end

local function check_schemas(doc, name)
  local s = st(doc)
  if s.checked[name] then return end
  local _, problems = M.survey(doc, name)
  if #problems > 0 then
    error(("openapi.validate: the schemas reachable from %s use what this validator "
      .. "cannot check:\n  %s"):format(name, table.concat(problems, "\n  ")), 3)
  end
  s.checked[name] = true
end

---------------------------------------------------------------------------
-- validation

-- An error: { ptr = instance pointer, msg, schema = schema pointer, kind }
local validate -- forward

local function add(errs, ptr, spath, msg, kind)
  errs[#errs + 1] = { ptr = ptr, msg = msg, schema = spath, kind = kind }
end

local function type_matches(t, jt, v)
  if t == jt then return true end
  if jt == "empty" then return t == "array" or t == "object" end
  if t == "integer" then return jt == "number" and is_integral(v) end
  return false
end

-- Values a branch's property accepts, for discriminator messages (enum/const
-- after $ref, through allOf); nil when it cannot tell.
local function accepted_values(doc, branch, prop, depth)
  depth = (depth or 0) + 1
  if depth > 20 or type(branch) ~= "table" then return nil end
  if branch["$ref"] then branch = resolve(doc, branch["$ref"]) end
  if type(branch) ~= "table" then return nil end
  local p = type(branch.properties) == "table" and branch.properties[prop]
  if p then
    if p["$ref"] then p = resolve(doc, p["$ref"]) end
    if type(p) == "table" then
      if p.const ~= nil then return { p.const } end
      if type(p.enum) == "table" then return p.enum end
    end
  end
  if type(branch.allOf) == "table" then
    for _, sub in ipairs(branch.allOf) do
      local vals = accepted_values(doc, sub, prop, depth)
      if vals then return vals end
    end
  end
  return nil
end

-- The property that tells the branches of a oneOf/anyOf apart: the
-- discriminator's, or else (for an object value) the first of its members for
-- which every branch lists its allowed values (a "type" or "role" tag).
local function tag_property(doc, s, list, v, jt)
  if jt ~= "object" then return nil end
  local disc = type(s.discriminator) == "table" and s.discriminator.propertyName
  if disc then return v[disc] ~= nil and disc or nil, "discriminator" end
  for _, k in ipairs(sorted_keys(v)) do
    local all = true
    for _, sub in ipairs(list) do
      if not accepted_values(doc, sub, k) then all = false break end
    end
    if all then return k, "tag" end
  end
end

-- For a failed oneOf/anyOf: the errors to report. When no branch accepts the
-- value's tag property, one error lists the tags allowed; otherwise the
-- closest branch among those accepting the tag is named and its errors
-- follow. Closest: no type mismatch at the value itself, then the fewest
-- errors, type mismatches weighing more than other errors (a branch whose
-- shape fits got further).
local function report_branches(ctx, s, spath, kw, v, ipath, jt, results, errs)
  local list = s[kw]
  local candidates = {}
  for i = 1, #list do candidates[#candidates + 1] = i end
  local tag, how = tag_property(ctx.doc, s, list, v, jt)
  if tag then
    local tptr = ipath .. "/" .. esc(tag)
    local accepting = {}
    for _, i in ipairs(candidates) do
      local rejects = false
      for _, e in ipairs(results[i]) do
        if e.ptr == tptr then rejects = true break end
      end
      if not rejects then accepting[#accepting + 1] = i end
    end
    if #accepting == 0 then
      local all = {}
      for _, sub in ipairs(list) do
        local vals = accepted_values(ctx.doc, sub, tag)
        if not vals then all = nil break end
        for _, x in ipairs(vals) do all[#all + 1] = x end
      end
      if all then
        add(errs, tptr, spath .. "/" .. kw, ("%s matches no %s branch (%s %q); expected one of %s")
          :format(show(v[tag]), kw, how, tag, show_list(all, 20)), "enum")
        return
      end
    else
      candidates = accepting
    end
  end
  local best, best_score
  for _, i in ipairs(candidates) do
    local score = 0
    for _, e in ipairs(results[i]) do
      if e.kind == "type" then
        score = score + (e.ptr == ipath and 1e6 or 1.5)
      else
        score = score + 1
      end
    end
    if not best_score or score < best_score then best, best_score = i, score end
  end
  local target = list[best]
  local label = type(target) == "table" and target["$ref"]
    or (spath .. "/" .. kw .. "/" .. (best - 1))
  add(errs, ipath, spath .. "/" .. kw, ("matches none of the %d %s branches (closest: %s, "
    .. "whose errors follow)"):format(#list, kw, label), "branches")
  for _, e in ipairs(results[best]) do errs[#errs + 1] = e end
end

validate = function(ctx, s, spath, v, ipath, errs)
  if s == true then return end
  if s == false then
    add(errs, ipath, spath, "no value is allowed here (schema false)", "false")
    return
  end

  if s.nullable == true and v == NULL then return end

  local jt, why = jtype(v)
  if not jt then
    add(errs, ipath, spath, why, "type")
    return
  end

  if s["$ref"] then
    local target = resolve(ctx.doc, s["$ref"])
    ctx.depth = ctx.depth + 1
    if ctx.depth > 200 then error("openapi.validate: $ref recursion deeper than 200 at " .. spath) end
    validate(ctx, target, s["$ref"], v, ipath, errs)
    ctx.depth = ctx.depth - 1
  end

  if s.type ~= nil then
    local list = type(s.type) == "table" and s.type or { s.type }
    local ok = false
    for _, t in ipairs(list) do
      if type_matches(t, jt, v) then ok = true break end
    end
    if not ok then
      local got = jt == "empty" and "empty table" or jt
      if jt == "number" and not is_integral(v) then got = "non-integral number" end
      add(errs, ipath, spath .. "/type", ("expected %s, got %s %s")
        :format(table.concat(list, " or "), got, show(v)), "type")
      return -- the remaining keywords would only repeat the mismatch
    end
  end

  if s.enum ~= nil then
    local found = false
    for _, x in ipairs(s.enum) do
      if deep_equal(x, v) then found = true break end
    end
    if not found then
      add(errs, ipath, spath .. "/enum", ("%s is not one of %s"):format(show(v), show_list(s.enum)), "enum")
    end
  end
  if s.const ~= nil and not deep_equal(s.const, v) then
    add(errs, ipath, spath .. "/const", ("%s is not %s"):format(show(v), show(s.const)), "enum")
  end

  -- objects
  if jt == "object" or jt == "empty" then
    local props = s.properties
    if props then
      for _, k in ipairs(sorted_keys(props)) do
        if v[k] ~= nil then
          validate(ctx, props[k], spath .. "/properties/" .. esc(k), v[k], ipath .. "/" .. esc(k), errs)
        end
      end
    end
    if s.required then
      for _, k in ipairs(s.required) do
        if v[k] == nil then
          add(errs, ipath .. "/" .. esc(k), spath .. "/required", "required property is missing", "required")
        end
      end
    end
    local ap = s.additionalProperties
    if ap ~= nil and ap ~= true then
      for _, k in ipairs(sorted_keys(v)) do
        if not (props and props[k] ~= nil) then
          local p = ipath .. "/" .. esc(k)
          if ap == false then
            add(errs, p, spath .. "/additionalProperties",
              "property is not allowed (additionalProperties: false)", "additional")
          else
            validate(ctx, ap, spath .. "/additionalProperties", v[k], p, errs)
          end
        end
      end
    end
    if s.minProperties or s.maxProperties then
      local n = 0
      for _ in pairs(v) do n = n + 1 end
      if s.minProperties and n < s.minProperties then
        add(errs, ipath, spath .. "/minProperties", ("has %d properties, at least %d required")
          :format(n, s.minProperties), "count")
      end
      if s.maxProperties and n > s.maxProperties then
        add(errs, ipath, spath .. "/maxProperties", ("has %d properties, at most %d allowed")
          :format(n, s.maxProperties), "count")
      end
    end
  end

  -- arrays
  if jt == "array" or jt == "empty" then
    local n = jt == "empty" and 0 or array_len(v)
    local pre = s.prefixItems
    local npre = pre and #pre or 0
    if pre then
      for i = 1, math.min(npre, n) do
        validate(ctx, pre[i], spath .. "/prefixItems/" .. (i - 1), v[i], ipath .. "/" .. (i - 1), errs)
      end
    end
    if s.items ~= nil then
      for i = npre + 1, n do
        validate(ctx, s.items, spath .. "/items", v[i], ipath .. "/" .. (i - 1), errs)
      end
    end
    if s.minItems and n < s.minItems then
      add(errs, ipath, spath .. "/minItems", ("has %d items, at least %d required"):format(n, s.minItems), "count")
    end
    if s.maxItems and n > s.maxItems then
      add(errs, ipath, spath .. "/maxItems", ("has %d items, at most %d allowed"):format(n, s.maxItems), "count")
    end
    if s.uniqueItems == true then
      for i = 1, n do
        for j = i + 1, n do
          if deep_equal(v[i], v[j]) then
            add(errs, ipath .. "/" .. (j - 1), spath .. "/uniqueItems",
              ("duplicates item %d (uniqueItems)"):format(i - 1), "unique")
          end
        end
      end
    end
  end

  -- strings
  if jt == "string" then
    if s.minLength or s.maxLength then
      local n = utf8_len(v)
      if s.minLength and n < s.minLength then
        add(errs, ipath, spath .. "/minLength", ("is %d characters, at least %d required")
          :format(n, s.minLength), "length")
      end
      if s.maxLength and n > s.maxLength then
        add(errs, ipath, spath .. "/maxLength", ("is %d characters, at most %d allowed")
          :format(n, s.maxLength), "length")
      end
    end
    if s.pattern and not PATTERNS[s.pattern](v) then
      add(errs, ipath, spath .. "/pattern", ("%s does not match %q"):format(show(v), s.pattern), "pattern")
    end
    if s.format and not FORMATS[s.format](v) then
      add(errs, ipath, spath .. "/format", ("%s is not a valid %s"):format(show(v), s.format), "format")
    end
  end

  -- numbers
  if jt == "number" then
    local emin, emax = s.exclusiveMinimum, s.exclusiveMaximum
    if s.minimum then
      if emin == true then
        if not (v > s.minimum) then
          add(errs, ipath, spath .. "/exclusiveMinimum", ("%s is not greater than %s")
            :format(show(v), show(s.minimum)), "range")
        end
      elseif v < s.minimum then
        add(errs, ipath, spath .. "/minimum", ("%s is less than the minimum %s")
          :format(show(v), show(s.minimum)), "range")
      end
    end
    if s.maximum then
      if emax == true then
        if not (v < s.maximum) then
          add(errs, ipath, spath .. "/exclusiveMaximum", ("%s is not less than %s")
            :format(show(v), show(s.maximum)), "range")
        end
      elseif v > s.maximum then
        add(errs, ipath, spath .. "/maximum", ("%s is greater than the maximum %s")
          :format(show(v), show(s.maximum)), "range")
      end
    end
    if type(emin) == "number" and not (v > emin) then
      add(errs, ipath, spath .. "/exclusiveMinimum", ("%s is not greater than %s")
        :format(show(v), show(emin)), "range")
    end
    if type(emax) == "number" and not (v < emax) then
      add(errs, ipath, spath .. "/exclusiveMaximum", ("%s is not less than %s")
        :format(show(v), show(emax)), "range")
    end
    if s.multipleOf then
      local q = v / s.multipleOf
      if math.abs(q - math.floor(q + 0.5)) > 1e-9 then
        add(errs, ipath, spath .. "/multipleOf", ("%s is not a multiple of %s")
          :format(show(v), show(s.multipleOf)), "range")
      end
    end
  end

  -- combinators
  if s.allOf then
    for i, sub in ipairs(s.allOf) do
      validate(ctx, sub, spath .. "/allOf/" .. (i - 1), v, ipath, errs)
    end
  end
  for _, kw in ipairs { "anyOf", "oneOf" } do
    local list = s[kw]
    if list then
      local results, matched = {}, {}
      for i, sub in ipairs(list) do
        local sub_errs = {}
        validate(ctx, sub, spath .. "/" .. kw .. "/" .. (i - 1), v, ipath, sub_errs)
        results[i] = sub_errs
        if #sub_errs == 0 then
          matched[#matched + 1] = i - 1
          if kw == "anyOf" then break end
        end
      end
      if #matched == 0 then
        report_branches(ctx, s, spath, kw, v, ipath, jt, results, errs)
      elseif kw == "oneOf" and #matched > 1 then
        add(errs, ipath, spath .. "/oneOf", ("matches %d oneOf branches (%s); exactly one must match")
          :format(#matched, table.concat(matched, ", ")), "oneOf")
      end
    end
  end
  if s["not"] ~= nil then
    local sub_errs = {}
    validate(ctx, s["not"], spath .. "/not", v, ipath, sub_errs)
    if #sub_errs == 0 then
      add(errs, ipath, spath .. "/not", "matches a schema it must not match", "not")
    end
  end
end

--- validate(doc, name, value) -> true | false, errs. name is a schema name
--- under #/components/schemas, or a "#/..." pointer. errs is a list of
--- "/instance/pointer: message (schema: #/schema/pointer)" strings ("(root)"
--- for the whole value). Raises when a reachable schema uses a keyword this
--- validator does not check.
function M.validate(doc, name, value)
  if type(doc) ~= "table" then error("openapi.validate: doc expected", 2) end
  if type(name) ~= "string" then error("openapi.validate: schema name expected", 2) end
  check_schemas(doc, name)
  local ref = root_ref(name)
  local ctx = { doc = doc, depth = 0 }
  local errs = {}
  validate(ctx, resolve(doc, ref), ref, value, "", errs)
  if #errs == 0 then return true, {} end
  local out = {}
  for i, e in ipairs(errs) do
    out[i] = ("%s: %s (schema: %s)"):format(e.ptr == "" and "(root)" or e.ptr, e.msg, e.schema)
  end
  return false, out
end

---------------------------------------------------------------------------
-- JSON decoding that keeps [] apart from {}

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

-- Arithmetic, not bit operators: the same source runs under LuaJIT.
local function utf8_char(c)
  local f = math.floor
  if c < 0x80 then return string.char(c) end
  if c < 0x800 then return string.char(0xC0 + f(c / 64), 0x80 + c % 64) end
  if c < 0x10000 then
    return string.char(0xE0 + f(c / 4096), 0x80 + f(c / 64) % 64, 0x80 + c % 64)
  end
  return string.char(0xF0 + f(c / 262144), 0x80 + f(c / 4096) % 64, 0x80 + f(c / 64) % 64, 0x80 + c % 64)
end

--- decode(text) -> value | nil, message: strict JSON (RFC 8259); arrays
--- carry openapi.array_mt and objects openapi.object_mt, null is cjson.null.
function M.decode(text)
  local pos = 1
  local function fail(msg) error({ msg = ("%s at byte %d"):format(msg, pos) }) end
  local function ws() pos = text:find("[^ \t\r\n]", pos) or #text + 1 end
  local value
  local function str()
    pos = pos + 1
    local parts = {}
    while true do
      local s, e = text:find('[%z\1-\31"\\]', pos)
      if not s then fail("unterminated string") end
      parts[#parts + 1] = text:sub(pos, s - 1)
      local c = text:sub(s, s)
      if c == '"' then pos = e + 1 break end
      if c ~= "\\" then pos = s fail("control character in string") end
      local x = text:sub(s + 1, s + 1)
      if x == "u" then
        local h = text:match("^%x%x%x%x", s + 2)
        if not h then pos = s fail("bad \\u escape") end
        local cp = tonumber(h, 16)
        pos = s + 6
        if cp >= 0xD800 and cp <= 0xDBFF then
          local lo = text:match("^\\u(%x%x%x%x)", pos)
          lo = lo and tonumber(lo, 16)
          if not lo or lo < 0xDC00 or lo > 0xDFFF then fail("unpaired surrogate") end
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
          pos = pos + 6
        elseif cp >= 0xDC00 and cp <= 0xDFFF then
          fail("unpaired surrogate")
        end
        parts[#parts + 1] = utf8_char(cp)
      elseif escapes[x] then
        parts[#parts + 1] = escapes[x]
        pos = s + 2
      else
        pos = s fail("bad escape")
      end
    end
    return table.concat(parts)
  end
  value = function(depth)
    if depth > 500 then fail("nested too deeply") end
    ws()
    local c = text:sub(pos, pos)
    if c == "{" then
      pos = pos + 1
      local obj = setmetatable({}, M.object_mt)
      ws()
      if text:sub(pos, pos) == "}" then pos = pos + 1 return obj end
      while true do
        ws()
        if text:sub(pos, pos) ~= '"' then fail("object key expected") end
        local k = str()
        ws()
        if text:sub(pos, pos) ~= ":" then fail("':' expected") end
        pos = pos + 1
        obj[k] = value(depth + 1)
        ws()
        c = text:sub(pos, pos)
        pos = pos + 1
        if c == "}" then return obj end
        if c ~= "," then pos = pos - 1 fail("',' or '}' expected") end
      end
    elseif c == "[" then
      pos = pos + 1
      local arr = setmetatable({}, M.array_mt)
      ws()
      if text:sub(pos, pos) == "]" then pos = pos + 1 return arr end
      while true do
        arr[#arr + 1] = value(depth + 1)
        ws()
        c = text:sub(pos, pos)
        pos = pos + 1
        if c == "]" then return arr end
        if c ~= "," then pos = pos - 1 fail("',' or ']' expected") end
      end
    elseif c == '"' then
      return str()
    elseif text:find("^true", pos) then pos = pos + 4 return true
    elseif text:find("^false", pos) then pos = pos + 5 return false
    elseif text:find("^null", pos) then pos = pos + 4 return NULL
    else
      -- -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?
      local p = pos
      if text:sub(p, p) == "-" then p = p + 1 end
      local int = text:match("^%d+", p)
      if not int then fail("value expected") end
      if #int > 1 and int:sub(1, 1) == "0" then fail("leading zero") end
      p = p + #int
      if text:sub(p, p) == "." then
        local frac = text:match("^%d+", p + 1)
        if not frac then fail("digits expected after '.'") end
        p = p + 1 + #frac
      end
      if text:find("^[eE]", p) then
        local ex = text:match("^[-+]?%d+", p + 1)
        if not ex then fail("digits expected in exponent") end
        p = p + 1 + #ex
      end
      local num = text:sub(pos, p - 1)
      pos = p
      return tonumber(num)
    end
  end
  local ok, res = pcall(function()
    local v = value(0)
    ws()
    if pos <= #text then fail("trailing characters") end
    return v
  end)
  if ok then return res end
  if type(res) == "table" then return nil, "openapi.decode: " .. res.msg end
  error(res, 0)
end

return M
