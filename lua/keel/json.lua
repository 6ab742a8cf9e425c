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

return M
