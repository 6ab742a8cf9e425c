-- keel.json.extract: the JSON value in a model's answer, table-driven.
local json = require "keel.json"

describe("keel.json.extract", function()
  -- text, expected value (as canonical JSON), source, start, stop
  local found = {
    { '{"a":1}', '{"a":1}', "whole", 1, 7 },
    { '  \n[1, 2]\n', "[1,2]", "whole", 4, 9 },
    { "\xEF\xBB\xBF{\"bom\":true}", '{"bom":true}', "whole", 4, 15 },
    { '"just a string"', '"just a string"', "whole", 1, 15 },
    { 'Here you go:\n```json\n{"name": "x", "tags": []}\n```\nDone.', '{"name":"x","tags":[]}', "fence", 22, 46 },
    { 'Text\n```JSON\n[1]\n```', "[1]", "fence", 14, 16 },
    { 'Code:\n```python\nx = {"no": 1}\n```\nand\n```\n{"yes": 2}\n```', '{"yes":2}', "fence", 43, 52 },
    { 'Sure! The answer is {"ok": true} and also {"b": 2}.', '{"ok":true}', "text", 21, 32 },
    { 'Use {braces} like {"a":1}', '{"a":1}', "text", 19, 25 },
    { 'List: [1, 2, 3]. Object: {"x": 1}', "[1,2,3]", "text", 7, 15 },
    { 'broken {"a": tru} then good {"b": [true, null]}', '{"b":[true,null]}', "text", 29, 47 },
    { 'é {"unicode": "日本"} ✓', '{"unicode":"日本"}', "text", 4, 24 },
    -- a bracket in prose that starts no JSON does not hide the value after it
    { 'He typed "{" and then: {"a": 1}', '{"a":1}', "text", 24, 31 },
    { 'Use the "[" key. Result: ["x", "y"]', '["x","y"]', "text", 26, 35 },
    -- a broken value is skipped whole; a complete one after it is found
    { '{"a": 1,} and {"b": [2]}', '{"b":[2]}', "text", 15, 24 },
  }
  for _, c in ipairs(found) do
    it(("finds %s in %q"):format(c[2], c[1]:sub(1, 40)), function()
      local v, info = json.extract(c[1])
      assert.is_not_nil(v, info and tostring(info))
      assert.equal(c[2], json.encode(v))
      assert.equal(c[3], info.source)
      assert.equal(c[4], info.start)
      assert.equal(c[5], info.stop)
      assert.equal(c[1]:sub(c[4], c[5]), info.text)
      assert.is_nil(info.repaired)
    end)
  end

  it("counts the candidates the scan saw and gives line and column", function()
    local _, info = json.extract('one {"a":1}\ntwo {"b":2}\n  three [3]')
    assert.equal(3, info.candidates)
    assert.same({ 1, 5 }, { info.line, info.column })
    local _, info2 = json.extract('x\n\n  {"a":1} y')
    assert.same({ 3, 3 }, { info2.line, info2.column })
  end)

  -- never a guess: cut-off values, fragments of broken values, nothing at all
  local missing = {
    { '{"name": "x", "desc": "cut', "unexpected end of input at byte 27 %(line 1, column 27%) %(the text is cut off%)" },
    { 'Result: {"items": [{"id": 1}, {"id": 2}], "total":', "unexpected end of input" },
    { "no json here at all", "no JSON object or array in the text %(19 bytes%)" },
    { "", "no JSON object or array in the text %(0 bytes%)" },
    { '{"a": 1, "b": [1,2,],}', "expected a value at byte 20" },
    { "{'a': 1}", "expected a string key or '}' at byte 2" },
    { '```json\n{"a": \n```', "is not valid" },
    -- nothing nested inside a broken value is returned in its place
    { '{"ok": True, "data": {"x": 1}}', "expected a value at byte 8" },
    { '{"name": "x", "age": tru, "address": {"city": "P"}}', "invalid literal at byte 22" },
    { ("["):rep(1001) .. ("]"):rep(1001), "nesting deeper than 1000 at byte 1001" },
  }
  for _, c in ipairs(missing) do
    it(("refuses %q"):format(c[1]:sub(1, 40)), function()
      local v, err = json.extract(c[1])
      assert.is_nil(v)
      assert.equal("invalid_output", err.kind)
      assert.matches(c[2], err.message)
    end)
  end
  it("does not return the inner array of a cut-off object", function()
    local v = json.extract('{"tags": ["a", "b"], "desc": "long text that was cut')
    assert.is_nil(v)
  end)

  -- lenient: what it repairs, and that it says so
  local repairs = {
    { '{"a": 1, "b": [1,2,],}', '{"a":1,"b":[1,2]}', { "trailing_comma" } },
    { "{'a': 'it\\'s'}", '{"a":"it\'s"}', { "single_quotes" } },
    { "{“a”: “b \"q\"”}", '{"a":"b \\"q\\""}', { "smart_quotes" } },
    { '{"a": 1, // one\n "b": /* two */ 2}', '{"a":1,"b":2}', { "comments" } },
    { '{"t": True, "f": False, "n": None, "s": "True"}', '{"f":false,"n":null,"s":"True","t":true}', { "python_literals" } },
    { 'Sure:\n```json\n{"a": [1,],}\n```', '{"a":[1]}', { "trailing_comma" } },
    { 'The data is {"x": 1, "y": 2,} as asked.', '{"x":1,"y":2}', { "trailing_comma" } },
    { '{"ok": True, "data": {"x": 1}}', '{"data":{"x":1},"ok":true}', { "python_literals" } },
    { "{'a': {\"b\": 1}}", '{"a":{"b":1}}', { "single_quotes" } },
    { 'Result: {"a": [1,2,], "b": {"c": 1}}', '{"a":[1,2],"b":{"c":1}}', { "trailing_comma" } },
  }
  it("repairs broken values in text order when lenient", function()
    local v, info = json.extract('{"a": 1,} and {"b": [2]}', { lenient = true })
    assert.equal('{"a":1}', json.encode(v))
    assert.same({ "trailing_comma" }, info.repaired)
  end)
  it("scans hostile text in linear time", function()
    for _, unit in ipairs({ "[x", "{x", '{"', "[1," }) do
      local s = unit:rep(math.floor(1048576 / #unit))
      local t0 = os.clock()
      json.extract(s)
      json.extract(s, { lenient = true })
      assert.is_true(os.clock() - t0 < 2, unit)
    end
  end)
  for _, c in ipairs(repairs) do
    it(("repairs %q when lenient"):format(c[1]:sub(1, 40)), function()
      assert.is_nil((json.extract(c[1])))
      local v, info = json.extract(c[1], { lenient = true })
      assert.is_not_nil(v, info and tostring(info))
      assert.equal(c[2], json.encode(v))
      assert.same(c[3], info.repaired)
    end)
  end
  it("leaves valid JSON alone in lenient mode, and does not invent a cut-off end", function()
    local _, info = json.extract('{"a": "don\'t // touch, this"}', { lenient = true })
    assert.is_nil(info.repaired)
    assert.is_nil((json.extract('{"a": [1, 2,', { lenient = true })))
  end)
  it("checks its arguments", function()
    assert.has_error(function() json.extract(nil) end, "keel.json.extract: string expected, got nil")
    assert.has_error(function() json.extract("x", 3) end, "keel.json.extract: options table expected")
  end)
end)
