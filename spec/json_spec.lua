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

-- json.decode: the RFC 8259 rules, every error message with its position,
-- round trips through encode, integers vs floats, a mutation loop that must
-- never raise, and deep nesting. Runs under Lua 5.4 and LuaJIT.
describe("keel.core.json decode", function()
  local decode = json.decode
  local kjson = require("keel.json")
  -- Fewer iterations where every instruction is slow.
  local SLOW = (os.getenv("KEEL_VALGRIND") and 20) or (os.getenv("KEEL_ASAN") and 3) or 1

  local function at(what, byte, line, col)
    return ("keel.json: %s at byte %d (line %d, column %d)"):format(what, byte, line or 1, col or byte)
  end

  -- decode that must fail: returns the message (and checks the shape).
  local function failure(s, opts)
    local v, err = decode(s, opts)
    assert.is_nil(v, ("decoded %q"):format(s))
    assert.is_string(err)
    return err
  end

  it("is a function of keel.core.json and keel.json.decode uses it", function()
    assert.is_function(decode)
    assert.equal("[]", encode(kjson.decode("[]")))
    assert.equal(json.array_mt, getmetatable(kjson.decode("[1]")))
  end)

  describe("values", function()
    -- input -> encode(decode(input))
    local cases = {
      { "empty array", "[]", "[]" },
      { "empty object", "{}", "{}" },
      { "nested empties", "[[],{},[[]],[{}],{\"a\":[]}]", "[[],{},[[]],[{}],{\"a\":[]}]" },
      { "tool input with an empty list", '{"tags":[]}', '{"tags":[]}' },
      { "null", "null", "null" },
      { "true", "true", "true" },
      { "false", "false", "false" },
      { "string", '"s"', '"s"' },
      { "whitespace everywhere", " \t\n\r[ 1 ,\t2 , { \"a\" : [ ] } ]\r\n ", '[1,2,{"a":[]}]' },
      { "null in arrays and objects", '[null,{"a":null}]', '[null,{"a":null}]' },
      { "duplicate keys: the last wins", '{"a":1,"b":2,"a":3}', '{"a":3,"b":2}' },
      { "duplicate keys in a nested object", '{"o":{"k":[1],"k":[]}}', '{"o":{"k":[]}}' },
      { "empty key", '{"":1}', '{"":1}' },
      { "keys that look like numbers stay strings", '{"1":"a","2":"b"}', '{"1":"a","2":"b"}' },
      { "floats that are integral", "[1.0,1e2,-0.0,1E+2,100e-2]", "[1,100,0,100,1]" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local v, err = decode(c[2])
        assert.is_nil(err)
        assert.equal(c[3], encode(v))
      end)
    end

    it("arrays carry array_mt, objects no metatable", function()
      local v = decode('{"a":[],"b":{},"c":[[1],{"d":[]}]}')
      assert.is_nil(getmetatable(v))
      assert.equal(json.array_mt, getmetatable(v.a))
      assert.is_nil(getmetatable(v.b))
      assert.equal(json.array_mt, getmetatable(v.c))
      assert.equal(json.array_mt, getmetatable(v.c[1]))
      assert.is_nil(getmetatable(v.c[2]))
      assert.equal(json.array_mt, getmetatable(v.c[2].d))
      assert.equal(2, #v.c)
    end)

    it("null is json.null (and cjson.null)", function()
      local v = decode('[null,{"k":null}]')
      assert.equal(json.null, v[1])
      assert.equal(json.null, v[2].k)
      if has_cjson then assert.equal(cjson.null, v[1]) end
      assert.equal(json.null, decode("null"))
    end)

    it("arrays and objects of every size (batches on the stack)", function()
      for _, n in ipairs { 1, 2, 63, 64, 65, 127, 128, 129, 1000, 70000 } do
        local parts, kparts = {}, {}
        for i = 1, n do
          parts[i] = tostring(i)
          kparts[i] = ('"k%06d":%d'):format(i, i)
        end
        local a = assert(decode("[" .. table.concat(parts, ",") .. "]"))
        assert.equal(n, #a)
        for i = 1, n do assert.equal(i, a[i]) end
        local o = assert(decode("{" .. table.concat(kparts, ",") .. "}"))
        local count = 0
        for k, v in pairs(o) do
          count = count + 1
          assert.equal(("k%06d"):format(v), k)
        end
        assert.equal(n, count)
        -- and more than a batch of duplicates: still the last wins
        local d = assert(decode("{" .. table.concat(kparts, ",") .. ',"k000001":-1}'))
        assert.equal(-1, d.k000001)
      end
    end)

    it("a real chat.completion, with integer token counts", function()
      local f = io.open("bench/call/response.json", "rb")
      local body = f and f:read("*a") or '{"id":"x","object":"chat.completion","choices":[{"index":0,'
        .. '"message":{"role":"assistant","content":"hi","refusal":null,"annotations":[]},"logprobs":null,'
        .. '"finish_reason":"stop"}],"usage":{"prompt_tokens":112,"completion_tokens":16,"total_tokens":128}}'
      if f then f:close() end
      local v = assert(decode(body))
      assert.equal("chat.completion", v.object)
      assert.equal(json.null, v.choices[1].message.refusal)
      assert.equal("[]", encode(v.choices[1].message.annotations))
      assert.equal(128, v.usage.total_tokens)
      assert.equal("128", tostring(v.usage.total_tokens)) -- not 128.0
      if math.type then assert.equal("integer", math.type(v.usage.prompt_tokens)) end
      if has_cjson then assert.same(cjson.decode(body), v) end
    end)
  end)

  describe("numbers", function()
    -- input, value, math.type under 5.4 (LuaJIT: every number is a double)
    local cases = {
      { "0", 0, "integer" },
      { "-0", 0, "integer" },
      { "7", 7, "integer" },
      { "-42", -42, "integer" },
      { "12.0", 12, "float" },
      { "1e2", 100, "float" },
      { "1E2", 100, "float" },
      { "1e+2", 100, "float" },
      { "1e-2", 0.01, "float" },
      { "0.1", 0.1, "float" },
      { "-0.5", -0.5, "float" },
      { "3.141592653589793", math.pi, "float" },
      { "0.30000000000000004", 0.1 + 0.2, "float" },
      { "9007199254740991", 2 ^ 53 - 1, "integer" },
      { "1.7976931348623157e308", 1.7976931348623157e308, "float" },
      { "2.2250738585072014e-308", 2.2250738585072014e-308, "float" },
      { "5e-324", 5e-324, "float" },
      { "4.9406564584124654e-324", 5e-324, "float" },
      { "1e-400", 0, "float" },
      { "0e99999", 0, "float" },
      { "0.000001234", 0.000001234, "float" },
      { "123456789012345678901234567890", 1.2345678901234568e29, "float" },
      -- halfway between 1 and the next double: ties go to even (1), a hair above goes up
      { "1.00000000000000011102230246251565404236316680908203125", 1, "float" },
      { "1.00000000000000011102230246251565404236316680908203126", 1.0000000000000002, "float" },
      { "1.00000000000000011102230246251565404236316680908203124", 1, "float" },
      { "18446744073709551616", 2 ^ 64, "float" },
      { "9223372036854775808", 2 ^ 63, "float" },
      { "-9223372036854775809", -2 ^ 63, "float" },
      { "12345678901234567890", 12345678901234567890.0, "float" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local v = decode(c[1])
        assert.equal(c[2], v)
        if LUA54 then assert.equal(c[3], math.type(v)) end
      end)
    end

    it("int64 limits stay integers (Lua 5.4)", function()
      if not LUA54 then return end
      assert.equal(math.maxinteger, decode("9223372036854775807"))
      assert.equal("integer", math.type(decode("9223372036854775807")))
      assert.equal(math.mininteger, decode("-9223372036854775808"))
      assert.equal("integer", math.type(decode("-9223372036854775808")))
      assert.equal(math.tointeger(2 ^ 53) + 1, decode("9007199254740993"))
      assert.equal("[9007199254740993,-9223372036854775808]", encode(decode("[9007199254740993,-9223372036854775808]")))
    end)

    it("beyond 2^53 under LuaJIT: the nearest double", function()
      if LUA54 then return end
      assert.equal(2 ^ 53, decode("9007199254740993"))
      assert.equal(2 ^ 63, decode("9223372036854775807"))
    end)

    it("-0.0 is a negative zero float, -0 the integer 0", function()
      assert.equal(-math.huge, 1 / decode("-0.0"))
      assert.equal(-math.huge, 1 / decode("-0e5"))
      assert.equal(math.huge, 1 / decode("0.0"))
      if LUA54 then assert.equal("integer", math.type(decode("-0"))) end
    end)

    it("read back exactly what encode writes: 20000 random doubles", function()
      math.randomseed(42)
      local gens = {
        function() return (math.random() - 0.5) * 10 ^ math.random(-300, 300) end,
        function() return math.random(-1000000, 1000000) / 10 ^ math.random(1, 9) end,
        function() return math.random(1, 2 ^ 30) * 2.0 ^ math.random(-1070, 990) end,
        function() return math.random() end,
      }
      for i = 1, math.floor(20000 / SLOW) do
        local x = gens[i % #gens + 1]()
        local s = encode(x)
        local y = decode(s)
        if y ~= x then error(("%.17g: wrote %s, read %.17g"):format(x, s, y)) end
        local s17 = ("%.17g"):format(x)
        if decode(s17) ~= x then error(("%s read as %.17g"):format(s17, decode(s17))) end
      end
    end)

    it("agree with tonumber on 20000 random literals (fast path and strtod)", function()
      math.randomseed(4242)
      local function digits(n)
        local t = {}
        for i = 1, n do t[i] = string.char(48 + math.random(0, 9)) end
        return table.concat(t)
      end
      for _ = 1, math.floor(20000 / SLOW) do
        local s = tostring(math.random(1, 9)) .. digits(math.random(0, 24))
        local r = math.random(3)
        if r >= 2 then s = s .. "." .. digits(math.random(1, 25)) end
        if r == 3 then s = s .. "e" .. math.random(-340, 310) end
        if math.random(2) == 1 then s = "-" .. s end
        local want = tonumber(s)
        local got, err = decode(s)
        if want == math.huge or want == -math.huge then
          assert.is_truthy(err and err:find("number out of range", 1, true), s)
        elseif got ~= want then
          error(("%s: decode %.17g, tonumber %.17g"):format(s, got, want))
        end
      end
    end)

    it("ignore LC_NUMERIC", function()
      local old = os.setlocale(nil, "numeric")
      local comma
      for _, l in ipairs { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8" } do
        if os.setlocale(l, "numeric") then comma = l break end
      end
      if not comma then return pending("no locale with a decimal comma installed") end
      local ok, err = pcall(function()
        assert.equal(0.5, decode("0.5"))
        assert.equal(123456.78901234567, decode("1.2345678901234567890123e5")) -- the strtod path
        assert.equal(1e-320, decode("1e-320"))
        assert.is_nil(decode("0,5"))
      end)
      os.setlocale(old, "numeric")
      assert(ok, err)
    end)
  end)

  describe("strings", function()
    local cases = {
      { "short escapes", [["\"\\\/\b\f\n\r\t"]], '"\\/\b\f\n\r\t' },
      { "\\u ASCII", [["\u0041\u007a"]], "Az" },
      { "\\u0000 is a NUL byte", [["a\u0000b"]], "a\0b" },
      { "\\u 2-byte", [["\u00e9\u00E9"]], "\195\169\195\169" },
      { "\\u 3-byte", [["\u20ac"]], "\226\130\172" },
      { "\\u U+FFFF", [["\uffff"]], "\239\191\191" },
      { "surrogate pair", [["\ud83d\ude00"]], "\240\159\152\128" },
      { "surrogate pair, upper case", [["\uD83D\uDE00"]], "\240\159\152\128" },
      { "U+10FFFF as a pair", [["\uDBFF\uDFFF"]], "\244\143\191\191" },
      { "raw UTF-8 passes through", '"caf\195\169 \226\130\172 \240\159\152\128"', "caf\195\169 \226\130\172 \240\159\152\128" },
      { "raw DEL is allowed", '"\127"', "\127" },
      { "escape between UTF-8", '"\195\169\\n\240\159\152\128"', "\195\169\n\240\159\152\128" },
      { "empty", '""', "" },
      { "key with escapes", '{"a\\"b\\u00e9":1}', nil },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local v, err = decode(c[2])
        assert.is_nil(err)
        if c[3] then assert.equal(c[3], v) else assert.equal(1, v['a"b\195\169']) end
      end)
    end

    it("escapes and UTF-8 wherever they fall (word-at-a-time scan)", function()
      local pieces = { '"', "\\", "\n", "\0", "\31", "\127", "\195\169", "\226\130\172", "\240\159\152\128" }
      for _, p in ipairs(pieces) do
        for len = 0, 24 do
          for pos = 0, len do
            local s = ("x"):rep(pos) .. p .. ("y"):rep(len - pos)
            assert.equal(s, decode(encode(s)))
            assert.equal(s, decode(encode({ [s] = 1 }))[s] and s)
          end
        end
      end
    end)

    it("2000 random strings round-trip through encode", function()
      math.randomseed(77)
      local alphabet = { "a", "Z", " ", "/", '"', "\\", "\n", "\t", "\0", "\1", "\31", "\127",
        "\195\169", "\226\130\172", "\240\159\152\128", "\244\143\191\191", "longer plain text run " }
      for _ = 1, 2000 do
        local t = {}
        for j = 1, math.random(0, 60) do t[j] = alphabet[math.random(#alphabet)] end
        local s = table.concat(t)
        assert.equal(s, decode(encode(s)))
      end
    end)

    it("long escaped strings: the output window is crossed by every kind of step", function()
      local cjk, emoji = "\228\189\160\229\165\189", "\240\159\152\128"
      for _, c in ipairs {
        { "\\n" .. cjk:rep(5000), "\n" .. cjk:rep(5000) },
        { "\\t" .. emoji:rep(3000) .. "x", "\t" .. emoji:rep(3000) .. "x" },
        { ("\\ud83d\\ude00"):rep(3000), emoji:rep(3000) },
        { ("\\u00e9\\n"):rep(3000), ("\195\169\n"):rep(3000) },
        { "\\/" .. ("a"):rep(100000) .. "\\/", "/" .. ("a"):rep(100000) .. "/" },
      } do
        assert.equal(c[2], decode('"' .. c[1] .. '"'))
      end
      math.randomseed(99)
      local alphabet = { "a", "bcdefgh", "\\n", "\\\"", "\\u00e9", "\\ud83d\\ude00", "\\u20ac", cjk, emoji,
        "\195\169", ("x"):rep(300) }
      local want = { a = "a", bcdefgh = "bcdefgh", ["\\n"] = "\n", ["\\\""] = '"', ["\\u00e9"] = "\195\169",
        ["\\ud83d\\ude00"] = emoji, ["\\u20ac"] = "\226\130\172", [cjk] = cjk, [emoji] = emoji,
        ["\195\169"] = "\195\169", [("x"):rep(300)] = ("x"):rep(300) }
      for _ = 1, math.floor(300 / SLOW) do
        local raw, out = { "\\n" }, { "\n" }
        for j = 2, math.random(1, 400) do
          local piece = alphabet[math.random(#alphabet)]
          raw[j], out[j] = piece, want[piece]
        end
        assert.equal(table.concat(out), decode('"' .. table.concat(raw) .. '"'))
      end
    end)

    it("long strings, escaped and not", function()
      local plain = ("0123456789abcdef"):rep(65536)
      assert.equal(plain, decode('"' .. plain .. '"'))
      local esc = ("line\\n\\u00e9"):rep(50000)
      assert.equal(("line\n\195\169"):rep(50000), decode('"' .. esc .. '"'))
      assert.equal("ok", decode('"ok"')) -- after the big scratch was dropped
    end)
  end)

  describe("errors say what and where", function()
    local cases = {
      { "empty input", "", at("unexpected end of input", 1) },
      { "only whitespace", " \n ", at("unexpected end of input", 4, 2, 2) },
      { "unclosed array", "[", at("unexpected end of input", 2) },
      { "unclosed array after a value", "[1", at("unexpected end of input", 3) },
      { "unclosed object", '{"a":1', at("unexpected end of input", 7) },
      { "object cut after the key", '{"a"', at("unexpected end of input", 5) },
      { "object cut after the colon", '{"a":', at("unexpected end of input", 6) },
      { "object cut after a comma", '{"a":1,', at("unexpected end of input", 8) },
      { "trailing comma in an array", "[1,]", at("expected a value", 4) },
      { "missing comma in an array", "[1 2]", at("expected ',' or ']'", 4) },
      { "missing comma in an object", '{"a":1 "b":2}', at("expected ',' or '}'", 8) },
      { "missing colon", '{"a" 1}', at("expected ':'", 6) },
      { "unquoted key", "{a:1}", at("expected a string key or '}'", 2) },
      { "trailing comma in an object", '{"a":1,}', at("expected a string key", 8) },
      { "number key", '{"a":1,2:3}', at("expected a string key", 8) },
      { "closing the wrong bracket", "[1}", at("expected ',' or ']'", 3) },
      { "closing the wrong brace", '{"a":1]', at("expected ',' or '}'", 7) },
      { "a stray closer", "]", at("expected a value", 1) },
      { "two values", "1 2", at("trailing characters", 3) },
      { "text after the value", "[1]x", at("trailing characters", 4) },
      { "a second document", "{}{}", at("trailing characters", 3) },
      { "cut literal", "tru", at("unexpected end of input", 4) },
      { "bad literal", "trux", at("invalid literal", 1) },
      { "bad literal in an array", "[nul]", at("invalid literal", 2) },
      { "capitalised literal", "True", at("expected a value", 1) },
      { "NaN", "NaN", at("expected a value", 1) },
      { "Infinity", "Infinity", at("expected a value", 1) },
      { "-Infinity", "-Infinity", at("invalid number", 2) },
      { "leading zero", "01", at("invalid number", 2) },
      { "negative leading zero", "-01", at("invalid number", 3) },
      { "plus sign", "+1", at("expected a value", 1) },
      { "leading dot", ".5", at("expected a value", 1) },
      { "trailing dot", "1.", at("unexpected end of input", 3) },
      { "dot then exponent", "1.e5", at("invalid number", 3) },
      { "empty exponent", "1e", at("unexpected end of input", 3) },
      { "signed empty exponent", "[1e+]", at("invalid number", 5) },
      { "letter in exponent", "1ex", at("invalid number", 3) },
      { "lone minus", "-", at("unexpected end of input", 2) },
      { "minus space", "- 1", at("invalid number", 2) },
      { "hex", "0x10", at("trailing characters", 2) },
      { "two dots", "1.2.3", at("trailing characters", 4) },
      { "too large", "[1e400]", at("number out of range", 2) },
      { "too large negative", '{"x":-1.5e309}', at("number out of range", 6) },
      { "too many digits to fit", "1" .. ("0"):rep(400), at("number out of range", 1) },
      { "unterminated string", '"abc', at("unexpected end of input", 5) },
      { "unterminated after an escape", '"a\\', at("unexpected end of input", 4) },
      { "unknown escape", '"\\x"', at("invalid escape", 2) },
      { "escaped single quote", [["\'"]], at("invalid escape", 2) },
      { "bad \\u digit", '"ab\\u12G4"', at("invalid \\u escape", 4) },
      { "short \\u", '"\\u12"', at("invalid \\u escape", 2) },
      { "\\u cut by the end", '"\\u12', at("unexpected end of input", 6) },
      { "lone high surrogate", '"\\ud800"', at("lone surrogate in \\u escape", 2) },
      { "lone low surrogate", '"x\\udc00"', at("lone surrogate in \\u escape", 3) },
      { "high surrogate then a letter", '"\\ud83dx"', at("lone surrogate in \\u escape", 2) },
      { "high surrogate then a non-surrogate", '"\\ud83d\\u0041"', at("lone surrogate in \\u escape", 2) },
      { "two high surrogates", '"\\ud83d\\ud83d"', at("lone surrogate in \\u escape", 2) },
      { "high surrogate then a bad \\u", '"\\ud83d\\uZZZZ"', at("invalid \\u escape", 8) },
      { "high surrogate cut by the end", '"\\ud83d', at("unexpected end of input", 8) },
      { "raw newline in a string", '"a\nb"', at("control character in string", 3) },
      { "raw tab in a string", '["\t"]', at("control character in string", 3) },
      { "raw NUL in a string", '"\0"', at("control character in string", 2) },
      { "control char after an escape", '"\\n\1"', at("control character in string", 4) },
      { "invalid UTF-8 in a string", '"ok \255"', at("invalid UTF-8", 5) },
      { "invalid UTF-8 after an escape", '"\\n\192\128"', at("invalid UTF-8", 4) },
      { "invalid UTF-8 in a key", '{"\237\160\128":1}', at("invalid UTF-8", 3) },
      { "truncated UTF-8 at the end", '"\226\130', at("invalid UTF-8", 2) },
      { "UTF-8 outside a string", "\195\169", at("expected a value", 1) },
      { "Latin-1 deep in a long string", '"' .. ("x"):rep(40) .. "caf\233\"", at("invalid UTF-8", 45) },
      { "byte order mark", "\239\187\191{}", at("byte order mark at start of input (not JSON)", 1) },
      { "lines and columns", '{\n  "a": 1,\n  "b": tru\n}', at("invalid literal", 20, 3, 8) },
      { "CRLF counts one line", "[\r\n1,\r\nx]", at("expected a value", 8, 3, 1) },
      { "single quotes", "{'a':1}", at("expected a string key or '}'", 2) },
      { "comments", "[1 // no\n]", at("expected ',' or ']'", 4) },
    }
    for _, c in ipairs(cases) do
      it(c[1], function() assert.equal(c[3], failure(c[2])) end)
    end

    local invalid_utf8 = {
      "\128", "\191", "\192\128", "\193\191", "\224\128\128", "\224\159\191", "\237\160\128", "\237\191\191",
      "\240\128\128\128", "\240\143\191\191", "\244\144\128\128", "\245\128\128\128", "\254", "\255",
      "\195\40", "\226\130\40", "\240\159\152\40", "\237\160\189\237\184\128",
    }
    it("every kind of invalid UTF-8 in a string", function()
      for _, b in ipairs(invalid_utf8) do
        assert.equal(at("invalid UTF-8", 3), failure('["' .. b .. '"]'), ("%q"):format(b))
        assert.equal(at("invalid UTF-8", 10), failure('{"k":"a\\n' .. b .. '"}'), ("%q"):format(b))
      end
    end)

    it("non-strings: keel.json.decode returns an error, keel.core.json.decode raises", function()
      for _, v in ipairs { 5, true, {}, json.null } do
        local r, err = kjson.decode(v)
        assert.is_nil(r)
        assert.equal("keel.json: string expected", err)
        local ok, msg = pcall(decode, v)
        assert.is_false(ok)
        assert.is_truthy(msg:find("bad argument #1 to '", 1, true), msg)
      end
      local r, err = kjson.decode(nil)
      assert.is_nil(r)
      assert.equal("keel.json: string expected", err)
      assert.is_false(pcall(decode))
    end)

    it("bad options are misuse", function()
      assert.is_false(pcall(decode, "[]", "x"))
      assert.is_false(pcall(decode, "[]", { max_depth = 0 }))
      assert.is_false(pcall(decode, "[]", { max_depth = 1001 }))
      assert.is_false(pcall(decode, "[]", { max_depth = 1.5 }))
      assert.is_false(pcall(decode, "[]", { max_depth = "2" }))
      assert.same({ 1 }, decode("[1]", {}))
      assert.same({ 1 }, kjson.decode("[1]", { max_depth = 1 }))
    end)
  end)

  describe("nesting", function()
    local function nest(n, open, close, inner)
      return open:rep(n) .. (inner or "") .. close:rep(n)
    end

    it("1000 levels decode, 1001 do not", function()
      local v = assert(decode(nest(1000, "[", "]")))
      local d = 0
      while type(v) == "table" and v[1] do v, d = v[1], d + 1 end
      assert.equal(999, d)
      assert.equal(nest(127, "[", "]"), encode(assert(decode(nest(127, "[", "]"))))) -- encode stops at 128
      assert.equal(at("nesting deeper than 1000", 1001), failure(nest(1001, "[", "]")))
      assert.is_table(decode(nest(1000, '{"a":', "}", "1")))
      assert.equal(at("nesting deeper than 1000", 5001), failure(nest(1001, '{"a":', "}", "1")))
    end)

    it("100000 open brackets fail fast, never overflow a stack", function()
      assert.equal(at("nesting deeper than 1000", 1001), failure(("["):rep(100000)))
      assert.equal(at("nesting deeper than 1000", 3001), failure(("[{\"k\":"):rep(50000)))
    end)

    it("max_depth", function()
      assert.same({ { 1 } }, decode("[[1]]", { max_depth = 2 }))
      assert.equal(at("nesting deeper than 1", 2), failure("[[1]]", { max_depth = 1 }))
      assert.equal(1, decode("1", { max_depth = 1 }))
    end)

    it("1000 levels with a batch of members pending at every level (Lua stack use)", function()
      local members, kmembers = {}, {}
      for i = 1, 63 do
        members[i] = tostring(i)
        kmembers[i] = ('"k%02d":%d'):format(i, i)
      end
      local m, km = table.concat(members, ","), table.concat(kmembers, ",")
      local open_a, open_o = "[" .. m .. ",", "{" .. km .. ',"z":'
      local s = open_a:rep(500) .. open_o:rep(499) .. "{}" .. ("}"):rep(499) .. ("]"):rep(500)
      local v = assert(decode(s))
      for _ = 1, 500 do
        assert.equal(64, #v)
        v = v[64]
      end
      for _ = 1, 499 do
        assert.equal(63, v.k63)
        v = v.z
      end
      assert.same({}, v)
      assert.is_nil(getmetatable(v))
    end)
  end)

  describe("round trips", function()
    local canonical = {
      '{"tags":[]}',
      "[[],{},[[]],[{}],[[[]]],{\"a\":{\"b\":{\"c\":[]}}}]",
      '{"a":[1,2,{"b":null}],"c":"d","e":true,"f":false}',
      '[0,-1,1.5,-0.25,1e+300,2.2250738585072014e-308,0.1,0.30000000000000004,9007199254740991,12345678.9]',
      '"\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u001f\\u007f caf\195\169 \240\159\152\128 </script>"',
      '{"":1,"A":2,"a":3,"a\\u0000":4,"\195\169":5}',
      '{"choices":[{"finish_reason":"tool_calls","index":0,"message":{"content":null,"role":"assistant",'
        .. '"tool_calls":[{"function":{"arguments":"{\\"tags\\":[]}","name":"tag"},"id":"call_1",'
        .. '"type":"function"}]}}],"usage":{"completion_tokens":16,"prompt_tokens":112,"total_tokens":128}}',
    }
    if LUA54 then canonical[#canonical + 1] = "[9223372036854775807,-9223372036854775808,9007199254740993]" end
    for i, s in ipairs(canonical) do
      it("canonical input " .. i .. " comes back byte for byte", function()
        assert.equal(s, encode(assert(decode(s))))
      end)
    end

    it("a tool call's arguments survive a multi-turn loop", function()
      local args = '{"filters":{},"limit":10,"tags":[]}'
      local turn = encode({ role = "assistant", tool_calls = { { ["function"] = { arguments = args } } } })
      local back = decode(turn)
      local input = decode(back.tool_calls[1]["function"].arguments)
      assert.equal(args, encode(input))
      assert.equal(turn, encode(back))
    end)
  end)

  describe("mutations never raise", function()
    local seeds = {
      '{"id":"chatcmpl-1","choices":[{"index":0,"message":{"role":"assistant","content":"caf\195\169 \\u00e9\\ud83d\\ude00",'
        .. '"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\\"a\\":[1,2.5e-3,-0]}"}}]},'
        .. '"finish_reason":"stop"}],"usage":{"prompt_tokens":112,"completion_tokens":16,"total_tokens":128}}',
      '[[],{},null,true,false,-0.0,1e300,"\\n\\t\\"x",[{"":[]}]]',
      '{"a":{"b":{"c":{"d":[1,[2,[3,[4]]]]}}}}',
    }
    local interesting = { "[", "]", "{", "}", ",", ":", '"', "\\", "u", "d", "8", "0", "-", ".", "e", "+",
      " ", "\n", "\0", "\31", "\127", "\128", "\191", "\192", "\237", "\240", "\244", "\255", "t", "n" }

    local function mutate(s)
      for _ = 1, math.random(1, 4) do
        local n = #s
        local i = math.random(1, n + 1)
        local r = math.random(6)
        if r == 1 and n > 0 then -- replace a byte
          s = s:sub(1, i - 1) .. interesting[math.random(#interesting)] .. s:sub(i + 1)
        elseif r == 2 then -- insert
          s = s:sub(1, i - 1) .. interesting[math.random(#interesting)] .. s:sub(i)
        elseif r == 3 and n > 0 then -- delete a run
          s = s:sub(1, i - 1) .. s:sub(i + math.random(1, 8))
        elseif r == 4 then -- duplicate a slice
          local j = math.min(n, i + math.random(0, 20))
          s = s:sub(1, j) .. s:sub(i, j) .. s:sub(j + 1)
        elseif r == 5 then -- cut
          s = s:sub(1, i - 1)
        else -- random byte
          s = s:sub(1, i - 1) .. string.char(math.random(0, 255)) .. s:sub(i + 1)
        end
      end
      return s
    end

    it("decode returns a value or nil and a positioned message, for 30000 mutants", function()
      math.randomseed(1234)
      local ok_count, err_count, n = 0, 0, math.floor(30000 / SLOW)
      for k = 1, n do
        local s = mutate(seeds[k % #seeds + 1])
        local v, err = decode(s) -- no pcall: a raise fails the test
        if err == nil then
          ok_count = ok_count + 1
          -- what decodes always encodes, and the encoding is a fixed point
          local e = encode(v)
          assert.equal(e, encode(assert(decode(e))), s)
        else
          err_count = err_count + 1
          assert.is_nil(v)
          local byte = err:match("^keel%.json: [^\n]- at byte (%d+) %(line %d+, column %d+%)$")
          assert.is_truthy(byte, err)
          assert.is_true(tonumber(byte) >= 1 and tonumber(byte) <= #s + 1, err)
        end
      end
      -- both outcomes common enough to mean something (about 5% decode)
      assert.is_true(ok_count > n / 100 and err_count > n / 4, ok_count .. " ok, " .. err_count .. " errors")
    end)
  end)

  describe("re-entrancy", function()
    it("a finalizer that decodes while a decode runs gets its own state", function()
      local parts = {}
      for i = 1, 400 do parts[i] = ('"k%04d":"v\\n\\u00e9 %d"'):format(i, i) end
      local doc = "{" .. table.concat(parts, ",") .. "}"
      local want = encode(assert(decode(doc)))
      local inside, ran_inside, inner = false, 0, {}
      collectgarbage()
      local pause = collectgarbage("setpause", 0)
      local stepmul = collectgarbage("setstepmul", 1000)
      local ok, err = pcall(function()
        local t0 = os.clock()
        for n = 1, 100000 do
          if ran_inside >= 20 or (n > 2000 and (ran_inside > 0 or os.clock() - t0 > 10)) then break end
          for _ = 1, 5 do
            with_gc(function()
              if inside then ran_inside = ran_inside + 1 end
              inner[#inner + 1] = decode('["in\\tner",{"x":[]}]')
            end)
          end
          inside = true
          local v = decode(doc)
          inside = false
          if encode(v) ~= want then error("outer result corrupted") end
        end
      end)
      inside = false
      collectgarbage("setpause", pause)
      collectgarbage("setstepmul", stepmul)
      assert(ok, err)
      collectgarbage()
      for _, r in ipairs(inner) do assert.equal('["in\\tner",{"x":[]}]', encode(r)) end
      assert.is_true(ran_inside > 0, "no finalizer ran inside decode; the test proves nothing")
    end)
  end)
end)
