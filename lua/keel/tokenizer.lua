-- keel.tokenizer: exact tiktoken encodings (C; see src/core/tokenize.h).
--
--   local tok = keel.tokenizer.get("cl100k_base")  -- or .for_model("gpt-4o")
--   tok:encode(s [, {allowed_special=, disallowed_special=}]) -> ids
--   tok:encode_ordinary(s), tok:count(s [, opts]), tok:count_ordinary(s)
--   tok:decode(ids), tok:token_bytes(id), tok:truncate(s, n [, opts])
--   tok:special_tokens(), tok:info(), tok.name, tok.n_vocab
--   tok:close() frees its working memory (get() then makes a new one)
--
-- A vocabulary is loaded once per process and shared by every Lua state
-- (src/core/encoding.h says where it is looked for); get() also keeps one
-- tokenizer per encoding per Lua state, since a tokenizer's working memory
-- (ids, scratch, piece cache) is per state.
local core = require("keel.core").tokenizer
local models = require "keel.tokenizer.models"

local M = { models = models }
local cache = {}

--- get(name) -> tokenizer; raises for an unknown name or a vocabulary that
--- cannot be found (the message lists where it looked).
function M.get(name)
  local t = cache[name]
  if t and not t.closed then return t end
  if type(name) ~= "string" then error("keel.tokenizer.get: encoding name expected, got " .. type(name), 2) end
  local err
  t, err = core.open(name)
  if not t then error(err, 2) end
  cache[name] = t
  return t
end

--- for_model(model) -> tokenizer, encoding name; raises for an unknown model.
function M.for_model(model)
  local enc, err = models.encoding_for(model)
  if not enc then error(err, 2) end
  return M.get(enc), enc
end

--- encoding_for(model) -> name | nil, message (no loading).
M.encoding_for = models.encoding_for

--- names() -> every encoding name keel knows.
M.names = core.names

return M
