-- Streams two events, then stops sending and keeps the connection open:
-- what a client's idle timeout is for. Non-stream requests stall after 10
-- bytes of the body.
return function(req, mock)
  local p = req.provider == "anthropic" and mock.anthropic.message or mock.openai.chat
  if req.path == "/v1/embeddings" then return nil end
  return p(req, { stall_after = req.json and req.json.stream and 2 or 10 })
end
