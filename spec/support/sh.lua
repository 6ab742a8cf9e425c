-- Running commands from specs: exit codes, captured output, background
-- processes that are always reaped.
local M = {}

function M.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- keel binary under test (bin/keel, or the ASan build in that suite).
M.keel = os.getenv("KEEL_BIN") or "bin/keel"

function M.tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

--- run(cmd [, stdin]) -> exit code, stdout, stderr
function M.run(cmd, stdin)
  local out, err = M.tmpname(), M.tmpname()
  local inp
  if stdin then
    inp = M.tmpname()
    local f = assert(io.open(inp, "wb")); f:write(stdin); f:close()
  end
  local full = ("(%s) <%s >%s 2>%s; echo $?"):format(cmd, inp and M.q(inp) or "/dev/null", M.q(out), M.q(err))
  local p = assert(io.popen(full, "r"))
  local rc = tonumber(p:read("*a"):match("(%d+)%s*$"))
  p:close()
  local function slurp(f)
    local h = io.open(f, "rb"); local s = h and h:read("*a") or ""; if h then h:close() end
    os.remove(f); return s
  end
  if inp then os.remove(inp) end
  return rc, slurp(out), slurp(err)
end

function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a"); f:close(); return s
end

function M.write(path, s)
  local f = assert(io.open(path, "wb")); f:write(s); f:close()
end

--- spawn(cmd) -> {pid, out (path)}: runs cmd in the background, output to a file.
function M.spawn(cmd)
  local out = M.tmpname()
  local p = assert(io.popen(("(%s) >%s 2>&1 </dev/null & echo $!"):format(cmd, M.q(out)), "r"))
  local pid = tonumber(p:read("*l")); p:close()
  return { pid = pid, out = out }
end

--- os.execute's success as a boolean on Lua 5.1/LuaJIT (a number) and 5.4.
function M.ok(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

function M.alive(pid)
  return M.ok("kill -0 " .. pid .. " 2>/dev/null")
end

function M.kill(proc, sig)
  os.execute(("kill -%s %d 2>/dev/null; sleep 0.05; kill -9 %d 2>/dev/null"):format(sig or "TERM", proc.pid, proc.pid))
end

--- wait_for(fn, timeout): polls fn until it returns truthy (then returns
--- that) or timeout seconds pass (then returns nil).
function M.wait_for(fn, timeout)
  local deadline = os.time() + (timeout or 5) + 1
  local clock = os.clock
  repeat
    local v = fn()
    if v then return v end
    local t0 = clock()
    os.execute("sleep 0.05")
    local _ = t0
  until os.time() > deadline
  return nil
end

return M
