-- Conformance: the JSON request bodies keel sends to OpenAI must conform to
-- the request schemas of OpenAI's OpenAPI document (../shared/data/
-- openai-openapi/openapi.yaml, beside the repository clone). The first block
-- proves the validator (spec/support/openapi.lua) on hand-written bodies and
-- on synthetic schemas; the second checks what keel itself sends.
local globals_before = {}
for k in pairs(_G) do globals_before[k] = true end

local openapi = require "spec.support.openapi"
local cjson = require "cjson"

local SPEC = "../shared/data/openai-openapi/openapi.yaml"
local CHAT, EMBED = "CreateChatCompletionRequest", "CreateEmbeddingRequest"

-- Loaded once per run; a missing ../shared or a YAML loader that does not
-- work yet is one clear failure instead of a cascade.
local ok_load, doc = pcall(openapi.load, SPEC)
if not ok_load then
  describe("conformance to OpenAI's OpenAPI request schemas", function()
    it("loads " .. SPEC, function()
      error(tostring(doc) .. "\n(run busted from the repository root, with the shared "
        .. "data directory checked out beside it as ../shared)", 0)
    end)
  end)
  return
end

local function body(json)
  local v, err = openapi.decode(json)
  if v == nil then error("bad JSON in the spec itself: " .. err, 2) end
  return v
end

local function check(schema, value)
  return openapi.validate(doc, schema, value)
end

-- Asserts that validation fails with an error at pointer ptr.
local function assert_fails_at(schema, value, ptr, label)
  local ok, errs = check(schema, value)
  assert(not ok, label .. ": expected a failure at " .. ptr .. ", but the body passed")
  for _, e in ipairs(errs) do
    if e:sub(1, #ptr + 2) == ptr .. ": " then return errs end
  end
  error(("%s: no error at %s; got:\n  %s"):format(label, ptr, table.concat(errs, "\n  ")), 2)
end

local function assert_passes(schema, value, label)
  local ok, errs = check(schema, value)
  if not ok then
    error(("%s: expected to conform; got:\n  %s"):format(label, table.concat(errs, "\n  ")), 2)
  end
end

local USER_HI = [[{"role": "user", "content": "Hi"}]]

local function chat(extra) -- a minimal valid chat body plus extra top-level members
  return body('{"model": "gpt-4o-mini", "messages": [' .. USER_HI .. ']'
    .. (extra and (", " .. extra) or "") .. "}")
end

describe("conformance to OpenAI's OpenAPI request schemas", function()
  it("adds no globals", function()
    for k in pairs(_G) do
      assert.is_true(globals_before[k] ~= nil, "new global " .. tostring(k))
    end
  end)

  describe("the validator", function()
    it("knows every keyword the reachable schemas use", function()
      for _, root in ipairs { CHAT, EMBED } do
        local keywords, problems = openapi.survey(doc, root)
        assert(#problems == 0, root .. ":\n  " .. table.concat(problems, "\n  "))
        assert.is_truthy(keywords.type)
      end
    end)

    it("caches the loaded document per path", function()
      assert.equal(doc, openapi.load(SPEC))
    end)

    describe("accepts valid chat requests", function()
      local cases = {
        { "plain messages", chat() },
        { "system, user, assistant with tool_calls, tool result", body [[{
          "model": "gpt-4o",
          "messages": [
            {"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
              {"id": "call_1", "type": "function",
               "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\":21}"},
            {"role": "assistant", "content": "21 °C."}
          ]}]] },
        { "developer message and content parts", body [[{
          "model": "gpt-4o",
          "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "Be terse."}]},
            {"role": "user", "content": [
              {"type": "text", "text": "What is this?"},
              {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
              {"type": "image_url", "image_url": {"url": "https://example.com/a%20b.png"}}]}
          ]}]] },
        { "tools with function parameters", chat [[
          "tools": [{"type": "function", "function": {
            "name": "get_weather", "description": "Current weather", "strict": true,
            "parameters": {"type": "object", "additionalProperties": false, "required": ["city"],
              "properties": {"city": {"type": "string"}, "days": {"type": ["integer", "null"]}}}}},
            {"type": "function", "function": {"name": "no_args", "parameters": {"type": "object", "properties": {}, "required": []}}}],
          "tool_choice": "auto", "parallel_tool_calls": false]] },
        { "named tool_choice", chat [[
          "tools": [{"type": "function", "function": {"name": "f"}}],
          "tool_choice": {"type": "function", "function": {"name": "f"}}]] },
        { "stream with stream_options.include_usage", chat [["stream": true, "stream_options": {"include_usage": true}]] },
        { "response_format json_schema", chat [[
          "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true,
            "schema": {"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"]}}}]] },
        { "response_format json_object", chat [["response_format": {"type": "json_object"}]] },
        { "max_completion_tokens and sampling", chat [[
          "max_completion_tokens": 256, "temperature": 0.2, "top_p": 1, "n": 2, "seed": 42,
          "presence_penalty": -2, "frequency_penalty": 2, "stop": ["\n\n", "END"],
          "logprobs": true, "top_logprobs": 20, "logit_bias": {"50256": -100},
          "user": "u-1", "safety_identifier": "h-1", "metadata": {"k": "v"}]] },
        { "max_tokens (deprecated, still valid)", chat [["max_tokens": 16]] },
        { "nulls where the schema allows them", chat [[
          "temperature": null, "top_p": null, "stop": null, "n": null, "seed": null,
          "max_completion_tokens": null, "stream": null, "metadata": null]] },
        { "stop as a string, reasoning_effort", chat [["stop": "END", "reasoning_effort": "low"]] },
        { "64 code points in safety_identifier (128 bytes)", chat('"safety_identifier": "'
          .. ("é"):rep(64) .. '"') },
        { "an unknown top-level key (the chat schema does not forbid them)", chat [["x_unknown": 1]] },
      }
      for _, c in ipairs(cases) do
        it(c[1], function() assert_passes(CHAT, c[2], c[1]) end)
      end
    end)

    describe("accepts valid embedding requests", function()
      local cases = {
        { "a string", [[{"model": "text-embedding-3-small", "input": "hello"}]] },
        { "an array of strings", [[{"model": "text-embedding-3-small", "input": ["a", "b"]}]] },
        { "dimensions and encoding_format", [[{"model": "text-embedding-3-large", "input": "x",
          "dimensions": 256, "encoding_format": "float", "user": "u"}]] },
        { "token ids", [[{"model": "text-embedding-ada-002", "input": [1212, 318, 257]}]] },
        { "arrays of token ids", [=[{"model": "my-model", "input": [[1, 2], [3]]}]=] },
      }
      for _, c in ipairs(cases) do
        it(c[1], function() assert_passes(EMBED, body(c[2]), c[1]) end)
      end
    end)

    describe("rejects invalid chat requests", function()
      local too_many = {}
      for i = 1, 5 do too_many[i] = '"s' .. i .. '"' end
      local cases = { -- label, body, expected error pointer
        { "messages missing", body [[{"model": "gpt-4o"}]], "/messages" },
        { "model missing", body('{"messages": [' .. USER_HI .. ']}'), "/model" },
        { "messages empty", body [[{"model": "gpt-4o", "messages": []}]], "/messages" },
        { "messages an object", body [[{"model": "gpt-4o", "messages": {}}]], "/messages" },
        { 'role "robot"', body [[{"model": "gpt-4o", "messages": [{"role": "robot", "content": "hi"}]}]],
          "/messages/0/role" },
        { "user message without content", body [[{"model": "gpt-4o", "messages": [{"role": "user"}]}]],
          "/messages/0/content" },
        { "user content a number", body [[{"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]}]],
          "/messages/0/content" },
        { "empty content parts", body [[{"model": "gpt-4o", "messages": [{"role": "user", "content": []}]}]],
          "/messages/0/content" },
        { "content part of unknown type", body [[{"model": "gpt-4o", "messages": [{"role": "user",
          "content": [{"type": "video", "video": "x"}]}]}]], "/messages/0/content/0/type" },
        { "image_url that is no URI", body [[{"model": "gpt-4o", "messages": [{"role": "user",
          "content": [{"type": "image_url", "image_url": {"url": "not a uri"}}]}]}]],
          "/messages/0/content/0/image_url/url" },
        { "tool message without tool_call_id", body [[{"model": "gpt-4o", "messages": [
          {"role": "tool", "content": "42"}]}]], "/messages/0/tool_call_id" },
        { "tool call without arguments", body [[{"model": "gpt-4o", "messages": [
          {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]}]}]],
          "/messages/0/tool_calls/0/function/arguments" },
        { 'temperature "hot"', chat [["temperature": "hot"]], "/temperature" },
        { "temperature 5", chat [["temperature": 5]], "/temperature" },
        { "temperature -0.5", chat [["temperature": -0.5]], "/temperature" },
        { "top_p 1.5", chat [["top_p": 1.5]], "/top_p" },
        { "presence_penalty 3", chat [["presence_penalty": 3]], "/presence_penalty" },
        { "n = 0 (minimum 1)", chat [["n": 0]], "/n" },
        { "n = 129 (maximum 128)", chat [["n": 129]], "/n" },
        { "n = 1.5 (integer)", chat [["n": 1.5]], "/n" },
        { "top_logprobs 21", chat [["top_logprobs": 21]], "/top_logprobs" },
        { 'max_completion_tokens "100"', chat [["max_completion_tokens": "100"]], "/max_completion_tokens" },
        { 'stream "yes"', chat [["stream": "yes"]], "/stream" },
        { "stream_options.include_usage a string", chat [["stream": true, "stream_options": {"include_usage": "yes"}]],
          "/stream_options/include_usage" },
        { "stop with 5 sequences (maxItems 4)", chat('"stop": [' .. table.concat(too_many, ",") .. "]"), "/stop" },
        { "tool without function.name", chat [=["tools": [{"type": "function", "function": {"parameters": {}}}]]=],
          "/tools/0/function/name" },
        { "tools an object", chat [["tools": {}]], "/tools" },
        { 'tool_choice "sometimes"', chat [["tool_choice": "sometimes"]], "/tool_choice" },
        { 'response_format type "xml"', chat [["response_format": {"type": "xml"}]], "/response_format/type" },
        { "json_schema without name", chat [["response_format": {"type": "json_schema", "json_schema": {"schema": {}}}]],
          "/response_format/json_schema/name" },
        { "metadata value a number", chat [["metadata": {"k": 1}]], "/metadata/k" },
        { "logit_bias value a string", chat [["logit_bias": {"50256": "ban"}]], "/logit_bias/50256" },
        { "65 code points in safety_identifier", chat('"safety_identifier": "' .. ("é"):rep(65) .. '"'),
          "/safety_identifier" },
        { 'reasoning_effort "extreme"', chat [["reasoning_effort": "extreme"]], "/reasoning_effort" },
        { "the body an array", body "[]", "(root)" },
      }
      for _, c in ipairs(cases) do
        it(c[1] .. " -> " .. c[3], function() assert_fails_at(CHAT, c[2], c[3], c[1]) end)
      end
    end)

    describe("rejects invalid embedding requests", function()
      local many = {}
      for i = 1, 2049 do many[i] = '"x"' end
      local cases = {
        { "input missing", [[{"model": "text-embedding-3-small"}]], "/input" },
        { "model missing", [[{"input": "x"}]], "/model" },
        { "unknown key (additionalProperties: false)", [[{"model": "m", "input": "x", "foo": 1}]], "/foo" },
        { "dimensions 0 (minimum 1)", [[{"model": "m", "input": "x", "dimensions": 0}]], "/dimensions" },
        { "dimensions 1.5", [[{"model": "m", "input": "x", "dimensions": 1.5}]], "/dimensions" },
        { "input empty", [[{"model": "m", "input": []}]], "/input" },
        { "input mixing strings and numbers", [[{"model": "m", "input": ["a", 1]}]], "/input" },
        { "input an empty token array inside", [=[{"model": "m", "input": [[]]}]=], "/input" },
        { "2049 inputs (maxItems 2048)", '{"model": "m", "input": [' .. table.concat(many, ",") .. "]}", "/input" },
        { 'encoding_format "int8"', [[{"model": "m", "input": "x", "encoding_format": "int8"}]], "/encoding_format" },
        { "model a number", [[{"model": 3, "input": "x"}]], "/model" },
      }
      for _, c in ipairs(cases) do
        it(c[1] .. " -> " .. c[3], function() assert_fails_at(EMBED, body(c[2]), c[3], c[1]) end)
      end
    end)

    describe("reports errors usefully", function()
      it("names the instance pointer, the message and the schema pointer", function()
        local _, errs = check(CHAT, chat [["n": 0]])
        assert.same({ "/n: 0 is less than the minimum 1 (schema: "
          .. "#/components/schemas/CreateChatCompletionRequest/allOf/1/properties/n/minimum)" }, errs)
      end)

      it("names the allowed discriminator values when no branch takes the value", function()
        local _, errs = check(CHAT, body [[{"model": "m", "messages": [{"role": "robot", "content": "x"}]}]])
        assert.equal(1, #errs)
        assert.matches('^/messages/0/role: "robot" matches no oneOf branch', errs[1])
        for _, role in ipairs { "system", "user", "assistant", "tool" } do
          assert.matches('"' .. role .. '"', errs[1], 1, true)
        end
      end)

      it("reports the closest branch of a failed oneOf", function()
        local _, errs = check(CHAT, chat [=["tools": [{"type": "function", "function": {}}]]=])
        assert.equal("/tools/0: matches none of the 2 oneOf branches (closest: "
          .. "#/components/schemas/ChatCompletionTool, whose errors follow) (schema: "
          .. "#/components/schemas/CreateChatCompletionRequest/allOf/1/properties/tools/items/oneOf)", errs[1])
        assert.equal("/tools/0/function/name: required property is missing "
          .. "(schema: #/components/schemas/FunctionObject/required)", errs[2])
        assert.equal(2, #errs)
      end)
    end)

    describe("on cjson-decoded values", function()
      it("takes integral floats as integers", function()
        local v = cjson.decode('{"model": "m", "messages": [' .. USER_HI .. '], "n": 2, "seed": -1}')
        assert_passes(CHAT, v, "cjson")
        assert_fails_at(CHAT, cjson.decode('{"model": "m", "messages": [' .. USER_HI .. '], "n": 2.5}'),
          "/n", "cjson n 2.5")
      end)

      it("cannot tell [] from {} (an empty table passes as either)", function()
        assert_passes(CHAT, cjson.decode('{"model": "m", "messages": [' .. USER_HI .. '], "tools": {}}'),
          "cjson tools {}")
        assert_fails_at(CHAT, body('{"model": "m", "messages": [' .. USER_HI .. '], "tools": {}}'),
          "/tools", "openapi.decode tools {}")
      end)

      it("rejects Lua values that are no JSON", function()
        assert_fails_at(EMBED, { model = "m", input = { "a", nil, "c" } }, "/input", "sparse")
        assert_fails_at(EMBED, { model = "m", input = { 1, x = 2 } }, "/input", "mixed")
        assert_fails_at(EMBED, { model = "m", input = 0 / 0 }, "/input", "NaN")
        assert_fails_at(EMBED, { model = print, input = "x" }, "/model", "function")
      end)
    end)

    describe("on synthetic schemas", function()
      local S = {
        T = { type = { "string", "null" } },
        C = { const = "x" },
        P = { type = "array", prefixItems = { { type = "string" }, { type = "integer" } }, items = false },
        N = { ["not"] = { type = "string" } },
        X = { type = "number", exclusiveMinimum = 0, exclusiveMaximum = 1 },
        X3 = { type = "number", minimum = 0, exclusiveMinimum = true, maximum = 1, exclusiveMaximum = true },
        M = { type = "number", multipleOf = 0.5 },
        O = { oneOf = { { type = "integer" }, { type = "number" } } },
        U = { type = "array", uniqueItems = true },
        L = { type = "string", minLength = 2, maxLength = 3 },
        R = { ["$ref"] = "#/components/schemas/a~1b~0c" },
        ["a/b~c"] = { type = "boolean" },
        Q = { type = "object", minProperties = 1, maxProperties = 2 },
        F = false,
        B = { type = "string", nullable = true },
        A = { allOf = { { required = { "a" } }, { required = { "b" } } } },
      }
      local sdoc = { openapi = "3.1.0", components = { schemas = S } }
      local cases = { -- schema, JSON, expected error pointer or true
        { "T", '"s"', true }, { "T", "null", true }, { "T", "1", "(root)" },
        { "C", '"x"', true }, { "C", '"y"', "(root)" },
        { "P", '["a", 1]', true }, { "P", '["a"]', true }, { "P", '["a", "b"]', "/1" },
        { "P", '["a", 1, 2]', "/2" },
        { "N", "1", true }, { "N", '"s"', "(root)" },
        { "X", "0.5", true }, { "X", "0", "(root)" }, { "X", "1", "(root)" },
        { "X3", "0.5", true }, { "X3", "0", "(root)" }, { "X3", "1", "(root)" },
        { "M", "1.5", true }, { "M", "1.2", "(root)" },
        { "O", "1.5", true }, { "O", "1", "(root)" }, -- 1 matches both branches
        { "U", "[1, 2]", true }, { "U", '[1, {"a": [1]}, {"a": [1]}]', "/2" },
        { "L", '"éé"', true }, { "L", '"é"', "(root)" }, { "L", '"éééé"', "(root)" },
        { "R", "true", true }, { "R", "1", "(root)" },
        { "Q", '{"a": 1}', true }, { "Q", "{}", "(root)" }, { "Q", '{"a":1,"b":2,"c":3}', "(root)" },
        { "F", "1", "(root)" },
        { "B", "null", true }, { "B", "1", "(root)" },
        { "A", '{"a": 1, "b": 2}', true }, { "A", '{"a": 1}', "/b" },
      }
      for _, c in ipairs(cases) do
        local name, json, want = c[1], c[2], c[3]
        it(("%s %s %s"):format(name, json, want == true and "passes" or "fails at " .. want), function()
          local v = body(json)
          local ok, errs = openapi.validate(sdoc, name, v)
          if want == true then
            assert(ok, table.concat(errs, "\n"))
          else
            assert(not ok, "passed")
            local hit = false
            for _, e in ipairs(errs) do
              if e:sub(1, #want + 2) == want .. ": " then hit = true end
            end
            assert(hit, table.concat(errs, "\n"))
          end
        end)
      end

      it("raises on keywords it cannot check (unknown keyword, regex, format)", function()
        local bad = { openapi = "3.1.0", components = { schemas = {
          K = { type = "object", properties = { a = { type = "string", contentEncoding = "base64" } } },
          RX = { anyOf = { { type = "string", pattern = "^[a-z]+$" } } },
          FMT = { type = "string", format = "date-time" },
          REF = { ["$ref"] = "other.yaml#/X" },
        } } }
        local cases = {
          { "K", "#/components/schemas/K/properties/a/contentEncoding: keyword \"contentEncoding\" is not supported" },
          { "RX", '#/components/schemas/RX/anyOf/0/pattern: regex "^[a-z]+$" cannot be checked in Lua' },
          { "FMT", '#/components/schemas/FMT/format: format "date-time" is not checked' },
          { "REF", "#/components/schemas/REF/$ref: cannot resolve other.yaml#/X" },
        }
        for _, c in ipairs(cases) do
          local ok, err = pcall(openapi.validate, bad, c[1], "x")
          assert.is_false(ok, c[1])
          assert.matches(c[2], err, 1, true)
        end
      end)
    end)

    describe("openapi.decode", function()
      it("keeps [] and {} apart and decodes strictly", function()
        local v = body [[{"a": [], "b": {}, "c": [1, -2.5e3, "\u00e9\ud83d\ude00", null, true]}]]
        assert.equal(openapi.array_mt, getmetatable(v.a))
        assert.equal(openapi.object_mt, getmetatable(v.b))
        assert.equal(-2500, v.c[2])
        assert.equal("é😀", v.c[3])
        assert.equal(cjson.null, v.c[4])
        for _, bad in ipairs { "", "[1,]", "{\"a\" 1}", "01", "1.", "[1] x", '"\\x"', '"\\ud800"', "nul" } do
          assert.is_nil((openapi.decode(bad)), bad)
        end
      end)
    end)
  end)

  ---------------------------------------------------------------------------
  -- The bytes keel's client puts on the wire, as keel mock recorded them,
  -- decoded strictly (so [] and {} stay apart) and validated.
  describe("bodies keel sends", function()
    local keel = require "keel"
    local mock = require "spec.support.mock"
    local m, c
    setup(function()
      m = mock.start()
      c = keel.client { provider = "openai", base_url = m.url .. "/v1", api_key = "sk-x", model = "gpt-4o-mini",
        embed_model = "text-embedding-3-small" }
    end)
    teardown(function()
      c:close()
      m:stop()
    end)
    local TOOL = { name = "get_weather", description = "Weather for a city", parameters = {
      type = "object", properties = { city = { type = "string" } }, required = { "city" },
      additionalProperties = false } }
    local NOARGS = { name = "now", description = "The time" } -- parameters default to an empty object
    local CALLS = {
      { "a prompt", { prompt = "hi" } },
      { "system and settings", { system = "Be brief.", prompt = "hi", max_tokens = 20, temperature = 0.2,
        top_p = 0.9, stop = { "END" }, seed = 7, user = "u-1", presence_penalty = 0.1, frequency_penalty = 0.1 } },
      { "a stream", { prompt = "hi", stream = true } },
      { "tools and a forced choice", { prompt = "weather?", tools = { TOOL, NOARGS }, tool_choice = { name = "get_weather" },
        parallel_tool_calls = false } },
      { "tool choice required", { prompt = "weather?", tools = { TOOL }, tool_choice = "required" } },
      { "a tool round trip", "roundtrip" },
      { "content parts with an image", { messages = { { role = "user", content = {
        { type = "text", text = "What is this?" },
        { type = "image_url", image_url = { url = "https://example.com/cat.png", detail = "low" } } } } } } },
      { "response_format json_schema", { prompt = "json please", response_format = { type = "json_schema",
        json_schema = { name = "answer", strict = true, schema = { type = "object", properties = {
          answer = { type = "string" } }, required = { "answer" }, additionalProperties = false } } } } },
      { "max_completion_tokens", { prompt = "hi", max_tokens = 10 }, { max_tokens_field = "max_completion_tokens" } },
    }
    for _, case in ipairs(CALLS) do
      it("chat: " .. case[1], function()
        m:reset()
        local client = c
        if case[3] then
          local o = { provider = "openai", base_url = m.url .. "/v1", api_key = "sk-x", model = "gpt-4o-mini" }
          for k, v in pairs(case[3]) do o[k] = v end
          client = keel.client(o)
        end
        if case[2] == "roundtrip" then
          local r = assert(client:chat { prompt = "weather?", tools = { TOOL } })
          assert(client:chat { tools = { TOOL }, messages = { { role = "user", content = "weather?" }, r.message,
            { role = "tool", tool_call_id = r.tool_calls[1].id, content = "sunny" } } })
        else
          assert(client:chat(case[2]))
        end
        if client ~= c then client:close() end
        for _, rec in ipairs(m:requests()) do
          assert.equal("/v1/chat/completions", rec.path)
          local ok, errs = openapi.validate(doc, CHAT, openapi.decode(rec.body))
          assert.is_true(ok, table.concat(errs or {}, "\n") .. "\nbody: " .. rec.body)
        end
      end)
    end
    for _, input in ipairs { "one text", { "two", "texts" } } do
      it("embeddings: " .. type(input), function()
        m:reset()
        assert(c:embed { input = input, dimensions = 4 })
        local rec = m:requests()[1]
        local ok, errs = openapi.validate(doc, EMBED, openapi.decode(rec.body))
        assert.is_true(ok, table.concat(errs or {}, "\n"))
      end)
    end
    it("catches a body keel must never send (the check can fail)", function()
      local ok, errs = openapi.validate(doc, CHAT, openapi.decode(
        '{"model":"m","messages":[{"role":"user","content":"x"}],"tools":{}}'))
      assert.is_false(ok)
      assert.truthy(errs[1]:find("/tools", 1, true))
    end)
  end)
end)
