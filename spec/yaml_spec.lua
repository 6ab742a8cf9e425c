-- keel.core.yaml through the Lua binding: core schema resolution, tags,
-- anchors, aliases and merges, the marks a config loader reports with, every
-- error with its exact line:col, OpenAI's openapi.yaml, and garbage.
local globals_before = {}
for k in pairs(_G) do globals_before[k] = true end

local core = require("keel.core")
local yaml = core.yaml
local null = yaml.null
local is54 = math.type ~= nil -- LuaJIT has no integer subtype

-- Slow builds (valgrind, ASan) stretch every timing; margins scale with this.
local SLOW = (os.getenv("KEEL_VALGRIND") and 20) or (os.getenv("KEEL_ASAN") and 3) or 1

local OPENAPI = "/work/shared/data/openai-openapi/openapi.yaml"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

-- The error yaml.load raises for text (named "t"), or nil if it loads.
local function load_error(text)
  local ok, err = pcall(yaml.load, text, "t")
  if ok then return nil end
  return err
end

-- "integer", "float" on 5.4; nil where numbers have no subtype.
local function numkind(v)
  return is54 and math.type(v) or nil
end

-- A quoted test name on one line (TAP output is line based).
local function q(s)
  return (("%q"):format(s):gsub("\\\n", "\\n"))
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("keel.core.yaml", function()
  it("is reachable as keel.core.yaml and adds no globals", function()
    assert.equal(yaml, package.loaded["keel.core.yaml"])
    assert.is_function(yaml.load)
    for k in pairs(_G) do
      assert.is_true(globals_before[k] ~= nil, "new global " .. tostring(k))
    end
  end)

  it("has null as lightuserdata NULL, the same value as cjson.null", function()
    assert.equal("userdata", type(null))
    local ok, cjson = pcall(require, "cjson")
    if ok then assert.equal(cjson.null, null) end
  end)

  describe("plain scalars resolve by the YAML 1.2 core schema", function()
    -- text, expected value, expected subtype on 5.4 ("integer"/"float")
    local cases = {
      { "~", null }, { "null", null }, { "Null", null }, { "NULL", null }, { "", null },
      { "true", true }, { "True", true }, { "TRUE", true },
      { "false", false }, { "False", false }, { "FALSE", false },
      { "0", 0, "integer" }, { "42", 42, "integer" }, { "-17", -17, "integer" },
      { "+8", 8, "integer" }, { "007", 7, "integer" }, { "-0", 0, "integer" },
      { "0o17", 15, "integer" }, { "0o0", 0, "integer" },
      { "0x1F", 31, "integer" }, { "0xff", 255, "integer" }, { "0xFF", 255, "integer" },
      { "9007199254740992", 9007199254740992, "integer" }, -- 2^53: exact on every runtime
      { "1.5", 1.5, "float" }, { "-2.25", -2.25, "float" }, { "+.5", 0.5, "float" },
      { "1.", 1.0, "float" }, { ".5", 0.5, "float" }, { "1e3", 1000.0, "float" },
      { "1E3", 1000.0, "float" }, { "1.5e-2", 0.015, "float" }, { "-1e+2", -100.0, "float" },
      { "0.0", 0.0, "float" },
      { ".inf", math.huge, "float" }, { ".Inf", math.huge, "float" }, { ".INF", math.huge, "float" },
      { "+.inf", math.huge, "float" }, { "-.inf", -math.huge, "float" },
      { "-.Inf", -math.huge, "float" }, { "-.INF", -math.huge, "float" },
      -- a decimal past the integer range is the float it is closest to (as
      -- JSON parsers read it): openapi.yaml has JavaScript's 2^63
      { "9223372036854776000", 9223372036854775808.0, "float" },
      { "-9223372036854776000", -9223372036854775808.0, "float" },
      -- YAML 1.1 and other near misses stay strings
      { "yes", "yes" }, { "no", "no" }, { "on", "on" }, { "off", "off" }, { "y", "y" },
      { "nULL", "nULL" }, { "tRUE", "tRUE" }, { "~~", "~~" },
      { "1_000", "1_000" }, { "12:30", "12:30" }, { "0b101", "0b101" }, { "0x", "0x" },
      { "0o", "0o" }, { "0o8", "0o8" }, { "0xG", "0xG" }, { "+0x1", "+0x1" }, { "-0o7", "-0o7" },
      { "1.2.3", "1.2.3" }, { "1e", "1e" }, { "e3", "e3" }, { ".", "." }, { "-x", "-x" },
      { "+", "+" }, { "inf", "inf" }, { "nan", "nan" }, { "-.nan", "-.nan" }, { ".nAn", ".nAn" },
      { "0x1p3", "0x1p3" }, { "1,000", "1,000" }, { "hello world", "hello world" },
      { "3.1.0", "3.1.0" },
    }
    for _, c in ipairs(cases) do
      local text, want, kind = c[1], c[2], c[3]
      it(q(text), function()
        local v = yaml.load("v: " .. text)
        assert.equal(want, v.v)
        if kind and is54 then assert.equal(kind, math.type(v.v)) end
      end)
    end

    for _, text in ipairs({ ".nan", ".NaN", ".NAN" }) do
      it(q(text) .. " is NaN", function()
        local x = yaml.load("v: " .. text).v
        assert.equal("number", type(x))
        assert.is_true(x ~= x)
      end)
    end

    if is54 then
      it("covers the whole int64 range exactly", function()
        assert.equal(math.maxinteger, yaml.load("9223372036854775807"))
        assert.equal(math.mininteger, yaml.load("-9223372036854775808"))
        assert.equal(math.maxinteger, yaml.load("0x7fffffffffffffff"))
        assert.equal(math.maxinteger, yaml.load("0o777777777777777777777"))
        assert.equal("integer", math.type(yaml.load("-9223372036854775808")))
      end)
    end
  end)

  describe("non-plain scalars are always strings", function()
    local cases = {
      { "single quoted", "v: '42'", "42" },
      { "double quoted", 'v: "true"', "true" },
      { "quoted null", 'v: "~"', "~" },
      { "quoted empty", 'v: ""', "" },
      { "escapes", 'v: "a\\tb\\u00e9\\n"', "a\tb\195\169\n" },
      { "embedded NUL escape", 'v: "a\\0b"', "a\0b" },
      { "single quote doubling", "v: 'it''s'", "it's" },
      { "literal", "v: |\n  12\n  x\n", "12\nx\n" },
      { "literal strip", "v: |-\n  12\n", "12" },
      { "folded", "v: >\n  1\n  2\n", "1 2\n" },
      { "multi-line plain", "v: a\n  b", "a b" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function() assert.equal(c[3], yaml.load(c[2]).v) end)
    end
  end)

  describe("standard tags", function()
    local cases = {
      { "!!str on a number", "v: !!str 12", "12" },
      { "!!str on null", "v: !!str ~", "~" },
      { "!!str on bool", "v: !!str true", "true" },
      { "!!str with no text", "v: !!str\n", "" },
      { "non-specific ! on a number", "v: ! 12", "12" },
      { "!!int on a quoted scalar", "v: !!int '12'", 12, "integer" },
      { "!!int hex", "v: !!int 0x10", 16, "integer" },
      { "!!float on an int", "v: !!float 3", 3.0, "float" },
      { "!!float on a quoted float", 'v: !!float "2.5"', 2.5, "float" },
      { "!!float .inf", "v: !!float -.inf", -math.huge, "float" },
      { "!!bool", "v: !!bool 'False'", false },
      { "!!null ~", "v: !!null ~", null },
      { "!!null empty", "v: !!null ''", null },
      { "!!map", "v: !!map {a: 1}", { a = 1 } },
      { "!!seq", "v: !!seq [1, 2]", { 1, 2 } },
      { "! on a mapping", "v: ! {a: 1}", { a = 1 } },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local v = yaml.load(c[2]).v
        if type(c[3]) == "table" then assert.same(c[3], v) else assert.equal(c[3], v) end
        if c[4] then assert.equal(c[4], numkind(v) or c[4]) end
      end)
    end
  end)

  describe("mapping keys are always strings", function()
    local cases = {
      { "1: a", "1" }, { "true: a", "true" }, { "~: a", "~" }, { "null: a", "null" },
      { "1.5: a", "1.5" }, { "0x10: a", "0x10" }, { "'q': a", "q" },
      { "99999999999999999999: a", "99999999999999999999" },
      { "!!int 0x10: a", "0x10" }, { "!!str 5: a", "5" }, { "? k\n: a", "k" },
    }
    for _, c in ipairs(cases) do
      it(q(c[1]), function()
        local v = yaml.load(c[1])
        assert.equal("a", v[c[2]])
        assert.equal(1, count(v))
      end)
    end

    it("an alias to a scalar anchor is a key by its text", function()
      local v = yaml.load("a: &x 10\n*x : b")
      assert.equal(10, v.a)
      assert.equal("b", v["10"])
    end)
  end)

  describe("documents", function()
    it("mappings and sequences become tables; nulls are kept", function()
      local v = yaml.load("a: 1\nb:\nc: [x, ~, {d: null}]\ne:\n  - 1\n  - - 2\n")
      assert.same({ a = 1, b = null, c = { "x", null, { d = null } }, e = { 1, { 2 } } }, v)
    end)

    local empties = {
      { "empty text", "" }, { "only whitespace", "  \n\n" }, { "only comments", "# a\n# b\n" },
      { "a bare ---", "---\n" }, { "--- and ...", "---\n...\n" }, { "--- with a comment", "--- # c\n" },
    }
    for _, c in ipairs(empties) do
      it(c[1] .. " gives nil and an empty marks table", function()
        local v, marks = yaml.load(c[2])
        assert.is_nil(v)
        assert.same({}, marks)
      end)
    end

    it("an explicit null document is yaml.null", function()
      assert.equal(null, yaml.load("~"))
      assert.equal(null, yaml.load("--- null\n"))
    end)

    it("a top-level scalar or sequence is returned as is", function()
      assert.equal("hi", yaml.load("hi"))
      assert.same({ 1, 2 }, yaml.load("- 1\n- 2\n"))
    end)

    it("a document end marker and %YAML 1.2 are accepted", function()
      assert.same({ a = 1 }, yaml.load("a: 1\n...\n"))
      assert.same({ a = 1 }, yaml.load("%YAML 1.2\n---\na: 1\n"))
    end)

    it("a UTF-8 byte order mark is skipped", function()
      assert.same({ a = 1 }, yaml.load("\239\187\191a: 1"))
    end)

    it("a long scalar loads whole", function()
      local big = ("x"):rep(8 * 1024 * 1024)
      assert.equal(#big, #yaml.load("v: " .. big).v)
    end)

    it("200 levels of nesting load", function()
      local v = yaml.load(("["):rep(200) .. ("]"):rep(200))
      local d = 0
      while type(v) == "table" do d, v = d + 1, v[1] end
      assert.equal(200, d)
    end)
  end)

  describe("anchors and aliases", function()
    it("an alias to a collection is the same table", function()
      local v = yaml.load("a: &x {k: [1]}\nb: *x\nc: [*x, *x]\n")
      assert.is_true(rawequal(v.a, v.b))
      assert.is_true(rawequal(v.a, v.c[1]))
      assert.is_true(rawequal(v.a, v.c[2]))
    end)

    it("an alias to a scalar gives its value", function()
      local v = yaml.load("a: &n 5\nb: *n\nc: &s hi\nd: *s\ne: &z ~\nf: *z\n")
      assert.same({ a = 5, b = 5, c = "hi", d = "hi", e = null, f = null }, v)
    end)

    it("an alias refers to the latest definition of its anchor", function()
      local v = yaml.load("a: &x 1\nb: *x\nc: &x 2\nd: *x\n")
      assert.equal(1, v.b)
      assert.equal(2, v.d)
    end)

    it("an alias inside its own anchor makes a cycle, not a copy", function()
      local v = yaml.load("&a [*a, 1]")
      assert.is_true(rawequal(v, v[1]))
    end)

    it("an alias bomb costs one table per level", function()
      local lines = { 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]' }
      local prev = "a"
      for _, l in ipairs({ "b", "c", "d", "e", "f", "g", "h", "i" }) do
        local refs = {}
        for i = 1, 9 do refs[i] = "*" .. prev end
        lines[#lines + 1] = ("%s: &%s [%s]"):format(l, l, table.concat(refs, ","))
        prev = l
      end
      local v, marks = yaml.load(table.concat(lines, "\n"))
      assert.is_true(rawequal(v.i[1], v.h))
      assert.is_true(rawequal(v.i[9][9][9][9][9][9][9][9], v.a))
      assert.equal(10, count(marks)) -- the root and one per level
    end)
  end)

  describe("merge keys", function()
    it("merges a mapping; explicit keys win wherever they stand", function()
      local v = yaml.load("base: &b {x: 1, y: 2, z: 3}\nm:\n  y: 20\n  <<: *b\n  z: 30\n")
      assert.same({ x = 1, y = 20, z = 30 }, v.m)
      assert.same({ x = 1, y = 2, z = 3 }, v.base)
      assert.is_false(rawequal(v.m, v.base))
    end)

    it("merges a sequence of mappings; earlier ones win", function()
      local v = yaml.load("a: &a {k: a, p: 1}\nb: &b {k: b, q: 2}\nm: {<<: [*a, *b], r: 3}\n")
      assert.same({ k = "a", p = 1, q = 2, r = 3 }, v.m)
    end)

    it("merges inline mappings and nested merges", function()
      local v = yaml.load("a: &a {<<: {x: 1}, y: 2}\nb: {<<: *a}\nc: {<<: []}\n")
      assert.same({ x = 1, y = 2 }, v.b)
      assert.same({}, v.c)
    end)

    it("merged values are shared, not copied", function()
      local v = yaml.load("a: &a {t: [1]}\nb: {<<: *a}\n")
      assert.is_true(rawequal(v.a.t, v.b.t))
    end)

    it("a quoted '<<' is an ordinary key", function()
      assert.same({ ["<<"] = { a = 1 } }, yaml.load('"<<": {a: 1}'))
    end)

    it("merged keys keep the marks of their definition", function()
      local v, marks = yaml.load("a: &a\n  x: 1\nb:\n  <<: *a\n  y: 2\n")
      local m = marks[v.b]
      assert.same({ line = 2, col = 3 }, m.keys.x)
      assert.same({ line = 2, col = 6 }, m.values.x)
      assert.same({ line = 5, col = 3 }, m.keys.y)
      assert.is_nil(m.keys["<<"])
    end)
  end)

  describe("marks", function()
    local doc = table.concat({
      "name: demo",      -- 1
      "limits:",         -- 2
      "  rpm: 60",       -- 3
      "  models: [a, b]", -- 4
      "list:",           -- 5
      "  - x",           -- 6
      "  - k: v",        -- 7
      "empty:",          -- 8
      "alias: *ref",     -- 9
    }, "\n")
    doc = "anchor: &ref {q: 1}\n" .. doc -- everything above moves down one line
    local v, marks = yaml.load(doc)

    local function at(line, col) return { line = line, col = col } end

    it("cover every table produced and nothing else", function()
      local tables = { v, v.limits, v.limits.models, v.list, v.list[2], v.anchor }
      for _, t in ipairs(tables) do assert.is_table(marks[t]) end
      assert.equal(#tables, count(marks))
    end)

    it("give a mapping's position, each key's and each value's", function()
      local m = marks[v]
      assert.equal(1, m.line)
      assert.equal(1, m.col)
      assert.same(at(2, 1), m.keys.name)
      assert.same(at(2, 7), m.values.name)
      assert.same(at(3, 1), m.keys.limits)
      assert.same(at(4, 3), m.values.limits) -- a block mapping starts at its first key
      assert.same(at(9, 1), m.keys.empty)
      assert.same(at(9, 7), m.values.empty)
    end)

    it("nest", function()
      local m = marks[v.limits]
      assert.same({ 4, 3 }, { m.line, m.col })
      assert.same(at(5, 3), m.keys.models)
      assert.same(at(5, 11), m.values.models)
    end)

    it("give a sequence's position and each item's, with no keys", function()
      local m = marks[v.limits.models]
      assert.same({ 5, 11 }, { m.line, m.col })
      assert.same({ at(5, 12), at(5, 15) }, m.values)
      assert.is_nil(m.keys)
      local l = marks[v.list]
      assert.same({ 7, 3 }, { l.line, l.col })
      assert.same({ at(7, 5), at(8, 5) }, l.values)
      assert.same({ 8, 5 }, { marks[v.list[2]].line, marks[v.list[2]].col })
    end)

    it("keep an anchored table's definition; the alias's own position is its value mark", function()
      assert.is_true(rawequal(v.anchor, v.alias))
      -- a node's position includes its anchor and tag
      assert.same({ 1, 9 }, { marks[v.alias].line, marks[v.alias].col })
      assert.same(at(10, 8), marks[v].values.alias)
    end)

    it("count columns in characters, not bytes", function()
      local w, mk = yaml.load("\195\169\195\169: [1]")
      assert.same(at(1, 5), mk[w].values["\195\169\195\169"])
    end)
  end)

  describe("errors raise name:LINE:COL: message", function()
    local cases = {
      -- libyaml's own, at its problem mark with its context
      { "bad indentation", "a: b\n  c: d", "t:2:4: mapping values are not allowed in this context" },
      { "mapping value in a plain scalar", "a: b: c", "t:1:5: mapping values are not allowed in this context" },
      { "unclosed quote", "a: 'x",
        "t:1:6: found unexpected end of stream (while scanning a quoted scalar at 1:4)" },
      { "unclosed flow sequence", "[a\n",
        "t:2:1: did not find expected ',' or ']' (while parsing a flow sequence at 1:1)" },
      { "unclosed flow mapping", "{a: 1",
        "t:2:1: did not find expected ',' or '}' (while parsing a flow mapping at 1:1)" },
      { "flow sequence over lines", "key: [a,\n b",
        "t:3:1: did not find expected ',' or ']' (while parsing a flow sequence at 1:6)" },
      { "sequence then mapping", "- a\nb: c",
        "t:2:1: did not find expected '-' indicator (while parsing a block collection at 1:1)" },
      { "tab indentation", "a:\n\tb: 1",
        "t:2:1: found character that cannot start any token (while scanning for the next token at 2:1)" },
      { "reserved indicator", "x: @a",
        "t:1:4: found character that cannot start any token (while scanning for the next token at 1:4)" },
      { "empty alias", "a: *",
        "t:1:5: did not find expected alphabetic or numeric character (while scanning an alias at 1:4)" },
      { "unknown escape", 'a: "\\q"', "t:1:5: found unknown escape character (while parsing a quoted scalar at 1:4)" },
      { "YAML 2.0", "%YAML 2.0\n---\na: 1", "t:1:1: found incompatible YAML document" },
      { "a document after ... without ---", "a: 1\n...\nb: 2", "t:3:1: did not find expected <document start>" },
      -- reader errors: positions counted from libyaml's byte offset
      { "invalid UTF-8", "a: \255", "t:1:4: invalid leading UTF-8 octet (0xFF)" },
      { "overlong UTF-8", "a: \192\128", "t:1:4: invalid length of a UTF-8 sequence" },
      { "truncated UTF-8", "a: b\195", "t:1:5: incomplete UTF-8 octet sequence" },
      { "invalid UTF-8 after multibyte characters", "\195\169\195\169: \255",
        "t:1:5: invalid leading UTF-8 octet (0xFF)" },
      { "NUL byte", "a: b\0c", "t:1:5: control characters are not allowed (0x00)" },
      { "control character", "a: 1\nb: \1", "t:2:4: control characters are not allowed (0x01)" },
      -- the loader's own
      { "duplicate key", "a: 1\nb: 2\na: 3", "t:3:1: duplicate key 'a' (first at 1:1)" },
      { "duplicate key in flow", "{a: 1, a: 2}", "t:1:8: duplicate key 'a' (first at 1:2)" },
      { "duplicate key, quoted and plain", "\"a\": 1\na: 2", "t:2:1: duplicate key 'a' (first at 1:1)" },
      { "duplicate key, int text", "1: a\n'1': b", "t:2:1: duplicate key '1' (first at 1:1)" },
      { "duplicate nested key", "x:\n  y: 1\n  y: 2", "t:3:3: duplicate key 'y' (first at 2:3)" },
      { "duplicate merge key", "a: {<<: {}, <<: {}}", "t:1:13: duplicate key '<<'" },
      { "sequence as key", "? [a]\n: b", "t:1:3: mapping keys must be scalars" },
      { "flow sequence as key", "- [a, b]: c", "t:1:3: mapping keys must be scalars" },
      { "mapping as key", "{{a: 1}: b}", "t:1:2: mapping keys must be scalars" },
      { "alias to a collection as key", "a: &x [1]\n*x : 2", "t:2:1: mapping keys must be scalars" },
      { "alias to a re-anchored collection as key", "a: &x 1\nb: &x [2]\n*x : 3",
        "t:3:1: mapping keys must be scalars" },
      { "two documents", "a: 1\n---\nb: 2", "t:2:1: expected a single YAML document" },
      { "two explicit documents", "--- a\n--- b", "t:2:1: expected a single YAML document" },
      { "an empty second document", "a: 1\n---\n", "t:2:1: expected a single YAML document" },
      { "201 flow levels", ("["):rep(201) .. ("]"):rep(201), "t:1:201: nesting deeper than 200" },
      { "undefined alias", "a: *x", "t:1:4: undefined alias '*x'" },
      { "alias before its anchor", "a: *x\nb: &x 1", "t:1:4: undefined alias '*x'" },
      { "undefined alias as key", "*x : 1", "t:1:1: undefined alias '*x'" },
      { "local tag", "a: !foo x", "t:1:4: unknown tag '!foo'" },
      { "local tag on a mapping", "a: !foo {b: 1}", "t:1:4: unknown tag '!foo'" },
      { "local tag on a key", "!foo k: 1", "t:1:1: unknown tag '!foo'" },
      { "!!binary", "- !!binary aGk=", "t:1:3: unknown tag '!!binary'" },
      { "!!timestamp", "a: !!timestamp 2001-12-14", "t:1:4: unknown tag '!!timestamp'" },
      { "!!set", "a: !!set {x: ~}", "t:1:4: unknown tag '!!set'" },
      { "verbatim tag", "a: !<tag:example.com,2000:x> 1", "t:1:4: unknown tag 'tag:example.com,2000:x'" },
      { "%TAG shorthand", "%TAG !e! tag:example.com,2000:\n---\n!e!x 1",
        "t:3:1: unknown tag 'tag:example.com,2000:x'" },
      { "!!map on a sequence", "!!map [1]", "t:1:1: tag '!!map' does not apply to a sequence" },
      { "!!seq on a mapping", "!!seq {}", "t:1:1: tag '!!seq' does not apply to a mapping" },
      { "!!int on a mapping", "!!int {}", "t:1:1: tag '!!int' does not apply to a mapping" },
      { "!!map on a scalar", "a: !!map x", "t:1:4: tag '!!map' does not apply to a scalar" },
      { "!!int not an int", "a: !!int x", "t:1:4: invalid !!int value 'x'" },
      { "!!int float text", "a: !!int 1.5", "t:1:4: invalid !!int value '1.5'" },
      { "!!int key not an int", "!!int 1x: v", "t:1:1: invalid !!int value '1x'" },
      { "!!int out of range", "a: !!int 99999999999999999999",
        "t:1:4: integer out of range: 99999999999999999999" },
      { "!!float not a float", "a: !!float x", "t:1:4: invalid !!float value 'x'" },
      { "!!bool yes", "a: !!bool yes", "t:1:4: invalid !!bool value 'yes'" },
      { "!!null text", "a: !!null x", "t:1:4: invalid !!null value 'x'" },
      { "hex out of range", "a: 0x8000000000000000", "t:1:4: integer out of range: 0x8000000000000000" },
      { "octal out of range", "- 0o1777777777777777777777",
        "t:1:3: integer out of range: 0o1777777777777777777777" },
      { "merge of a scalar", "a: {<<: 1}", "t:1:9: merge value must be a mapping or a sequence of mappings" },
      { "merge of null", "a:\n  <<:\n  b: 1", -- an empty value sits just after its colon
        "t:2:6: merge value must be a mapping or a sequence of mappings" },
      { "merge of a list of scalars", "a: {<<: [1]}",
        "t:1:10: merge value must be a mapping or a sequence of mappings" },
      { "merge with one bad item", "a: {<<: [{}, 2]}",
        "t:1:14: merge value must be a mapping or a sequence of mappings" },
      { "merge of a nested list", "x: &s [{}]\na: {<<: [*s]}",
        "t:2:10: merge value must be a mapping or a sequence of mappings" },
    }
    local long_key = "a" .. ("\195\169"):rep(40)
    cases[#cases + 1] = { "a long scalar is cut short in messages", "a: !!int " .. ("9"):rep(100),
      "t:1:4: integer out of range: " .. ("9"):rep(60) .. "..." }
    cases[#cases + 1] = { "a long key is cut at a character boundary", long_key .. ": 1\n" .. long_key .. ": 2",
      "t:2:1: duplicate key '" .. long_key:sub(1, 59) .. "...' (first at 1:1)" }
    if is54 then
      cases[#cases + 1] = { "int64 max + 1 as !!int", "a: !!int 9223372036854775808",
        "t:1:4: integer out of range: 9223372036854775808" }
    else
      -- LuaJIT numbers are doubles: past 2^53 an exact integer cannot be kept
      cases[#cases + 1] = { "2^53 + 1 as !!int", "a: !!int 9007199254740993",
        "t:1:4: integer out of range: 9007199254740993" }
      cases[#cases + 1] = { "hex past 2^53", "a: 0x20000000000001", "t:1:4: integer out of range: 0x20000000000001" }
    end
    for _, c in ipairs(cases) do
      it(c[1], function()
        assert.equal(c[3], load_error(c[2]))
      end)
    end

    it("201 levels of block mappings", function()
      local lines = {}
      for i = 1, 201 do lines[i] = ("  "):rep(i - 1) .. "k:" end
      lines[#lines] = lines[#lines] .. " 1"
      -- the 201st mapping starts at its first key, two columns per level
      assert.equal("t:201:401: nesting deeper than 200", load_error(table.concat(lines, "\n")))
    end)

    it("a reader error far into a large input is placed by its byte offset", function()
      local lines = {}
      for i = 1, 30000 do lines[i] = ("k%d: \195\169"):format(i) end
      lines[#lines + 1] = "bad: x\255"
      assert.equal("t:30001:7: invalid leading UTF-8 octet (0xFF)", load_error(table.concat(lines, "\n")))
    end)

    it("use 'input' when no name is given", function()
      local ok, err = pcall(yaml.load, "a: 1\na: 2")
      assert.is_false(ok)
      assert.equal("input:2:1: duplicate key 'a' (first at 1:1)", err)
    end)

    it("misuse raises the usual argument error", function()
      assert.has_error(function() yaml.load() end)
      assert.has_error(function() yaml.load({}) end)
      assert.has_error(function() yaml.load("a", {}) end)
    end)
  end)

  describe("OpenAI's openapi.yaml", function()
    local text = read(OPENAPI)

    it("loads correctly and fast", function()
      if not text then pending("no " .. OPENAPI) return end
      local t0 = os.clock()
      local v, marks = yaml.load(text, "openapi.yaml")
      local dt = os.clock() - t0
      assert.equal("3.1.0", v.openapi)
      local req = v.components.schemas.CreateChatCompletionRequest
      assert.is_table(req)
      assert.is_table(marks[req])
      assert.equal(5, marks[v.components.schemas].keys.CreateChatCompletionRequest.col)
      assert.is_string(v.info.title)
      assert.is_table(v.paths["/chat/completions"].post)
      assert.is_true(dt < 2 * SLOW, ("took %.2fs"):format(dt))
    end)
  end)

  describe("robustness", function()
    -- Raised errors must keep the one shape; anything else (a crash, a
    -- non-string error) fails here or under ASan/valgrind.
    local function check(text)
      local ok, err = pcall(yaml.load, text, "t")
      if not ok then
        assert.is_string(err)
        assert.is_truthy(err:match("^t:%d+:%d+: .") or err == "t: out of memory", err)
      end
    end

    local sample = table.concat({
      "%YAML 1.2",
      "---",
      "defaults: &d {model: gpt-4o, temperature: 0.2, stop: [\"\\n\", '##']}",
      "providers:",
      "  openai:",
      "    <<: *d",
      "    key: !!str 0x1F",
      "    retries: 3",
      "    limits: {rpm: 3500, tpm: .inf, burst: ~}",
      "  anthropic:",
      "    <<: [*d, {timeout: 30}]",
      "    prompt: |",
      "      You are \"helpful\".",
      "      \195\169t\195\169",
      "    notes: >-",
      "      folded",
      "      text",
      "list:",
      "  - &x [1, 2.5, -3e2, true, null]",
      "  - *x",
      "  - ? complex",
      "    : value",
      "...",
    }, "\n")

    it("the sample loads", function()
      local v = yaml.load(sample)
      assert.equal(30, v.providers.anthropic.timeout)
      assert.equal("gpt-4o", v.providers.openai.model)
    end)

    it("every prefix of a document either loads or raises in shape", function()
      for i = 0, #sample do check(sample:sub(1, i)) end
    end)

    it("random mutations either load or raise in shape", function()
      math.randomseed(1234)
      local bytes = "\0\1\t\n\r :-?[]{},&*!|>'\"%@`#<<\127\128\191\192\255\239\187\191aZ09."
      for _ = 1, 600 do
        local s = sample
        for _ = 1, math.random(1, 6) do
          local op, pos = math.random(4), math.random(1, #s)
          if op == 1 then -- replace a byte
            local b = math.random(#bytes)
            s = s:sub(1, pos - 1) .. bytes:sub(b, b) .. s:sub(pos + 1)
          elseif op == 2 then -- insert a random byte
            s = s:sub(1, pos - 1) .. string.char(math.random(0, 255)) .. s:sub(pos)
          elseif op == 3 then -- delete a run
            s = s:sub(1, pos - 1) .. s:sub(pos + math.random(1, 8))
          else -- duplicate a run elsewhere
            local from = math.random(1, #s)
            s = s:sub(1, pos - 1) .. s:sub(from, from + math.random(1, 30)) .. s:sub(pos)
          end
        end
        check(s)
      end
    end)

    it("binary garbage raises in shape", function()
      math.randomseed(99)
      for _ = 1, 300 do
        local t = {}
        for i = 1, math.random(0, 200) do t[i] = string.char(math.random(0, 255)) end
        check(table.concat(t))
      end
    end)

    it("failed loads leave nothing behind", function()
      for _ = 1, 200 do
        assert.is_false((pcall(yaml.load, "a: &x {b: [1, 2]}\nc: *x\nc: 1")))
      end
      collectgarbage()
      collectgarbage()
      -- leaks are what ASan and valgrind check on this run
    end)
  end)
end)
