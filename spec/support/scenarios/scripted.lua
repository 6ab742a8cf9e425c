-- One case per X-Case request header, exercising the plan format directly;
-- used by spec/mock_spec.lua. Without X-Case: the default behaviour.
local mock = ...  -- the helpers are also the chunk's first argument

local cases = {}

-- Raw chunks with pauses between them, built by hand.
cases.raw = function()
  return {
    headers = { ["Content-Type"] = "text/event-stream" },
    chunks = { mock.sse("greeting", "hello"), 0.05, mock.sse(nil, { n = 1 }), { delay = 0.05 }, "data: bye\n\n" },
  }
end

-- Two events, then the connection is closed mid-body.
cases.abort = function()
  return { chunks = { mock.sse(nil, "one"), mock.sse(nil, "two") }, ending = "abort" }
end

-- A body generated piece by piece: never held whole.
cases.big = function(req)
  return mock.big_body(tonumber(req.headers["x-bytes"]) or 5000000,
    { content_length = req.headers["x-content-length"] == "1" })
end

-- A 204 has no body: chunks given anyway are not sent.
cases.no_content = function()
  return { status = 204, chunks = { "never sent" } }
end

-- The body ends (cleanly) in the middle of an event.
cases.partial = function()
  return { chunks = { "data: one\n\n", 'data: {"half' } }
end

-- An iterator that fails after the headers went out: the connection drops.
cases.generator_error = function()
  local i = 0
  return { chunks = function()
    i = i + 1
    if i == 1 then return mock.sse(nil, "first") end
    error("generator broke")
  end }
end

-- Misuse a scenario author may make: an error *plan* given as json.
cases.plan_as_json = function()
  return { status = 429, json = mock.openai.error(429, "nope") }
end

cases.bad_status = function()
  return { status = "teapot" }
end

-- Repeated headers, in order.
cases.headers_array = function()
  return { headers = { { "X-Twice", "a" }, { "X-Twice", "b" }, { "Content-Type", "text/plain" } }, body = "ok" }
end

-- mock.state persists across requests until reset.
cases.count = function()
  mock.state.count = (mock.state.count or 0) + 1
  return { json = { count = mock.state.count } }
end

-- A tool call with explicit arguments, whatever tools the request lists.
cases.tool = function(req)
  local p = req.provider == "anthropic" and mock.anthropic.message or mock.openai.chat
  return p(req, { tool_calls = { { name = "lookup", arguments = { query = "keel", limit = 3 } } } })
end

-- A misspelled field, a usage override and a finish reason, in one reply.
cases.odd = function(req)
  return mock.openai.chat(req, {
    content = "short and odd",
    finish_reason = "length",
    usage = { prompt_tokens_details = { cached_tokens = 7 } },
    rename = { ["choices.1.message.content"] = "contnet" },
  })
end

-- A 503 after a delay, with a Retry-After header.
cases.slow_503 = function()
  local p = mock.openai.error(503, "try later", { retry_after = 2 })
  p.delay = 0.1
  return p
end

return function(req)
  local case = req.headers["x-case"]
  if case then
    local f = cases[case]
    if not f then error("no such case: " .. case) end
    return f(req)
  end
end
