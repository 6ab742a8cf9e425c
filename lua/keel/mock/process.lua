-- keel.mock.process: runs `keel mock` as a child process and talks to its
-- control endpoints (see docs/mock.md) — for test suites, and for the
-- quickstart when no API key is set.
--
--   local mock = require "keel.mock.process"
--   local m = mock.start{ scenario = "spec/support/scenarios/fail_twice.lua" }
--   ... keel.http.request{ url = m.url .. "/v1/chat/completions", json = ... }
--   m:reset(); ...; assert.equal(1, m:stats().connections)
--   m:stop()
--
-- The binary is opts.bin, else $KEEL_BIN, else the keel interpreter running
-- this script, else `keel` from PATH. It is started with --exit-with-parent,
-- so it goes away with the test runner even if a spec forgets m:stop().
local http = require "keel.http"
local cjson = require "cjson"

local M = {}

local Mock = {}
Mock.__index = Mock

local function quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- interpreter() -> the path of the running keel interpreter, or nil when
--- this Lua is another host (lua5.4, luajit, busted).
function M.interpreter()
  local a = rawget(_G, "arg")
  local exe = type(a) == "table" and a[-1]
  if type(exe) == "string" and exe:match("keel$") then return exe end
end

--- start{ scenario = path, port = 0, quiet = true, stderr = path, bin = path,
---        args = {extra arguments} } -> mock {url, port, pid}
--- Raises with the mock's output when it does not come up.
function M.start(opts)
  opts = opts or {}
  local bin = opts.bin or os.getenv("KEEL_BIN") or M.interpreter() or "keel"
  local argv = { "exec", quote(bin), "mock", "--port", tostring(opts.port or 0), "--exit-with-parent" }
  if opts.scenario then argv[#argv + 1] = "--scenario " .. quote(opts.scenario) end
  if opts.quiet ~= false then argv[#argv + 1] = "--quiet" end
  for _, a in ipairs(opts.args or {}) do argv[#argv + 1] = quote(a) end
  if opts.stderr then argv[#argv + 1] = "2>" .. quote(opts.stderr) end
  -- The shell prints its pid and then becomes the mock (exec keeps the pid):
  -- that is the process to signal, and our own process is its parent.
  local f = assert(io.popen("echo $$; " .. table.concat(argv, " "), "r"))
  local pid = tonumber(f:read("*l"))
  local line = f:read("*l")
  local port = line and line:match("^keel mock listening on http://127%.0%.0%.1:(%d+)$")
  if not (pid and port) then
    local rest = f:read("*a") or ""
    f:close()
    error(("keel mock did not start: %s%s"):format(tostring(line), rest ~= "" and ("\n" .. rest) or ""), 2)
  end
  return setmetatable({
    pid = pid,
    pipe = f,
    port = tonumber(port),
    url = "http://127.0.0.1:" .. port,
    ctl = http.client { timeout = 10 },
  }, Mock)
end

function Mock:control(method, path)
  if not self.pipe then error("keel mock: already stopped", 3) end
  local resp, err = self.ctl:request { url = self.url .. path, method = method }
  if not resp then error("keel mock: control request failed: " .. tostring(err), 3) end
  if resp.status ~= 200 then
    error(("keel mock: %s %s -> %d: %s"):format(method, path, resp.status, resp.body), 3)
  end
  return cjson.decode(resp.body)
end

--- stats() -> {connections, requests, open_connections} since the last reset
function Mock:stats() return self:control("GET", "/_mock/stats") end

--- requests() -> array of {method, path, query, headers, body, n} since the last reset
function Mock:requests() return self:control("GET", "/_mock/requests") end

--- reset(): clears recorded requests, counters and the scenario's state.
--- The control client's connection stays open, so connections counted
--- afterwards are the ones the spec makes.
function Mock:reset()
  self:control("POST", "/_mock/reset")
  return self
end

local function state_of(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return nil end
  local s = f:read("*l")
  f:close()
  return s and s:match("^%d+ %b() (%a)")
end
M.state_of = state_of

--- stop(): SIGTERM, wait for the exit (SIGKILL after 5 s), reap. Idempotent.
function Mock:stop()
  if not self.pipe then return end
  if self.ctl then
    self.ctl:close()
    self.ctl = nil
  end
  os.execute(("kill -TERM %d 2>/dev/null"):format(self.pid))
  -- A zombie (exited, not yet reaped by pclose) counts as gone.
  local waited = 0
  while true do
    local st = state_of(self.pid)
    if st == nil or st == "Z" then break end
    if waited >= 5 then
      os.execute(("kill -KILL %d 2>/dev/null"):format(self.pid))
      break
    end
    os.execute("sleep 0.02")
    waited = waited + 0.02
  end
  self.pipe:read("*a")
  self.pipe:close() -- reaps it: no zombie left behind
  self.pipe = nil
end
Mock.__close = Mock.stop
Mock.__gc = Mock.stop

return M
