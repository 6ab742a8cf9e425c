-- spec.support.mock: keel.mock.process, with the repo's bin/keel by default
-- (specs run from the repo root; $KEEL_BIN overrides, as for the ASan run).
local process = require "keel.mock.process"

local M = setmetatable({}, { __index = process })

function M.start(opts)
  opts = opts or {}
  if not opts.bin and not os.getenv("KEEL_BIN") then
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.bin = "bin/keel"
    opts = o
  end
  return process.start(opts)
end

return M
