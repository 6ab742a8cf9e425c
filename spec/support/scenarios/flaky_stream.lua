-- A stream that fails differently on each attempt, then succeeds:
--   1st: connection dropped after 2 events
--   2nd: stream cut cleanly after 3 events (no [DONE] / message_stop)
--   3rd: an error event mid-stream (Anthropic: overloaded_error)
--   then: normal streams
-- State lives in this upvalue; POST /_mock/reset runs the file again.
local attempts = 0
return {
  handle = function(req, mock)
    attempts = attempts + 1
    local p = req.provider == "anthropic" and mock.anthropic.message or mock.openai.chat
    if attempts == 1 then return p(req, { drop_after = 2 }) end
    if attempts == 2 then return p(req, { cut_after = 3 }) end
    if attempts == 3 then return p(req, { error_after = 2 }) end
  end,
}
