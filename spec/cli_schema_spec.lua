-- keel schema validate: exit codes, error lines, stdin, --ref, --dialect,
-- --formats, --output basic, unreadable files. Runs bin/keel ($KEEL_BIN).
local sh = require "spec.support.sh"
local json = require "keel.json"
local q = sh.q

-- Cases run from a fixture directory, so the binary's path must be absolute.
local keel = sh.keel:sub(1, 1) == "/" and sh.keel or (os.getenv("PWD") .. "/" .. sh.keel)

local FILES = {
  ["person.json"] = [[{
    "type": "object",
    "required": ["name"],
    "additionalProperties": false,
    "properties": {
      "name": { "type": "string", "minLength": 2 },
      "role": { "enum": ["admin", "user"] },
      "tags": { "type": "array", "items": { "type": "string" } }
    }
  }]],
  ["ok.json"] = '{"name": "Zoë", "role": "user", "tags": ["a"]}',
  ["bad.json"] = '{"name": "Z", "tags": ["a", 1]}',
  ["typo.json"] = '{"nme": "Zoë"}',
  ["notjson.json"] = '{"name": "Zoë",',
  -- a keyword's argument is wrong: the message names /properties/a/type
  ["badschema.json"] = '{"type": "object", "properties": {"a": {"type": "strin"}}}',
  ["brokenschema.json"] = '{"type": ',
  -- remote $refs come from --ref only
  ["remote.json"] = '{"type": "array", "items": {"$ref": "https://example.com/name.json"}}',
  ["name.json"] = '{"type": "string", "maxLength": 3}',
  -- boolean exclusiveMinimum is draft-04; 2020-12 wants a number
  ["d4.json"] = '{"type": "integer", "minimum": 0, "exclusiveMinimum": true}',
  ["strings.json"] = '{"type": "array", "items": {"type": "string"}}',
  ["email.json"] = '{"type": "string", "format": "email"}',
}

local dir
setup(function()
  dir = sh.tmpname()
  assert(sh.ok("mkdir -p " .. q(dir)))
  for name, text in pairs(FILES) do sh.write(dir .. "/" .. name, text) end
end)
teardown(function() sh.ok("rm -rf " .. q(dir)) end)

local function run(args, stdin)
  return sh.run(("cd %s && %s schema %s"):format(q(dir), q(keel), args), stdin)
end

-- stdout as a list of decoded JSON lines
local function lines(out)
  local t = {}
  for line in out:gmatch("[^\n]+") do t[#t + 1] = assert(json.decode(line), line) end
  return t
end

-- Expected error lines: { instance_path, keyword[, schema_path] } each, in order.
local function errors_are(want)
  return function(out)
    local got = lines(out)
    assert.equal(#want, #got, out)
    for i, w in ipairs(want) do
      assert.equal(w[1], got[i].instance_path, out)
      assert.equal(w[2], got[i].keyword, out)
      if w[3] then assert.equal(w[3], got[i].schema_path, out) end
      assert.equal("string", type(got[i].message))
      assert.truthy(#got[i].message > 0)
    end
    -- keys in the documented order
    for line in out:gmatch("[^\n]+") do
      assert.matches('^{"instance_path":.-,"schema_path":.-,"keyword":.-,"message":.-}$', line)
    end
  end
end

local function basic(valid, nerrors)
  return function(out)
    assert.equal(1, select(2, out:gsub("\n", "")), "one JSON document, one line")
    local doc = assert(json.decode(out))
    assert.equal(valid, doc.valid)
    if valid then return end
    assert.matches('^{"valid":false,', out)
    assert.equal(nerrors, #doc.errors)
    for _, e in ipairs(doc.errors) do
      assert.equal("string", type(e.keywordLocation))
      assert.equal("string", type(e.instanceLocation))
      assert.equal("string", type(e.error))
    end
  end
end

describe("keel schema validate", function()
  -- { name, args, stdin, exit code, stdout (string: exact; function: checks), stderr pattern }
  local cases = {
    { "valid instance: silent", "validate person.json ok.json", nil, 0, "" },
    { "invalid: one JSON line per error", "validate person.json bad.json", nil, 1,
      errors_are { { "/name", "minLength", "/properties/name/minLength" },
        { "/tags/1", "type", "/properties/tags/items/type" } } },
    { "misspelled field", "validate person.json typo.json", nil, 1, function(out)
      local kw = {}
      for _, e in ipairs(lines(out)) do kw[e.keyword] = e end
      assert.equal("", kw.required.instance_path)
      assert.matches("name", kw.required.message)
      -- the spec leaves open whether this error sits at the object or the member: either names it
      local ap = kw.additionalProperties
      assert.truthy(ap.instance_path == "/nme" or ap.message:find("nme", 1, true), out)
    end },
    { "stdin when no instance is named", "validate person.json", '{"name": "ok"}', 0, "" },
    { "stdin as -", "validate person.json -", '{"name": 5}', 1, errors_are { { "/name", "type" } } },
    { "instance not JSON: exit 1, a json error line", "validate person.json notjson.json", nil, 1,
      errors_are { { "", "json" } }, "notjson%.json is not JSON" },
    { "stdin not JSON", "validate person.json -", "nope", 1, errors_are { { "", "json" } }, "stdin is not JSON" },
    { "missing instance file: exit 1", "validate person.json nowhere.json", nil, 1, "",
      "cannot read the instance: nowhere%.json: No such file" },
    { "instance is a directory: exit 1", "validate person.json .", nil, 1, "", "cannot read the instance" },
    { "missing schema file: exit 2", "validate nowhere.json ok.json", nil, 2, "",
      "cannot read the schema: nowhere%.json: No such file" },
    { "bad schema: exit 2 with its pointer", "validate badschema.json ok.json", nil, 2, "",
      "badschema%.json: bad schema: .*/properties/a/type" },
    { "schema not JSON: exit 2", "validate brokenschema.json ok.json", nil, 2, "", "brokenschema%.json: bad schema" },
    { "--ref fills the registry", "validate --ref https://example.com/name.json=name.json remote.json -",
      '["abc", "de"]', 0, "" },
    { "--ref=URI=FILE, invalid through the ref", "validate --ref=https://example.com/name.json=name.json remote.json -",
      '["abcd", 7]', 1, errors_are { { "/0", "maxLength" }, { "/1", "type" } } },
    { "unresolved remote ref without --ref: exit 2", "validate remote.json -", "[]", 2, "",
      "bad schema: .*example%.com/name%.json" },
    { "--ref file missing: exit 2", "validate --ref https://example.com/name.json=gone.json remote.json -", "[]", 2,
      "", "%-%-ref https://example%.com/name%.json: gone%.json: No such file" },
    { "--ref without =FILE: exit 2", "validate --ref https://example.com/name.json remote.json -", "[]", 2, "",
      "URI=FILE expected" },
    { "--dialect draft4 reads boolean exclusiveMinimum", "validate --dialect draft4 d4.json -", "0", 1,
      function(out) -- draft-04's exclusiveMinimum modifies minimum: either keyword may carry the error
        local got = lines(out)
        assert.equal(1, #got, out)
        assert.equal("", got[1].instance_path)
        assert.truthy(got[1].keyword == "minimum" or got[1].keyword == "exclusiveMinimum", out)
      end },
    { "--dialect draft4, valid", "validate --dialect draft4 d4.json -", "1", 0, "" },
    { "the default dialect is 2020-12: boolean exclusiveMinimum is a bad schema", "validate d4.json -", "1", 2, "",
      "bad schema: .*/exclusiveMinimum" },
    { "--dialect unknown: exit 2", "validate --dialect draft3 person.json ok.json", nil, 2, "",
      "unknown dialect 'draft3'" },
    { "format is an annotation by default", "validate email.json -", '"not an email"', 0, "" },
    { "--formats asserts it", "validate --formats email.json -", '"not an email"', 1, errors_are { { "", "format" } } },
    { "--formats, a good address", "validate --formats email.json -", '"ada@example.com"', 0, "" },
    { "--output basic, valid", "validate --output basic person.json ok.json", nil, 0, '{"valid":true}\n' },
    { "--output basic, invalid", "validate --output=basic person.json bad.json", nil, 1, basic(false, 2) },
    { "--output basic, not JSON", "validate --output basic person.json -", "{", 1, basic(false, 1),
      "stdin is not JSON" },
    { "--output unknown: exit 2", "validate --output detailed person.json ok.json", nil, 2, "",
      "unknown output format 'detailed'" },
    { "no command", "", nil, 2, "", "command expected" },
    { "unknown command", "check person.json", nil, 2, "", "unknown command 'check'" },
    { "no schema", "validate", nil, 2, "", "a schema file expected" },
    { "two instances", "validate person.json ok.json bad.json", nil, 2, "", "one instance file at most" },
    { "unknown option", "validate --bogus person.json", nil, 2, "", "unknown option %-%-bogus" },
    { "--dialect without a value", "validate person.json ok.json --dialect", nil, 2, "", "needs a value" },
    { "--ref without a value", "validate person.json ok.json --ref", nil, 2, "", "option %-%-ref needs a value" },
    { "--help", "--help", nil, 0, function(out) assert.matches("^usage: keel schema validate", out) end },
  }
  for _, c in ipairs(cases) do
    it(("%s → exit %d"):format(c[1], c[4]), function()
      local rc, out, err = run(c[2], c[3])
      assert.equal(c[4], rc, "stdout: " .. out .. "\nstderr: " .. err)
      if type(c[5]) == "function" then c[5](out) else assert.equal(c[5], out) end
      if c[6] then assert.matches(c[6], err) end
      if c[4] == 2 or (c[4] == 1 and c[5] == "") then assert.matches("^keel schema: ", err) end
    end)
  end

  it("prints the errors of a large instance in a deterministic order", function()
    local items = {}
    for i = 1, 50 do items[i] = (i % 2 == 0) and ('"s%d"'):format(i) or tostring(i) end
    local doc = '{"name": "x", "tags": [' .. table.concat(items, ",") .. "]}"
    local rc1, out1 = run("validate person.json -", doc)
    local rc2, out2 = run("validate person.json -", doc)
    assert.equal(1, rc1)
    assert.equal(1, rc2)
    assert.equal(out1, out2)
    local got = lines(out1)
    assert.equal("/name", got[1].instance_path)
    assert.equal("/tags/0", got[2].instance_path)
  end)

  it("caps the error list and says so", function()
    local items = {}
    for i = 1, 150 do items[i] = tostring(i) end
    local rc, out, err = run("validate strings.json -", "[" .. table.concat(items, ",") .. "]")
    assert.equal(1, rc)
    local got = lines(out)
    assert.equal(100, #got)
    assert.equal("/99", got[100].instance_path)
    assert.matches("the first 100 errors are shown; there are more", err)
  end)

  it("is listed in keel's usage", function()
    local rc, out, err = sh.run(q(keel) .. " help")
    assert.equal(0, rc)
    assert.matches("keel schema validate", out .. err)
  end)
end)
