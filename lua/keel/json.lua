-- keel.json: the JSON codec keel uses on the Lua side.
--
-- Both directions are keel's own C codec (keel.core.json), not lua-cjson:
-- Debian's lua-cjson 2.1.0 cannot write an empty array, writes keys in hash
-- order and floats with 14 digits, decodes [] as a plain {} (so it would come
-- back as {}) and every number as a float under Lua 5.4. keel needs `[]` in
-- tool schemas and tool inputs, the same bytes for the same value (cache
-- keys, recorded cassettes), numbers that round-trip and integer token counts.
local cj = require("keel.core").json

local M = {
  null = cj.null,          -- the same lightuserdata as cjson.null
  array_mt = cj.array_mt,
  array = cj.array,        -- json.array(t): t always encodes as an array, {} as []
  encode = cj.encode,      -- raises with a JSON pointer on unencodable values
}

local decode = cj.decode

--- decode(text [, opts]) -> value | nil, message. Strict RFC 8259; never
--- raises on bad input ("keel.json: <what> at byte N (line L, column C)").
--- Arrays get json.array_mt (so [] encodes back as []), null is json.null,
--- integer literals that fit int64 are Lua integers (5.4), the last of
--- duplicate keys wins. opts.max_depth: 1..1000 (default 1000). Not a string:
--- nil, "keel.json: string expected".
function M.decode(text, opts)
  if type(text) ~= "string" then return nil, "keel.json: string expected" end
  return decode(text, opts)
end

local ex = require("keel.core").extract
local kerror = require "keel.error"

--- extract(text [, {lenient = true}]) -> value, info | nil, err
--- The JSON value in a model's answer: the whole text, else a ```json (or
--- untagged) fence, else the first complete object or array in the prose
--- (src/core/jsonextract.h has the rules). A value cut off at the end of
--- the text, or a fragment inside a broken value, is never returned.
--- info: { source = "whole"|"fence"|"text", start =, stop = (bytes, 1-based),
--- line =, column =, candidates = (complete values the scan saw), text =
--- (the JSON text decoded), repaired = { "trailing_comma", ... } (lenient
--- only, when repairs were needed; absent otherwise) }.
--- opts.lenient: repair trailing commas, smart and single quotes, comments
--- and Python's True/False/None, and say so in info.repaired.
--- err: keel.error kind "invalid_output", with .at/.line/.column of the
--- attempt that got furthest when there was one.
function M.extract(text, opts)
  if type(text) ~= "string" then error("keel.json.extract: string expected, got " .. type(text), 2) end
  if opts ~= nil and type(opts) ~= "table" then error("keel.json.extract: options table expected", 2) end
  local lenient = opts and opts.lenient or false
  local js, source, start, stop, repairs, candidates, line, col = ex.extract(text, lenient)
  if not js then
    local e = source
    if not e.what then
      return nil, kerror.new("invalid_output", ("keel.json.extract: no JSON object or array in the text (%d bytes)")
        :format(#text))
    end
    return nil, kerror.new("invalid_output", ("keel.json.extract: the JSON starting at line %d, column %d is not " ..
      "valid: %s at byte %d (line %d, column %d)%s"):format(e.from_line, e.from_column, e.what, e.at, e.line,
      e.column, e.what == "unexpected end of input" and " (the text is cut off)" or ""),
      { at = e.at, line = e.line, column = e.column })
  end
  local value, err = decode(js)
  if value == nil and err then -- cannot happen: the C side checked it; say so rather than pass nil on
    return nil, kerror.new("invalid_output", "keel.json.extract: " .. tostring(err))
  end
  local info = { source = source, start = start, stop = stop, line = line, column = col,
    candidates = candidates, text = js }
  if repairs ~= 0 then
    info.repaired = {}
    for bit = 1, 16 do
      if math.floor(repairs / bit) % 2 == 1 and ex.repair_names[bit] then info.repaired[#info.repaired + 1] = ex.repair_names[bit] end
    end
  end
  return value, info
end

return M
