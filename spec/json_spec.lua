-- keel.core.json: the encoder's rules, every error message with its JSON
-- pointer, float formatting, key order, round trips through cjson, and the
-- same bytes under Lua 5.4 and LuaJIT (every expected output here is a literal
-- string, and this spec runs under both).
local globals_before = {}
for k in pairs(_G) do globals_before[k] = true end

local core = require("keel.core")
local json = core.json
local encode = json.encode

local has_cjson, cjson = pcall(require, "cjson")
local LUA54 = _VERSION == "Lua 5.4" and not rawget(_G, "jit")

-- The message encode(v) raises (nil if it does not raise).
local function raised(v)
  local ok, err = pcall(encode, v)
  if ok then return nil end
  return err
end

-- Reference formatting in plain Lua, for cross-checking many values: the
-- string and its number of significant digits.
local function ref_number(x)
  if x == math.floor(x) and x > -2 ^ 53 and x < 2 ^ 53 then return string.format("%d", x) end
  for prec = 15, 16 do
    local s = string.format("%." .. prec .. "g", x)
    if tonumber(s) == x then return s, prec end
  end
  return string.format("%.17g", x), 17
end

local function digits(s) -- significant digits of a %g string
  local m = s:gsub("^-", ""):gsub("e.*$", ""):gsub("%.", ""):gsub("^0+", "")
  return #m
end

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
  ["\r"] = "\\r", ["\t"] = "\\t" }
local function ref_string(s) -- s is valid UTF-8
  return '"' .. s:gsub('[%z\1-\31"\\\127]', function(c)
    return ESC[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

-- A finalizer that runs f, on either runtime (LuaJIT tables take no __gc).
local function with_gc(f)
  if rawget(_G, "newproxy") then
    local p = newproxy(true)
    getmetatable(p).__gc = f
    return p
  end
  return setmetatable({}, { __gc = f })
end

describe("keel.core.json", function()
  it("is reachable as keel.core.json and adds no globals", function()
    assert.equal(json, package.loaded["keel.core.json"])
    assert.is_function(json.encode)
    assert.is_function(json.array)
    assert.is_table(json.array_mt)
    assert.equal("userdata", type(json.null))
    for k in pairs(_G) do
      assert.is_true(globals_before[k] ~= nil, "new global " .. tostring(k))
    end
  end)

  it("null is cjson.null", function()
    if not has_cjson then return pending("lua-cjson not installed") end
    assert.equal(cjson.null, json.null)
  end)

  describe("scalars", function()
    local cases = {
      { "nil", nil, "null" },
      { "json.null", json.null, "null" },
      { "true", true, "true" },
      { "false", false, "false" },
      { "zero", 0, "0" },
      { "negative integer", -17, "-17" },
      { "integer", 1234567890, "1234567890" },
      { "2^53 - 1", 2 ^ 53 - 1, "9007199254740991" },
      { "empty string", "", '""' },
      { "plain string", "hello, world", '"hello, world"' },
    }
    for _, c in ipairs(cases) do
      it(c[1], function() assert.equal(c[3], encode(c[2])) end)
    end

    it("big integers print exactly (Lua 5.4)", function()
      if not LUA54 then return end -- LuaJIT numbers are doubles
      assert.equal("9223372036854775807", encode(math.maxinteger))
      assert.equal("-9223372036854775808", encode(math.mininteger))
      assert.equal("9007199254740993", encode(math.tointeger(2 ^ 53) + 1))
      assert.equal("[1,-1,100,-100]", encode({ 1, -1, 100, -100 }))
    end)
  end)

  describe("floats", function()
    -- Integral values below 2^53 print as integers (so 5.4's 1.0 and
    -- LuaJIT's 1 agree); -0.0 prints as 0. Others: the first of %.15g,
    -- %.16g, %.17g that reads back as the same double.
    local cases = {
      { "1.0", 1.0, "1" },
      { "0.0", 0.0, "0" },
      { "-0.0", -0.0, "0" },
      { "-3.0", -3.0, "-3" },
      { "1e15", 1e15, "1000000000000000" },
      { "2^53 - 1 as float", 2.0 ^ 53 - 1, "9007199254740991" },
      { "2^53", 2 ^ 53, "9007199254740992" },
      { "2^53 + 2", 2 ^ 53 + 2, "9007199254740994" },
      { "-2^53", -2 ^ 53, "-9007199254740992" },
      { "1e16", 1e16, "1e+16" },
      { "2^63", 2 ^ 63, "9.223372036854776e+18" },
      { "1e21", 1e21, "1e+21" },
      { "0.1", 0.1, "0.1" },
      { "0.7", 0.7, "0.7" },
      { "-0.5", -0.5, "-0.5" },
      { "0.1 + 0.2", 0.1 + 0.2, "0.30000000000000004" },
      { "1/3", 1 / 3, "0.3333333333333333" },
      { "2/3", 2 / 3, "0.6666666666666666" },
      { "123.45", 123.45, "123.45" },
      { "100.25", 100.25, "100.25" },
      { "0.0001", 0.0001, "0.0001" },
      { "0.00012345678", 0.00012345678, "0.00012345678" },
      { "1e-5", 1e-5, "1e-05" },
      { "12345678.9", 12345678.9, "12345678.9" },
      { "99999999999999.9", 99999999999999.9, "99999999999999.9" },
      { "-2^51 - 0.5", -2 ^ 51 - 0.5, "-2251799813685248.5" },
      { "1e300", 1e300, "1e+300" },
      { "-1e300", -1e300, "-1e+300" },
      { "5e-324", 5e-324, "4.94065645841247e-324" },
      { "DBL_MIN", 2.2250738585072014e-308, "2.2250738585072014e-308" },
      { "1.7976931348623157e308", 1.7976931348623157e308, "1.7976931348623157e+308" },
      { "math.pi", math.pi, "3.141592653589793" },
    }
    for _, c in ipairs(cases) do
      it(c[1] .. " -> " .. c[3], function()
        assert.equal(c[3], encode(c[2]))
        assert.equal(c[2], tonumber(encode(c[2])))
      end)
    end

    it("agree with the reference rule on 20000 random values", function()
      math.randomseed(20240611)
      local gens = {
        function() return (math.random() - 0.5) * 10 ^ math.random(-30, 30) end,
        function() return math.random(-1000000, 1000000) / 10 ^ math.random(1, 9) end,
        function() return math.random(1, 2 ^ 30) * 2.0 ^ math.random(-60, 40) end,
        function() return math.random(-99999, 99999) / 100 end,
        function() return math.random() end,
      }
      for i = 1, 20000 do
        local x = gens[i % #gens + 1]()
        local got = encode(x)
        local want, prec = ref_number(x)
        -- LuaJIT's string.format is its own and rounds exact decimal ties
        -- (...326.8125 to 17 digits) up where libc rounds to even; the
        -- encoder uses libc on both, so there only the length must match.
        local same = got == want or (not LUA54 and prec and digits(got) <= prec)
        if not same or tonumber(got) ~= x then
          error(("%.17g: got %s, want %s"):format(x, got, want))
        end
      end
    end)

    local bad = { { "NaN", 0 / 0 }, { "infinity", 1 / 0 }, { "-infinity", -1 / 0 } }
    for _, c in ipairs(bad) do
      it(c[1] .. " raises", function()
        assert.equal("keel.json: NaN or infinity at (root)", raised(c[2]))
        assert.equal("keel.json: NaN or infinity at /temperature",
          raised({ model = "m", temperature = c[2] }))
      end)
    end

    it("use '.' whatever LC_NUMERIC says", function()
      local old = os.setlocale(nil, "numeric")
      local comma
      for _, l in ipairs { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8" } do
        if os.setlocale(l, "numeric") then comma = l break end
      end
      if not comma then return pending("no locale with a decimal comma installed") end
      local ok, err = pcall(function()
        assert.equal("0.3333333333333333", encode(1 / 3))
        assert.equal("[0.7,1e+300,-2251799813685248.5]", encode({ 0.7, 1e300, -2 ^ 51 - 0.5 }))
      end)
      os.setlocale(old, "numeric")
      assert(ok, err)
    end)
  end)

  describe("strings", function()
    local cases = {
      { "quote", 'a"b', [["a\"b"]] },
      { "backslash", "a\\b", [["a\\b"]] },
      { "short escapes", "\b\f\n\r\t", [["\b\f\n\r\t"]] },
      { "NUL", "a\0b", [["a\u0000b"]] },
      { "other controls", "\1\2\11\14\27\31", [["\u0001\u0002\u000b\u000e\u001b\u001f"]] },
      { "DEL", "\127", [["\u007f"]] },
      { "slash not escaped", "</script>", [["</script>"]] },
      { "space and tilde kept", " ~", [[" ~"]] },
      { "2-byte UTF-8", "caf\195\169", '"caf\195\169"' },
      { "3-byte UTF-8", "\226\130\172", '"\226\130\172"' },
      { "4-byte UTF-8", "\240\159\152\128", '"\240\159\152\128"' },
      { "U+0080", "\194\128", '"\194\128"' },
      { "U+07FF", "\223\191", '"\223\191"' },
      { "U+0800", "\224\160\128", '"\224\160\128"' },
      { "U+D7FF", "\237\159\191", '"\237\159\191"' },
      { "U+E000", "\238\128\128", '"\238\128\128"' },
      { "U+FFFF", "\239\191\191", '"\239\191\191"' },
      { "U+10000", "\240\144\128\128", '"\240\144\128\128"' },
      { "U+10FFFF", "\244\143\191\191", '"\244\143\191\191"' },
      { "U+2028 passed through", "\226\128\168", '"\226\128\168"' },
    }
    for _, c in ipairs(cases) do
      it(c[1], function() assert.equal(c[3], encode(c[2])) end)
    end

    it("escape wherever the byte falls (word-at-a-time scan)", function()
      local pieces = { '"', "\\", "\n", "\0", "\31", "\127", "\195\169", "\226\130\172", "\240\159\152\128" }
      for _, p in ipairs(pieces) do
        for len = 0, 24 do
          for at = 0, len do
            local s = ("x"):rep(at) .. p .. ("y"):rep(len - at)
            assert.equal(ref_string(s), encode(s), ("%q at %d"):format(p, at))
          end
        end
      end
    end)

    it("agree with the reference on 2000 random strings", function()
      math.randomseed(7)
      local alphabet = { "a", "b", "Z", " ", "~", "/", '"', "\\", "\n", "\t", "\0", "\1", "\31", "\127",
        "\195\169", "\226\130\172", "\240\159\152\128", "\244\143\191\191", "longer plain text run " }
      for _ = 1, 2000 do
        local t = {}
        for j = 1, math.random(0, 60) do t[j] = alphabet[math.random(#alphabet)] end
        local s = table.concat(t)
        assert.equal(ref_string(s), encode(s))
      end
    end)

    it("a 1 MiB string with escapes", function()
      local s = ("0123456789abcde\n"):rep(65536)
      local out = encode(s)
      assert.equal(#s + 65536 + 2, #out)
      assert.equal(ref_string(s), out)
      assert.equal('{"a":1}', encode({ a = 1 })) -- the kept buffer still works
    end)

    local invalid = {
      { "lone continuation", "\128" },
      { "lone continuation BF", "\191" },
      { "overlong C0 80", "\192\128" },
      { "overlong C1 BF", "\193\191" },
      { "overlong E0 80 80", "\224\128\128" },
      { "overlong E0 9F BF", "\224\159\191" },
      { "surrogate D800", "\237\160\128" },
      { "surrogate DFFF", "\237\191\191" },
      { "overlong F0 80 80 80", "\240\128\128\128" },
      { "overlong F0 8F BF BF", "\240\143\191\191" },
      { "above U+10FFFF", "\244\144\128\128" },
      { "F5 lead", "\245\128\128\128" },
      { "FE", "\254" },
      { "FF", "\255" },
      { "truncated 2-byte", "\195" },
      { "truncated 3-byte", "\226\130" },
      { "truncated 4-byte", "\240\159\152" },
      { "bad second byte", "\195\40" },
      { "bad third byte", "\226\130\40" },
      { "bad fourth byte", "\240\159\152\40" },
      { "Latin-1 inside long ASCII", ("x"):rep(37) .. "caf\233" .. ("y"):rep(20) },
      { "CESU-8 pair", "\237\160\189\237\184\128" },
    }
    for _, c in ipairs(invalid) do
      it("invalid UTF-8 raises: " .. c[1], function()
        assert.equal("keel.json: invalid UTF-8 in string at (root)", raised(c[2]))
      end)
    end

    it("invalid UTF-8 reports where: in a value and in a key", function()
      local req = { messages = { { role = "user", content = "ok" }, { role = "user", content = "bad \255" } } }
      assert.equal("keel.json: invalid UTF-8 in string at /messages/1/content", raised(req))
      assert.equal("keel.json: invalid UTF-8 in object key at /a/b\\xFF", raised({ a = { ["b\255"] = 1 } }))
    end)
  end)

  describe("tables", function()
    local cases = {
      { "empty table is an object", {}, "{}" },
      { "json.array() is an empty array", json.array(), "[]" },
      { "array_mt set by hand", setmetatable({}, json.array_mt), "[]" },
      { "json.array with elements", json.array({ 1, "two", false }), '[1,"two",false]' },
      { "sequence", { 1, 2, 3 }, "[1,2,3]" },
      { "null elements", { 1, json.null, 3 }, "[1,null,3]" },
      { "nested arrays", { { 1 }, { { 2 } }, {} }, "[[1],[[2]],{}]" },
      { "object", { a = 1 }, '{"a":1}' },
      { "nested", { a = { b = { c = json.array() } } }, '{"a":{"b":{"c":[]}}}' },
      { "null member", { a = json.null }, '{"a":null}' },
      { "key escaping", { ['a"b'] = 1, ["\n"] = 2, ["\0"] = 3 }, '{"\\u0000":3,"\\n":2,"a\\"b":1}' },
      { "byte order of keys", { b = 1, a = 2, ab = 3, B = 4, [""] = 5, ["a\0"] = 6, z = 7, ["\195\169"] = 8, ["~"] = 9, A = 10 },
        '{"":5,"A":10,"B":4,"a":2,"a\\u0000":6,"ab":3,"b":1,"z":7,"~":9,"\195\169":8}' },
      { "prefix sorts first", { abc = 1, ab = 2, abcd = 3, a = 4 }, '{"a":4,"ab":2,"abc":1,"abcd":3}' },
      { "other metatables ignored (object)",
        setmetatable({ a = 1 }, { __index = function() error("ran __index") end,
          __pairs = function() error("ran __pairs") end, __len = function() error("ran __len") end }),
        '{"a":1}' },
      { "other metatables ignored (array)",
        setmetatable({ 1, 2 }, { __len = function() return 5 end, __index = function() return 0 end }),
        "[1,2]" },
      { "other metatables ignored (empty)", setmetatable({}, { __index = { a = 1 } }), "{}" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function() assert.equal(c[3], encode(c[2])) end)
    end

    it("arrays whose elements live in the hash part, in any order", function()
      local r = {}
      for i = 10, 1, -1 do r[i] = i end
      assert.equal("[1,2,3,4,5,6,7,8,9,10]", encode(r))
      local t = { 1, 2 }
      t[4] = 4
      t[3] = 3
      t[6] = 6
      t[5] = 5
      assert.equal("[1,2,3,4,5,6]", encode(t))
      assert.equal("[1,2,3,4,5,6]", encode(json.array(t)))
      local h = {}
      for i = 1, 100 do h[tostring(i)] = i end
      for i = 1, 100 do h[tostring(i)] = nil; h[101 - i] = i end
      local want = {}
      for i = 1, 100 do want[i] = tostring(101 - i) end
      assert.equal("[" .. table.concat(want, ",") .. "]", encode(h))
    end)

    it("json.array sets array_mt on the table it is given and returns it", function()
      local t = { 1 }
      assert.equal(t, json.array(t))
      assert.equal(json.array_mt, getmetatable(t))
      assert.equal(json.array_mt, getmetatable(json.array()))
      assert.equal(json.array_mt, getmetatable(json.array(nil)))
      local other = setmetatable({}, { __index = {} })
      assert.equal(json.array_mt, getmetatable(json.array(other)))
      assert.equal("[]", encode(other))
    end)

    it("objects of every size sort their keys (small, scratch, beyond the stack)", function()
      for _, n in ipairs { 2, 16, 17, 32, 33, 100, 1023, 1024, 1025, 5000 } do
        local t, keys = {}, {}
        for i = 1, n do
          local k = ("k%05d"):format((i * 7919) % 100003)
          t[k] = i
          keys[#keys + 1] = k
        end
        table.sort(keys)
        local parts = {}
        for i, k in ipairs(keys) do parts[i] = ('"%s":%d'):format(k, t[k]) end
        assert.equal("{" .. table.concat(parts, ",") .. "}", encode(t), n .. " keys")
      end
    end)

    it("big objects nested in big objects", function()
      local function obj(n, inner)
        local t = {}
        for i = 1, n do t[("key%04d"):format(i)] = inner and obj(3) or i end
        return t
      end
      local t = {}
      for i = 1, 40 do t[("o%02d"):format(i)] = obj(50, true) end
      local a, b = encode(t), encode(t)
      assert.equal(a, b)
      if has_cjson then assert.same(cjson.decode(a), cjson.decode(encode(cjson.decode(a)))) end
      -- 1100 keys each holding a 1100-key object: both levels use lookups.
      local big = {}
      for i = 1, 1100 do big[("x%04d"):format(i)] = i end
      local outer = { a = big, b = big }
      local s = encode(outer)
      local one = encode(big)
      assert.equal('{"a":' .. one .. ',"b":' .. one .. "}", s)
    end)

    it("many-key objects nested 100 deep (Lua stack use)", function()
      local root = {}
      local cur = root
      for d = 1, 100 do
        for i = 1, 200 do cur[("k%03d"):format(i)] = i end
        local nxt = {}
        cur.zz = nxt
        cur = nxt
      end
      local s = encode(root)
      local _, count = s:gsub('"k%d%d%d":', "")
      assert.equal(100 * 200, count)
      assert.equal(100, select(2, s:gsub('"zz":', "")))
    end)

    it("128 levels of nesting are fine", function()
      local v = {}
      local cur = v
      for _ = 1, 127 do
        local n = {}
        cur[1] = n
        cur = n
      end
      assert.equal(("["):rep(127) .. "{}" .. ("]"):rep(127), encode(v))
    end)
  end)

  describe("errors say what and where", function()
    local function fn() end
    local cases = {
      { "a function", fn, "keel.json: cannot encode a function at (root)" },
      { "a function in a tool", { tools = { fn } }, "keel.json: cannot encode a function at /tools/0" },
      { "a thread", { a = { coroutine.create(fn) } }, "keel.json: cannot encode a thread at /a/0" },
      { "a userdata", { x = io.stdout }, "keel.json: cannot encode a userdata at /x" },
      { "index counts from 0", { 1, 2, fn }, "keel.json: cannot encode a function at /2" },
      { "deep path", { a = { { b = { 1, 0 / 0 } } } }, "keel.json: NaN or infinity at /a/0/b/1" },
      { "mixed keys", { x = { 1, 2, a = 1 } }, "keel.json: mixed table keys at /x" },
      { "mixed keys, string first", { x = { a = 1, [1] = 2, [2] = 3, [3] = 4 } }, "keel.json: mixed table keys at /x" },
      { "sparse array", { x = { [1] = 1, [3] = 3 } }, "keel.json: sparse array at /x" },
      { "hole inside", { x = { 1, nil, 3 } }, "keel.json: sparse array at /x" },
      { "key 0", { [0] = 1 }, "keel.json: sparse array at (root)" },
      { "key 0 with 1..n", { [0] = 0, 1, 2 }, "keel.json: sparse array at (root)" },
      { "negative key", { [-1] = 1 }, "keel.json: sparse array at (root)" },
      { "only a late index", { [5] = 1 }, "keel.json: sparse array at (root)" },
      { "boolean key", { [true] = 1 }, "keel.json: unsupported table key (a boolean) at (root)" },
      { "float key", { [1.5] = 1 }, "keel.json: unsupported table key (a non-integer number) at (root)" },
      { "table key", { k = { [{}] = 1 } }, "keel.json: unsupported table key (a table) at /k" },
      { "boolean key among strings", { o = { a = 1, b = 2, [false] = 3 } },
        "keel.json: unsupported table key (a boolean) at /o" },
      { "string key in json.array", { a = json.array({ x = 1 }) }, "keel.json: string key in a json.array at /a" },
      { "json.array with extra key", json.array({ 1, 2, x = 1 }), "keel.json: string key in a json.array at (root)" },
      { "json.array with a hole", json.array({ 1, nil, 3 }), "keel.json: sparse array at (root)" },
      -- Several faults: the keys are all looked at first, so the message
      -- does not depend on traversal order (which differs by runtime).
      { "key 0 among strings", { [0] = 1, a = 2 }, "keel.json: mixed table keys at (root)" },
      { "boolean key wins over mixing", { [true] = 1, a = 1, [1] = 2 },
        "keel.json: unsupported table key (a boolean) at (root)" },
      { "lowest key type wins", { [1.5] = 1, [false] = 2, [{}] = 3 },
        "keel.json: unsupported table key (a boolean) at (root)" },
      { "bad key wins over a bad value", { fn, [1.5] = 1 },
        "keel.json: unsupported table key (a non-integer number) at (root)" },
      { "empty key", { [""] = fn }, "keel.json: cannot encode a function at /" },
      { "~ and / in keys", { ["a/b~c"] = { fn } }, "keel.json: cannot encode a function at /a~1b~0c/0" },
      { "control bytes in keys", { ["a\nb"] = fn }, "keel.json: cannot encode a function at /a\\x0Ab" },
      { "UTF-8 in keys", { ["caf\195\169"] = fn }, "keel.json: cannot encode a function at /caf\195\169" },
      { "long key cut", { [("k"):rep(300)] = fn },
        "keel.json: cannot encode a function at /" .. ("k"):rep(199) .. "..." },
    }
    for _, c in ipairs(cases) do
      it(c[1], function() assert.equal(c[3], raised(c[2])) end)
    end

    it("a LuaJIT cdata", function()
      if not rawget(_G, "jit") then return end
      local int64 = assert(loadstring("return 1LL"))()
      assert.equal("keel.json: cannot encode a cdata at /n", raised({ n = int64 }))
    end)

    it("a cycle", function()
      local t = {}
      t.a = t
      assert.equal("keel.json: nesting deeper than 128 (a cycle?) at " .. ("/a"):rep(100) .. "/...", raised(t))
      local arr = {}
      arr[1] = { arr }
      assert.equal("keel.json: nesting deeper than 128 (a cycle?) at " .. ("/0"):rep(100) .. "/...", raised(arr))
    end)

    it("129 levels of nesting", function()
      local v = {}
      local cur = v
      for _ = 1, 128 do
        local n = {}
        cur[1] = n
        cur = n
      end
      assert.equal("keel.json: nesting deeper than 128 (a cycle?) at " .. ("/0"):rep(100) .. "/...", raised(v))
      local o = {}
      cur = o
      for i = 1, 128 do
        local n = {}
        cur[i % 2 == 0 and "k" or "kk"] = n
        cur = n
      end
      local err = raised(o)
      assert.equal(0, select(2, err:gsub("%.%.%..+", "")))
      assert.is_truthy(err:find("^keel%.json: nesting deeper than 128 %(a cycle%?%) at /kk/k/kk/k/"), err)
      assert.is_truthy(err:find("/%.%.%.$"), err)
    end)

    it("encode() with no value is misuse", function()
      local ok, err = pcall(encode)
      assert.is_false(ok)
      assert.is_truthy(err:find("bad argument #1 to '", 1, true), err)
      assert.is_truthy(err:find("(value expected)", 1, true), err)
    end)

    it("json.array of a non-table is misuse", function()
      local ok, err = pcall(json.array, "x")
      assert.is_false(ok)
      assert.is_truthy(err:find("bad argument #1 to '", 1, true), err)
      assert.is_truthy(err:find("(table expected, got string)", 1, true), err)
    end)

    it("leave the encoder usable, and nothing leaks (many failures)", function()
      local good = { model = "m", messages = { { role = "user", content = ("x"):rep(5000) } } }
      local want = encode(good)
      for i = 1, 2000 do
        local bad = { a = ("y"):rep(i), b = { c = { i, fn } } }
        if i % 3 == 0 then bad.b.c[2] = "bad \255" end
        if i % 5 == 0 then
          for j = 1, 40 do bad["k" .. j] = j end
          bad.k20 = { [true] = 1 }
        end
        if i % 7 == 0 then
          for j = 1, 1100 do bad[("z%04d"):format(j)] = j end
          bad.z0500 = 0 / 0
        end
        assert.is_string(raised(bad))
        if i % 100 == 0 then assert.equal(want, encode(good)) end
      end
      assert.equal(want, encode(good))
    end)
  end)

  describe("determinism", function()
    local function request()
      local schema = {
        type = "object",
        properties = {
          city = { type = "string", description = "City name" },
          unit = { type = "string", enum = { "c", "f" } },
        },
        required = json.array(),
        additionalProperties = false,
      }
      return {
        model = "gpt-4o-mini",
        messages = {
          { role = "system", content = "You are terse." },
          { role = "user", content = "Weather in Z\195\188rich?\n\"Quick\"" },
        },
        temperature = 0.7,
        top_p = 1.0,
        max_tokens = 512,
        tools = { { type = "function", ["function"] = { name = "get_weather", parameters = schema } } },
        stream = true,
        stream_options = { include_usage = true },
        metadata = {},
      }
    end
    local WANT = '{"max_tokens":512,"messages":[{"content":"You are terse.","role":"system"},'
      .. '{"content":"Weather in Z\195\188rich?\\n\\"Quick\\"","role":"user"}],"metadata":{},'
      .. '"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"temperature":0.7,'
      .. '"tools":[{"function":{"name":"get_weather","parameters":{"additionalProperties":false,'
      .. '"properties":{"city":{"description":"City name","type":"string"},"unit":{"enum":["c","f"],'
      .. '"type":"string"}},"required":[],"type":"object"}},"type":"function"}],"top_p":1}'

    it("a chat request encodes to the same literal bytes on every runtime", function()
      assert.equal(WANT, encode(request()))
    end)

    it("does not depend on insertion order or table history", function()
      local a = request()
      local b = {}
      local keys = {}
      for k in pairs(a) do keys[#keys + 1] = k end
      table.sort(keys, function(x, y) return x > y end)
      for i = 1, 50 do b["junk" .. i] = i end
      for _, k in ipairs(keys) do b[k] = a[k] end
      for i = 1, 50 do b["junk" .. i] = nil end
      assert.equal(WANT, encode(b))
    end)
  end)

  describe("round trip through cjson.decode", function()
    local values = {
      { "scalars in an array", { 1, -2, 0.5, 1e300, 5e-324, 1 / 3, true, false, json.null, "s" } },
      { "an object", { a = 1, b = { c = "d", e = { 1, 2, { f = json.null } } } } },
      { "escapes and UTF-8", { s = '"\\/\b\f\n\r\t\0\1\31\127 caf\195\169 \240\159\152\128' } },
      { "keys needing escapes", { ["a\"b"] = 1, ["\n"] = 2, ["~/"] = 3, ["\195\169"] = 4 } },
      { "numbers", { 0, -0.0, 2 ^ 53, 2 ^ 53 + 2, -2 ^ 51 - 0.5, 0.1 + 0.2, 123.45, 1e-5, 1e21 } },
      { "a chat request", {
        model = "gpt-4o-mini", temperature = 0.2, max_tokens = 100,
        messages = { { role = "user", content = ("hello "):rep(40) } },
        response_format = { type = "json_schema", json_schema = { name = "x", strict = true,
          schema = { type = "object", properties = { a = { type = "integer" } }, required = { "a" } } } },
      } },
    }
    for _, c in ipairs(values) do
      it(c[1], function()
        if not has_cjson then return pending("lua-cjson not installed") end
        local s = encode(c[2])
        local back = cjson.decode(s)
        assert.same(c[2], back)
        assert.equal(s, encode(back)) -- the same bytes again
      end)
    end
  end)

  describe("re-entrancy", function()
    -- Finalizers run inside encode's Lua API calls: 5.4 after it copies the
    -- result, LuaJIT before (a GC step at lua_pushlstring). A finalizer that
    -- encodes must not write into the buffer the outer call is reading.
    it("a finalizer that encodes while an encode runs gets its own buffer", function()
      local inside, inner_results, ran_inside = false, {}, 0
      local big = {}
      for i = 1, 300 do big[("a rather long key that is not interned: %06d"):format(i)] = ("v"):rep(100) end
      for i = 1, 1100 do big[("k%04d"):format(i)] = i end -- the lookup path pushes strings too
      local want = encode(big)
      collectgarbage() -- a small heap: GC cycles, and so finalizers, come often
      local pause = collectgarbage("setpause", 0)
      local stepmul = collectgarbage("setstepmul", 1000)
      local ok, err = pcall(function()
        -- In a long suite the heap is big and GC cycles are long: keep going
        -- (up to 20 s) until finalizers have run inside encode a few times.
        local t0, n = os.clock(), 0
        while n < 3000 or (ran_inside < 3 and os.clock() - t0 < 20) do
          n = n + 1
          if ran_inside >= 20 then break end
          for _ = 1, 5 do
            with_gc(function()
              if inside then ran_inside = ran_inside + 1 end
              inner_results[#inner_results + 1] = encode({ inner = { 1, "two" } })
            end)
          end
          inside = true
          local got = encode(big)
          inside = false
          if got ~= want then error("outer result corrupted") end
        end
      end)
      inside = false
      collectgarbage("setpause", pause)
      collectgarbage("setstepmul", stepmul)
      assert(ok, err)
      collectgarbage()
      for _, r in ipairs(inner_results) do assert.equal('{"inner":[1,"two"]}', r) end
      assert.is_true(ran_inside > 0, "no finalizer ran inside encode; the test proves nothing")
    end)
  end)
end)
