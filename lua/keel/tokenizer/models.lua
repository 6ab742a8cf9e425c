-- keel.tokenizer.models: model name → tiktoken encoding, as tiktoken's
-- model.py maps them (MODEL_TO_ENCODING, then MODEL_PREFIX_TO_ENCODING), with
-- the longest prefix winning so that "gpt-4" never catches gpt-4o or gpt-4.1
-- and dated names (gpt-4o-2024-08-06, gpt-5.1-mini) resolve offline.
local M = {}

-- Exact names, checked first.
M.exact = {
  ["o1"] = "o200k_base", ["o3"] = "o200k_base", ["o4-mini"] = "o200k_base", ["gpt-5"] = "o200k_base",
  ["gpt-4.1"] = "o200k_base", ["gpt-4o"] = "o200k_base",
  ["gpt-4"] = "cl100k_base", ["gpt-3.5-turbo"] = "cl100k_base", ["gpt-3.5"] = "cl100k_base",
  ["gpt-35-turbo"] = "cl100k_base", ["davinci-002"] = "cl100k_base", ["babbage-002"] = "cl100k_base",
  ["text-embedding-ada-002"] = "cl100k_base", ["text-embedding-3-small"] = "cl100k_base",
  ["text-embedding-3-large"] = "cl100k_base",
  ["text-davinci-003"] = "p50k_base", ["text-davinci-002"] = "p50k_base",
  ["text-davinci-001"] = "r50k_base", ["text-curie-001"] = "r50k_base", ["text-babbage-001"] = "r50k_base",
  ["text-ada-001"] = "r50k_base", ["davinci"] = "r50k_base", ["curie"] = "r50k_base", ["babbage"] = "r50k_base",
  ["ada"] = "r50k_base",
  ["code-davinci-002"] = "p50k_base", ["code-davinci-001"] = "p50k_base", ["code-cushman-002"] = "p50k_base",
  ["code-cushman-001"] = "p50k_base", ["davinci-codex"] = "p50k_base", ["cushman-codex"] = "p50k_base",
  ["text-davinci-edit-001"] = "p50k_edit", ["code-davinci-edit-001"] = "p50k_edit",
  ["text-similarity-davinci-001"] = "r50k_base", ["text-similarity-curie-001"] = "r50k_base",
  ["text-similarity-babbage-001"] = "r50k_base", ["text-similarity-ada-001"] = "r50k_base",
  ["text-search-davinci-doc-001"] = "r50k_base", ["text-search-curie-doc-001"] = "r50k_base",
  ["text-search-babbage-doc-001"] = "r50k_base", ["text-search-ada-doc-001"] = "r50k_base",
  ["code-search-babbage-code-001"] = "r50k_base", ["code-search-ada-code-001"] = "r50k_base",
  ["gpt2"] = "gpt2", ["gpt-2"] = "gpt2",
}

-- Prefixes; the longest one that matches wins. "gpt-5" without the dash
-- (as tiktoken's newest table) also covers gpt-5.1, gpt-5-mini, ...
M.prefixes = {
  { "o1-", "o200k_base" }, { "o3-", "o200k_base" }, { "o4-mini-", "o200k_base" }, { "gpt-5", "o200k_base" },
  { "gpt-4.5-", "o200k_base" }, { "gpt-4.1-", "o200k_base" }, { "chatgpt-4o-", "o200k_base" },
  { "gpt-4o-", "o200k_base" }, { "gpt-4-", "cl100k_base" }, { "gpt-3.5-turbo-", "cl100k_base" },
  { "gpt-35-turbo-", "cl100k_base" }, { "gpt-oss-", "o200k_harmony" },
  { "ft:gpt-4o", "o200k_base" }, { "ft:gpt-4", "cl100k_base" }, { "ft:gpt-3.5-turbo", "cl100k_base" },
  { "ft:davinci-002", "cl100k_base" }, { "ft:babbage-002", "cl100k_base" },
}
table.sort(M.prefixes, function(a, b) return #a[1] > #b[1] end)

--- encoding_for(model) -> encoding name | nil, message
function M.encoding_for(model)
  if type(model) ~= "string" then return nil, "keel.tokenizer: model name expected" end
  local e = M.exact[model]
  if e then return e end
  for i = 1, #M.prefixes do
    local p = M.prefixes[i]
    if model:sub(1, #p[1]) == p[1] then return p[2] end
  end
  return nil, ("keel.tokenizer: no encoding known for model '%s' (give the encoding: keel.tokenizer.get(name))")
    :format(model)
end

return M
