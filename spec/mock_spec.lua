-- keel mock over loopback, driven through keel.http: both providers'
-- formats (plain and streamed, tool calls, embeddings), the X-Mock-*
-- headers, scenarios (state across requests, errors, bad files), the plan
-- format, the control endpoints, connection counting, and the failure
-- modes a client must survive (stall, cut, drop, huge bodies).
local keel = require "keel"
local http = keel.http
local cjson = require "cjson"
local mock = require "spec.support.mock"

local KEEL_BIN = os.getenv("KEEL_BIN") or "bin/keel"
local SCEN = "spec/support/scenarios/"
local null = cjson.null

local function merge(a, b)
  local t = {}
  for k, v in pairs(a) do t[k] = v end
  for k, v in pairs(b or {}) do t[k] = v end
  return t
end

local function chat(extra)
  return merge({ model = "gpt-mock", messages = { { role = "user", content = "hello there" } } }, extra)
end

local function claude(extra)
  return merge({ model = "claude-mock", max_tokens = 100, messages = { { role = "user", content = "hello there" } } },
    extra)
end

local WEATHER = {
  type = "object",
  properties = {
    city = { type = "string" },
    unit = { type = "string", enum = { "celsius", "fahrenheit" } },
    days = { type = "integer", minimum = 1, maximum = 7 },
  },
  required = { "city", "unit" },
}

-- POST json to m.url .. path; -> resp, err, decoded body (when JSON)
local function post(m, path, body, headers, opts)
  local o = merge({ url = m.url .. path, json = body, headers = headers }, opts)
  local resp, err = http.request(o)
  local data
  if resp and resp.body then data = cjson.decode(resp.body) end
  return resp, err, data
end

-- Streams; -> resp, err, events (data decoded when JSON, .raw keeps it)
local function stream(m, path, body, headers, opts)
  local evs = {}
  local o = merge({
    url = m.url .. path, json = body, headers = headers,
    on_event = function(ev)
      local ok, d = pcall(cjson.decode, ev.data)
      evs[#evs + 1] = { event = ev.event, raw = ev.data, data = ok and d or nil }
    end,
  }, opts)
  local resp, err = http.stream(o)
  return resp, err, evs
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- Polls fn() until it returns true (or 2 s pass).
local function eventually(fn)
  local deadline = keel.now() + 2
  while keel.now() < deadline do
    if fn() then return true end
    keel.sleep(0.02)
  end
  return fn()
end

local function openai_events_content(evs)
  local parts = {}
  for _, e in ipairs(evs) do
    local d = e.data
    if d and d.choices and d.choices[1] and d.choices[1].delta.content ~= null then
      parts[#parts + 1] = d.choices[1].delta.content or ""
    end
  end
  return table.concat(parts)
end

describe("keel mock", function()
  local m

  setup(function() m = mock.start() end)
  teardown(function() m:stop() end)

  it("listens on 127.0.0.1 and says so on its first line", function()
    assert.matches("^http://127%.0%.0%.1:%d+$", m.url)
    assert.is_true(m.port > 0)
    local st = m:stats()
    assert.is_number(st.connections)
    assert.is_number(st.requests)
    assert.is_number(st.open_connections)
  end)

  describe("OpenAI chat completions", function()
    it("answers a chat.completion derived from the last user message", function()
      local resp, err, d = post(m, "/v1/chat/completions", chat {
        messages = {
          { role = "system", content = "be brief" },
          { role = "user", content = "first question" },
          { role = "assistant", content = "an answer" },
          { role = "user", content = { { type = "text", text = "what is   keel?" } } },
        },
      })
      assert.is_nil(err)
      assert.equal(200, resp.status)
      assert.matches("^application/json", resp.headers["content-type"])
      assert.equal("chat.completion", d.object)
      assert.is_string(d.id)
      assert.is_number(d.created)
      assert.equal("gpt-mock", d.model)
      assert.equal("fp_mock", d.system_fingerprint)
      local c = d.choices[1]
      assert.equal(0, c.index)
      assert.equal(null, c.logprobs)
      assert.equal("stop", c.finish_reason)
      assert.equal("assistant", c.message.role)
      assert.equal("Mock reply to: what is keel?", c.message.content)
      assert.is_nil(c.message.tool_calls)
      local u = d.usage
      assert.equal(9, u.prompt_tokens) -- one token per word of every message
      assert.equal(6, u.completion_tokens)
      assert.equal(u.prompt_tokens + u.completion_tokens, u.total_tokens)
      assert.equal(0, u.prompt_tokens_details.cached_tokens)
      assert.equal(0, u.completion_tokens_details.reasoning_tokens)
    end)

    it("is deterministic", function()
      local _, _, a = post(m, "/v1/chat/completions", chat())
      local _, _, b = post(m, "/v1/chat/completions", chat())
      assert.equal(a.choices[1].message.content, b.choices[1].message.content)
      assert.same(a.usage, b.usage)
    end)

    it("truncates to max_tokens with finish_reason length", function()
      local _, _, d = post(m, "/v1/chat/completions", chat { max_tokens = 3 })
      assert.equal("length", d.choices[1].finish_reason)
      assert.equal("Mock reply to:", d.choices[1].message.content)
      assert.equal(3, d.usage.completion_tokens)
      local _, _, d2 = post(m, "/v1/chat/completions", chat { max_completion_tokens = 2 })
      assert.equal("Mock reply", d2.choices[1].message.content)
    end)

    it("stops at a stop sequence", function()
      local _, _, d = post(m, "/v1/chat/completions", chat { stop = { " to:" } })
      assert.equal("Mock reply", d.choices[1].message.content)
      assert.equal("stop", d.choices[1].finish_reason)
    end)

    it("streams chat.completion.chunk events, then [DONE]", function()
      local resp, err, evs = stream(m, "/v1/chat/completions", chat { stream = true })
      assert.is_nil(err)
      assert.equal(200, resp.status)
      assert.matches("^text/event%-stream", resp.headers["content-type"])
      assert.is_falsy(resp.incomplete)
      assert.equal("[DONE]", evs[#evs].raw)
      local first = evs[1].data
      assert.equal("chat.completion.chunk", first.object)
      assert.equal("assistant", first.choices[1].delta.role)
      local content_chunks = 0
      for i = 2, #evs - 2 do
        local d = evs[i].data
        assert.is_string(d.choices[1].delta.content)
        assert.equal(null, d.choices[1].finish_reason)
        assert.is_nil(d.usage)
        content_chunks = content_chunks + 1
      end
      assert.is_true(content_chunks >= 3)
      local fin = evs[#evs - 1].data
      assert.equal("stop", fin.choices[1].finish_reason)
      assert.same({}, fin.choices[1].delta)
      assert.equal("Mock reply to: hello there", openai_events_content(evs))
    end)

    it("adds a usage chunk with empty choices only when include_usage is set", function()
      local _, _, evs = stream(m, "/v1/chat/completions",
        chat { stream = true, stream_options = { include_usage = true } })
      assert.equal("[DONE]", evs[#evs].raw)
      local last = evs[#evs - 1]
      assert.matches('"choices":%[%]', last.raw)
      assert.equal(5, last.data.usage.completion_tokens)
      assert.equal(2, last.data.usage.prompt_tokens)
      for i = 1, #evs - 2 do assert.equal(null, evs[i].data.usage) end
    end)

    it("calls the first tool with arguments generated from its schema", function()
      local tools = {
        { type = "function", ["function"] = { name = "get_weather", parameters = WEATHER } },
        { type = "function", ["function"] = { name = "get_time", parameters = { type = "object", properties = {} } } },
      }
      local _, _, d = post(m, "/v1/chat/completions", chat { tools = tools })
      local c = d.choices[1]
      assert.equal("tool_calls", c.finish_reason)
      assert.equal(null, c.message.content)
      local tc = c.message.tool_calls[1]
      assert.equal("function", tc.type)
      assert.is_string(tc.id)
      assert.equal("get_weather", tc["function"].name)
      assert.equal('{"city":"mock city","days":1,"unit":"celsius"}', tc["function"].arguments)
      -- tool_choice names another tool
      local _, _, d2 = post(m, "/v1/chat/completions", chat {
        tools = tools, tool_choice = { type = "function", ["function"] = { name = "get_time" } } })
      assert.equal("get_time", d2.choices[1].message.tool_calls[1]["function"].name)
      assert.equal("{}", d2.choices[1].message.tool_calls[1]["function"].arguments)
      -- "none": text
      local _, _, d3 = post(m, "/v1/chat/completions", chat { tools = tools, tool_choice = "none" })
      assert.equal("stop", d3.choices[1].finish_reason)
    end)

    it("streams tool-call arguments in fragments, as OpenAI does", function()
      local tools = { { type = "function", ["function"] = { name = "get_weather", parameters = WEATHER } } }
      local _, err, evs = stream(m, "/v1/chat/completions", chat { tools = tools, stream = true })
      assert.is_nil(err)
      local head = evs[1].data.choices[1].delta
      assert.equal("assistant", head.role)
      local t0 = head.tool_calls[1]
      assert.equal(0, t0.index)
      assert.is_string(t0.id)
      assert.equal("function", t0.type)
      assert.equal("get_weather", t0["function"].name)
      assert.equal("", t0["function"].arguments)
      local args, fragments = {}, 0
      for i = 2, #evs - 2 do
        local tc = evs[i].data.choices[1].delta.tool_calls[1]
        assert.equal(0, tc.index)
        assert.is_nil(tc.id)
        assert.is_nil(tc.type)
        assert.is_nil(tc["function"].name)
        args[#args + 1] = tc["function"].arguments
        fragments = fragments + 1
      end
      assert.is_true(fragments >= 3)
      assert.equal('{"city":"mock city","days":1,"unit":"celsius"}', table.concat(args))
      assert.equal("tool_calls", evs[#evs - 1].data.choices[1].finish_reason)
    end)

    it("answers a tool result with text, so agent loops end", function()
      local tools = { { type = "function", ["function"] = { name = "get_weather", parameters = WEATHER } } }
      local _, _, d = post(m, "/v1/chat/completions", chat {
        tools = tools,
        messages = {
          { role = "user", content = "weather?" },
          { role = "assistant", content = null, tool_calls = { { id = "call_1", type = "function",
            ["function"] = { name = "get_weather", arguments = "{}" } } } },
          { role = "tool", tool_call_id = "call_1", content = "sunny, 21C" },
        },
      })
      assert.equal("stop", d.choices[1].finish_reason)
      assert.equal("Mock reply to tool result: sunny, 21C", d.choices[1].message.content)
    end)

    it("returns JSON matching response_format's json_schema", function()
      local _, _, d = post(m, "/v1/chat/completions", chat {
        response_format = { type = "json_schema", json_schema = { name = "w", schema = WEATHER } } })
      local v = cjson.decode(d.choices[1].message.content)
      assert.equal("mock city", v.city)
      assert.equal("celsius", v.unit)
      assert.equal(1, v.days)
    end)

    local bad_requests = {
      { "malformed JSON", "{\"model\":", "could not parse the JSON body", null },
      { "no messages", { model = "x" }, "Missing required parameter: 'messages'", "missing_required_parameter" },
      { "no model", { messages = { { role = "user", content = "x" } } }, "must provide a model", null },
    }
    for _, c in ipairs(bad_requests) do
      it("answers 400 in OpenAI's error shape for " .. c[1], function()
        local o = { url = m.url .. "/v1/chat/completions", method = "POST" }
        if type(c[2]) == "string" then o.body = c[2] else o.json = c[2] end
        local resp = assert(http.request(o))
        assert.equal(400, resp.status)
        local e = cjson.decode(resp.body).error
        assert.matches(c[3], e.message, 1, true)
        assert.equal("invalid_request_error", e.type)
        assert.equal(c[4], e.code)
        assert.is_not_nil(e.param)
      end)
    end

    it("answers 404 for an unknown path", function()
      local resp = assert(http.request { url = m.url .. "/v1/nope" })
      assert.equal(404, resp.status)
      assert.equal("Invalid URL (GET /v1/nope)", cjson.decode(resp.body).error.message)
    end)
  end)

  describe("OpenAI embeddings", function()
    local function norm(v)
      local s = 0
      for _, x in ipairs(v) do s = s + x * x end
      return math.sqrt(s)
    end

    it("answers one unit vector per input, 8 dimensions by default", function()
      local resp, _, d = post(m, "/v1/embeddings", { model = "emb", input = "hello world" })
      assert.equal(200, resp.status)
      assert.equal("list", d.object)
      assert.equal("emb", d.model)
      assert.equal(1, #d.data)
      assert.equal("embedding", d.data[1].object)
      assert.equal(0, d.data[1].index)
      assert.equal(8, #d.data[1].embedding)
      assert.is_true(math.abs(norm(d.data[1].embedding) - 1) < 1e-9)
      assert.equal(2, d.usage.prompt_tokens)
      assert.equal(2, d.usage.total_tokens)
    end)

    it("hashes each input: same input, same vector; dimensions honoured", function()
      local _, _, d = post(m, "/v1/embeddings", { model = "emb", input = { "a", "b", "a" }, dimensions = 3 })
      assert.equal(3, #d.data)
      for i, e in ipairs(d.data) do
        assert.equal(i - 1, e.index)
        assert.equal(3, #e.embedding)
        assert.is_true(math.abs(norm(e.embedding) - 1) < 1e-9)
      end
      assert.same(d.data[1].embedding, d.data[3].embedding)
      assert.are_not.same(d.data[1].embedding, d.data[2].embedding)
      local _, _, again = post(m, "/v1/embeddings", { model = "emb", input = "a", dimensions = 3 })
      assert.same(d.data[1].embedding, again.data[1].embedding)
    end)

    it("rejects a missing input and bad dimensions", function()
      local resp = post(m, "/v1/embeddings", { model = "emb" })
      assert.equal(400, resp.status)
      resp = post(m, "/v1/embeddings", { model = "emb", input = "x", dimensions = 0 })
      assert.equal(400, resp.status)
      assert.equal("dimensions", cjson.decode(resp.body).error.param)
    end)
  end)

  describe("Anthropic messages", function()
    it("answers a message object", function()
      local resp, err, d = post(m, "/v1/messages", claude {
        system = "be brief", messages = { { role = "user", content = { { type = "text", text = "hi claude" } } } } })
      assert.is_nil(err)
      assert.equal(200, resp.status)
      assert.is_string(resp.headers["request-id"])
      assert.equal("message", d.type)
      assert.equal("assistant", d.role)
      assert.equal("claude-mock", d.model)
      assert.matches("^msg_", d.id)
      assert.same({ { type = "text", text = "Mock reply to: hi claude" } }, d.content)
      assert.equal("end_turn", d.stop_reason)
      assert.equal(null, d.stop_sequence)
      assert.same({ input_tokens = 4, output_tokens = 5, cache_creation_input_tokens = 0,
        cache_read_input_tokens = 0 }, d.usage)
    end)

    it("requires max_tokens, like the real API", function()
      local resp, _, d = post(m, "/v1/messages", { model = "claude-mock", messages = { { role = "user", content = "x" } } })
      assert.equal(400, resp.status)
      assert.same({ type = "error", error = { type = "invalid_request_error", message = "max_tokens: Field required" } }, d)
    end)

    it("answers malformed JSON with 400 invalid_request_error", function()
      local resp = assert(http.request { url = m.url .. "/v1/messages", method = "POST", body = "{nope" })
      assert.equal(400, resp.status)
      local d = cjson.decode(resp.body)
      assert.equal("error", d.type)
      assert.equal("invalid_request_error", d.error.type)
    end)

    it("stops at max_tokens and at stop sequences", function()
      local _, _, d = post(m, "/v1/messages", claude { max_tokens = 2 })
      assert.equal("max_tokens", d.stop_reason)
      assert.equal("Mock reply", d.content[1].text)
      local _, _, d2 = post(m, "/v1/messages", claude { stop_sequences = { "hello" } })
      assert.equal("stop_sequence", d2.stop_reason)
      assert.equal("hello", d2.stop_sequence)
      assert.equal("Mock reply to: ", d2.content[1].text)
    end)

    it("streams the event sequence", function()
      local resp, err, evs = stream(m, "/v1/messages", claude { stream = true })
      assert.is_nil(err)
      assert.equal(200, resp.status)
      local names, text = {}, {}
      for i, e in ipairs(evs) do
        names[i] = e.event
        assert.equal(e.event, e.data.type)
        if e.event == "content_block_delta" then
          assert.equal("text_delta", e.data.delta.type)
          text[#text + 1] = e.data.delta.text
        end
      end
      assert.same({ "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
        "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop" }, names)
      assert.equal("Mock reply to: hello there", table.concat(text))
      assert.same({}, evs[1].data.message.content)
      assert.matches('"content":%[%]', evs[1].raw)
      assert.same({ type = "text", text = "" }, evs[2].data.content_block)
      assert.equal("end_turn", evs[#evs - 1].data.delta.stop_reason)
      assert.equal(5, evs[#evs - 1].data.usage.output_tokens)
    end)

    it("uses a tool: tool_use block, input_json_delta fragments when streamed", function()
      local tools = { { name = "get_weather", description = "w", input_schema = WEATHER },
        { name = "other", input_schema = { type = "object" } } }
      local _, _, d = post(m, "/v1/messages", claude { tools = tools })
      assert.equal("tool_use", d.stop_reason)
      local b = d.content[1]
      assert.equal("tool_use", b.type)
      assert.matches("^toolu_", b.id)
      assert.equal("get_weather", b.name)
      assert.same({ city = "mock city", unit = "celsius", days = 1 }, b.input)
      local _, _, d2 = post(m, "/v1/messages", claude { tools = tools, tool_choice = { type = "tool", name = "other" } })
      assert.equal("other", d2.content[1].name)

      local _, err, evs = stream(m, "/v1/messages", claude { tools = tools, stream = true })
      assert.is_nil(err)
      assert.equal("tool_use", evs[2].data.content_block.type)
      assert.equal("get_weather", evs[2].data.content_block.name)
      local json, fragments = {}, 0
      for _, e in ipairs(evs) do
        if e.event == "content_block_delta" then
          assert.equal("input_json_delta", e.data.delta.type)
          json[#json + 1] = e.data.delta.partial_json
          fragments = fragments + 1
        end
      end
      assert.is_true(fragments >= 3)
      assert.same({ city = "mock city", unit = "celsius", days = 1 }, cjson.decode(table.concat(json)))
      assert.equal("tool_use", evs[#evs - 1].data.delta.stop_reason)
    end)

    it("answers a tool_result with text", function()
      local _, _, d = post(m, "/v1/messages", claude {
        tools = { { name = "get_weather", input_schema = WEATHER } },
        messages = {
          { role = "user", content = "weather?" },
          { role = "assistant", content = { { type = "tool_use", id = "t1", name = "get_weather", input = {} } } },
          { role = "user", content = { { type = "tool_result", tool_use_id = "t1", content = "rainy" } } },
        },
      })
      assert.equal("end_turn", d.stop_reason)
      assert.equal("Mock reply to tool result: rainy", d.content[1].text)
    end)
  end)

  describe("X-Mock-* headers", function()
    -- {name, path, body, headers, check(resp, err, data)}
    local cases = {
      { "Status 429 + Retry-After (OpenAI)", "/v1/chat/completions", chat(),
        { ["X-Mock-Status"] = "429", ["X-Mock-Retry-After"] = "2" },
        function(resp, _, d)
          assert.equal(429, resp.status)
          assert.equal("2", resp.headers["retry-after"])
          assert.equal("rate_limit_exceeded", d.error.code)
          assert.equal("requests", d.error.type)
        end },
      { "Status 500 (OpenAI)", "/v1/chat/completions", chat(), { ["X-Mock-Status"] = "500" },
        function(resp, _, d)
          assert.equal(500, resp.status)
          assert.equal("server_error", d.error.type)
        end },
      { "Status 503 (Anthropic)", "/v1/messages", claude(), { ["X-Mock-Status"] = "503" },
        function(resp, _, d)
          assert.equal(503, resp.status)
          assert.equal("error", d.type)
          assert.equal("api_error", d.error.type)
        end },
      { "Error overloaded (Anthropic 529)", "/v1/messages", claude(), { ["X-Mock-Error"] = "overloaded" },
        function(resp, _, d)
          assert.equal(529, resp.status)
          assert.same({ type = "error", error = { type = "overloaded_error", message = "Overloaded" } }, d)
        end },
      { "Error context_length (OpenAI)", "/v1/chat/completions", chat(), { ["X-Mock-Error"] = "context_length" },
        function(resp, _, d)
          assert.equal(400, resp.status)
          assert.equal("context_length_exceeded", d.error.code)
        end },
      { "Error rate_limit (Anthropic)", "/v1/messages", claude(),
        { ["X-Mock-Error"] = "rate_limit", ["X-Mock-Retry-After"] = "3" },
        function(resp, _, d)
          assert.equal(429, resp.status)
          assert.equal("3", resp.headers["retry-after"])
          assert.equal("rate_limit_error", d.error.type)
        end },
      { "Error of an unknown kind", "/v1/chat/completions", chat(), { ["X-Mock-Error"] = "gremlins" },
        function(resp, _, d)
          assert.equal(400, resp.status)
          assert.matches("unknown X-Mock-Error kind 'gremlins'", d.error.message, 1, true)
        end },
      { "Finish length (OpenAI)", "/v1/chat/completions", chat(), { ["X-Mock-Finish"] = "length" },
        function(resp, _, d)
          assert.equal(200, resp.status)
          assert.equal("length", d.choices[1].finish_reason)
          assert.equal("Mock reply to:", d.choices[1].message.content)
        end },
      { "Finish length (Anthropic: max_tokens)", "/v1/messages", claude(), { ["X-Mock-Finish"] = "length" },
        function(_, _, d) assert.equal("max_tokens", d.stop_reason) end },
      { "Finish content_filter", "/v1/chat/completions", chat(), { ["X-Mock-Finish"] = "content_filter" },
        function(_, _, d) assert.equal("content_filter", d.choices[1].finish_reason) end },
      { "Content", "/v1/chat/completions", chat(), { ["X-Mock-Content"] = '{"answer": 42}' },
        function(_, _, d) assert.equal('{"answer": 42}', d.choices[1].message.content) end },
      { "Rename (misspelled field)", "/v1/chat/completions", chat(), { ["X-Mock-Rename"] = "choices=choises" },
        function(_, _, d)
          assert.is_nil(d.choices)
          assert.equal("stop", d.choises[1].finish_reason)
        end },
      { "Html-Error 502", "/v1/chat/completions", chat(), { ["X-Mock-Html-Error"] = "502" },
        function(resp)
          assert.equal(502, resp.status)
          assert.matches("^text/html", resp.headers["content-type"])
          assert.matches("<title>502 Bad Gateway</title>", resp.body, 1, true)
        end, "raw" },
      { "Malformed (whole body)", "/v1/chat/completions", chat(), { ["X-Mock-Malformed"] = "1" },
        function(resp)
          assert.equal(200, resp.status)
          assert.matches("^application/json", resp.headers["content-type"])
          assert.is_false(pcall(cjson.decode, resp.body))
          assert.matches('^{"id":"chatcmpl', resp.body)
        end, "raw" },
      { "an invalid value", "/v1/messages", claude(), { ["X-Mock-Delay"] = "soon" },
        function(resp, _, d)
          assert.equal(400, resp.status)
          assert.equal("invalid_request_error", d.error.type)
          assert.matches("invalid X-Mock-Delay header: 'soon'", d.error.message, 1, true)
        end },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local resp, err = http.request { url = m.url .. c[2], json = c[3], headers = c[4] }
        assert.is_nil(err)
        local d = c[6] ~= "raw" and cjson.decode(resp.body) or nil
        c[5](resp, err, d)
      end)
    end

    it("Delay holds back the status line, without blocking other requests", function()
      local t0 = keel.now()
      local a, b = keel.gather(
        function() return post(m, "/v1/chat/completions", chat(), { ["X-Mock-Delay"] = "0.3" }) end,
        function() return post(m, "/v1/messages", claude(), { ["X-Mock-Delay"] = "0.3" }) end)
      local elapsed = keel.now() - t0
      assert.equal(200, a.status)
      assert.equal(200, b.status)
      assert.is_true(elapsed >= 0.29, "elapsed " .. elapsed)
      assert.is_true(elapsed < 0.58, "the two delays overlapped: elapsed " .. elapsed)
    end)

    it("Chunk-Delay spaces the events of a stream", function()
      local t0 = keel.now()
      local _, err, evs = stream(m, "/v1/chat/completions", chat { stream = true }, { ["X-Mock-Chunk-Delay"] = "0.05" })
      local elapsed = keel.now() - t0
      assert.is_nil(err)
      assert.equal(8, #evs) -- role, 5 words, finish, [DONE]
      assert.is_true(elapsed >= 7 * 0.05 - 0.01, "elapsed " .. elapsed)
    end)

    for _, p in ipairs {
      { "OpenAI", "/v1/chat/completions", chat { stream = true }, "[DONE]" },
      { "Anthropic", "/v1/messages", claude { stream = true }, "message_stop" },
    } do
      it("Stall-After stops a stream mid-way: idle_timeout fires (" .. p[1] .. ")", function()
        local t0 = keel.now()
        local resp, err, evs = stream(m, p[2], p[3], { ["X-Mock-Stall-After"] = "2" }, { idle_timeout = 0.3 })
        assert.is_nil(resp)
        assert.equal("timeout", err.kind)
        assert.equal("idle", err.timeout)
        assert.equal(2, #evs)
        assert.is_true(keel.now() - t0 >= 0.3)
      end)

      it("Cut-After ends the body cleanly without the terminal event (" .. p[1] .. ")", function()
        local resp, err, evs = stream(m, p[2], p[3], { ["X-Mock-Cut-After"] = "3" })
        assert.is_nil(err)
        assert.equal(200, resp.status)
        assert.is_falsy(resp.incomplete) -- cut between events
        assert.equal(3, #evs)
        for _, e in ipairs(evs) do
          assert.are_not.equal(p[4], e.raw)
          assert.are_not.equal(p[4], e.event)
        end
      end)

      it("Drop-After closes the connection mid-body: a connect error (" .. p[1] .. ")", function()
        local resp, err, evs = stream(m, p[2], p[3], { ["X-Mock-Drop-After"] = "2" })
        assert.is_nil(resp)
        assert.equal("connect", err.kind)
        assert.equal(2, #evs)
      end)

      it("Malformed breaks one event's JSON (" .. p[1] .. ")", function()
        local _, err, evs = stream(m, p[2], p[3], { ["X-Mock-Malformed"] = "1" })
        assert.is_nil(err)
        assert.is_table(evs[1].data)
        assert.is_nil(evs[2].data)
        assert.is_table(evs[3].data)
      end)
    end

    it("Error-After sends an error event mid-stream (Anthropic)", function()
      local resp, err, evs = stream(m, "/v1/messages", claude { stream = true }, { ["X-Mock-Error-After"] = "3" })
      assert.is_nil(err)
      assert.equal(200, resp.status)
      assert.equal(4, #evs)
      assert.equal("error", evs[4].event)
      assert.same({ type = "error", error = { type = "overloaded_error", message = "Overloaded" } }, evs[4].data)
    end)

    it("Error-After sends an error object mid-stream, no [DONE] (OpenAI)", function()
      local _, err, evs = stream(m, "/v1/chat/completions", chat { stream = true }, { ["X-Mock-Error-After"] = "2" })
      assert.is_nil(err)
      assert.equal(3, #evs)
      assert.equal("server_error", evs[3].data.error.type)
    end)

    it("Stall-After on a plain body stalls after N bytes", function()
      local resp, err = http.request { url = m.url .. "/v1/chat/completions", json = chat(),
        headers = { ["X-Mock-Stall-After"] = "10" }, idle_timeout = 0.2 }
      assert.is_nil(resp)
      assert.equal("idle", err.timeout)
    end)

    it("Body-Bytes sends a body of exactly that size, in pieces", function()
      local resp, err = http.request { url = m.url .. "/v1/chat/completions", json = chat(),
        headers = { ["X-Mock-Body-Bytes"] = "10000000" } }
      assert.is_nil(err)
      assert.equal(200, resp.status)
      assert.equal(10000000, #resp.body)
      assert.equal("chunked", resp.headers["transfer-encoding"])
      assert.matches('^{"id":"chatcmpl%-mock%d+","object":"chat.completion"', resp.body)
      resp, err = http.request { url = m.url .. "/v1/messages", json = claude(),
        headers = { ["X-Mock-Body-Bytes"] = "3000000" }, max_body = 1000000 }
      assert.is_nil(resp)
      assert.equal("too_large", err.kind)
    end)
  end)

  describe("control endpoints", function()
    it("count one connection for sequential requests on one client", function()
      m:reset()
      local c = http.client()
      for _ = 1, 5 do
        local resp = assert(c:request { url = m.url .. "/v1/chat/completions", json = chat() })
        assert.equal(200, resp.status)
      end
      local st = m:stats()
      assert.equal(1, st.connections)
      assert.equal(5, st.requests)
      local open = st.open_connections
      c:close()
      assert.is_true(eventually(function() return m:stats().open_connections == open - 1 end))
      -- a second client, a second connection
      local c2 = http.client()
      assert(c2:request { url = m.url .. "/v1/embeddings", json = { model = "e", input = "x" } })
      c2:close()
      assert.equal(2, m:stats().connections)
    end)

    it("record the requests received since the last reset", function()
      m:reset()
      assert.same({}, m:requests())
      post(m, "/v1/chat/completions?trace=1", chat(), { ["X-Custom"] = "yes" })
      post(m, "/v1/messages", claude())
      local rs = m:requests()
      assert.equal(2, #rs)
      assert.equal("POST", rs[1].method)
      assert.equal("/v1/chat/completions", rs[1].path)
      assert.equal("trace=1", rs[1].query)
      assert.equal("yes", rs[1].headers["x-custom"])
      assert.equal("gpt-mock", cjson.decode(rs[1].body).model)
      assert.equal(1, rs[1].n)
      assert.equal("/v1/messages", rs[2].path)
      assert.equal(2, rs[2].n)
      assert.equal(2, m:stats().requests)
    end)

    it("answer 404 for an unknown control path", function()
      local resp = assert(http.request { url = m.url .. "/_mock/nothing" })
      assert.equal(404, resp.status)
    end)
  end)

  describe("a client that goes away", function()
    it("mid-stream: the mock cancels that reply and serves on", function()
      local before = m:stats().open_connections
      local c = http.client()
      local got = 0
      local ok, e = pcall(c.stream, c, {
        url = m.url .. "/v1/chat/completions", json = chat { stream = true },
        headers = { ["X-Mock-Chunk-Delay"] = "0.2" },
        on_event = function()
          got = got + 1
          error("enough")
        end,
      })
      assert.is_false(ok)
      assert.matches("enough", tostring(e))
      assert.equal(1, got)
      c:close()
      assert.is_true(eventually(function() return m:stats().open_connections == before end))
      local resp = post(m, "/v1/chat/completions", chat())
      assert.equal(200, resp.status)
    end)

    it("during a delay or a stall: the connection is let go", function()
      local before = m:stats().open_connections
      local c = http.client { timeout = 0.2 }
      local resp, err = c:request { url = m.url .. "/v1/chat/completions", json = chat(),
        headers = { ["X-Mock-Delay"] = "5" } }
      assert.is_nil(resp)
      assert.equal("timeout", err.kind)
      resp, err = c:request { url = m.url .. "/v1/chat/completions", json = chat(),
        headers = { ["X-Mock-Stall-After"] = "0" } }
      assert.is_nil(resp)
      assert.equal("timeout", err.kind)
      c:close()
      assert.is_true(eventually(function() return m:stats().open_connections == before end))
    end)
  end)

  it("answers 413 to a request body over 32 MiB", function()
    local resp, err = http.request { url = m.url .. "/v1/chat/completions", method = "POST",
      body = string.rep("x", 33 * 1024 * 1024), headers = { ["Content-Type"] = "application/json" } }
    assert.is_nil(err)
    assert.equal(413, resp.status)
  end)
end)

describe("keel mock scenarios", function()
  it("fail_twice: 429, 429, then the default; reset starts over", function()
    local m = mock.start { scenario = SCEN .. "fail_twice.lua" }
    finally(function() m:stop() end)
    local statuses = {}
    for i = 1, 4 do
      local resp = post(m, "/v1/chat/completions", chat())
      statuses[i] = resp.status
      if i <= 2 then
        assert.equal("1", resp.headers["retry-after"])
        assert.matches("rate limited by scenario", resp.body, 1, true)
      end
    end
    assert.same({ 429, 429, 200, 200 }, statuses)
    m:reset()
    local resp, _, d = post(m, "/v1/messages", claude())
    assert.equal(429, resp.status)
    assert.equal("rate_limit_error", d.error.type) -- in Anthropic's shape
  end)

  it("flaky_stream: drop, cut, error event, then success; state kept in an upvalue", function()
    local m = mock.start { scenario = SCEN .. "flaky_stream.lua" }
    finally(function() m:stop() end)
    local body = chat { stream = true }
    local resp, err = stream(m, "/v1/chat/completions", body)
    assert.equal("connect", err.kind)
    local evs
    resp, err, evs = stream(m, "/v1/chat/completions", body)
    assert.is_nil(err)
    assert.equal(3, #evs)
    resp, err, evs = stream(m, "/v1/chat/completions", body)
    assert.equal("server_error", evs[#evs].data.error.type)
    resp, err, evs = stream(m, "/v1/chat/completions", body)
    assert.equal("[DONE]", evs[#evs].raw)
    m:reset()
    resp, err = stream(m, "/v1/messages", claude { stream = true })
    assert.is_nil(resp)
    assert.equal("connect", err.kind)
  end)

  it("stall: keel's idle_timeout fires", function()
    local m = mock.start { scenario = SCEN .. "stall.lua" }
    finally(function() m:stop() end)
    local resp, err, evs = stream(m, "/v1/messages", claude { stream = true }, nil, { idle_timeout = 0.2 })
    assert.is_nil(resp)
    assert.equal("timeout", err.kind)
    assert.equal("idle", err.timeout)
    assert.equal(2, #evs)
  end)

  it("an error in the handler: 500 with the message, logged to stderr", function()
    local log = os.tmpname()
    local m = mock.start { scenario = SCEN .. "error.lua", stderr = log }
    finally(function()
      m:stop()
      os.remove(log)
    end)
    local resp, _, d = post(m, "/v1/chat/completions", chat())
    assert.equal(500, resp.status)
    assert.matches("scenario exploded on /v1/chat/completions", d.error.message, 1, true)
    assert.matches("error.lua:4:", d.error.message, 1, true)
    resp, _, d = post(m, "/v1/messages", claude())
    assert.equal(500, resp.status)
    assert.equal("error", d.type)
    -- and it still serves
    assert.equal(2, m:stats().requests)
    assert.matches("scenario error", read(log), 1, true)
    assert.matches("error.lua:4:", read(log), 1, true)
  end)

  describe("plans (scripted.lua)", function()
    local m, log
    setup(function()
      log = os.tmpname()
      m = mock.start { scenario = SCEN .. "scripted.lua", stderr = log }
    end)
    teardown(function()
      m:stop()
      os.remove(log)
    end)

    local function case(name, extra)
      return merge({ ["X-Case"] = name }, extra)
    end

    it("raw chunks with pauses", function()
      local t0 = keel.now()
      local resp, err, evs = stream(m, "/v1/chat/completions", chat(), case "raw")
      assert.is_nil(err)
      assert.equal(200, resp.status)
      assert.equal(3, #evs)
      assert.equal("greeting", evs[1].event)
      assert.equal("hello", evs[1].raw)
      assert.same({ n = 1 }, evs[2].data)
      assert.equal("bye", evs[3].raw)
      assert.is_true(keel.now() - t0 >= 0.09)
    end)

    it("ending = abort", function()
      local resp, err, evs = stream(m, "/v1/chat/completions", chat(), case "abort")
      assert.is_nil(resp)
      assert.equal("connect", err.kind)
      assert.equal(2, #evs)
    end)

    it("an iterator that raises after the headers: the connection drops", function()
      local resp, err = http.request { url = m.url .. "/v1/chat/completions", json = chat(),
        headers = case "generator_error" }
      assert.is_nil(resp)
      assert.equal("connect", err.kind)
      assert.matches("generator broke", read(log), 1, true)
    end)

    it("a body cut in the middle of an event: resp.incomplete", function()
      local resp, err, evs = stream(m, "/v1/chat/completions", chat(), case "partial")
      assert.is_nil(err)
      assert.is_true(resp.incomplete)
      assert.equal(1, #evs)
    end)

    for _, c in ipairs {
      { "chunked", case("big", { ["X-Bytes"] = "4000000" }), "chunked" },
      { "with Content-Length", case("big", { ["X-Bytes"] = "4000000", ["X-Content-Length"] = "1" }), nil },
    } do
      it("big_body " .. c[1], function()
        local resp, err = http.request { url = m.url .. "/v1/chat/completions", json = chat(), headers = c[2] }
        assert.is_nil(err)
        assert.equal(4000000, #resp.body)
        assert.equal(c[3], resp.headers["transfer-encoding"])
        assert.equal(string.rep("x", 4000000 - 14), cjson.decode(resp.body).padding)
      end)
    end

    it("bad plans answer 500 saying what is wrong", function()
      local resp = post(m, "/v1/chat/completions", chat(), case "plan_as_json")
      assert.equal(500, resp.status)
      assert.matches("'json' holds a plan", resp.body, 1, true)
      resp = post(m, "/v1/chat/completions", chat(), case "bad_status")
      assert.equal(500, resp.status)
      assert.matches("bad status teapot", resp.body, 1, true)
      assert.matches("bad status teapot", read(log), 1, true)
    end)

    it("a 204 with chunks sends no body, and nothing leaks into the next reply", function()
      local c = http.client()
      finally(function() c:close() end)
      local resp = assert(c:request { url = m.url .. "/v1/x", headers = case "no_content" })
      assert.equal(204, resp.status)
      assert.equal("", resp.body)
      local first
      resp = assert(c:stream { url = m.url .. "/v1/chat/completions", json = chat { stream = true },
        on_event = function(ev) first = first or ev.data end })
      assert.equal(200, resp.status)
      assert.equal("assistant", cjson.decode(first).choices[1].delta.role)
    end)

    it("headers as an ordered array, repeated names kept", function()
      local resp = assert(http.request { url = m.url .. "/v1/x", headers = case "headers_array" })
      assert.equal("a, b", resp.headers["x-twice"])
      assert.equal("ok", resp.body)
    end)

    it("mock.state persists across requests until reset", function()
      for i = 1, 3 do
        local _, _, d = post(m, "/v1/x", {}, case "count")
        assert.equal(i, d.count)
      end
      m:reset()
      local _, _, d = post(m, "/v1/x", {}, case "count")
      assert.equal(1, d.count)
    end)

    it("explicit tool calls for both providers", function()
      local _, _, d = post(m, "/v1/chat/completions", chat(), case "tool")
      local tc = d.choices[1].message.tool_calls[1]
      assert.equal("lookup", tc["function"].name)
      assert.equal('{"limit":3,"query":"keel"}', tc["function"].arguments)
      local _, _, d2 = post(m, "/v1/messages", claude(), case "tool")
      assert.same({ query = "keel", limit = 3 }, d2.content[1].input)
    end)

    it("misspelled nested field, usage override, finish_reason", function()
      local _, _, d = post(m, "/v1/chat/completions", chat(), case "odd")
      local c = d.choices[1]
      assert.is_nil(c.message.content)
      assert.equal("short and", c.message.contnet)
      assert.equal("length", c.finish_reason)
      assert.equal(7, d.usage.prompt_tokens_details.cached_tokens)
    end)

    it("an error plan with a delay and Retry-After", function()
      local t0 = keel.now()
      local resp, _, d = post(m, "/v1/chat/completions", chat(), case "slow_503")
      assert.equal(503, resp.status)
      assert.equal("2", resp.headers["retry-after"])
      assert.equal("try later", d.error.message)
      assert.is_true(keel.now() - t0 >= 0.09)
    end)

    it("no X-Case: the default behaviour, X-Mock headers included", function()
      local resp = post(m, "/v1/chat/completions", chat(), { ["X-Mock-Status"] = "429" })
      assert.equal(429, resp.status)
      resp = post(m, "/v1/chat/completions", chat())
      assert.equal(200, resp.status)
    end)
  end)

  describe("a bad scenario file", function()
    local cases = {
      { "a syntax error", "return function(req)\n  if then\nend\n", ":2: " },
      { "an error at load time", "local x = nil\nreturn x.y\n", ":2: attempt to index" },
      { "no handler returned", "return 42\n", ": a scenario must return a function" },
    }
    for _, c in ipairs(cases) do
      it("exits 2 naming the file (" .. c[1] .. ")", function()
        local tmp = os.tmpname()
        os.remove(tmp)
        local path = tmp .. ".lua"
        write(path, c[2])
        finally(function() os.remove(path) end)
        local f = io.popen(("%s mock --port 0 --scenario '%s' 2>&1; echo \"exit=$?\""):format(KEEL_BIN, path))
        local out = f:read("*a")
        f:close()
        assert.matches("exit=2", out, 1, true)
        assert.matches(path .. c[3], out, 1, true)
        assert.is_nil(out:find("listening", 1, true))
      end)
    end

    it("exits 2 for a missing file", function()
      local f = io.popen(KEEL_BIN .. " mock --scenario /nonexistent/x.lua 2>&1; echo \"exit=$?\"")
      local out = f:read("*a")
      f:close()
      assert.matches("exit=2", out, 1, true)
      assert.matches("/nonexistent/x.lua", out, 1, true)
    end)
  end)
end)

describe("keel mock process", function()
  it("rejects a bad option with exit 2", function()
    local f = io.popen(KEEL_BIN .. " mock --port nope 2>&1; echo \"exit=$?\"")
    local out = f:read("*a")
    f:close()
    assert.matches("exit=2", out, 1, true)
    assert.matches("--port", out, 1, true)
  end)

  it("stop() leaves no process behind", function()
    local m = mock.start()
    local pid = m.pid
    assert.equal(200, (http.request { url = m.url .. "/_mock/stats" }).status)
    m:stop()
    assert.is_nil(mock.state_of(pid))
  end)

  it("--exit-with-parent: dies with its parent", function()
    -- sh starts the mock in the background and exits after a moment.
    local f = io.popen(("sh -c '%s mock --port 0 --quiet --exit-with-parent >/dev/null & echo $!; sleep 0.3'")
      :format(KEEL_BIN))
    local pid = tonumber(f:read("*l"))
    f:close()
    assert.is_number(pid)
    local gone = eventually(function()
      local st = mock.state_of(pid)
      return st == nil or st == "Z"
    end)
    assert.is_true(gone)
  end)
end)

-- The Lua half runs inside bin/keel (Lua 5.4); these run it in the spec's
-- own interpreter too, so LuaJIT checks its syntax and semantics.
describe("keel.mock in-process", function()
  local kmock = require "keel.mock"

  it("adds no globals", function()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    for _, name in ipairs { "keel.mock", "keel.mock.base", "keel.mock.openai", "keel.mock.anthropic" } do
      package.loaded[name] = nil
    end
    require "keel.mock"
    for k in pairs(_G) do
      if not before[k] then error("new global: " .. tostring(k)) end
    end
  end)

  local encodings = {
    { {}, "{}" },
    { kmock.array(), "[]" },
    { { 1, 2.5, "x" }, '[1,2.5,"x"]' },
    { { b = 1, a = true, type = "t", id = "i" }, '{"type":"t","id":"i","a":true,"b":1}' },
    { { s = 'q"\\\n\1' }, '{"s":"q\\"\\\\\\n\\u0001"}' },
    { { n = kmock.null }, '{"n":null}' },
    { 3.0, "3" },
    { -0.25, "-0.25" },
  }
  for i, c in ipairs(encodings) do
    it("encodes JSON deterministically (" .. i .. ")", function()
      assert.equal(c[2], kmock.encode(c[1]))
    end)
  end

  local function drain(plan)
    local out = {}
    for item in plan.next do
      if type(item) == "string" then out[#out + 1] = item end
    end
    return out
  end

  it("handles a request into a plan for C", function()
    local logged = {}
    local srv = kmock.server { quiet = true, log = function(s) logged[#logged + 1] = s end }
    local plan = srv:handle { method = "POST", uri = "/v1/chat/completions",
      headers = { { "Content-Type", "application/json" } }, body = cjson.encode(chat { stream = true }) }
    assert.equal(200, plan.status)
    assert.equal("OK", plan.reason)
    assert.equal("end", plan.ending)
    assert.is_nil(plan.body)
    local chunks = drain(plan)
    assert.equal("data: [DONE]\n\n", chunks[#chunks])
    assert.equal(8, #chunks)
    plan = srv:handle { method = "GET", uri = "/_mock/stats", headers = {}, body = "" }
    assert.same({ connections = 0, requests = 1, open_connections = 0 }, cjson.decode(plan.body))
    assert.same({}, logged)
  end)

  local bad_plans = {
    { { status = 101 }, "bad status 101" },
    { { body = "x", json = {} }, "give 'body' or 'json', not both" },
    { { body = "x", chunks = {} }, "give 'body' or 'chunks', not both" },
    { { ending = "explode" }, "bad ending 'explode'" },
    { { headers = { ["Bad Name"] = "x" } }, "bad header name Bad Name" },
    { { headers = { X = "a\r\nb" } }, "bad value for header X" },
    { { chunks = { "a", true } }, "chunk 2: expected a string" },
    { { delay = -1 }, "'delay' must be seconds >= 0" },
  }
  for _, c in ipairs(bad_plans) do
    it("rejects a bad plan: " .. c[2], function()
      local ok, err = pcall(kmock.normalize, c[1])
      assert.is_false(ok)
      assert.matches(c[2], err, 1, true)
    end)
  end

  it("shapes plans: chunk delays and stall/cut/drop after N items", function()
    local p = kmock.shape({ chunks = { "a", "b", "c" } }, { chunk_delay = 0.1, stall_after = 2 })
    assert.same({ "a", 0.1, "b" }, p.chunks)
    assert.equal("stall", p.ending)
    p = kmock.shape({ json = { k = "v" } }, { drop_after = 4 })
    assert.same({ '{"k"' }, p.chunks)
    assert.equal("abort", p.ending)
    local it_plan = kmock.shape(kmock.big_body(20), { cut_after = 2 })
    local got = drain(kmock.normalize(it_plan))
    assert.equal(2, #got)
  end)

  it("generates values from a JSON Schema", function()
    local v = kmock.from_schema({
      type = "object",
      properties = {
        tags = { type = "array", items = { type = "string" }, minItems = 2 },
        when = { type = "string", format = "date" },
        n = { type = { "number", "null" }, minimum = 3 },
        code = { type = "string", minLength = 12 },
        ok = { type = "boolean" },
      },
    })
    assert.same({ "mock tags", "mock tags" }, v.tags)
    assert.equal("2024-01-01", v.when)
    assert.equal(3, v.n)
    assert.equal(12, #v.code)
    assert.is_true(v.ok)
  end)
end)

describe("keel mock prompt tokens for a known OpenAI model", function()
  it("reports what keel.tokens counts, as the API would", function()
    local mock = require "spec.support.mock"
    local m = mock.start()
    local http = require "keel.http"
    local body = { model = "gpt-4o-mini", messages = { { role = "system", content = "Be terse." },
      { role = "user", content = "Why do production LLM calls need timeouts and retries?" } } }
    local resp = assert(http.request { url = m.url .. "/v1/chat/completions", method = "POST", json = body })
    local d = require("keel.json").decode(resp.body)
    assert.equal(require("keel.tokens").count_messages(body.messages, "gpt-4o-mini"), d.usage.prompt_tokens)
    m:stop()
  end)
end)
