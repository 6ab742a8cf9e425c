-- keel tokens: count, encode and decode with tiktoken's encodings.
--
--   keel tokens count|encode|decode [--encoding E | --model M] [--allowed-special all|LIST]
--                                  [--chat] [FILE|-]
--
-- count prints the number of tokens; encode prints a JSON array of ids;
-- decode reads a JSON array of ids and writes the bytes they stand for. The
-- input is FILE, or stdin when there is none (or "-"). Text is encoded as
-- text: "<|endoftext|>" in a file is seven ordinary tokens unless
-- --allowed-special names it (or says all). count --chat reads a JSON array
-- of chat messages and counts them as the API will (keel.tokens; needs a
-- model). Exit status: 0 done, 1 bad input, 2 bad usage.
local json = require "keel.json"
local tokenizer = require "keel.tokenizer"

local USAGE = [[
usage: keel tokens count|encode|decode [options] [FILE|-]     (no FILE or "-": stdin)
  --encoding NAME        gpt2 r50k_base p50k_base p50k_edit cl100k_base o200k_base o200k_harmony
                         (default o200k_base)
  --model NAME           the model's encoding instead (gpt-4o, gpt-4.1-mini, gpt-3.5-turbo, ...)
  --allowed-special SET  "all" or a comma-separated list: those special-token texts become
                         special tokens (default: none, every text is text)
  --chat                 count: the input is a JSON array of chat messages (needs --model)
]]

local VALUED = { encoding = true, model = true, ["allowed-special"] = true }
local FLAGS = { chat = true, help = true }

local function parse(args) return require("keel.cli.args").parse(args, VALUED, FLAGS) end

local function read_input(path)
  if not path or path == "-" then return io.stdin:read("a") end
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("a")
  f:close()
  return s
end

local function fail(code, msg)
  io.stderr:write("keel tokens: ", msg, "\n")
  return code
end

return function(args)
  local o, words = parse(args)
  if not o then return fail(2, words .. "\n" .. USAGE) end
  if o.help then
    io.stdout:write(USAGE)
    return 0
  end
  local cmd = words[1]
  if cmd ~= "count" and cmd ~= "encode" and cmd ~= "decode" then
    return fail(2, (cmd and ("unknown command '%s'"):format(cmd) or "command expected") .. "\n" .. USAGE)
  end
  if #words > 2 then return fail(2, "one input file at most\n" .. USAGE) end
  if o.encoding and o.model then return fail(2, "give --encoding or --model, not both") end
  if o.chat and (cmd ~= "count" or not o.model) then return fail(2, "--chat goes with count and --model") end
  local ok, tok = pcall(function()
    if o.chat then return (require("keel.tokens").rules(o.model)) end -- count_messages picks the tokenizer
    if o.model then return (tokenizer.for_model(o.model)) end
    return tokenizer.get(o.encoding or "o200k_base")
  end)
  if not ok then
    -- a name we do not know is bad usage; a vocabulary we cannot load is not
    local msg = tostring(tok):gsub("^.-keel%.tokenizer: ", "")
    local usage = msg:find("unknown encoding", 1, true) or msg:find("no encoding known", 1, true)
    return fail(usage and 2 or 1, msg)
  end
  local opts
  if o["allowed-special"] then
    local v = o["allowed-special"]
    local list = {}
    if v == "all" then list = "all" else for name in v:gmatch("[^,]+") do list[#list + 1] = name end end
    opts = { allowed_special = list, disallowed_special = {} }
  end
  local input, err = read_input(words[2])
  if not input then return fail(1, err) end

  local run_ok, res = pcall(function()
    if cmd == "decode" then
      local ids, derr = json.decode(input)
      if type(ids) ~= "table" or getmetatable(ids) ~= json.array_mt then
        error({ msg = "decode: a JSON array of token ids expected" .. (derr and (": " .. derr) or "") })
      end
      return tok:decode(ids)
    elseif o.chat then
      local msgs, derr = json.decode(input)
      if type(msgs) ~= "table" or getmetatable(msgs) ~= json.array_mt then
        error({ msg = "--chat: a JSON array of messages expected" .. (derr and (": " .. derr) or "") })
      end
      for i, m in ipairs(msgs) do
        if type(m) ~= "table" or getmetatable(m) == json.array_mt or type(m.role) ~= "string" then
          error({ msg = ("--chat: message %d is not an object with a role"):format(i) })
        end
      end
      local n, info = require("keel.tokens").count_messages(msgs, o.model)
      return n .. (info.estimated and " (estimated)" or "") .. "\n"
    elseif cmd == "count" then
      return (opts and tok:count(input, opts) or tok:count_ordinary(input)) .. "\n"
    else
      return json.encode(json.array(opts and tok:encode(input, opts) or tok:encode_ordinary(input))) .. "\n"
    end
  end)
  if not run_ok then
    local msg = type(res) == "table" and res.msg or (tostring(res):gsub("^.-keel%.tokenizer: ", ""))
    return fail(1, msg)
  end
  io.stdout:write(res)
  return 0
end
