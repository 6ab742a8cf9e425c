-- keel.schema: the Lua API over the C validator (the official suite is in
-- schema_suite_spec.lua; this file checks what a user of the API sees).
local keel = require "keel"
local schema = keel.schema
local json = keel.json

local function errs_of(s, doc)
  local ok, errs = s:validate(doc)
  assert.is_false(ok)
  return errs
end

describe("keel.schema", function()
  it("compiles a Lua table or JSON text and validates text and values", function()
    for _, src in ipairs { { type = "object", required = { "a" } }, '{"type":"object","required":["a"]}' } do
      local s = schema.compile(src)
      assert.is_true(s:validate('{"a": 1}'))
      assert.is_true(s:validate_value { a = 1 })
      assert.is_false(s:validate('{"b": 1}'))
      assert.is_false((s:validate_value { b = 1 }))
    end
  end)

  it("validate_value keeps keel.json's empty-array and null conventions", function()
    local s = schema.compile { type = "object", properties = { xs = { type = "array" }, n = { type = "null" } } }
    assert.is_true(s:validate_value { xs = json.array {}, n = json.null })
    local ok, errs = s:validate_value { xs = {} } -- a plain {} is an object in keel.json
    assert.is_false(ok)
    assert.equal("/xs", errs[1].instance_path)
  end)

  -- errors: instance_path, schema_path, keyword, message
  local cases = {
    { "misspelled field (additionalProperties false)",
      { type = "object", properties = { description = { type = "string" } }, additionalProperties = false },
      '{"descripton": "x"}', { { "/descripton", "/additionalProperties", "additionalProperties", 'property "descripton" is not allowed' } } },
    { "missing required",
      { type = "object", required = { "name", "age" } }, '{"age": 3}',
      { { "", "/required", "required", 'missing required property "name"' } } },
    { "type, in an array of objects",
      { type = "object", properties = { items = { type = "array", items = { type = "object", properties = { qty = { type = "integer" } } } } } },
      '{"items": [{"qty": 1}, {"qty": 1.5}]}',
      { { "/items/1/qty", "/properties/items/items/properties/qty/type", "type", "must be integer, not number" } } },
    { "enum", { enum = { "low", "high" } }, '"medium"',
      { { "", "/enum", "enum", 'must be one of "low", "high" (it is "medium")' } } },
    { "minLength counts code points", { type = "string", minLength = 3 }, '"é€"',
      { { "", "/minLength", "minLength", "must be at least 3 characters long (it is 2)" } } },
    { "pattern", { pattern = "^[a-z]+$" }, '"ABC"',
      { { "", "/pattern", "pattern", 'must match the pattern "^[a-z]+$"' } } },
    { "through $ref: the evaluation path, not the target's",
      { ["$defs"] = { pos = { minimum = 0 } }, properties = { n = { ["$ref"] = "#/$defs/pos" } } }, '{"n": -1}',
      { { "/n", "/properties/n/$ref/minimum", "minimum", "must be at least 0" } } },
    { "several errors, schema keyword order then instance order",
      { type = "object", required = { "z" }, properties = { a = { type = "string" }, b = { type = "string" } } },
      '{"b": 1, "a": 2}',
      { { "", "/required", "required", 'missing required property "z"' },
        { "/b", "/properties/b/type", "type", "must be string, not integer" },
        { "/a", "/properties/a/type", "type", "must be string, not integer" } } },
    { "not JSON", { type = "object" }, '{"a": }',
      { { "", "/json", "json", "not JSON: expected a value at byte 7 (line 1, column 7)" } } },
  }
  for _, c in ipairs(cases) do
    it("reports " .. c[1], function()
      local errs = errs_of(schema.compile(c[2]), c[3])
      local got = {}
      for i, e in ipairs(errs) do got[i] = { e.instance_path, e.schema_path, e.keyword, e.message } end
      assert.are.same(c[4], got)
    end)
  end

  it("anyOf failures list each branch's errors after the anyOf error", function()
    local s = schema.compile { anyOf = { { type = "string" }, { type = "integer", minimum = 10 } } }
    local errs = errs_of(s, "3")
    assert.equal("anyOf", errs[1].keyword)
    assert.equal("/anyOf/0/type", errs[2].schema_path)
    assert.equal("/anyOf/1/minimum", errs[3].schema_path)
  end)

  it("caps the error list and says so", function()
    local s = schema.compile { type = "array", items = { type = "string" } }
    local doc = "[" .. string.rep("1,", 499) .. "1]"
    local ok, errs = s:validate(doc)
    assert.is_false(ok)
    assert.equal(100, #errs)
    assert.is_true(errs.capped)
    ok, errs = s:validate(doc, 5)
    assert.equal(5, #errs)
    assert.is_false(s:validate(doc, 0)) -- verdict only
  end)

  it("gives absolute keyword locations and the basic output format", function()
    local s = schema.compile({ ["$id"] = "https://example.com/order.json", properties = { n = { type = "string" } } })
    local errs = errs_of(s, '{"n": 1}')
    assert.equal("https://example.com/order.json#/properties/n/type", errs[1].absolute_path)
    local b = schema.basic(errs)
    assert.is_false(b.valid)
    assert.are.same({ keywordLocation = "/properties/n/type", instanceLocation = "/n", error = "must be string, not integer",
      absoluteKeywordLocation = "https://example.com/order.json#/properties/n/type" }, b.errors[1])
    assert.are.same({ valid = true }, schema.basic(nil))
  end)

  -- an invalid schema raises with the JSON pointer of the bad place
  local bad = {
    { { type = "strin" }, "keel.schema: /type: type must be one of" },
    { { properties = { a = { minLength = -1 } } }, "keel.schema: /properties/a/minLength: minLength must be a non-negative integer" },
    { { items = { pattern = "(" } }, "keel.schema: /items/pattern: pattern \"(\" is not a valid regular expression" },
    { { allOf = {} }, "keel.schema: /allOf: allOf must be a non-empty array of schemas" },
    { { ["$ref"] = "#/$defs/nope" }, "keel.schema: /$ref: cannot resolve \"keel:/schema.json#/$defs/nope\"" },
    { { ["$ref"] = "https://example.com/other.json" }, "cannot resolve \"https://example.com/other.json\": no such document (give it in the registry)" },
    { "{not json", "keel.schema: (root): the schema is not JSON" },
    { { multipleOf = 0 }, "keel.schema: /multipleOf: multipleOf must be greater than 0" },
    { { ["$schema"] = "https://example.com/my-meta" }, "cannot resolve \"https://example.com/my-meta\"" },
    -- the id keyword of the dialect $schema switches to is checked too
    { '{"$schema": "http://json-schema.org/draft-04/schema#", "id": {"a": 1}}', "keel.schema: (root): id must be a string" },
  }
  for _, c in ipairs(bad) do
    it("refuses " .. (type(c[1]) == "string" and c[1] or json.encode(c[1])), function()
      local ok, err = pcall(schema.compile, c[1])
      assert.is_false(ok)
      assert.truthy(tostring(err):find(c[2], 1, true), tostring(err))
    end)
  end

  it("refuses unknown options and dialects", function()
    assert.has_error(function() schema.compile({}, { dialekt = "draft7" }) end, "keel.schema.compile: unknown option 'dialekt'")
    assert.has_error(function() schema.compile({}, { dialect = "draft5" }) end)
  end)

  it("resolves remote refs from the registry only (tables or text)", function()
    local reg = {
      ["https://example.com/defs.json"] = { ["$defs"] = { id = { type = "string", pattern = "^[0-9a-f]{8}$" } } },
      ["https://example.com/name.json"] = '{"type": "string", "minLength": 1}',
    }
    local s = schema.compile({ properties = { id = { ["$ref"] = "https://example.com/defs.json#/$defs/id" },
      name = { ["$ref"] = "https://example.com/name.json" } } }, { registry = reg })
    assert.is_true(s:validate('{"id": "0a1b2c3d", "name": "x"}'))
    local errs = errs_of(s, '{"id": "zz", "name": ""}')
    assert.equal("https://example.com/defs.json#/$defs/id/pattern", errs[1].absolute_path)
    assert.equal("/properties/name/$ref/minLength", errs[2].schema_path)
  end)

  it("uses the dialect option only when the schema has no $schema", function()
    -- draft 7: $ref hides its siblings; 2020-12: it does not
    local src = { ["$defs"] = { s = { type = "string" } }, definitions = { s = { type = "string" } },
      ["$ref"] = "#/definitions/s", maxLength = 2 }
    assert.is_true(schema.compile(src, { dialect = "draft7" }):validate('"abcd"'))
    assert.is_false(schema.compile(src):validate('"abcd"'))
    src["$schema"] = "http://json-schema.org/draft-07/schema#"
    assert.is_true(schema.compile(src, { dialect = "2020-12" }):validate('"abcd"'))
    assert.equal("draft7", schema.compile(src):dialect())
  end)

  it("asserts formats only when asked", function()
    local src = { type = "string", format = "date" }
    assert.is_true(schema.compile(src):validate('"2024-02-30"'))
    local ok, errs = schema.compile(src, { formats = true }):validate('"2024-02-30"')
    assert.is_false(ok)
    assert.equal("format", errs[1].keyword)
    assert.is_true(schema.compile(src, { formats = true }):validate('"2024-02-29"'))
  end)

  local numbers = {
    { { type = "integer" }, "1.0", true }, { { type = "integer" }, "1e3", true },
    { { type = "integer" }, "1.5", false }, { { type = "integer" }, "123456789012345678901234567890", true },
    { { maximum = 18446744073709551615 }, "18446744073709551616", false },
    { { maximum = 9007199254740993 }, "9007199254740993", true },
    { { exclusiveMaximum = 9007199254740993 }, "9007199254740993", false },
    { { multipleOf = 0.01 }, "19.99", true }, { { multipleOf = 0.0001 }, "0.0075", true },
    { { multipleOf = 0.1 }, "0.30000000000000004", false },
    { { type = "integer", multipleOf = 0.123456789 }, "1e308", false },
    { { const = 1 }, "1.0", true }, { { enum = { { a = 1 } } }, '{"a": 1.0}', true },
    { { uniqueItems = true }, "[1, 1.0]", false }, { { uniqueItems = true }, '[{"a":1,"b":2}, {"b":2,"a":1}]', false },
  }
  for _, c in ipairs(numbers) do
    it(("numbers exactly: %s on %s"):format(json.encode(c[1]), c[2]), function()
      -- schema as text so the literal keeps all its digits
      local src = json.encode(c[1])
      if c[1].maximum == 18446744073709551615 then src = '{"maximum": 18446744073709551615}' end
      if c[1].maximum == 9007199254740993 then src = '{"maximum": 9007199254740993}' end
      if c[1].exclusiveMaximum then src = '{"exclusiveMaximum": 9007199254740993}' end
      assert.equal(c[3], (schema.compile(src):validate(c[2])))
    end)
  end

  it("finds the official meta-schemas without a registry entry", function()
    local s = schema.compile { ["$ref"] = "https://json-schema.org/draft/2020-12/schema" }
    assert.is_true(s:validate('{"type": "string"}'))
    assert.is_false(s:validate('{"type": 12}'))
    local d7 = schema.compile { ["$ref"] = "http://json-schema.org/draft-07/schema#" }
    assert.is_false(d7:validate('{"minLength": -1}'))
  end)

  it("ends a $ref cycle that never consumes the instance with an error, not a crash", function()
    local s = schema.compile { ["$defs"] = { a = { ["$ref"] = "#/$defs/b" }, b = { ["$ref"] = "#/$defs/a" } }, ["$ref"] = "#/$defs/a" }
    local ok, errs = s:validate("1")
    assert.is_false(ok)
    assert.truthy(errs[1].message:find("deeper than", 1, true))
  end)

  it("closes once, and refuses use after close", function()
    local s = schema.compile { type = "string" }
    assert.truthy(tostring(s):find("keel.schema"))
    s:close()
    s:close()
    assert.truthy(tostring(s):find("closed"))
    assert.has_error(function() s:validate('"x"') end, "keel.schema: the schema is closed")
  end)
end)
