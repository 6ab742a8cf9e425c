-- keel.json: the JSON codec keel uses on the Lua side.
--
-- Decoding is lua-cjson's (fast, well kept). Encoding is keel's own C encoder
-- (keel.core.json) because Debian's lua-cjson 2.1.0 cannot write an empty
-- array, writes keys in hash order and floats with 14 digits: keel needs `[]`
-- in tool schemas, the same bytes for the same value (cache keys, recorded
-- cassettes) and numbers that round-trip.
local cj = require("keel.core").json

local M = {
  null = cj.null,          -- the same lightuserdata as cjson.null
  array_mt = cj.array_mt,
  array = cj.array,        -- json.array(t): t always encodes as an array, {} as []
  encode = cj.encode,      -- raises with a JSON pointer on unencodable values
}

-- lua-cjson loads on first use: `require "keel"` works without it.
local decode

--- decode(text) -> value | nil, message. JSON null decodes to json.null;
--- numbers are Lua numbers as cjson gives them (floats under Lua 5.4).
function M.decode(text)
  if type(text) ~= "string" then return nil, "keel.json: string expected" end
  if not decode then decode = require("cjson.safe").decode end
  return decode(text)
end

return M
