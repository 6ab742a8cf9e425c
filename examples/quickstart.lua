-- keel quickstart: a streamed answer, a tool call and an embeddings call,
-- each with its normalized usage and latency.
--
--   OPENAI_API_KEY=... keel examples/quickstart.lua      (or ANTHROPIC_API_KEY)
--   keel examples/quickstart.lua                         (no key: the local mock)
--
-- KEEL_MODEL and KEEL_EMBED_MODEL choose other models.
local keel = require "keel"

local mock -- the local mock provider, when no key is set
local client, embed_client, model

if os.getenv("OPENAI_API_KEY") then
  print("Using OpenAI (OPENAI_API_KEY is set).")
  model = os.getenv("KEEL_MODEL") or "gpt-4o-mini"
  client = keel.client { provider = "openai", model = model,
    embed_model = os.getenv("KEEL_EMBED_MODEL") or "text-embedding-3-small" }
  embed_client = client
elseif os.getenv("ANTHROPIC_API_KEY") then
  print("Using Anthropic (ANTHROPIC_API_KEY is set).")
  model = os.getenv("KEEL_MODEL") or "claude-3-5-haiku-latest"
  client = keel.client { provider = "anthropic", model = model }
else
  mock = require("keel.mock.process").start()
  print(("No OPENAI_API_KEY or ANTHROPIC_API_KEY set: using the LOCAL MOCK provider (keel mock at %s).")
    :format(mock.url))
  print("Its answers are canned; set a key to call a real provider.")
  model = "gpt-4o-mini"
  client = keel.client { provider = "openai", base_url = mock.url .. "/v1", model = model,
    embed_model = "text-embedding-3-small" }
  embed_client = client
end

local function report(what, r)
  local u = r.usage
  print(("   [%s] %s · %d in + %d out tokens%s · %.0f ms%s · finish: %s"):format(
    what, r.model or "?", u.input_tokens or 0, u.output_tokens or 0,
    (u.cached_tokens or 0) > 0 and (" (%d cached)"):format(u.cached_tokens) or "",
    r.latency_ms, r.ttft_ms and (" (first token %.0f ms)"):format(r.ttft_ms) or "",
    r.finish_reason or "-"))
end

local function check(r, err)
  if not r then
    print("   call failed: " .. tostring(err))
    if mock then mock:stop() end
    os.exit(1)
  end
  return r
end

-- 1. A streamed answer: deltas print as they arrive; the call still returns
--    the whole response.
print("\n1. Streamed answer")
local ask = { { role = "system", content = "You are terse. Answer in two sentences." },
  { role = "user", content = "Why do production LLM calls need timeouts and retries?" } }
-- Counted offline before anything is sent (what budgets and context fitting use).
local ok_count, n, info = pcall(keel.tokens.count_messages, ask, model)
if ok_count then
  print(("   counted before sending: %d input tokens (%s)"):format(n,
    info.estimated and "an estimate: Anthropic's tokenizer is not public" or "exact, " .. info.encoding))
else
  print("   (no token count: " .. tostring(n) .. ")")
end
io.write("   ")
local r = check(client:chat {
  messages = ask,
  max_tokens = 120,
  temperature = 0,
  stream = function(delta)
    if delta.type == "content" then
      io.write((delta.content:gsub("\n", "\n   ")))
      io.stdout:flush()
    end
  end,
})
print()
report("stream", r)

-- 2. A tool call, then its result sent back: the agent loop in two turns.
print("\n2. Tool call")
local tools = { {
  name = "get_weather",
  description = "Current weather for a city",
  parameters = { type = "object", properties = { city = { type = "string" } }, required = { "city" } },
} }
local messages = { { role = "user", content = "What is the weather in Paris right now?" } }
r = check(client:chat { messages = messages, tools = tools, tool_choice = "required", max_tokens = 200 })
report("tool call", r)
if r.tool_calls then messages[#messages + 1] = r.message end -- the assistant turn, once
for _, call in ipairs(r.tool_calls or {}) do
  print(("   model called %s(%s)"):format(call.name, call.arguments))
  messages[#messages + 1] = { role = "tool", tool_call_id = call.id,
    content = keel.json.encode { city = call.input and call.input.city, temperature_c = 18, sky = "clear" } }
end
if r.tool_calls then
  r = check(client:chat { messages = messages, tools = tools, max_tokens = 200 })
  print("   answer: " .. r.content:gsub("\n", " "))
  report("after tool", r)
end

-- 3. Embeddings.
print("\n3. Embeddings")
if embed_client then
  r = check(embed_client:embed { input = { "keel makes LLM calls production-grade", "a sailing boat's keel" } })
  print(("   %d vectors of %d dimensions · %d input tokens · %.0f ms · %s"):format(
    #r.vectors, #r.vectors[1], r.usage.input_tokens, r.latency_ms, r.model or "?"))
else
  print("   skipped: Anthropic has no embeddings API (set OPENAI_API_KEY to run this step)")
end

client:close()
if mock then mock:stop() end
