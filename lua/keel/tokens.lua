-- keel.tokens: counting the tokens of a chat request before sending it,
-- with the rules OpenAI documents ("How to count tokens with tiktoken"):
-- each message costs tokens_per_message (3; gpt-3.5-turbo-0301: 4) plus its
-- string values, a name costs tokens_per_name (1; 0301: -1, the role is
-- then omitted), every reply is primed with 3, and tool definitions are
-- counted as the cookbook's num_tokens_for_tools does.
--
-- Exact for OpenAI models when the provider's rules are the documented ones;
-- `estimated = true` when they cannot be: Anthropic models (their tokenizer
-- is not public: counted with cl100k_base), images, and tool calls inside
-- messages (the cookbook gives no rule for them).
local models = require "keel.tokenizer.models"

local M = {}
local EMPTY = {}
local tokenizer

-- Tool-definition constants from the cookbook: gpt-4o-class models and the
-- older gpt-3.5-turbo / gpt-4.
local TOOLS_O200K = { func_init = 7, prop_init = 3, prop_key = 3, enum_init = -3, enum_item = 3, func_end = 12 }
local TOOLS_CL100K = { func_init = 10, prop_init = 3, prop_key = 3, enum_init = -3, enum_item = 3, func_end = 12 }

--- rules(model) -> {encoding, per_message, per_name, tools, estimated}
local function rules(model)
  if type(model) ~= "string" then error("keel.tokens: model name expected", 2) end
  if model:find("^claude") or model:find("^anthropic") then
    return { encoding = "cl100k_base", per_message = 3, per_name = 1, tools = TOOLS_CL100K, estimated = true }
  end
  local enc, err = models.encoding_for(model)
  if not enc then error(err, 2) end
  if model == "gpt-3.5-turbo-0301" then
    return { encoding = enc, per_message = 4, per_name = -1, tools = TOOLS_CL100K }
  end
  local tools = (enc == "o200k_base" or enc == "o200k_harmony") and TOOLS_O200K or TOOLS_CL100K
  return { encoding = enc, per_message = 3, per_name = 1, tools = tools }
end

-- Rules are looked up once per model name (a bounded memo: counting is on
-- the hot path of every budgeted call); the tables returned are shared, so
-- treat them as read-only.
local memo, nmemo = {}, 0
function M.rules(model)
  local r = memo[model]
  if r then return r end
  r = rules(model)
  if nmemo >= 1024 then memo, nmemo = {}, 0 end
  memo[model], nmemo = r, nmemo + 1
  return r
end

local function strip_dot(s)
  s = s or ""
  if s:sub(-1) == "." then return s:sub(1, -2) end
  return s
end

--- count_tools(tools, count, rules) -> n: the cookbook's num_tokens_for_tools.
function M.count_tools(tools, count, r)
  if not tools or #tools == 0 then return 0 end
  local c, n = r.tools, 0
  for i = 1, #tools do
    local t = tools[i]
    local f = type(t["function"]) == "table" and t["function"] or t
    n = n + c.func_init + count((f.name or "") .. ":" .. strip_dot(f.description))
    local params = f.parameters or f.input_schema
    local props = type(params) == "table" and params.properties
    if type(props) == "table" and next(props) ~= nil then
      n = n + c.prop_init
      local keys = {}
      for k in pairs(props) do keys[#keys + 1] = k end
      table.sort(keys) -- order does not change the sum; sorting keeps runs identical
      for _, key in ipairs(keys) do
        local p = props[key]
        n = n + c.prop_key
        if type(p.enum) == "table" then
          n = n + c.enum_init
          for _, item in ipairs(p.enum) do n = n + c.enum_item + count(tostring(item)) end
        end
        n = n + count(("%s:%s:%s"):format(key, tostring(p.type), strip_dot(p.description)))
      end
    end
  end
  return n + c.func_end
end

--- count_messages(messages, model [, opts]) -> n, info {estimated, encoding}
--- opts.tools: tool definitions sent with the messages; opts.tokenizer: a
--- tokenizer with :count(s) (default: keel.tokenizer.for_model's).
function M.count_messages(messages, model, opts)
  if type(messages) ~= "table" then error("keel.tokens.count_messages: messages table expected", 2) end
  opts = opts or EMPTY
  local r = M.rules(model)
  local tok = opts.tokenizer
  if not tok then
    tokenizer = tokenizer or require "keel.tokenizer" -- loaded late: tokenizer-free callers never load it
    tok = tokenizer.get(r.encoding)
  end
  -- Message text is text: "<|endoftext|>" typed by a user is not the special
  -- token (and must not make counting raise), so count it as ordinary text.
  local cf = tok.count_ordinary or tok.count
  local estimated = r.estimated or false
  local per_message, per_name = r.per_message, r.per_name
  local n = 0
  for i = 1, #messages do
    local m = messages[i]
    n = n + per_message
    for k, v in pairs(m) do
      if type(v) == "string" then
        n = n + cf(tok, v)
        if k == "name" then n = n + per_name end
      elseif k == "content" and type(v) == "table" then
        for _, part in ipairs(v) do
          if type(part.text) == "string" then n = n + cf(tok, part.text) else estimated = true end
        end
      elseif k == "tool_calls" and type(v) == "table" then
        estimated = true
        for _, c in ipairs(v) do
          local f = type(c["function"]) == "table" and c["function"] or c
          n = n + cf(tok, f.name or "") + cf(tok, f.arguments or "")
        end
      end
    end
  end
  n = n + 3 -- every reply is primed with <|start|>assistant<|message|>
  local tools = opts.tools
  if tools and #tools > 0 then
    n = n + M.count_tools(tools, function(s) return cf(tok, s) end, r)
  end
  return n, { estimated = estimated, encoding = r.encoding }
end

return M
