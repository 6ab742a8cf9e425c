-- keel chat: one call from the terminal, streamed.
--
--   keel chat [--config F] [--task T | --model M] [--provider P] [--base-url U]
--             [--system S] [--max-tokens N] [--temperature X] [--no-stream] [--json] [prompt...]
--
-- The answer goes to stdout as it arrives; then one line on stderr with
-- tokens, latency and model. No prompt (or "-"): the prompt is read from
-- stdin. Without --config, $KEEL_CONFIG or ./keel.yaml are used when present;
-- without any config the provider comes from --base-url (an OpenAI-compatible
-- server) or from OPENAI_API_KEY / ANTHROPIC_API_KEY.
-- Exit status: 0 answered, 1 the call failed, 2 bad usage or config.
local keel = require "keel"

local USAGE = [[
usage: keel chat [options] [prompt...]     (no prompt or "-": read stdin)
  --config FILE       config file (default: $KEEL_CONFIG, else ./keel.yaml if present)
  --task NAME         a task from the config (model, system prompt, settings)
  --model NAME        model (default: the task's, the config's, $KEEL_MODEL, or the provider's)
  --provider NAME     openai | anthropic, or a provider name from the config
  --base-url URL      an OpenAI-compatible server (Ollama, llama.cpp, vLLM, keel mock)
  --system TEXT       system prompt
  --max-tokens N      output limit
  --temperature X     sampling temperature
  --no-stream         wait for the whole answer
  --json              print the normalized response as JSON (implies --no-stream)
]]

local DEFAULT_MODEL = { openai = "gpt-4o-mini", anthropic = "claude-3-5-haiku-latest" }

local VALUED = { config = true, task = true, model = true, provider = true, ["base-url"] = true,
  system = true, ["max-tokens"] = true, temperature = true }
local FLAGS = { ["no-stream"] = true, json = true, help = true }

local function parse(args)
  local o, words = require("keel.cli.args").parse(args, VALUED, FLAGS)
  if not o then return nil, words end
  for _, k in ipairs { "max-tokens", "temperature" } do
    if o[k] and not tonumber(o[k]) then return nil, ("--%s needs a number, got '%s'"):format(k, o[k]) end
  end
  if o.task and o.model then return nil, "give --task or --model, not both" end
  return o, words
end

local function file_exists(p)
  local f = io.open(p, "r")
  if f then f:close() return true end
end

-- The client and the call's settings, from the config or the environment.
local function setup(o)
  local path = o.config or os.getenv("KEEL_CONFIG")
  if not path and file_exists("keel.yaml") then path = "keel.yaml" end
  if path then
    local cfg = keel.config.load(path)
    local model = o.model or (o.task and cfg.tasks[o.task] and cfg.tasks[o.task].model) or cfg.defaults.model
    local pname = o.provider or (model and cfg.models[model] and cfg.models[model].provider) or cfg.defaults.provider
    if not pname then
      local n = 0
      for k in pairs(cfg.providers) do pname, n = k, n + 1 end
      if n ~= 1 then pname = nil end
    end
    if o.provider or o["base-url"] then
      if not pname or not cfg.providers[pname] then
        error(("no provider '%s' in %s"):format(tostring(pname), path), 0)
      end
      if o["base-url"] then cfg.providers[pname].base_url = o["base-url"] end
      cfg.defaults.provider = pname
    end
    return keel.client(cfg), model
  end
  if o.task then error("--task needs a config file (--config, $KEEL_CONFIG or ./keel.yaml)", 0) end
  local kind = o.provider
  if not kind then
    if o["base-url"] then kind = "openai"
    elseif os.getenv("OPENAI_API_KEY") then kind = "openai"
    elseif os.getenv("ANTHROPIC_API_KEY") then kind = "anthropic"
    else
      error("no provider: set OPENAI_API_KEY or ANTHROPIC_API_KEY, give --base-url for an " ..
        "OpenAI-compatible server, or --config", 0)
    end
  end
  local opts = { provider = kind, base_url = o["base-url"] }
  local model = o.model or os.getenv("KEEL_MODEL") or (not o["base-url"] and DEFAULT_MODEL[kind]) or nil
  if not model then error("no model: give --model (the server decides which names it knows)", 0) end
  return keel.client(opts), model
end

local function fmt_ms(ms)
  if not ms then return "?" end
  if ms >= 1000 then return ("%.2f s"):format(ms / 1000) end
  return ("%d ms"):format(math.floor(ms + 0.5))
end

local function summary(resp)
  local u = resp.usage
  local parts = {}
  local tokens = ("%d in"):format(u.input_tokens)
  if (u.cached_tokens or 0) > 0 then tokens = tokens .. (" (%d cached)"):format(u.cached_tokens) end
  tokens = tokens .. (" + %d out tokens"):format(u.output_tokens)
  if (u.reasoning_tokens or 0) > 0 then tokens = tokens .. (" (%d reasoning)"):format(u.reasoning_tokens) end
  if u.reported == false then tokens = tokens .. " (not reported by the server)" end
  parts[#parts + 1] = tokens
  local lat = fmt_ms(resp.latency_ms)
  if resp.ttft_ms then lat = lat .. (" (first token %s)"):format(fmt_ms(resp.ttft_ms)) end
  parts[#parts + 1] = lat
  parts[#parts + 1] = ("%s via %s"):format(resp.model or "?", resp.provider or "?")
  local fr = resp.finish_reason
  if fr == "length" then fr = "length: cut at max_tokens" end
  parts[#parts + 1] = fr
  return "-- " .. table.concat(parts, " · ")
end

local function without_raw(resp)
  local out = {}
  for k, v in pairs(resp) do if k ~= "raw" and k ~= "message" then out[k] = v end end
  return out
end

return function(args)
  local o, words = parse(args)
  if not o then
    io.stderr:write("keel chat: ", words, "\n", USAGE)
    return 2
  end
  if o.help then
    io.stdout:write(USAGE)
    return 0
  end
  local prompt
  if #words == 0 or (#words == 1 and words[1] == "-") then
    prompt = io.stdin:read("*a")
  else
    prompt = table.concat(words, " ")
  end
  if not prompt:find("%S") then
    io.stderr:write("keel chat: empty prompt\n")
    return 2
  end
  local ok, client, model = pcall(setup, o)
  if not ok then
    io.stderr:write("keel chat: ", tostring(client), "\n")
    return 2
  end
  local req = {
    prompt = prompt,
    system = o.system,
    max_tokens = o["max-tokens"] and math.floor(tonumber(o["max-tokens"])) or nil,
    temperature = tonumber(o.temperature),
  }
  if not o.task then req.model = model end
  local wrote_nl = true
  local streaming = not (o["no-stream"] or o.json)
  if streaming then
    req.stream = function(d)
      if d.type == "content" then
        io.stdout:write(d.content)
        io.stdout:flush()
        wrote_nl = d.content:sub(-1) == "\n"
      elseif d.type == "tool_call" and d.name then
        io.stderr:write(("\n[tool call %s]\n"):format(d.name))
      end
    end
  end
  local call_ok, resp, err = pcall(function()
    if o.task then return client:task(o.task):chat(req) end
    return client:chat(req)
  end)
  if not call_ok then
    io.stderr:write("keel chat: ", tostring(resp), "\n")
    return 2
  end
  if not resp then
    if not wrote_nl then io.stdout:write("\n") end
    io.stderr:write("keel chat: ", tostring(err), "\n")
    return 1
  end
  if o.json then
    io.stdout:write(keel.json.encode(without_raw(resp)), "\n")
  else
    if not streaming then
      io.stdout:write(resp.content)
      wrote_nl = resp.content:sub(-1) == "\n"
    end
    if resp.tool_calls and not streaming then
      for _, c in ipairs(resp.tool_calls) do io.stderr:write(("[tool call %s %s]\n"):format(c.name, c.arguments)) end
    end
    if not wrote_nl then io.stdout:write("\n") end
  end
  io.stdout:flush()
  io.stderr:write(summary(resp), "\n")
  client:close()
  return 0
end
