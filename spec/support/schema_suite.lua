-- Runs the official JSON Schema test suite (../shared/data/json-schema-test-suite)
-- through keel.schema. Used by spec/schema_suite_spec.lua and by hand:
--   lua5.4 spec/support/schema_suite.lua [dialect-dir] [-v]
local json = require "keel.json"
local schema = require "keel.schema"

local M = {}
M.root = os.getenv("KEEL_SCHEMA_SUITE") or "../shared/data/json-schema-test-suite"
M.dialects = {
  { dir = "draft2020-12", name = "2020-12" },
  { dir = "draft2019-09", name = "2019-09" },
  { dir = "draft7", name = "draft7" },
  { dir = "draft6", name = "draft6" },
  { dir = "draft4", name = "draft4" },
}

local function slurp(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function ls(dir)
  local out = {}
  local p = io.popen('ls "' .. dir .. '" 2>/dev/null')
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

-- remotes/ served as http://localhost:1234/...
local registry
function M.registry()
  if registry then return registry end
  registry = {}
  local p = io.popen('cd "' .. M.root .. '/remotes" && find . -name "*.json" | sort')
  for f in p:lines() do
    local rel = f:sub(3)
    registry["http://localhost:1234/" .. rel] = slurp(M.root .. "/remotes/" .. rel)
  end
  p:close()
  return registry
end

-- Files of one dialect: required ones, then optional (format under optional/format).
function M.files(dir)
  local base = M.root .. "/tests/" .. dir
  local req, opt = {}, {}
  for _, f in ipairs(ls(base)) do
    if f:match("%.json$") then req[#req + 1] = { path = base .. "/" .. f, name = f } end
  end
  for _, f in ipairs(ls(base .. "/optional")) do
    if f:match("%.json$") then opt[#opt + 1] = { path = base .. "/optional/" .. f, name = "optional/" .. f } end
  end
  for _, f in ipairs(ls(base .. "/optional/format")) do
    if f:match("%.json$") then opt[#opt + 1] = { path = base .. "/optional/format/" .. f, name = "optional/format/" .. f, format = true } end
  end
  return req, opt
end

-- The raw text of every test's "data", in order: instances are validated
-- from their own text, so literals keep their digits (1.0 stays 1.0 under
-- LuaJIT, bignums stay exact) as a real document would.
local function skip_ws(t, i) return t:find("[^ \t\r\n]", i) end
local function skip_value(t, i)
  i = skip_ws(t, i)
  local c = t:sub(i, i)
  if c == '"' then
    local j = i + 1
    while true do
      local q = t:find('["\\]', j)
      if t:sub(q, q) == "\\" then j = q + 2 else return q + 1 end
    end
  elseif c == "{" or c == "[" then
    local close = c == "{" and "}" or "]"
    i = skip_ws(t, i + 1)
    if t:sub(i, i) == close then return i + 1 end
    while true do
      if c == "{" then i = skip_ws(t, skip_value(t, i)) + 1 end -- key and ':'
      i = skip_ws(t, skip_value(t, i))
      if t:sub(i, i) == close then return i + 1 end
      i = i + 1 -- ','
    end
  else
    return t:find("[,}%] \t\r\n]", i) or #t + 1
  end
end
-- members(t, i): { key = {start, stop} } of the object at i
local function members(t, i)
  local out = {}
  i = skip_ws(t, i) + 1
  while true do
    i = skip_ws(t, i)
    if t:sub(i, i) == "}" then return out end
    local ke = skip_value(t, i)
    local key = json.decode(t:sub(i, ke - 1))
    local vs = skip_ws(t, skip_ws(t, ke) + 1)
    local ve = skip_value(t, vs)
    out[key] = { vs, ve }
    i = skip_ws(t, ve)
    if t:sub(i, i) == "," then i = i + 1 end
  end
end
local function elements(t, i)
  local out = {}
  i = skip_ws(t, i) + 1
  while true do
    i = skip_ws(t, i)
    if t:sub(i, i) == "]" then return out end
    local e = skip_value(t, i)
    out[#out + 1] = { i, e }
    i = skip_ws(t, e)
    if t:sub(i, i) == "," then i = i + 1 end
  end
end
local function raw_data(text)
  local out = {}
  for gi, g in ipairs(elements(text, 1)) do
    out[gi] = {}
    local tests = members(text, g[1]).tests
    for ti, tt in ipairs(elements(text, tests[1])) do
      local d = members(text, tt[1]).data
      out[gi][ti] = text:sub(d[1], d[2] - 1)
    end
  end
  return out
end

-- Runs one file: returns a list of { group=, test=, ok=, why= }.
function M.run_file(file, dialect)
  local text = assert(slurp(file.path))
  local groups = assert(json.decode(text))
  local raw = raw_data(text)
  local results = {}
  for gi, g in ipairs(groups) do
    local ok_c, s = pcall(schema.compile, g.schema, { dialect = dialect, registry = M.registry(), formats = file.format })
    for ti, t in ipairs(g.tests) do
      local r = { group = g.description, test = t.description, file = file.name }
      if not ok_c then
        r.ok, r.why = false, "compile: " .. tostring(s)
      else
        local okv, valid, errs = pcall(s.validate, s, raw[gi][ti])
        if not okv then r.ok, r.why = false, "raised: " .. tostring(valid)
        elseif valid ~= t.valid then
          r.ok = false
          r.why = ("expected %s, got %s%s"):format(tostring(t.valid), tostring(valid),
            errs and errs[1] and (": " .. errs[1].schema_path .. " " .. errs[1].message) or "")
        else r.ok = true end
      end
      results[#results + 1] = r
    end
  end
  return results
end

if arg and arg[0] and arg[0]:match("schema_suite%.lua$") then
  local only, verbose = arg[1], arg[2] == "-v" or arg[1] == "-v"
  for _, d in ipairs(M.dialects) do
    if not only or only == d.dir or only == "-v" then
      local req, opt = M.files(d.dir)
      for pass, list in ipairs { req, opt } do
        local n, okn = 0, 0
        for _, f in ipairs(list) do
          for _, r in ipairs(M.run_file(f, d.name)) do
            n = n + 1
            if r.ok then okn = okn + 1
            elseif verbose then print(("  FAIL %s | %s | %s: %s"):format(r.file, r.group, r.test, r.why)) end
          end
        end
        print(("%-8s %-9s %4d / %4d  (%.1f%%)"):format(d.name, pass == 1 and "required" or "optional", okn, n,
          n > 0 and 100 * okn / n or 0))
      end
    end
  end
end

return M
