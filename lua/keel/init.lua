-- keel: production-grade LLM calls from Lua.
--
--   local keel = require "keel"
--   local resp, err = keel.http.request{ url = ..., json = {...} }
--   local a, b = keel.gather(function() ... end, function() ... end)
--
-- The table is local: requiring keel adds nothing to _G.
local core = require "keel.core"
local sched = require "keel.sched"

local keel = {
  version = "0.1.0",
  core = core,
  error = require "keel.error",
  http = require "keel.http",
  json = require "keel.json",
  client = require("keel.client").new,
  config = require "keel.config",
  tokenizer = require "keel.tokenizer",
  schema = require "keel.schema",
  tokens = require "keel.tokens",
  context = require "keel.context",
  now = core.now,
  spawn = sched.spawn,
  gather = sched.gather,
  sleep = sched.sleep,
  run = sched.run,
  watch = require("keel.watch").watch,
}

return keel
