-- Structured output: client:chat{schema = S} against keel mock for both
-- API shapes (valid first time, misspelled then corrected on re-ask, fenced
-- and prose-wrapped JSON, cut off at max_tokens, empty, re-asks exhausted),
-- what the mock received (response_format, the forced tool, the re-ask
-- messages), usage summed over attempts, tool-call arguments checked
-- against their tools' schemas, and the OpenAI strict-mode decision table.
local keel = require "keel"
local cjson = require "cjson"
local json = require "keel.json"
local mock = require "spec.support.mock"
local structured = require "keel.structured"

-- One case per X-Case request header (the call's headers reach the mock on
-- every attempt); cases that must see the re-ask look at the last message.
local SCENARIO = [=[
local mock = ...
local GOOD = { title = "keel", description = "LLM calls from Lua" }
local MISSPELLED = { title = "keel", descripton = "LLM calls from Lua" }

-- The answer where the request asked for it: Anthropic's forced tool, else
-- the content.
local function answer(req, v, o)
  o = o or {}
  local tc = req.json.tool_choice
  if req.provider == "anthropic" and type(tc) == "table" and tc.type == "tool" then
    o.tool_calls = { { name = tc.name, arguments = v } }
  else
    o.content = type(v) == "string" and v or mock.encode(v)
  end
  return mock.reply(req, o)
end

local function told(req, s) return mock.last_text(req):find(s, 1, true) ~= nil end

local function fail(req, status)
  return (req.provider == "anthropic" and mock.anthropic or mock.openai).error(status, "boom")
end

local cases = {}
cases.misspelled = function(req)
  local usage = req.provider == "anthropic" and { input_tokens = 10, output_tokens = 5 }
    or { prompt_tokens = 10, completion_tokens = 5, total_tokens = 15 }
  return answer(req, told(req, "descripton") and GOOD or MISSPELLED, { usage = usage })
end
cases.invalid = function(req) return answer(req, MISSPELLED) end
cases.fenced = function(req)
  return mock.reply(req, { content = "Here it is:\n```json\n" .. mock.encode(GOOD) .. "\n```\nAnything else?" })
end
cases.prose = function(req)
  return mock.reply(req, { content = "Sure! The item is " .. mock.encode(GOOD) .. " as you asked." })
end
cases.not_json = function(req)
  if told(req, "no valid JSON") then return answer(req, GOOD) end
  return mock.reply(req, { content = "I would rather describe it in words." })
end
-- finish_reason length: the mock halves the words, so the object is cut.
cases.length = function(req)
  return answer(req, '{"title": "keel", "description": "LLM calls from Lua, with retries"}',
    { finish_reason = "length" })
end
-- Cut after a complete object: what is left would parse, and is still refused.
cases.length_parses = function(req)
  if req.provider == "anthropic" then return answer(req, GOOD, { finish_reason = "length" }) end
  return mock.reply(req, { content = '{"title": "keel", "description": "short"} and then some more words',
    finish_reason = "length" })
end
cases.empty = function(req) return mock.reply(req, { content = "" }) end
-- A regeneration sends the same request again: the case counts requests.
cases.empty_once = function(req)
  mock.state.empty = (mock.state.empty or 0) + 1
  if mock.state.empty == 1 then return mock.reply(req, { content = "  \n" }) end
  return answer(req, GOOD)
end
cases.trailing_comma = function(req)
  return mock.reply(req, { content = '{"title": "keel", "description": "x",}' })
end
cases.fail_second = function(req)
  if told(req, "descripton") then return fail(req, 500) end
  return answer(req, MISSPELLED)
end
cases.refusal = function(req)
  local obj = mock.openai.completion(req, { content = "" })
  obj.choices[1].message.content = mock.null
  obj.choices[1].message.refusal = "I can't help with that."
  return { json = obj }
end
cases.tool_args = function(req)
  local args = told(req, "/city") and { city = "Paris", unit = "celsius" } or { city = 5 }
  return mock.reply(req, { tool_calls = { { name = "get_weather", arguments = args } } })
end
cases.unknown_tool = function(req)
  return mock.reply(req, { tool_calls = { { name = "nope", arguments = {} } } })
end

return function(req)
  local case = req.headers["x-case"]
  if case then return assert(cases[case], "no such case: " .. case)(req) end
end
]=]

local ITEM = {
  type = "object",
  properties = { title = { type = "string" }, description = { type = "string" } },
  required = { "title", "description" },
  additionalProperties = false,
}
local GOOD = { title = "keel", description = "LLM calls from Lua" }

local WEATHER = {
  name = "get_weather",
  description = "Weather for a city",
  parameters = {
    type = "object",
    properties = { city = { type = "string" }, unit = { type = "string", enum = { "celsius", "fahrenheit" } } },
    required = { "city", "unit" },
  },
}

local function has_error(errs, path, keyword)
  for _, e in ipairs(errs or {}) do
    if e.instance_path == path and (keyword == nil or e.keyword == keyword) then return true end
  end
  return false
end

-- The misspelled field, wherever the validator puts it (the property's
-- path, or the object's with the name in the message).
local function misspelled(errs)
  for _, e in ipairs(errs or {}) do
    if e.keyword == "additionalProperties" and (e.instance_path .. e.message):find("descripton", 1, true) then
      return true
    end
  end
  return false
end

-- Each error's line in a re-ask: "- <instance path or (root)>: <message>".
local function lines_of(errs)
  local out = {}
  for i, e in ipairs(errs) do out[i] = ("- %s: %s"):format(e.instance_path == "" and "(root)" or e.instance_path,
    e.message) end
  return out
end

local m, scenario_file
setup(function()
  scenario_file = os.tmpname()
  local f = assert(io.open(scenario_file, "wb"))
  f:write(SCENARIO)
  f:close()
  m = mock.start { scenario = scenario_file }
end)
teardown(function()
  m:stop()
  os.remove(scenario_file)
end)

local function sent(i)
  local rs = m:requests()
  if i and i < 0 then i = #rs + 1 + i end
  return cjson.decode(rs[i or #rs].body)
end

for _, P in ipairs { "openai", "anthropic" } do
  describe("schema = S with " .. P, function()
    local c
    setup(function()
      c = keel.client { provider = P, base_url = m.url .. "/v1", api_key = "sk-spec", model = "mock-model" }
    end)
    teardown(function() c:close() end)
    before_each(function() m:reset() end)

    local function ask(case, o)
      local req = { prompt = "Describe keel.", schema = ITEM, headers = case and { ["X-Case"] = case } or nil }
      for k, v in pairs(o or {}) do req[k] = v end
      return c:chat(req)
    end

    -- case, source of the accepted answer, attempts
    local answers = {
      { nil, P == "anthropic" and "tool" or "whole", 1 },
      { "fenced", "fence", 1 },
      { "prose", "text", 1 },
      { "misspelled", P == "anthropic" and "tool" or "whole", 2 },
      { "not_json", P == "anthropic" and "tool" or "whole", 2 },
      { "empty_once", P == "anthropic" and "tool" or "whole", 2 },
    }
    for _, a in ipairs(answers) do
      it(("accepts %s (source %s, %d attempt%s)"):format(a[1] or "the default answer", a[2], a[3],
        a[3] == 1 and "" or "s"), function()
        local r, err = ask(a[1])
        assert.is_nil(err, err and tostring(err))
        assert.equal("table", type(r.data))
        if a[1] then assert.same(GOOD, r.data) end
        assert.equal(a[3], #r.validation)
        assert.equal(a[3], m:stats().requests)
        local last = r.validation[a[3]]
        assert.same({ attempt = a[3], ok = true, source = a[2] },
          { attempt = last.attempt, ok = last.ok, source = last.source })
        assert.same({}, last.errors)
        for i = 1, a[3] - 1 do assert.is_false(r.validation[i].ok) end
        assert.same(r.data, (json.extract(r.content)))
      end)
    end

    it("sends the schema the provider's way", function()
      local r = assert(ask())
      local body = sent()
      if P == "openai" then
        assert.same({ type = "json_schema", json_schema = { name = "response", strict = true, schema = ITEM } },
          body.response_format)
        assert.is_nil(body.tools)
      else
        assert.is_nil(body.response_format)
        local tool = body.tools[#body.tools]
        assert.equal("response", tool.name)
        assert.same(ITEM, tool.input_schema)
        assert.same({ type = "tool", name = "response" }, body.tool_choice)
        -- the answer tool is keel's device: the caller gets the JSON as content
        assert.is_nil(r.tool_calls)
        assert.equal("stop", r.finish_reason)
        assert.same({ role = "assistant", content = r.content }, r.message)
      end
      assert.same(r.data, json.decode(r.content))
    end)

    it("takes the schema as JSON text and a schema_name", function()
      local r = assert(ask(nil, { schema = json.encode(ITEM), schema_name = "item" }))
      assert.same({ "description", "title" }, (function()
        local ks = {}
        for k in pairs(r.data) do ks[#ks + 1] = k end
        table.sort(ks)
        return ks
      end)())
      local body = sent()
      if P == "openai" then
        assert.equal("item", body.response_format.json_schema.name)
      else
        assert.same({ type = "tool", name = "item" }, body.tool_choice)
      end
    end)

    it("re-asks with the validator's errors, and the mock saw them", function()
      local r = assert(ask("misspelled"))
      assert.same(GOOD, r.data)
      local v1 = r.validation[1]
      assert.is_false(v1.ok)
      assert.truthy(misspelled(v1.errors), "an error names descripton")
      assert.truthy(has_error(v1.errors, "", "required"), "description is missing")
      local body = sent(2)
      local msgs = body.messages
      if P == "openai" then
        assert.equal(3, #msgs)
        assert.same({ role = "assistant", content = '{"descripton":"LLM calls from Lua","title":"keel"}' }, msgs[2])
        assert.equal("user", msgs[3].role)
        for _, line in ipairs(lines_of(v1.errors)) do assert.matches(line, msgs[3].content, 1, true) end
        assert.matches("Reply again with only the whole corrected JSON value.", msgs[3].content, 1, true)
      else
        assert.equal(3, #msgs)
        local use = msgs[2].content[1]
        assert.same({ "assistant", "tool_use", "response" }, { msgs[2].role, use.type, use.name })
        assert.same({ title = "keel", descripton = "LLM calls from Lua" }, use.input)
        local result = msgs[3].content[1]
        assert.same({ "user", "tool_result", use.id, true },
          { msgs[3].role, result.type, result.tool_use_id, result.is_error })
        for _, line in ipairs(lines_of(v1.errors)) do assert.matches(line, result.content, 1, true) end
        assert.same({ type = "tool", name = "response" }, body.tool_choice)
      end
    end)

    it("sums the usage of every attempt", function()
      local r = assert(ask("misspelled"))
      for i = 1, 2 do
        assert.same({ 10, 5, 15 }, { r.validation[i].usage.input_tokens, r.validation[i].usage.output_tokens,
          r.validation[i].usage.total_tokens })
      end
      assert.same({ 20, 10, 30, 0 }, { r.usage.input_tokens, r.usage.output_tokens, r.usage.total_tokens,
        r.usage.cached_tokens })
      assert.truthy(r.latency_ms >= r.validation[1].latency_ms + r.validation[2].latency_ms)
    end)

    -- case, options, kind, attempts
    local failures = {
      { "length", {}, "truncated", 1 },
      { "length_parses", {}, "truncated", 1 },
      { "empty", {}, "invalid_output", 2 },
      { "invalid", {}, "invalid_output", 3 },
      { "invalid", { max_reasks = 0 }, "invalid_output", 1 },
      { "invalid", { max_reasks = 1 }, "invalid_output", 2 },
      { "trailing_comma", {}, "invalid_output", 3 },
    }
    for _, f in ipairs(failures) do
      local label = f[1] .. (f[2].max_reasks and (" max_reasks=" .. f[2].max_reasks) or "")
      it(("%s → %s after %d attempt%s"):format(label, f[3], f[4], f[4] == 1 and "" or "s"), function()
        local r, err = ask(f[1], f[2])
        assert.is_nil(r)
        assert.equal(f[3], err.kind, tostring(err))
        assert.equal(f[4], #err.validation)
        assert.equal(f[4], m:stats().requests)
        assert.is_nil(err.data)
        assert.equal(P, err.provider)
        local total = 0
        for i, a in ipairs(err.validation) do
          assert.equal(i, a.attempt)
          assert.is_false(a.ok)
          assert.truthy(#a.errors > 0)
          total = total + a.usage.total_tokens
        end
        assert.equal(total, err.usage.total_tokens)
        if f[3] == "truncated" then
          assert.equal("length", err.validation[1].errors[1].keyword)
          assert.matches("cut off at max_tokens", err.message, 1, true)
        elseif f[1] == "invalid" then
          assert.matches("failed validation after " .. f[4], err.message, 1, true)
          assert.matches("descripton", err.message, 1, true)
          for _, a in ipairs(err.validation) do assert.truthy(misspelled(a.errors)) end
        elseif f[1] == "empty" then
          assert.equal("empty", err.validation[2].errors[1].keyword)
          -- a regeneration asks the same again: no answer to carry back
          assert.same(sent(1).messages, sent(2).messages)
        elseif f[1] == "trailing_comma" then
          assert.equal("json", err.validation[1].errors[1].keyword)
        end
      end)
    end

    it("repairs what lenient = true allows, and says so", function()
      local r = assert(ask("trailing_comma", { lenient = true }))
      assert.same({ title = "keel", description = "x" }, r.data)
      assert.same({ "trailing_comma" }, r.validation[1].repaired)
      assert.equal(1, #r.validation)
    end)

    it("passes a transport error on with the attempts so far", function()
      local r, err = ask("fail_second")
      assert.is_nil(r)
      assert.equal("server", err.kind)
      assert.equal(1, #err.validation)
      assert.is_false(err.validation[1].ok)
      assert.equal(err.validation[1].usage.total_tokens, err.usage.total_tokens)
    end)

    it("validates a streamed answer at its end and says when it asks again", function()
      local deltas, retries = {}, {}
      local r, err = ask("misspelled", { stream = function(d)
        if d.type == "retry" then retries[#retries + 1] = d else deltas[#deltas + 1] = d end
      end })
      assert.is_nil(err, err and tostring(err))
      assert.same(GOOD, r.data)
      assert.equal(1, #retries)
      assert.same({ 2, "reask" }, { retries[1].attempt, retries[1].reason })
      assert.truthy(misspelled(retries[1].errors))
      assert.truthy(#deltas > 2)
      assert.is_true(sent().stream)
      assert.same({ 20, 10 }, { r.usage.input_tokens, r.usage.output_tokens })
    end)

    it("leaves a turn that calls the caller's tools to the caller", function()
      local r = assert(ask(nil, { tools = { WEATHER } }))
      assert.is_nil(r.data)
      assert.equal("get_weather", r.tool_calls[1].name)
      assert.same({ attempt = 1, ok = true, source = "tool" },
        { attempt = r.validation[1].attempt, ok = r.validation[1].ok, source = r.validation[1].source })
      local body = sent()
      if P == "anthropic" then
        assert.same({ "get_weather", "response" }, { body.tools[1].name, body.tools[2].name })
        assert.same({ type = "any" }, body.tool_choice)
      else
        assert.equal("json_schema", body.response_format.type)
      end
    end)

    it("lets the answer go back into the conversation", function()
      local r = assert(ask())
      local r2 = assert(c:chat { schema = ITEM, messages = { { role = "user", content = "Describe keel." }, r.message,
        { role = "user", content = "And again." } } })
      assert.equal("table", type(r2.data))
    end)

    -- tool-call arguments, checked against each tool's parameters
    it("re-asks when a tool call's arguments do not match its schema", function()
      local r, err = c:chat { prompt = "Weather in Paris?", tools = { WEATHER },
        headers = { ["X-Case"] = "tool_args" } }
      assert.is_nil(err, err and tostring(err))
      assert.same({ city = "Paris", unit = "celsius" }, r.tool_calls[1].input)
      assert.is_nil(r.data)
      assert.equal(2, #r.validation)
      local errs = r.validation[1].errors
      assert.truthy(has_error(errs, "/city", "type"))
      assert.truthy(has_error(errs, "", "required"))
      assert.equal("get_weather", errs[1].tool)
      local msgs = sent(2).messages
      local last = msgs[#msgs]
      if P == "openai" then
        assert.equal("tool", last.role)
        assert.equal(msgs[#msgs - 1].tool_calls[1].id, last.tool_call_id)
        assert.is_nil(last.is_error)
        for _, line in ipairs(lines_of(errs)) do assert.matches(line, last.content, 1, true) end
      else
        local result = last.content[1]
        assert.same({ "tool_result", true }, { result.type, result.is_error })
        assert.matches("Invalid arguments for get_weather", result.content, 1, true)
        for _, line in ipairs(lines_of(errs)) do assert.matches(line, result.content, 1, true) end
      end
    end)

    it("refuses a call of a tool that was not offered", function()
      local r, err = c:chat { prompt = "x", tools = { WEATHER }, max_reasks = 0,
        headers = { ["X-Case"] = "unknown_tool" } }
      assert.is_nil(r)
      assert.equal("invalid_output", err.kind)
      local e = err.validation[1].errors[1]
      assert.same({ "tool", "nope" }, { e.keyword, e.tool })
      assert.matches("there is no tool named 'nope' (tools: get_weather)", e.message, 1, true)
    end)

    it("passes tool calls through unchecked with validate_tools = false", function()
      local r = assert(c:chat { prompt = "x", tools = { WEATHER }, validate_tools = false,
        headers = { ["X-Case"] = "unknown_tool" } })
      assert.equal("nope", r.tool_calls[1].name)
      assert.is_nil(r.validation)
      assert.equal(1, m:stats().requests)
    end)

    it("checks valid tool arguments in one request", function()
      local r = assert(c:chat { prompt = "x", tools = { WEATHER } })
      assert.equal(1, #r.validation)
      assert.is_true(r.validation[1].ok)
      assert.equal(1, m:stats().requests)
    end)

    -- misuse raises before a request goes out
    local misuse = {
      { { schema = ITEM, response_format = { type = "json_object" } }, "give schema or response_format, not both" },
      { { schema = "{not json" }, "keel: schema is not valid JSON" },
      { { schema = { type = "object", properties = { a = { type = "nope" } } } },
        "keel: schema is not a valid JSON Schema" },
      { { schema = ITEM, schema_name = "bad name" }, "schema_name 'bad name' must be 1 to 64 letters" },
      { { schema = ITEM, max_reasks = -1 }, "max_reasks must be an integer >= 0" },
      { { schema = ITEM, max_reasks = 1.5 }, "max_reasks must be an integer >= 0" },
      { { schema = 5 }, "option 'schema' must be a table or string, got number" },
      { { tools = { { name = "t", parameters = { type = "nope" } } } }, "tools[1] (t) parameters is not a valid" },
    }
    if P == "anthropic" then
      misuse[#misuse + 1] = { { schema = { type = "array", items = ITEM } }, "which is always an object" }
      misuse[#misuse + 1] = { { schema = ITEM, tools = { WEATHER }, tool_choice = "auto" },
        "tool_choice cannot be combined with schema on anthropic" }
      misuse[#misuse + 1] = { { schema = ITEM, schema_name = "get_weather", tools = { WEATHER } },
        "schema_name 'get_weather' is also the name of tools[1]" }
    end
    for _, u in ipairs(misuse) do
      it("raises: " .. u[2], function()
        local req = { prompt = "x" }
        for k, v in pairs(u[1]) do req[k] = v end
        local ok, e = pcall(c.chat, c, req)
        assert.is_false(ok)
        assert.matches(u[2], tostring(e), 1, true)
        assert.equal(0, m:stats().requests)
      end)
    end
  end)
end

describe("schema = S with OpenAI-compatible servers", function()
  before_each(function() m:reset() end)

  local function client(o)
    local opts = { provider = "openai", base_url = m.url .. "/v1", model = "mock-model" }
    for k, v in pairs(o or {}) do opts[k] = v end
    return keel.client(opts)
  end

  it("asks for strict only when the schema allows it, unless the call says", function()
    local c = client()
    local loose = { type = "object", properties = { title = { type = "string" } } }
    -- schema, strict option, strict sent
    for _, s in ipairs { { ITEM, nil, true }, { loose, nil, false }, { ITEM, false, false }, { loose, true, true } } do
      assert(c:chat { prompt = "x", schema = s[1], strict = s[2] })
      assert.equal(s[3], sent().response_format.json_schema.strict)
    end
    c:close()
  end)

  it("structured_output = json_object: response_format json_object, the schema in the prompt", function()
    local c = client { structured_output = "json_object" }
    local r = assert(c:chat { system = "Be brief.", prompt = "x", schema = ITEM, headers = { ["X-Case"] = "fenced" } })
    assert.same(GOOD, r.data)
    local body = sent()
    assert.same({ type = "json_object" }, body.response_format)
    assert.equal("system", body.messages[1].role)
    assert.matches("^Be brief%.\n\nRespond with only a JSON value", body.messages[1].content)
    assert.matches(json.encode(ITEM), body.messages[1].content, 1, true)
    c:close()
  end)

  it("structured_output = prompt: the schema in the prompt only", function()
    local c = client { structured_output = "prompt" }
    local r = assert(c:chat { prompt = "x", schema = ITEM, headers = { ["X-Case"] = "prose" } })
    assert.same(GOOD, r.data)
    local body = sent()
    assert.is_nil(body.response_format)
    assert.matches("conforms to this JSON Schema", body.messages[1].content, 1, true)
    c:close()
  end)

  it("refuses a structured_output the provider does not have", function()
    for _, o in ipairs { { "openai", "xml", "(json_object, json_schema, prompt)" },
      { "anthropic", "json_object", "(tool)" } } do
      local c = keel.client { provider = o[1], base_url = m.url .. "/v1", model = "m", structured_output = o[2] }
      local ok, e = pcall(c.chat, c, { prompt = "x" })
      assert.is_false(ok)
      assert.matches(("structured_output '%s' is not one of %s's %s"):format(o[2], o[1], o[3]), e, 1, true)
      c:close()
    end
  end)

  it("turns a refusal into content_filter", function()
    local c = client()
    local r, err = c:chat { prompt = "x", schema = ITEM, headers = { ["X-Case"] = "refusal" } }
    assert.is_nil(r)
    assert.equal("content_filter", err.kind)
    assert.equal("I can't help with that.", err.refusal)
    assert.equal(1, #err.validation)
    c:close()
  end)

  it("takes schema from a task", function()
    local c = keel.client {
      providers = { mock = { type = "openai", base_url = m.url .. "/v1" } },
      models = { small = { provider = "mock", name = "mock-model" } },
      tasks = { describe = { model = "small", schema = ITEM, max_reasks = 1 } },
    }
    local r = assert(c:task("describe"):chat { prompt = "x", headers = { ["X-Case"] = "misspelled" } })
    assert.same(GOOD, r.data)
    assert.equal(2, #r.validation)
    c:close()
  end)
end)

describe("keel.structured", function()
  it("compiles a schema once: equal tables share one compiled schema", function()
    local copy = json.decode(json.encode(ITEM))
    local a, b = structured.entry(ITEM, "schema"), structured.entry(copy, "schema")
    assert.equal(a.compiled, b.compiled)
    assert.equal(b.value, copy)
    assert.equal(a.compiled, structured.entry(ITEM, "schema").compiled)
  end)

  local function obj(props, extra)
    local s = { type = "object", properties = props, additionalProperties = false, required = {} }
    for k in pairs(props) do s.required[#s.required + 1] = k end
    table.sort(s.required)
    for k, v in pairs(extra or {}) do s[k] = v end
    return s
  end
  local str = { type = "string" }
  -- schema, strict allowed, why not
  local rule = {
    { ITEM, true },
    { obj { a = str, b = { type = { "string", "null" } } }, true },
    { obj { tags = { type = "array", items = obj { n = { type = "integer", minimum = 0 } }, maxItems = 3 } }, true },
    { obj { v = { anyOf = { str, obj { x = str } } } }, true },
    { obj({ node = { ["$ref"] = "#/$defs/node" } }, { ["$defs"] = { node = obj { name = str } } }), true },
    { obj { e = { enum = { "a", "b" }, description = "one of two" }, k = { const = 1 } }, true },
    { { type = "object", properties = { a = str }, required = { "a" } }, false,
      "(root): additionalProperties is not false" },
    { { type = "object", properties = { a = str, b = str }, required = { "a" }, additionalProperties = false }, false,
      "(root): property 'b' is not in required" },
    { obj { tags = { type = "array", items = { type = "object", properties = { n = str } } } }, false,
      "/properties/tags/items: additionalProperties is not false" },
    { { type = "array", items = str }, false, "(root): the root is not" },
    { { anyOf = { ITEM } }, false, "(root): the root is not" },
    { obj { a = { type = "string", minLength = 1 } }, false, "/properties/a: keyword 'minLength' is outside" },
    { obj { a = { type = "string", default = "x" } }, false, "/properties/a: keyword 'default' is outside" },
    { obj { a = { allOf = { str } } }, false, "/properties/a: keyword 'allOf' is outside" },
    { obj({ node = { ["$ref"] = "#/$defs/node" } }, { ["$defs"] = { node = { type = "object" } } }), false,
      "/$defs/node: additionalProperties is not false" },
    { obj { a = true }, false, "/properties/a: a boolean schema" },
    { obj { t = { type = "array", items = json.array { str, str } } }, false, "/properties/t/items: tuple items" },
    { obj { ["a/b"] = { type = "string", pattern = "^x", format = "email", maxLength = 3 } }, false,
      "/properties/a~1b: keyword 'maxLength'" },
    { obj { o = { type = "object", additionalProperties = { type = "string" } } }, false,
      "/properties/o: additionalProperties is not false" },
  }
  for i, r in ipairs(rule) do
    it(("strict mode decision %d: %s"):format(i, r[2] and "strict" or r[3]), function()
      local ok, why = structured.strict_ok(r[1])
      assert.equal(r[2], ok)
      if not r[2] then assert.matches(r[3], why, 1, true) end
    end)
  end

  it("sums usage, and an unreported count marks the sum", function()
    local s = structured.add_usage(nil, { input_tokens = 3, output_tokens = 4, total_tokens = 7 })
    s = structured.add_usage(s, { input_tokens = 0, output_tokens = 0, total_tokens = 0, reported = false })
    s = structured.add_usage(s, { input_tokens = 1, output_tokens = 1, total_tokens = 2 })
    assert.same({ input_tokens = 4, output_tokens = 5, total_tokens = 9, reported = false }, s)
  end)
end)

describe("keel mock helpers for re-asks", function()
  local kmock = require "keel.mock"

  it("last_text reads the request's last message, tool results included", function()
    local cases = {
      { { { role = "user", content = "hi" } }, "hi" },
      { { { role = "user", content = "a" }, { role = "assistant", content = "b" },
        { role = "tool", tool_call_id = "c1", content = "- /city: wrong" } }, "- /city: wrong" },
      { { { role = "user", content = { { type = "tool_result", tool_use_id = "t", content = "- /descripton: x" } } } },
        "- /descripton: x" },
      { {}, "" },
    }
    for _, c in ipairs(cases) do assert.equal(c[2], kmock.last_text { json = { messages = c[1] } }) end
    assert.equal("", kmock.last_text { json = nil })
  end)

  it("reply answers in the request's provider shape", function()
    local msgs = { { role = "user", content = "hi" } }
    local a = kmock.reply({ provider = "anthropic", n = 1, headers = {},
      json = { model = "m", max_tokens = 9, messages = msgs } }, { content = "x" })
    assert.same({ "message", "x" }, { a.json.type, a.json.content[1].text })
    local o = kmock.reply({ provider = "openai", n = 1, headers = {}, json = { model = "m", messages = msgs } },
      { content = "y" })
    assert.same({ "chat.completion", "y" }, { o.json.object, o.json.choices[1].message.content })
  end)
end)
