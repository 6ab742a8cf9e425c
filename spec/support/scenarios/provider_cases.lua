-- Recorded-shape responses the default mock does not produce, chosen by the
-- X-Case request header (spec/providers_spec.lua). Streams are raw SSE text.
local SSE = { ["Content-Type"] = "text/event-stream" }
local JSON = { ["Content-Type"] = "application/json" }

local function sse(events)
  local out = {}
  for i, e in ipairs(events) do
    if e[1] then out[i] = ("event: %s\ndata: %s\n\n"):format(e[1], e[2]) else out[i] = ("data: %s\n\n"):format(e[2]) end
  end
  return out
end

local CASES = {
  -- [DONE] arrives, but no chunk ever said why the answer ended.
  nofinish = { status = 200, headers = SSE, chunks = sse {
    { nil, [[{"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Half "}}]}]] },
    { nil, [[{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"an answer"}}]}]] },
    { nil, "[DONE]" } } },
  -- Azure OpenAI: the first chunk carries prompt_filter_results, "" id and model.
  azure = { status = 200, headers = SSE, chunks = sse {
    { nil, [[{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}]] },
    { nil, [[{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}],"id":"chatcmpl-az","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk"}]] },
    { nil, [[{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"id":"chatcmpl-az","model":"gpt-4o-2024-08-06","object":"chat.completion.chunk"}]] },
    { nil, "[DONE]" } } },
  -- Anthropic extended thinking then a tool call, streamed.
  thinking = { status = 200, headers = SSE, chunks = sse {
    { "message_start", [[{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"usage":{"input_tokens":10,"output_tokens":1}}}]] },
    { "content_block_start", [[{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}]] },
    { "content_block_delta", [[{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Need the "}}]] },
    { "content_block_delta", [[{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"weather."}}]] },
    { "content_block_delta", [[{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"SIG=="}}]] },
    { "content_block_stop", [[{"type":"content_block_stop","index":0}]] },
    { "content_block_start", [[{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}]] },
    { "content_block_delta", [[{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":\"Paris\","}}]] },
    { "content_block_delta", [[{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"tags\":[]}"}}]] },
    { "content_block_stop", [[{"type":"content_block_stop","index":1}]] },
    { "message_delta", [[{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":42}}]] },
    { "message_stop", [[{"type":"message_stop"}]] } } },
  -- Anthropic, not streamed: a tool input holding an empty array.
  tags = { status = 200, headers = JSON, body = [[{"id":"msg_2","type":"message","role":"assistant","model":"claude-x","content":[{"type":"tool_use","id":"toolu_2","name":"get_weather","input":{"city":"Paris","tags":[]}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":7}}]] },
}

return function(req)
  local c = req.headers["x-case"]
  if c then return CASES[c] or { status = 400, body = "unknown X-Case " .. c } end
end
