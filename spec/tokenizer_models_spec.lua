-- Model name → tiktoken encoding (keel.tokenizer.models), after tiktoken's model.py.
local models = require "keel.tokenizer.models"

describe("keel.tokenizer.models", function()
  local cases = {
    { "gpt-4o", "o200k_base" }, { "gpt-4o-2024-08-06", "o200k_base" }, { "gpt-4o-mini-2024-07-18", "o200k_base" },
    { "chatgpt-4o-latest", "o200k_base" }, { "gpt-4.1", "o200k_base" }, { "gpt-4.1-mini-2025-04-14", "o200k_base" },
    { "gpt-4.5-preview", "o200k_base" }, { "o1", "o200k_base" }, { "o1-mini", "o200k_base" },
    { "o3-mini-2025-01-31", "o200k_base" }, { "o4-mini", "o200k_base" }, { "o4-mini-2025-04-16", "o200k_base" },
    { "gpt-5", "o200k_base" }, { "gpt-5-mini", "o200k_base" }, { "gpt-5.1", "o200k_base" },
    { "gpt-4", "cl100k_base" }, { "gpt-4-0613", "cl100k_base" }, { "gpt-4-turbo-2024-04-09", "cl100k_base" },
    { "gpt-3.5-turbo", "cl100k_base" }, { "gpt-3.5-turbo-0125", "cl100k_base" }, { "gpt-35-turbo-16k", "cl100k_base" },
    { "text-embedding-3-small", "cl100k_base" }, { "text-embedding-3-large", "cl100k_base" },
    { "text-embedding-ada-002", "cl100k_base" }, { "ft:gpt-4o-mini:org::abc", "o200k_base" },
    { "ft:gpt-3.5-turbo-0125:org::x", "cl100k_base" }, { "text-davinci-003", "p50k_base" },
    { "code-davinci-edit-001", "p50k_edit" }, { "davinci", "r50k_base" }, { "gpt-oss-120b", "o200k_harmony" },
  }
  for _, c in ipairs(cases) do
    it(c[1] .. " → " .. c[2], function() assert.equal(c[2], (models.encoding_for(c[1]))) end)
  end
  it("names an unknown model", function()
    local e, msg = models.encoding_for("claude-3-5-haiku")
    assert.is_nil(e)
    assert.equal("keel.tokenizer: no encoding known for model 'claude-3-5-haiku' " ..
      "(give the encoding: keel.tokenizer.get(name))", msg)
  end)
end)
