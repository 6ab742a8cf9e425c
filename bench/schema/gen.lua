-- bench/schema inputs: the schema and N documents shaped like what a model
-- returns for a structured-extraction prompt, the files keel, ajv and
-- lua-cjson all read. Same bytes on every machine and run (a fixed 64-bit
-- LCG, no os/time input).
--   lua5.4 gen.lua DIR [N]    (default 10000; Lua 5.4 integers)
-- writes DIR/schema.json (2020-12: enums, nested arrays of objects, $ref to
-- $defs, required, minLength/maxLength, pattern, uniqueItems, minimum/maximum,
-- additionalProperties false), DIR/docs.jsonl (one compact document a line,
-- ~2 KB, with non-ASCII text and escapes) and DIR/expected.txt ("1" valid,
-- "0" invalid, one character per document). About 3% are invalid, each by one
-- slip a model makes (missing or misspelled field, value outside an enum,
-- string too long, wrong type, ...), so the failing path is timed too.
local dir, n = arg[1], tonumber(arg[2] or "10000")
assert(dir, "usage: gen.lua DIR [N]")
assert(math.type(1) == "integer", "gen.lua needs Lua 5.4 integers")

local state = 0x9E3779B97F4A7C15
local function rand(k) -- 1..k
  state = state * 6364136223846793005 + 1442695040888963407
  return ((state >> 33) % k) + 1
end
local function pick(t) return t[rand(#t)] end
local function chance(p) return rand(1000) <= p * 1000 end

local SCHEMA = [[{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://keel.invalid/bench/extraction.json",
  "title": "Document extraction result",
  "type": "object",
  "required": ["id", "title", "summary", "status", "language", "created_at", "confidence", "tags",
               "entities", "line_items", "total", "currency"],
  "additionalProperties": false,
  "properties": {
    "id": { "type": "string", "pattern": "^doc-[0-9a-f]{8}$" },
    "title": { "type": "string", "minLength": 3, "maxLength": 120 },
    "summary": { "type": "string", "minLength": 40, "maxLength": 800 },
    "status": { "enum": ["draft", "in_review", "approved", "rejected", "archived"] },
    "language": { "type": "string", "enum": ["en", "fr", "de", "es", "ja", "zh"] },
    "created_at": { "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$" },
    "confidence": { "type": "number", "minimum": 0, "maximum": 1 },
    "tags": {
      "type": "array", "maxItems": 12, "uniqueItems": true,
      "items": { "type": "string", "minLength": 2, "maxLength": 32, "pattern": "^[a-z][a-z0-9-]*$" }
    },
    "entities": { "type": "array", "minItems": 1, "maxItems": 20, "items": { "$ref": "#/$defs/entity" } },
    "line_items": { "type": "array", "maxItems": 50, "items": { "$ref": "#/$defs/line_item" } },
    "total": { "type": "number", "minimum": 0 },
    "currency": { "enum": ["USD", "EUR", "GBP", "JPY", "CHF"] },
    "notes": { "type": ["string", "null"], "maxLength": 500 }
  },
  "$defs": {
    "entity": {
      "type": "object",
      "required": ["name", "kind", "mentions"],
      "additionalProperties": false,
      "properties": {
        "name": { "type": "string", "minLength": 1, "maxLength": 80 },
        "kind": { "enum": ["person", "organization", "location", "product", "date", "other"] },
        "mentions": { "type": "integer", "minimum": 1 },
        "salience": { "type": "number", "minimum": 0, "maximum": 1 },
        "aliases": { "type": "array", "items": { "type": "string", "minLength": 1, "maxLength": 80 } }
      }
    },
    "line_item": {
      "type": "object",
      "required": ["sku", "description", "quantity", "unit_price"],
      "additionalProperties": false,
      "properties": {
        "sku": { "type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$" },
        "description": { "type": "string", "minLength": 1, "maxLength": 200 },
        "quantity": { "type": "integer", "minimum": 1, "maximum": 100000 },
        "unit_price": { "type": "number", "minimum": 0 },
        "due_date": { "type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$" },
        "attributes": {
          "type": "object",
          "maxProperties": 8,
          "additionalProperties": { "type": ["string", "number", "boolean"] }
        }
      }
    }
  }
}
]]

local WORDS = {}
for w in ([[invoice shipment contract supplier customer payment delivery warehouse order quarterly report
revenue forecast meeting agreement renewal discount pallet freight customs clearance audit compliance
policy review approval budget estimate margin region market product launch pricing tier subscription
service level incident outage response escalation support ticket account balance transfer schedule
the of and to in for with on by from at as is was were will be has have that this which under after
before during between new final updated pending signed annual monthly weekly net gross total unit]]):gmatch("%S+") do
  WORDS[#WORDS + 1] = w
end
-- Some non-ASCII text: lengths count code points, not bytes.
local FOREIGN = { "café", "Zürich", "São Paulo", "Größe", "Łódź", "naïve", "résumé", "Москва", "東京", "北京",
  "München", "Kraków", "Malmö", "Ærø", "Αθήνα", "crème brûlée", "日本語", "데이터" }
local PEOPLE = { "Ada Lovelace", "Grace Hopper", "Alan Turing", "Barbara Liskov", "Edsger Dijkstra",
  "Margaret Hamilton", "Donald Knuth", "Frances Allen", "José Martínez", "Zoë Müller", "李明", "田中 太郎",
  "Søren Kierkegaard", "Chloé Dubois", "Øystein Berg", "Ngozi Okafor" }
local ORGS = { "Acme Corp", "Globex", "Initech", "Umbrella Logistics", "Stark Industries", "Wayne Enterprises",
  "Hooli", "Vandelay Industries", "Soylent GmbH", "Tyrell S.A.", "Cyberdyne Systems", "Oceanic Freight Ltd." }
local PLACES = { "Rotterdam", "Hamburg", "Singapore", "Chicago", "Lyon", "Zürich", "São Paulo", "東京",
  "Москва", "Kraków", "Nairobi", "Melbourne", "Vancouver", "Osaka" }
local PRODUCTS = { "steel bolts M8", "copper wire 2.5mm²", "LED panel 60×60", "office chairs", "A4 paper",
  "laptop stand", "USB-C cables", "pallet wrap", "thermal labels", "safety gloves", "ink cartridges" }
local KINDS = { "person", "organization", "location", "product", "date", "other" }
local STATUS = { "draft", "in_review", "approved", "rejected", "archived" }
local LANGS = { "en", "fr", "de", "es", "ja", "zh" }
local CURRENCIES = { "USD", "EUR", "GBP", "JPY", "CHF" }
local TAGS = { "invoice", "contract", "urgent", "q3", "q4", "logistics", "finance", "legal", "emea", "apac",
  "renewal", "audit", "follow-up", "priority-high", "customs", "hr", "procurement", "tier-2", "eu-vat", "net-30" }
local COLORS = { "red", "blue", "graphite", "white", "sand", "olive" }

local function words(k)
  local t = {}
  for i = 1, k do t[i] = chance(0.06) and pick(FOREIGN) or pick(WORDS) end
  return table.concat(t, " ")
end
local function sentence()
  local s = words(6 + rand(12))
  s = s:gsub("^%l", string.upper)
  if chance(0.1) then s = s .. ' ("' .. pick(ORGS) .. '")' end
  return s .. pick { ".", ".", ".", ";", "!" }
end
local function ulen(s) return assert(utf8.len(s)) end
-- The longest run of whole sentences (or words, for the title) that fits max code points.
local function fit(s, max)
  if ulen(s) <= max then return s end
  local out = ""
  for w in s:gmatch("%S+") do
    local nxt = out == "" and w or (out .. " " .. w)
    if ulen(nxt) > max then break end
    out = nxt
  end
  return out
end

-- JSON writing: keys in the order given, strings escaped as a model writes them.
local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function jstr(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return ESC[c] or ("\\u%04x"):format(c:byte()) end) .. '"'
end
local enc
local function jobj(kv)
  local parts = {}
  for i = 1, #kv, 2 do parts[#parts + 1] = jstr(kv[i]) .. ":" .. enc(kv[i + 1]) end
  return "{" .. table.concat(parts, ",") .. "}"
end
local NULL = setmetatable({}, { __name = "null" })
local function num(fmt, v) return setmetatable({ fmt:format(v) }, { __name = "number" }) end
function enc(v)
  local t = type(v)
  if t == "string" then return jstr(v) end
  if t == "boolean" or math.type(v) == "integer" then return tostring(v) end
  if v == NULL then return "null" end
  local mt = getmetatable(v)
  if mt and mt.__name == "number" then return v[1] end
  if v.obj then return jobj(v.obj) end
  local parts = {}
  for i = 1, #v do parts[i] = enc(v[i]) end
  return "[" .. table.concat(parts, ",") .. "]"
end

local function date() return ("%04d-%02d-%02d"):format(2023 + rand(3), rand(12), rand(28)) end

local function entity()
  local kind = pick(KINDS)
  local name = kind == "person" and pick(PEOPLE) or kind == "organization" and pick(ORGS)
    or kind == "location" and pick(PLACES) or kind == "product" and pick(PRODUCTS)
    or kind == "date" and date() or words(1 + rand(2))
  local kv = { "name", name, "kind", kind, "mentions", rand(12) }
  if chance(0.8) then kv[#kv + 1] = "salience"; kv[#kv + 1] = num("%.3f", (rand(1001) - 1) / 1000) end
  if chance(0.4) then
    local a = {}
    for i = 1, rand(3) do a[i] = fit(name:gsub("%s.*", "") .. " " .. pick(WORDS), 80) end
    kv[#kv + 1] = "aliases"; kv[#kv + 1] = a
  end
  return { obj = kv }
end

local function line_item()
  local letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
  local function L() local k = rand(26); return letters:sub(k, k) end
  local kv = {
    "sku", ("%s%s%s-%04d"):format(L(), L(), L(), rand(10000) - 1),
    "description", fit(pick(PRODUCTS) .. ", " .. words(3 + rand(10)) .. (chance(0.1) and "\nsee annex" or ""), 200),
    "quantity", rand(500),
    "unit_price", num("%.2f", rand(99999) / 100),
  }
  if chance(0.7) then kv[#kv + 1] = "due_date"; kv[#kv + 1] = date() end
  if chance(0.6) then
    local a = { "color", pick(COLORS) }
    if chance(0.5) then a[#a + 1] = "weight_kg"; a[#a + 1] = num("%.1f", rand(500) / 10) end
    if chance(0.5) then a[#a + 1] = "fragile"; a[#a + 1] = chance(0.3) end
    if chance(0.3) then a[#a + 1] = "hs_code"; a[#a + 1] = ("%04d.%02d"):format(rand(9999), rand(99)) end
    kv[#kv + 1] = "attributes"; kv[#kv + 1] = { obj = a }
  end
  return { obj = kv }
end

local function document(i)
  local title = fit(sentence():gsub("[.;!]$", ""), 120)
  local ss = {}
  for k = 1, 3 + rand(4) do ss[k] = sentence() end
  local summary = fit(table.concat(ss, " "), 800)
  local tags, seen = {}, {}
  for _ = 1, 2 + rand(5) do
    local t = pick(TAGS)
    if not seen[t] then seen[t] = true; tags[#tags + 1] = t end
  end
  local ents = {}
  for k = 1, 2 + rand(4) do ents[k] = entity() end
  local items, total = {}, 0
  for k = 1, 1 + rand(4) do
    items[k] = line_item()
    total = total + items[k].obj[6] * tonumber(items[k].obj[8][1])
  end
  local kv = {
    "id", ("doc-%08x"):format((i * 2654435761) % 0x100000000),
    "title", title,
    "summary", summary,
    "status", pick(STATUS),
    "language", pick(LANGS),
    "created_at", ("%sT%02d:%02d:%02dZ"):format(date(), rand(24) - 1, rand(60) - 1, rand(60) - 1),
    "confidence", num("%.2f", (rand(101) - 1) / 100),
    "tags", tags,
    "entities", ents,
    "line_items", items,
    "total", num("%.2f", total),
    "currency", pick(CURRENCIES),
  }
  if chance(0.5) then
    kv[#kv + 1] = "notes"
    kv[#kv + 1] = chance(0.5) and NULL or fit("Reviewer: " .. sentence() .. "\n\t" .. sentence(), 500)
  end
  return kv
end

local function get(kv, key)
  for i = 1, #kv, 2 do if kv[i] == key then return i end end
end
-- One slip each; every one breaks exactly the documents it is applied to.
local SLIPS = {
  function(d) local it = d[get(d, "line_items") + 1][1].obj; table.remove(it, 5); table.remove(it, 5) end, -- no quantity
  function(d) local it = d[get(d, "line_items") + 1][1].obj; it[3] = "descripton" end,                   -- misspelled key
  function(d) d[get(d, "status") + 1] = "pending" end,                                                     -- not in enum
  function(d) d[get(d, "title") + 1] = ("Quarterly supplier review and renewal "):rep(4) end,            -- > 120
  function(d) local it = d[get(d, "line_items") + 1][1].obj; it[2] = it[2]:lower() end,                  -- pattern
  function(d) local it = d[get(d, "line_items") + 1][1].obj; it[6] = tostring(it[6]) end,                -- "3": type
  function(d) d[get(d, "confidence") + 1] = num("%.2f", 1.25) end,                                        -- maximum
  function(d) local e = d[get(d, "entities") + 1]; e[#e].obj[4] = "company" end,                        -- nested enum
  function(d) local t = d[get(d, "tags") + 1]; t[#t + 1] = t[1] end,                                      -- uniqueItems
  function(d) d[get(d, "summary") + 1] = "See attached." end,                                             -- < 40
  function(d) d[#d + 1] = "reasoning"; d[#d + 1] = sentence() end,                                        -- extra key
  function(d) d[get(d, "entities") + 1] = {} end,                                                          -- minItems
}

os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
local function write(name, s)
  local f = assert(io.open(dir .. "/" .. name, "wb"))
  f:write(s)
  f:close()
end
write("schema.json", SCHEMA)
local docs, expected, bytes, bad = {}, {}, 0, 0
for i = 1, n do
  local kv = document(i)
  if chance(0.03) then
    bad = bad + 1
    SLIPS[(bad - 1) % #SLIPS + 1](kv)
    expected[i] = "0"
  else
    expected[i] = "1"
  end
  local s = jobj(kv)
  docs[i] = s
  bytes = bytes + #s
end
write("docs.jsonl", table.concat(docs, "\n") .. "\n")
write("expected.txt", table.concat(expected))
io.stderr:write(("schema bench inputs: %d documents, %d invalid, %.0f bytes each on average, %d bytes in all\n")
  :format(n, bad, bytes / n, bytes))
