-- keel schema: validate a JSON document against a JSON Schema.
--
--   keel schema validate [--dialect D] [--formats] [--ref URI=FILE]... [--output basic]
--                        SCHEMA.json [INSTANCE.json|-]
--
-- The instance is INSTANCE.json, or stdin when there is none (or "-").
-- Valid: nothing printed, exit 0. Invalid: one JSON line per error on stdout
-- ({"instance_path", "schema_path", "keyword", "message"}), exit 1. With
-- --output basic, one JSON document in the spec's "basic" output format
-- instead, valid or not. An instance that cannot be read, or is not JSON, is
-- bad input, not bad usage: exit 1 with a message on stderr (not JSON: also
-- the validator's "json" error on stdout, where it was found). A schema that
-- cannot be read, is not JSON or is not a valid schema (the message names its
-- JSON pointer), a --ref file likewise, or bad options: exit 2.
local json = require "keel.json"

local USAGE = [[
usage: keel schema validate [options] SCHEMA.json [INSTANCE.json|-]   (no INSTANCE or "-": stdin)
  --dialect D      the dialect when the schema has no $schema:
                   2020-12 (default) 2019-09 draft7 draft6 draft4
  --formats        "format" asserts (date-time, email, uri, ...); by default it is an annotation
  --ref URI=FILE   FILE is the schema at URI, for $refs to it (repeatable; nothing is fetched)
  --output basic   print the spec's "basic" output format as one JSON document, valid or not
exit status: 0 valid, 1 invalid (errors on stdout, one JSON line each) or the instance
unreadable / not JSON, 2 bad schema or bad usage
]]

local VALUED = { dialect = true, output = true }
local FLAGS = { formats = true, help = true }

local function fail(code, msg)
  io.stderr:write("keel schema: ", msg, "\n")
  return code
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s, rerr = f:read("a")
  f:close()
  if not s then return nil, path .. ": " .. tostring(rerr) end -- e.g. a directory
  return s
end

-- --ref repeats, and args.parse keeps one value per option: take every
-- --ref out first (up to a "--"), then parse the rest.
local function take_refs(args)
  local refs, rest = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--" then
      for j = i, #args do rest[#rest + 1] = args[j] end
      break
    elseif a == "--ref" then
      i = i + 1
      if args[i] == nil then return nil, "option --ref needs a value" end
      refs[#refs + 1] = args[i]
    elseif a:sub(1, 6) == "--ref=" then
      refs[#refs + 1] = a:sub(7)
    else
      rest[#rest + 1] = a
    end
    i = i + 1
  end
  return refs, rest
end

-- The message of an error compile() raised: a keel.error or a string, less
-- the "keel.schema: " prefix and the position a plain error() adds.
local function message(e)
  local m = type(e) == "table" and (e.message or tostring(e)) or tostring(e)
  return (m:gsub("^.-keel%.schema: ", ""))
end

-- One error a line, keys in a fixed, readable order.
local function error_line(e)
  return ('{"instance_path":%s,"schema_path":%s,"keyword":%s,"message":%s}'):format(
    json.encode(tostring(e.instance_path or "")), json.encode(tostring(e.schema_path or "")),
    json.encode(tostring(e.keyword or "")), json.encode(tostring(e.message or "")))
end

-- The basic output document with "valid" first, as the spec writes it.
local function basic_document(schema, ok, errors)
  if ok then return '{"valid":true}' end
  local doc = schema.basic(errors)
  local keys = {}
  for k in pairs(doc) do if k ~= "valid" then keys[#keys + 1] = k end end
  table.sort(keys)
  local parts = { '"valid":' .. json.encode(doc.valid == true) }
  for _, k in ipairs(keys) do
    local v = doc[k]
    if k == "errors" and type(v) == "table" then v = json.array(v) end
    parts[#parts + 1] = json.encode(k) .. ":" .. json.encode(v)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

return function(args)
  local refs, rest = take_refs(args)
  if not refs then return fail(2, rest .. "\n" .. USAGE) end
  local o, words = require("keel.cli.args").parse(rest, VALUED, FLAGS)
  if not o then return fail(2, words .. "\n" .. USAGE) end
  if o.help then
    io.stdout:write(USAGE)
    return 0
  end
  local cmd = words[1]
  if cmd ~= "validate" then
    return fail(2, (cmd and ("unknown command '%s'"):format(cmd) or "command expected") .. "\n" .. USAGE)
  end
  if not words[2] then return fail(2, "a schema file expected\n" .. USAGE) end
  if #words > 3 then return fail(2, "one instance file at most\n" .. USAGE) end
  local schema = require "keel.schema"
  if o.dialect and not schema.dialects[o.dialect] then
    return fail(2, ("unknown dialect '%s' (known: 2020-12 2019-09 draft7 draft6 draft4)"):format(o.dialect))
  end
  if o.output and o.output ~= "basic" then
    return fail(2, ("unknown output format '%s' (known: basic)"):format(o.output))
  end

  local registry
  for _, r in ipairs(refs) do
    local uri, file = r:match("^(.-)=(.+)$")
    if not uri or uri == "" then return fail(2, ("--ref %s: URI=FILE expected"):format(r)) end
    local text, err = read_file(file)
    if not text then return fail(2, ("--ref %s: %s"):format(uri, err)) end
    registry = registry or {}
    registry[uri] = text
  end

  local schema_path = words[2]
  local schema_text, serr = read_file(schema_path)
  if not schema_text then return fail(2, "cannot read the schema: " .. serr) end
  local ok, s = pcall(schema.compile, schema_text,
    { dialect = o.dialect, registry = registry, formats = o.formats or nil })
  if not ok then
    local msg = message(s)
    if msg:find("cannot resolve", 1, true) then msg = msg .. "; a local copy goes in with --ref URI=FILE" end
    return fail(2, ("%s: bad schema: %s"):format(schema_path, msg))
  end

  local inst_path = words[3] or "-"
  local text, ierr
  if inst_path == "-" then
    text, ierr = io.stdin:read("a")
    if not text then ierr = "stdin: " .. tostring(ierr) end
  else
    text, ierr = read_file(inst_path)
  end
  if not text then
    s:close()
    return fail(1, "cannot read the instance: " .. ierr)
  end

  local valid, errors = s:validate(text)
  s:close()
  if o.output == "basic" then
    io.stdout:write(basic_document(schema, valid, errors), "\n")
  elseif not valid then
    local out = {}
    for i, e in ipairs(errors) do out[i] = error_line(e) end
    io.stdout:write(table.concat(out, "\n"), "\n")
  end
  if errors and errors.capped then
    io.stderr:write(("keel schema: the first %d errors are shown; there are more\n"):format(#errors))
  end
  if not valid and errors[1] and errors[1].keyword == "json" then
    fail(1, ("%s is not JSON: %s"):format(inst_path == "-" and "stdin" or inst_path,
      (tostring(errors[1].message):gsub("^not JSON: ", ""))))
  end
  return valid and 0 or 1
end
