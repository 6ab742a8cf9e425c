-- keel.watch(paths, fn): tell a long-running script that files changed, so
-- it can reload its rules or config in place. fn(path) runs in its own task
-- once per changed path, after a short quiet period (editors write a file in
-- several steps). Directories report changes to their direct entries.
local core = require "keel.core"
local sched = require "keel.sched"

local M = {}

local Watch = {}
Watch.__index = Watch
Watch.__name = "keel.watch"

function Watch:close()
  if self.w then
    sched.unhandle(self.w)
    self.w:close()
    self.w = nil
  end
end
Watch.__close = Watch.close

function Watch:__tostring()
  return self.w and tostring(self.w) or "keel.watch (closed)"
end

function M.watch(paths, fn, opts)
  if type(paths) == "string" then paths = { paths } end
  if type(paths) ~= "table" or #paths == 0 then error("keel.watch: path or list of paths expected", 2) end
  if type(fn) ~= "function" then error("keel.watch: callback function expected", 2) end
  local debounce = opts and opts.debounce or 0.05
  local w, err = core.watch.new()
  if not w then return nil, "keel.watch: " .. tostring(err) end -- OS limit (inotify instances)
  for _, p in ipairs(paths) do
    local ok, err = w:add(p)
    if not ok then
      w:close()
      error("keel.watch: " .. tostring(err), 2)
    end
  end
  local pending, order, armed = {}, {}, false
  sched.handle(w, function()
    for _, p in ipairs(w:read()) do
      if not pending[p] then
        pending[p] = true
        order[#order + 1] = p
      end
    end
    if armed or #order == 0 then return end
    armed = true
    sched.spawn(function()
      sched.sleep(debounce)
      local list = order
      pending, order, armed = {}, {}, false
      for _, p in ipairs(list) do fn(p) end
    end)
  end)
  return setmetatable({ w = w }, Watch)
end

return M
