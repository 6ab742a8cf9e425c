-- keel.tokens: the documented chat-counting arithmetic, checked with a
-- tokenizer that counts bytes (so each expected number is easy to follow).
-- Exactness of the token counts themselves belongs to the tokenizer's spec.
local tokens = require "keel.tokens"

local bytes = { count = function(_, s) return #s end }

describe("keel.tokens.count_messages", function()
  local msgs = { { role = "system", content = "Be brief." }, { role = "user", content = "hi", name = "bob" } }
  -- system: 3 + #"system"(6) + #"Be brief."(9) = 18; user: 3 + 4 + 2 + 3 (name) + 1 = 13; priming 3
  it("applies 3 per message, 1 per name, 3 for the reply (gpt-4o)", function()
    local n, info = tokens.count_messages(msgs, "gpt-4o-2024-08-06", { tokenizer = bytes })
    assert.equal(18 + 13 + 3, n)
    assert.same({ estimated = false, encoding = "o200k_base" }, info)
  end)
  it("applies gpt-3.5-turbo-0301's 4 per message and -1 per name", function()
    local n = tokens.count_messages(msgs, "gpt-3.5-turbo-0301", { tokenizer = bytes })
    assert.equal((4 + 6 + 9) + (4 + 4 + 2 + 3 - 1) + 3, n)
  end)
  it("says an Anthropic count is an estimate", function()
    local _, info = tokens.count_messages(msgs, "claude-sonnet-4-5", { tokenizer = bytes })
    assert.is_true(info.estimated)
  end)
  it("counts text parts and marks images as estimated", function()
    local n, info = tokens.count_messages({ { role = "user", content = {
      { type = "text", text = "look" }, { type = "image_url", image_url = { url = "https://x/y.png" } } } } },
      "gpt-4o", { tokenizer = bytes })
    assert.equal(3 + 4 + 4 + 3, n)
    assert.is_true(info.estimated)
  end)
  it("counts tool definitions as the cookbook does", function()
    local tools = { { name = "get_weather", description = "Weather.", parameters = { type = "object", properties = {
      city = { type = "string", description = "City." }, unit = { type = "string", enum = { "c", "f" } } } } } }
    local n = tokens.count_messages({ { role = "user", content = "x" } }, "gpt-4o", { tokenizer = bytes, tools = tools })
    -- messages 3+4+1+3 = 11; func_init 7 + #"get_weather:Weather"(19); prop_init 3;
    -- city: 3 + #"city:string:City"(16); unit: 3 - 3 + (3+1) + (3+1) + #"unit:string:"(12); func_end 12
    assert.equal(11 + 7 + 19 + 3 + (3 + 16) + (3 - 3 + 4 + 4 + 12) + 12, n)
    local n35 = tokens.count_messages({ { role = "user", content = "x" } }, "gpt-4", { tokenizer = bytes, tools = tools })
    assert.equal(n + 3, n35) -- func_init 10 for the older models
  end)
  it("names an unknown model", function()
    assert.has_error(function() tokens.count_messages(msgs, "llama3", { tokenizer = bytes }) end,
      "keel.tokenizer: no encoding known for model 'llama3' (give the encoding: keel.tokenizer.get(name))")
  end)
end)

describe("keel.tokens with the real tokenizer", function()
  -- The OpenAI cookbook's example ("How to count tokens with tiktoken"),
  -- whose counts it checks against what the API reports: 127 for
  -- gpt-3.5-turbo-0301, 129 for gpt-3.5-turbo and gpt-4, 124 for gpt-4o.
  local example = {
    { role = "system", content = "You are a helpful, pattern-following assistant that translates corporate jargon into plain English." },
    { role = "system", name = "example_user", content = "New synergies will help drive top-line growth." },
    { role = "system", name = "example_assistant", content = "Things working well together will increase revenue." },
    { role = "system", name = "example_user", content = "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
    { role = "system", name = "example_assistant", content = "Let's talk later when we're less busy about how to do better." },
    { role = "user", content = "This late pivot means we don't have time to boil the ocean for the client deliverable." },
  }
  for model, want in pairs({ ["gpt-3.5-turbo-0301"] = 127, ["gpt-3.5-turbo-0613"] = 129, ["gpt-3.5-turbo"] = 129,
    ["gpt-4-0613"] = 129, ["gpt-4"] = 129, ["gpt-4o"] = 124, ["gpt-4o-mini"] = 124 }) do
    it(("counts the cookbook example as the API does for %s (%d)"):format(model, want), function()
      local n, info = tokens.count_messages(example, model)
      assert.equal(want, n)
      assert.is_false(info.estimated)
    end)
  end
  it("counts special-token text in messages as text, without raising", function()
    local n = tokens.count_messages({ { role = "user", content = "<|endoftext|>" } }, "gpt-4o")
    assert.equal(3 + 1 + 7 + 3, n) -- "user" is 1 token, "<|endoftext|>" as text 7
  end)
end)
