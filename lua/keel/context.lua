-- keel.context: making a request fit its model's window before it is sent.
--
--   local msgs, report = context.fit(messages, { model = "gpt-4o", window = 128000, reserve = 1000 })
--   local picked, report = context.pack(docs, 3000, { model = "gpt-4o", order = "edges" })
--
-- Counts are keel.tokens' (exact for OpenAI models); a tokenizer with
-- :count(s) may be given instead (opts.tokenizer).
local tokens = require "keel.tokens"
local kerror = require "keel.error"

local M = {}

local function is_system(m) return m.role == "system" or m.role == "developer" end

-- Turns that must stay together: an assistant message that calls tools and
-- the tool results answering it.
local function units_of(messages)
  local units, i = {}, 1
  while i <= #messages do
    local m = messages[i]
    local u = { first = i, last = i }
    if m.role == "assistant" and type(m.tool_calls) == "table" and #m.tool_calls > 0 then
      while messages[u.last + 1] and messages[u.last + 1].role == "tool" do u.last = u.last + 1 end
    end
    units[#units + 1] = u
    i = u.last + 1
  end
  return units
end

local count = tokens.count_messages

--- fit(messages, {model=, window=, reserve=, strategy="sliding", tools=, tokenizer=})
--- -> kept messages, report {tokens, budget, dropped = {indexes}, estimated}
--- | nil, err (context_length: the system messages and the newest turn alone
--- do not fit). System messages always stay; then the newest turns that fit,
--- whole (a tool call never loses its results).
function M.fit(messages, opts)
  if type(messages) ~= "table" then error("keel.context.fit: messages table expected", 2) end
  opts = opts or {}
  if type(opts.model) ~= "string" then error("keel.context.fit: opts.model expected", 2) end
  if type(opts.window) ~= "number" then error("keel.context.fit: opts.window (the model's context window) expected", 2) end
  local strategy = opts.strategy or "sliding"
  if strategy ~= "sliding" and strategy ~= "summarize" then
    error(("keel.context.fit: unknown strategy '%s'"):format(tostring(strategy)), 2)
  end
  if strategy == "summarize" then return M.summarize(messages, opts) end
  local budget = opts.window - (opts.reserve or 0)
  local copts = { tokenizer = opts.tokenizer, tools = opts.tools }
  local total, info = count(messages, opts.model, copts)
  if total <= budget then
    return messages, { tokens = total, budget = budget, dropped = {}, estimated = info.estimated }
  end
  -- What the system messages, the tools and the priming cost, then each
  -- unit on top. Counts add up per message, so `used` ends as the count of
  -- what is kept.
  local keep, systems, nonsys, seq = {}, {}, {}, {}
  for i, m in ipairs(messages) do
    if is_system(m) then
      keep[i] = true
      systems[#systems + 1] = m
    else
      nonsys[#nonsys + 1] = i
      seq[#seq + 1] = m
    end
  end
  local used = count(systems, opts.model, copts)
  local units = units_of(seq)
  local kept_units = 0
  for u = #units, 1, -1 do
    local part = {}
    for k = units[u].first, units[u].last do part[#part + 1] = seq[k] end
    local c = count(part, opts.model, { tokenizer = opts.tokenizer }) - 3 -- priming is counted once
    if used + c > budget then break end
    used = used + c
    kept_units = kept_units + 1
    for k = units[u].first, units[u].last do keep[nonsys[k]] = true end
  end
  if used > budget or (kept_units == 0 and #units > 0) then
    local what = #units > 0 and "the system messages and the newest turn" or "the system messages"
    return nil, kerror.new("context_length", ("%s need more than %d tokens (window %d - reserve %d)")
      :format(what, budget, opts.window, opts.reserve or 0), { budget = budget })
  end
  local out, dropped = {}, {}
  for i, m in ipairs(messages) do
    if keep[i] then out[#out + 1] = m else dropped[#dropped + 1] = i end
  end
  return out, { tokens = used, budget = budget, dropped = dropped, estimated = info.estimated }
end

local SUMMARY_PROMPT = "Summarize the conversation below for whoever continues it: keep facts, names, " ..
  "numbers, decisions and open questions; no preamble."

-- The transcript the summarizer reads: one "role: text" block per message.
local function transcript(list)
  local out = {}
  for _, m in ipairs(list) do
    local text = m.content
    if type(text) == "table" then
      local parts = {}
      for _, p in ipairs(text) do if type(p.text) == "string" then parts[#parts + 1] = p.text end end
      text = table.concat(parts, " ")
    end
    local calls = {}
    for _, c in ipairs(type(m.tool_calls) == "table" and m.tool_calls or {}) do
      local f = type(c["function"]) == "table" and c["function"] or c
      calls[#calls + 1] = ("%s(%s)"):format(tostring(f.name), tostring(f.arguments or ""))
    end
    if #calls > 0 then text = (text or "") .. " [called " .. table.concat(calls, ", ") .. "]" end
    out[#out + 1] = ("%s: %s"):format(m.role, text or "")
  end
  return table.concat(out, "\n\n")
end

--- summarize(messages, opts): fit's strategy "summarize". Over the
--- threshold (opts.threshold tokens, default the budget), the oldest turns
--- that do not fit beside a summary of opts.summary_tokens (default 500) are
--- replaced by one system message holding their summary, written by
--- opts.summarizer (a client or a task: anything with :chat). The report adds
--- summarized = {indexes}, summary = text, usage = the summary call's usage.
function M.summarize(messages, opts)
  local summarizer = opts.summarizer
  if type(summarizer) ~= "table" or not summarizer.chat then
    error("keel.context.fit: strategy 'summarize' needs opts.summarizer (a client or a task)", 3)
  end
  local budget = opts.window - (opts.reserve or 0)
  local copts = { tokenizer = opts.tokenizer, tools = opts.tools }
  local total, info = count(messages, opts.model, copts)
  if total <= (opts.threshold or budget) then
    return messages, { tokens = total, budget = budget, dropped = {}, summarized = {}, estimated = info.estimated }
  end
  local room = opts.summary_tokens or 500
  local kept, rep = M.fit(messages, { model = opts.model, window = opts.window, reserve = (opts.reserve or 0) + room,
    tokenizer = opts.tokenizer, tools = opts.tools })
  if not kept then return nil, rep end
  if #rep.dropped == 0 then return kept, rep end
  local old = {}
  for _, i in ipairs(rep.dropped) do old[#old + 1] = messages[i] end
  local resp, err = summarizer:chat { system = SUMMARY_PROMPT, prompt = transcript(old), max_tokens = room }
  if not resp then return nil, err end
  local summary = { role = "system", content = "Summary of the earlier conversation:\n" .. resp.content }
  local out, placed = {}, false
  for _, m in ipairs(kept) do
    if not placed and not is_system(m) then
      out[#out + 1] = summary
      placed = true
    end
    out[#out + 1] = m
  end
  if not placed then out[#out + 1] = summary end
  return out, { tokens = count(out, opts.model, copts), budget = budget, dropped = {}, summarized = rep.dropped,
    summary = resp.content, usage = resp.usage, estimated = info.estimated }
end

--- pack(docs, budget, {model=, order="edges"|"given", tokenizer=, separator=})
--- docs: strings or {text=, score=} (higher score = more relevant; strings
--- keep their given order as relevance). Takes the most relevant documents
--- that fit the budget; order "edges" places the most relevant first and
--- last and the least relevant in the middle, where models attend least.
--- -> picked (list of the doc values), report {tokens, budget, dropped = {indexes}}
--- report.tokens counts the picked texts joined by the separator, as sent
--- (tokens do not add up exactly across a join).
function M.pack(docs, budget, opts)
  if type(docs) ~= "table" then error("keel.context.pack: docs table expected", 2) end
  if type(budget) ~= "number" then error("keel.context.pack: budget (tokens) expected", 2) end
  opts = opts or {}
  local tok = opts.tokenizer
  if not tok then
    if type(opts.model) ~= "string" then error("keel.context.pack: opts.model or opts.tokenizer expected", 2) end
    tok = require("keel.tokenizer").for_model(opts.model)
  end
  local order = opts.order or "edges"
  if order ~= "edges" and order ~= "given" then
    error(("keel.context.pack: unknown order '%s'"):format(tostring(order)), 2)
  end
  local sep = opts.separator or "\n\n"
  local cf = tok.count_ordinary or tok.count -- documents are text, "<|endoftext|>" included
  local sep_cost = cf(tok, sep)
  local ranked = {}
  for i, d in ipairs(docs) do
    local text = type(d) == "table" and d.text or d
    if type(text) ~= "string" then error(("keel.context.pack: docs[%d] has no text"):format(i), 2) end
    ranked[#ranked + 1] = { i = i, doc = d, text = text, score = type(d) == "table" and d.score or -i }
  end
  table.sort(ranked, function(a, b) if a.score ~= b.score then return a.score > b.score end return a.i < b.i end)
  local used, chosen, taken = 0, {}, {}
  for _, r in ipairs(ranked) do
    local c = cf(tok, r.text) + (#chosen > 0 and sep_cost or 0)
    if used + c <= budget then
      used = used + c
      chosen[#chosen + 1] = r
      taken[r.i] = true
    end
  end
  local function arrange()
    local picked = {}
    if order == "given" then
      local byi = {}
      for k, r in ipairs(chosen) do byi[k] = r end
      table.sort(byi, function(a, b) return a.i < b.i end)
      for k, r in ipairs(byi) do picked[k] = r end
    else
      -- Most relevant at the front, next at the back, alternating inwards.
      local front, back = {}, {}
      for k, r in ipairs(chosen) do
        if k % 2 == 1 then front[#front + 1] = r else table.insert(back, 1, r) end
      end
      for _, r in ipairs(front) do picked[#picked + 1] = r end
      for _, r in ipairs(back) do picked[#picked + 1] = r end
    end
    return picked
  end
  -- Tokens do not add up exactly across a join (BPE can merge a document's
  -- last bytes with the separator), so count the joined text as it will be
  -- sent, and drop the least relevant document while it is over budget.
  local picked, texts
  while true do
    picked, texts = arrange(), {}
    for k, r in ipairs(picked) do texts[k] = r.text end
    used = #texts > 0 and cf(tok, table.concat(texts, sep)) or 0
    if used <= budget or #chosen == 0 then break end
    taken[chosen[#chosen].i] = nil
    chosen[#chosen] = nil
  end
  for k, r in ipairs(picked) do picked[k] = r.doc end
  local dropped = {}
  for i = 1, #docs do if not taken[i] then dropped[#dropped + 1] = i end end
  return picked, { tokens = used, budget = budget, dropped = dropped }
end

return M
