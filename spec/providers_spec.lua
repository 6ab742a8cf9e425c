-- Providers: OpenAI chat completions / embeddings and Anthropic messages,
-- through keel.client against keel mock (success, streams, tool calls in
-- fragments, every error class, HTML pages, cut and failing streams), plus
-- error bodies recorded from real providers and compatible servers
-- (spec/support/fixtures/provider_errors.lua) classified without a server.
local keel = require "keel"
local cjson = require "cjson"
local mock = require "spec.support.mock"
local openai = require "keel.providers.openai"
local anthropic = require "keel.providers.anthropic"
local base = require "keel.providers.base"
local header_mt = require("keel.http").header_mt

local WEATHER = {
  name = "get_weather",
  description = "Weather for a city",
  parameters = {
    type = "object",
    properties = { city = { type = "string" }, unit = { type = "string", enum = { "celsius", "fahrenheit" } } },
    required = { "city", "unit" },
  },
}

describe("provider error bodies from real servers", function()
  local fixtures = dofile("spec/support/fixtures/provider_errors.lua")
  for _, f in ipairs(fixtures) do
    it(("%s %d: %s → %s"):format(f.provider, f.status, f.name, f.kind), function()
      local mod = f.provider == "anthropic" and anthropic or openai
      local headers = setmetatable({}, header_mt)
      for k, v in pairs(f.headers or {}) do headers[k:lower()] = v end
      local err = mod.error(f.status, headers, f.body, { name = f.provider })
      assert.truthy(keel.error.is(err, f.kind), tostring(err))
      assert.equal(f.status, err.status)
      assert.equal(f.provider, err.provider)
      if f.message then assert.truthy(err.message:find(f.message, 1, true), err.message) end
      for k, v in pairs(f.fields or {}) do assert.same(v, err[k], k) end
      assert.falsy(err.message:find("<html", 1, true), "no raw HTML in the message")
    end)
  end
end)

describe("Retry-After", function()
  local cases = {
    { { ["retry-after"] = "7" }, 7 },
    { { ["retry-after"] = "0.5" }, 0.5 },
    { { ["retry-after-ms"] = "1500", ["retry-after"] = "9" }, 1.5 },
    { { ["retry-after"] = "soon" }, nil },
    { { ["retry-after"] = "-3" }, nil },
    { { ["retry-after"] = "0x10" }, nil },
    { { ["retry-after"] = "1e309" }, nil },
    { {}, nil },
  }
  for i, c in ipairs(cases) do
    it("case " .. i, function() assert.equal(c[2], base.retry_after(c[1])) end)
  end
  it("reads an HTTP date in UTC", function()
    local t = os.time() + 30
    local d = os.date("!%a, %d %b %Y %H:%M:%S GMT", t)
    local s = base.retry_after { ["retry-after"] = d }
    assert.truthy(s >= 28 and s <= 31, tostring(s))
    assert.equal(0, base.retry_after { ["retry-after"] = "Wed, 21 Oct 2015 07:28:00 GMT" })
  end)
end)

for _, P in ipairs { "openai", "anthropic" } do
  describe(P .. " through keel.client against keel mock", function()
    local m, c
    setup(function()
      m = mock.start()
      c = keel.client { provider = P, base_url = m.url .. "/v1", api_key = "sk-spec-secret", model = "mock-model",
        embed_model = "mock-embed" }
    end)
    teardown(function()
      c:close()
      m:stop()
    end)
    before_each(function() m:reset() end)

    local function body_sent(i)
      local rs = m:requests()
      return cjson.decode(rs[i or #rs].body), rs[i or #rs]
    end

    it("answers a plain call in the normalized shape", function()
      local r, err = c:chat { messages = { { role = "user", content = "hello there friend" } }, max_tokens = 50 }
      assert.is_nil(err)
      assert.equal("Mock reply to: hello there friend", r.content)
      assert.equal("stop", r.finish_reason)
      assert.equal(P, r.provider)
      assert.equal("mock-model", r.model)
      assert.equal(3, r.usage.input_tokens)
      assert.equal(math.type and "integer" or "number", math.type and math.type(r.usage.input_tokens) or "number")
      assert.equal(r.usage.input_tokens + r.usage.output_tokens, r.usage.total_tokens)
      assert.equal(0, r.usage.cached_tokens)
      assert.equal(0, r.usage.reasoning_tokens)
      assert.truthy(r.latency_ms > 0)
      assert.is_nil(r.ttft_ms)
      assert.equal("table", type(r.raw))
      assert.same({ role = "assistant", content = r.content }, r.message)
    end)

    it("streams normalized deltas and returns the assembled response", function()
      local deltas = {}
      local r, err = c:chat { prompt = "one two three four", stream = function(d) deltas[#deltas + 1] = d end }
      assert.is_nil(err)
      local text = {}
      for _, d in ipairs(deltas) do
        assert.equal("content", d.type)
        text[#text + 1] = d.content
      end
      assert.truthy(#deltas > 3)
      assert.equal(r.content, table.concat(text))
      assert.equal("Mock reply to: one two three four", r.content)
      assert.equal("stop", r.finish_reason)
      assert.truthy(r.usage.output_tokens > 0, "usage arrives with streams")
      assert.truthy(r.ttft_ms and r.ttft_ms <= r.latency_ms)
      local sent = body_sent()
      assert.is_true(sent.stream)
      if P == "openai" then assert.same({ include_usage = true }, sent.stream_options) end
    end)

    it("maps max_tokens and the length finish", function()
      local r = assert(c:chat { prompt = "a b c d e f g h", max_tokens = 3 })
      assert.equal("length", r.finish_reason)
      assert.equal(P == "openai" and "length" or "max_tokens", r.stop_reason)
      local sent = body_sent()
      assert.equal(3, sent.max_tokens) -- a compatible server: the old field name
    end)

    it("returns tool calls, decoded, and takes them back in the next turn", function()
      local r = assert(c:chat { prompt = "weather in Paris?", tools = { WEATHER } })
      assert.equal("tool_calls", r.finish_reason)
      local call = r.tool_calls[1]
      assert.equal("get_weather", call.name)
      assert.truthy(call.id and call.id ~= "")
      assert.same({ city = "mock city", unit = "celsius" }, call.input)
      assert.same(call.input, cjson.decode(call.arguments))
      local msgs = { { role = "user", content = "weather in Paris?" }, r.message,
        { role = "tool", tool_call_id = call.id, content = "18C and clear" } }
      local r2 = assert(c:chat { messages = msgs, tools = { WEATHER } })
      assert.equal("Mock reply to tool result: 18C and clear", r2.content)
      local sent = body_sent()
      if P == "openai" then
        assert.equal("get_weather", sent.messages[2].tool_calls[1]["function"].name)
        assert.equal(call.arguments, sent.messages[2].tool_calls[1]["function"].arguments)
        assert.equal(call.id, sent.messages[3].tool_call_id)
        assert.equal("function", sent.tools[1].type)
      else
        assert.equal("assistant", sent.messages[2].role)
        assert.equal("tool_use", sent.messages[2].content[1].type)
        assert.same(call.input, sent.messages[2].content[1].input)
        assert.equal("user", sent.messages[3].role)
        assert.equal("tool_result", sent.messages[3].content[1].type)
        assert.equal(call.id, sent.messages[3].content[1].tool_use_id)
        assert.same(WEATHER.parameters.required, sent.tools[1].input_schema.required)
      end
    end)

    it("streams tool-call arguments in fragments and assembles them", function()
      local frags, names = {}, {}
      local r = assert(c:chat { prompt = "weather?", tools = { WEATHER }, stream = function(d)
        assert.equal("tool_call", d.type)
        assert.equal(1, d.index)
        if d.name then names[#names + 1] = d.name end
        frags[#frags + 1] = d.arguments
      end })
      assert.same({ "get_weather" }, names)
      assert.truthy(#frags >= 3, "several fragments")
      assert.equal(r.tool_calls[1].arguments, table.concat(frags))
      assert.same({ city = "mock city", unit = "celsius" }, r.tool_calls[1].input)
      assert.equal("tool_calls", r.finish_reason)
    end)

    it("maps tool_choice", function()
      assert(c:chat { prompt = "x", tools = { WEATHER }, tool_choice = { name = "get_weather" } })
      local sent = body_sent()
      if P == "openai" then
        assert.same({ type = "function", ["function"] = { name = "get_weather" } }, sent.tool_choice)
      else
        assert.same({ type = "tool", name = "get_weather" }, sent.tool_choice)
      end
      assert(c:chat { prompt = "x", tools = { WEATHER }, tool_choice = "required" })
      sent = body_sent()
      assert.same(P == "openai" and "required" or { type = "any" }, sent.tool_choice)
    end)

    it("sends the system prompt the provider's way", function()
      assert(c:chat { system = "Be brief.", messages = { { role = "system", content = "No jokes." },
        { role = "user", content = "hi" } } })
      local sent = body_sent()
      if P == "openai" then
        assert.same({ role = "system", content = "Be brief." }, sent.messages[1])
        assert.same({ role = "system", content = "No jokes." }, sent.messages[2])
      else
        assert.equal("Be brief.\n\nNo jokes.", sent.system)
        assert.equal(1, #sent.messages)
        assert.equal("user", sent.messages[1].role)
        assert.equal(4096, sent.max_tokens, "max_tokens is required: keel always sends it")
      end
    end)

    it("sends the key and per-call headers, and never the key in errors", function()
      local _, err = c:chat { prompt = "x", headers = { ["X-Mock-Error"] = "auth", ["X-Trace"] = "t1" } }
      assert.truthy(keel.error.is(err, "auth"))
      assert.falsy(tostring(err):find("sk-spec-secret", 1, true))
      local _, rec = body_sent()
      assert.equal("t1", rec.headers["x-trace"])
      if P == "openai" then assert.equal("Bearer sk-spec-secret", rec.headers.authorization)
      else
        assert.equal("sk-spec-secret", rec.headers["x-api-key"])
        assert.equal("2023-06-01", rec.headers["anthropic-version"])
      end
    end)

    local ERRORS = {
      { "rate_limit", "rate_limit", { retry_after = 3 }, { ["X-Mock-Retry-After"] = "3" } },
      { "context_length", "context_length" },
      { "content_filter", "content_filter" },
      { "auth", "auth" },
      { "permission", "auth" },
      { "not_found", "client" },
      { "server", "server" },
      { "overloaded", "server" },
      { "quota", P == "openai" and "rate_limit" or "client", P == "openai" and { retryable = false } or nil },
    }
    for _, e in ipairs(ERRORS) do
      it(("classifies %s as %s"):format(e[1], e[2]), function()
        local h = { ["X-Mock-Error"] = e[1] }
        for k, v in pairs(e[4] or {}) do h[k] = v end
        local r, err = c:chat { prompt = "x", headers = h }
        assert.is_nil(r)
        assert.equal(e[2], err.kind, tostring(err))
        assert.equal(P, err.provider)
        assert.equal("mock-model", err.model)
        assert.truthy(err.status >= 400)
        for k, v in pairs(e[3] or {}) do assert.equal(v, err[k], k) end
        if e[1] == "overloaded" and P == "anthropic" then
          assert.equal(529, err.status)
          assert.is_true(err.overloaded)
        end
      end)
    end

    it("reads an HTML error page from a proxy", function()
      local _, err = c:chat { prompt = "x", headers = { ["X-Mock-Html-Error"] = "502" } }
      assert.equal("server", err.kind)
      assert.equal(502, err.status)
      assert.truthy(err.message:find("502 Bad Gateway", 1, true), err.message)
    end)

    it("turns a stream cut before its terminal event into truncated, with the partial text", function()
      local got = {}
      local r, err = c:chat { prompt = "alpha beta gamma delta epsilon", stream = function(d) got[#got + 1] = d.content end,
        headers = { ["X-Mock-Cut-After"] = "6" } }
      assert.is_nil(r)
      assert.equal("truncated", err.kind)
      assert.truthy(#err.partial > 0)
      assert.equal(table.concat(got), err.partial)
      assert.truthy(err.message:find(P == "openai" and "[DONE]" or "message_stop", 1, true))
    end)

    it("turns a dropped connection mid-stream into an error carrying the partial text", function()
      local r, err = c:chat { prompt = "alpha beta gamma delta epsilon", stream = true,
        headers = { ["X-Mock-Drop-After"] = "6" } }
      assert.is_nil(r)
      assert.equal("truncated", err.kind, tostring(err))
      assert.truthy(err.curl_code, "the transport's code is kept")
      assert.truthy(err.partial and #err.partial > 0)
    end)

    it("turns an error event inside a stream into the matching error", function()
      local r, err = c:chat { prompt = "alpha beta gamma delta", stream = true, headers = { ["X-Mock-Error-After"] = "4" } }
      assert.is_nil(r)
      assert.equal("server", err.kind, tostring(err))
      assert.truthy(err.message:find("error event", 1, true))
    end)

    it("reports malformed JSON and renamed fields as a bad response", function()
      local _, err = c:chat { prompt = "x", headers = { ["X-Mock-Malformed"] = "1" } }
      assert.equal("server", err.kind)
      assert.truthy(err.message:find("malformed response", 1, true))
      local field = P == "openai" and "choices=choises" or "content=contnet"
      _, err = c:chat { prompt = "x", headers = { ["X-Mock-Rename"] = field } }
      assert.equal("server", err.kind)
      _, err = c:chat { prompt = "x y", stream = true, headers = { ["X-Mock-Malformed"] = "1" } }
      assert.equal("server", err.kind)
    end)

    it("times out a stalled stream with the partial text", function()
      local r, err = c:chat { prompt = "alpha beta gamma delta", stream = true, idle_timeout = 0.3,
        headers = { ["X-Mock-Stall-After"] = "4" } }
      assert.is_nil(r)
      assert.equal("timeout", err.kind)
      assert.truthy(err.partial and #err.partial > 0)
    end)

    if P == "openai" then
      it("embeds, vectors in input order", function()
        local e = assert(c:embed { input = { "a", "b", "c" } })
        assert.equal(3, #e.vectors)
        assert.equal(8, #e.vectors[1])
        assert.truthy(e.usage.input_tokens > 0)
        local e2 = assert(c:embed { input = "b", dimensions = 4 })
        assert.equal(4, #e2.vectors[1])
        assert.equal("mock-embed", body_sent().model)
      end)
    else
      it("says Anthropic has no embeddings API", function()
        assert.has_error(function() c:embed { input = "x" } end,
          "keel: provider anthropic (anthropic) has no embeddings API")
      end)
    end

    it("runs calls concurrently on one pool", function()
      local t0 = keel.now()
      local a, b, cc = keel.gather(
        function() return c:chat { prompt = "one", headers = { ["X-Mock-Delay"] = "0.3" } } end,
        function() return c:chat { prompt = "two", headers = { ["X-Mock-Delay"] = "0.3" } } end,
        function() return c:chat { prompt = "three", stream = true, headers = { ["X-Mock-Delay"] = "0.3" } } end)
      -- one after another would take 0.9 s; valgrind slows the Lua side down
      assert.truthy(keel.now() - t0 < (os.getenv("KEEL_VALGRIND") and 0.85 or 0.55))
      assert.equal("Mock reply to: one", a.content)
      assert.equal("Mock reply to: two", b.content)
      assert.equal("Mock reply to: three", cc.content)
    end)
  end)
end

describe("request building", function()
  it("uses max_completion_tokens for OpenAI itself, max_tokens elsewhere", function()
    local req = { model = "m", messages = { { role = "user", content = "x" } }, max_tokens = 5 }
    local _, b = openai.chat_request(req, { base_url = "https://api.openai.com/v1" })
    assert.equal(5, b.max_completion_tokens)
    assert.is_nil(b.max_tokens)
    _, b = openai.chat_request(req, { base_url = "http://127.0.0.1:11434/v1" })
    assert.equal(5, b.max_tokens)
    _, b = openai.chat_request(req, { base_url = "http://x/v1", max_tokens_field = "max_completion_tokens" })
    assert.equal(5, b.max_completion_tokens)
  end)

  it("maps Anthropic images, merges consecutive user turns, keeps stop sequences", function()
    local _, b = anthropic.chat_request({ model = "m", stop = "END", messages = {
      { role = "user", content = { { type = "text", text = "see" },
        { type = "image_url", image_url = { url = "data:image/png;base64,QUJD" } },
        { type = "image_url", image_url = { url = "https://x/y.png" } } } },
      { role = "user", content = "and this" },
    } }, {})
    assert.equal(1, #b.messages)
    local c = b.messages[1].content
    assert.same({ type = "image", source = { type = "base64", media_type = "image/png", data = "QUJD" } }, c[2])
    assert.same({ type = "image", source = { type = "url", url = "https://x/y.png" } }, c[3])
    assert.same({ type = "text", text = "and this" }, c[4])
    assert.same({ "END" }, b.stop_sequences)
  end)

  it("maps Anthropic usage to keel's: every prompt token counted, cache reads as cached", function()
    local u = anthropic.usage { input_tokens = 10, cache_read_input_tokens = 100, cache_creation_input_tokens = 5,
      output_tokens = 7 }
    assert.same({ input_tokens = 115, output_tokens = 7, cached_tokens = 100, reasoning_tokens = 0,
      total_tokens = 122, cache_write_tokens = 5 }, u)
  end)

  it("maps OpenAI usage details", function()
    local u = openai.usage { prompt_tokens = 50, completion_tokens = 20, total_tokens = 70,
      prompt_tokens_details = { cached_tokens = 32 }, completion_tokens_details = { reasoning_tokens = 12 } }
    assert.same({ input_tokens = 50, output_tokens = 20, cached_tokens = 32, reasoning_tokens = 12,
      total_tokens = 70 }, u)
    assert.is_false(openai.usage(nil).reported)
  end)

  local FINISH = {
    { openai, "stop", "stop" }, { openai, "length", "length" }, { openai, "tool_calls", "tool_calls" },
    { openai, "function_call", "tool_calls" }, { openai, "content_filter", "content_filter" },
    { anthropic, "end_turn", "stop" }, { anthropic, "stop_sequence", "stop" }, { anthropic, "max_tokens", "length" },
    { anthropic, "tool_use", "tool_calls" }, { anthropic, "refusal", "content_filter" },
  }
  for _, f in ipairs(FINISH) do
    it(("maps %s %s → %s"):format(f[1].name, f[2], f[3]), function()
      assert.equal(f[3], f[1].finish_reason(f[2]))
    end)
  end

  it("treats an OpenAI refusal as content_filter", function()
    local r = openai.chat_response({ choices = { { message = { role = "assistant", content = cjson.null,
      refusal = "I can't help with that." }, finish_reason = "stop" } } }, { name = "openai" })
    assert.equal("content_filter", r.finish_reason)
    assert.equal("I can't help with that.", r.refusal)
    assert.equal("", r.content)
  end)
end)

describe("recorded stream shapes", function()
  local m
  setup(function() m = mock.start { scenario = "spec/support/scenarios/provider_cases.lua" } end)
  teardown(function() m:stop() end)
  local function client(p)
    return keel.client { provider = p, base_url = m.url .. "/v1", api_key = "k", model = "m" }
  end

  it("keeps the text when [DONE] comes without a finish reason", function()
    local c = client "openai"
    local r, err = c:chat { prompt = "x", stream = true, headers = { ["X-Case"] = "nofinish" } }
    c:close()
    assert.is_nil(r)
    assert.equal("server", err.kind)
    assert.equal("Half an answer", err.partial)
  end)

  it("takes id and model from the first chunk that has them (Azure)", function()
    local c = client "openai"
    local r = assert(c:chat { prompt = "x", stream = true, headers = { ["X-Case"] = "azure" } })
    c:close()
    assert.equal("Hi", r.content)
    assert.equal("gpt-4o-2024-08-06", r.model)
    assert.equal("chatcmpl-az", r.id)
    assert.equal(3, r.raw.events) -- decoded events; [DONE] is not one
  end)

  it("keeps Anthropic thinking blocks with their signature and sends them back", function()
    local c = client "anthropic"
    local reasoning = {}
    local r = assert(c:chat { prompt = "weather?", stream = function(d)
      if d.type == "reasoning" then reasoning[#reasoning + 1] = d.content end
    end, headers = { ["X-Case"] = "thinking" } })
    assert.equal("Need the weather.", table.concat(reasoning))
    assert.equal("Need the weather.", r.reasoning)
    assert.same({ { type = "thinking", thinking = "Need the weather.", signature = "SIG==" } }, r.thinking_blocks)
    assert.equal('{"city":"Paris","tags":[]}', r.tool_calls[1].arguments)
    assert.equal(42, r.usage.output_tokens)
    local _, body = anthropic.chat_request({ model = "m", messages = { { role = "user", content = "weather?" }, r.message,
      { role = "tool", tool_call_id = "toolu_1", content = "sunny" } } }, {})
    local sent = keel.json.encode(body)
    assert.truthy(sent:find('"content":[{"signature":"SIG==","thinking":"Need the weather.","type":"thinking"},' ..
      '{"id":"toolu_1","input":{"city":"Paris","tags":[]},"name":"get_weather","type":"tool_use"}]', 1, true), sent)
    c:close()
  end)

  it("keeps an empty array in a tool input (not streamed)", function()
    local c = client "anthropic"
    local r = assert(c:chat { prompt = "x", headers = { ["X-Case"] = "tags" } })
    c:close()
    assert.equal('{"city":"Paris","tags":[]}', r.tool_calls[1].arguments)
    local _, body = anthropic.chat_request({ model = "m", messages = { { role = "user", content = "x" }, r.message } }, {})
    assert.truthy(keel.json.encode(body):find('"tags":[]', 1, true))
  end)
end)

describe("review regressions", function()
  local m
  setup(function() m = mock.start() end)
  teardown(function() m:stop() end)
  before_each(function() m:reset() end)

  it("sends one header per name whatever the case of the override", function()
    local c = keel.client { provider = "openai", base_url = m.url .. "/v1", api_key = "sk-one", model = "m",
      headers = { authorization = "Bearer sk-proxy" } }
    local n = 0
    for k in pairs(c:provider("openai").headers) do if k:lower() == "authorization" then n = n + 1 end end
    assert.equal(1, n)
    assert(c:chat { prompt = "x", headers = { AUTHORIZATION = "Bearer sk-call" } })
    assert.equal("Bearer sk-call", m:requests()[1].headers.authorization)
    c:close()
  end)

  it("honours an idle_timeout asked for on a plain call", function()
    local c = keel.client { provider = "openai", base_url = m.url .. "/v1", model = "m" }
    local t0 = keel.now()
    local r, err = c:chat { prompt = "x", idle_timeout = 0.3, timeout = 5, headers = { ["X-Mock-Stall-After"] = "3" } }
    c:close()
    assert.is_nil(r)
    assert.equal("timeout", err.kind)
    assert.truthy(keel.now() - t0 < 2)
  end)

  it("uses the provider's max_tokens for OpenAI too", function()
    local c = keel.client { provider = "openai", base_url = m.url .. "/v1", model = "m", max_tokens = 5 }
    assert(c:chat { prompt = "x" })
    c:close()
    assert.equal(5, cjson.decode(m:requests()[1].body).max_tokens)
  end)

  it("keeps cache_control on an Anthropic system part", function()
    local _, b = anthropic.chat_request({ model = "m", messages = {
      { role = "system", content = { { type = "text", text = "long policy", cache_control = { type = "ephemeral" } } } },
      { role = "user", content = "hi" } } }, {})
    assert.same({ { type = "text", text = "long policy", cache_control = { type = "ephemeral" } } }, b.system)
  end)

  it("never sends an empty Anthropic assistant turn or {} for a list", function()
    local _, b = anthropic.chat_request({ model = "m", messages = { { role = "user", content = "hi" },
      { role = "assistant", content = "" }, { role = "user", content = "again" } } }, {})
    local sent = keel.json.encode(b)
    assert.equal(1, #b.messages)
    assert.falsy(sent:find('"content":{}', 1, true), sent)
  end)
end)
