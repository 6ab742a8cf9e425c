-- keel.context: sliding-window fitting and document packing, with a
-- tokenizer that counts bytes so every budget below can be followed by hand.
local context = require "keel.context"

local bytes = { count = function(_, s) return #s end }

-- A message costs 3 + #role + #content (keel.tokens' rules with this tokenizer).
local function msg(role, content) return { role = role, content = content } end

describe("keel.context.fit (sliding)", function()
  local history = {
    msg("system", "sys"),                                               -- 3+6+3 = 12
    msg("user", "aaaaaaaaaa"),                                          -- 3+4+10 = 17
    msg("assistant", "bbbbbbbbbb"),                                     -- 3+9+10 = 22
    { role = "assistant", content = "", tool_calls = { { id = "c1", name = "f", arguments = "{}" } } }, -- 3+9+0+1+2 = 15
    { role = "tool", tool_call_id = "c1", content = "result" },         -- 3+4+2+6 = 15
    msg("user", "cccccccccc"),                                          -- 17
  }
  local function fit(window, reserve)
    return context.fit(history, { model = "gpt-4o", window = window, reserve = reserve, tokenizer = bytes })
  end

  it("returns the messages untouched when they fit", function()
    local out, rep = fit(1000)
    assert.equal(history, out)
    assert.same({}, rep.dropped)
    assert.equal(12 + 17 + 22 + 15 + 15 + 17 + 3, rep.tokens)
  end)

  it("keeps the system message and the newest turns that fit", function()
    -- budget 70: system 12 + priming 3 = 15; newest user 17 → 32; tool unit 30 → 62; next (22) does not fit
    local out, rep = fit(80, 10)
    assert.same({ 2, 3 }, rep.dropped)
    assert.same({ history[1], history[4], history[5], history[6] }, out)
    assert.equal(62, rep.tokens)
    assert.equal(70, rep.budget)
  end)

  it("never separates a tool call from its result", function()
    -- budget 50: 15 + 17 = 32, the tool unit (30) does not fit whole → both dropped
    local out, rep = fit(50)
    assert.same({ 2, 3, 4, 5 }, rep.dropped)
    assert.same({ history[1], history[6] }, out)
  end)

  it("fails with context_length when the newest turn alone does not fit", function()
    local out, err = fit(20)
    assert.is_nil(out)
    assert.equal("context_length", err.kind)
  end)

  it("does not modify the caller's messages", function()
    fit(50)
    assert.same({ role = "tool", tool_call_id = "c1", content = "result" }, history[5])
  end)
end)

describe("keel.context.pack", function()
  local docs = { { text = "aaaa", score = 0.9 }, { text = "bbbbbbbb", score = 0.1 }, { text = "cc", score = 0.5 },
    { text = "dddddd", score = 0.7 } }

  it("takes the most relevant docs that fit and puts the best at the edges", function()
    -- separator "\n\n" costs 2: a(4) + d(6+2) + c(2+2) = 16; b(8+2) would make 26 > 20
    local picked, rep = context.pack(docs, 20, { tokenizer = bytes })
    assert.same({ docs[1], docs[3], docs[4] }, picked) -- 1st best first, 2nd best last, 3rd in the middle
    assert.same({ 2 }, rep.dropped)
    assert.equal(16, rep.tokens)
  end)

  it("keeps the given order when asked", function()
    local picked = context.pack(docs, 20, { tokenizer = bytes, order = "given" })
    assert.same({ docs[1], docs[3], docs[4] }, picked)
  end)

  it("treats plain strings as ranked in the order given", function()
    local picked = context.pack({ "one", "two", "three", "four" }, 100, { tokenizer = bytes })
    assert.same({ "one", "three", "four", "two" }, picked)
  end)
end)

describe("keel.context.fit (summarize) against keel mock", function()
  local keel = require "keel"
  local mock = require "spec.support.mock"
  local m, client
  setup(function()
    m = mock.start()
    client = keel.client { provider = "openai", base_url = m.url .. "/v1", model = "summarizer" }
  end)
  teardown(function()
    client:close()
    m:stop()
  end)

  local history = {
    msg("system", "sys"),                      -- 12
    msg("user", ("old question "):rep(4)),     -- 3+4+52 = 59
    msg("assistant", ("old answer "):rep(4)),  -- 3+9+44 = 56
    msg("user", "newest"),                     -- 13
  }

  it("replaces the oldest turns with one summary message", function()
    local out, rep = context.fit(history, { model = "gpt-4o", window = 100, strategy = "summarize",
      summarizer = client, summary_tokens = 40, tokenizer = bytes })
    assert.same({ 2, 3 }, rep.summarized)
    assert.equal(3, #out)
    assert.equal(history[1], out[1])
    assert.equal("system", out[2].role)
    assert.matches("^Summary of the earlier conversation:\nMock reply to: user: old question", out[2].content)
    assert.equal(history[4], out[3])
    assert.truthy(rep.usage.output_tokens > 0)
    local sent = require("cjson").decode(m:requests()[1].body)
    assert.equal(40, sent.max_tokens)
    assert.matches("^Summarize the conversation", sent.messages[1].content)
  end)

  it("leaves a history under the threshold alone, without a call", function()
    m:reset()
    local out, rep = context.fit(history, { model = "gpt-4o", window = 1000, strategy = "summarize",
      summarizer = client, tokenizer = bytes })
    assert.equal(history, out)
    assert.same({}, rep.summarized)
    assert.equal(0, #m:requests())
  end)

  it("needs a summarizer", function()
    assert.has_error(function()
      context.fit(history, { model = "gpt-4o", window = 100, strategy = "summarize", tokenizer = bytes })
    end, "keel.context.fit: strategy 'summarize' needs opts.summarizer (a client or a task)")
  end)
end)

describe("keel.context with the real tokenizer", function()
  local tokens = require "keel.tokens"
  local msgs = { { role = "system", content = "You are terse." } }
  for i = 1, 12 do
    msgs[#msgs + 1] = { role = "user", content = ("Question %d: what is %d times %d?"):format(i, i, i + 1) }
    msgs[#msgs + 1] = { role = "assistant", content = ("It is %d."):format(i * (i + 1)) }
  end
  it("keeps the newest turns that fit, and its token figure is the exact count of what it kept", function()
    local total = tokens.count_messages(msgs, "gpt-4o")
    for _, window in ipairs({ total, total - 1, total - 40, 80, 60 }) do
      local kept, rep = context.fit(msgs, { model = "gpt-4o", window = window, reserve = 10 })
      assert.is_truthy(kept, window)
      assert.equal(tokens.count_messages(kept, "gpt-4o"), rep.tokens)
      assert.is_true(rep.tokens <= window - 10)
      assert.equal("system", kept[1].role)
      assert.same(msgs[#msgs], kept[#kept])
      -- the newest dropped message would not have fitted (here every message is its own unit)
      if #rep.dropped > 0 then
        local more = { kept[1], msgs[rep.dropped[#rep.dropped]] }
        for k = 2, #kept do more[#more + 1] = kept[k] end
        assert.is_true(tokens.count_messages(more, "gpt-4o") > window - 10)
      end
    end
  end)
  it("packs documents by their exact token counts", function()
    local docs = { { text = "alpha beta gamma", score = 3 }, { text = "<|endoftext|> is text here", score = 2 },
      { text = ("long "):rep(100), score = 1 } }
    local tok = require("keel.tokenizer").get("o200k_base")
    local budget = tok:count_ordinary(docs[1].text) + tok:count_ordinary("\n\n") + tok:count_ordinary(docs[2].text)
    local picked, rep = context.pack(docs, budget, { model = "gpt-4o" })
    assert.same({ docs[1], docs[2] }, picked)
    assert.equal(budget, rep.tokens)
    assert.same({ 3 }, rep.dropped)
    local _, rep2 = context.pack(docs, budget - 1, { model = "gpt-4o" })
    assert.same({ 2, 3 }, rep2.dropped)
  end)
end)

describe("keel.context edge cases (review)", function()
  it("fit refuses system messages alone over the budget", function()
    local msgs = { { role = "system", content = ("word "):rep(500) } }
    local kept, err = context.fit(msgs, { model = "gpt-4o", window = 100 })
    assert.is_nil(kept)
    assert.equal("context_length", err.kind)
    assert.matches("the system messages need more than 100 tokens", err.message)
  end)
  it("pack counts the joined text, which can be more than the parts", function()
    local tok = require("keel.tokenizer").get("o200k_base")
    local docs = { "!\r\n", "\r" }
    assert.equal(3, tok:count_ordinary(docs[1]) + tok:count_ordinary("\n\n") + tok:count_ordinary(docs[2]))
    local picked, rep = context.pack(docs, 3, { model = "gpt-4o", order = "given" })
    local joined = {}
    for k, d in ipairs(picked) do joined[k] = d end
    assert.equal(tok:count_ordinary(table.concat(joined, "\n\n")), rep.tokens)
    assert.is_true(rep.tokens <= 3)
    assert.same({ "!\r\n" }, picked)
    assert.same({ 2 }, rep.dropped)
  end)
end)
