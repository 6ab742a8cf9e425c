-- The scheduler: coroutines over the C loop, so many requests overlap in one
-- thread. Inside a task, a blocking keel call yields to the scheduler; in
-- plain code (the main chunk, or a coroutine that is not a task) the same
-- call drives the loop itself until its own work is done, running the other
-- tasks meanwhile. Either way the caller sees a synchronous call.
local core = require "keel.core"
local kerror = require "keel.error"

local poll, now = core.http.poll, core.now
local co_create, co_resume, co_status, co_running, co_yield =
  coroutine.create, coroutine.resume, coroutine.status, coroutine.running, coroutine.yield
local unpack = table.unpack or unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end

local M = {}

local WAIT = {}     -- what a task yields when it waits on the scheduler
local CANCEL = {}   -- what a cancelled task is resumed with
local PLAIN = {}    -- waiting[obj] when plain code (not a task) waits for obj

local tasks_by_co = setmetatable({}, { __mode = "k" })
local runq, runq_n = {}, 0 -- tasks to resume at the next step
local spare = {}     -- the other run queue table, reused
local sleepers = {}  -- binary heap of {at, seq, task|waiter}
local sleep_seq = 0
local waiting = {}   -- polled object -> waiting task, PLAIN, or handler function
local polled = {}    -- scratch array filled by poll()
local live = 0       -- tasks not finished
local ntimers = 0    -- timers not fired nor cancelled
local plain_woken = false -- a waiter in plain code became done: don't block

local Task = {}
Task.__index = Task
Task.__name = "keel.task"

function Task:__tostring()
  return ("keel.task (%s)"):format(self.state)
end

local function push_run(task, ...)
  if task.queued then return end
  task.queued = true
  task.resume_n = select("#", ...)
  task.resume_args = task.resume_n > 0 and { ... } or nil
  runq_n = runq_n + 1
  runq[runq_n] = task
end

-- ---- timers ------------------------------------------------------------------

local function heap_push(item)
  local h = sleepers
  h[#h + 1] = item
  local i = #h
  while i > 1 do
    local p = (i - i % 2) / 2
    local a, b = h[p], h[i]
    if a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) then break end
    h[p], h[i] = b, a
    i = p
  end
end

local function heap_pop()
  local h = sleepers
  local top, n = h[1], #h
  h[1] = h[n]
  h[n] = nil
  n = n - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= n and (h[l][1] < h[m][1] or (h[l][1] == h[m][1] and h[l][2] < h[m][2])) then m = l end
    if r <= n and (h[r][1] < h[m][1] or (h[r][1] == h[m][1] and h[r][2] < h[m][2])) then m = r end
    if m == i then break end
    h[i], h[m] = h[m], h[i]
    i = m
  end
  return top
end

local function add_timer(at, who)
  sleep_seq = sleep_seq + 1
  local item = { at, sleep_seq, who }
  heap_push(item)
  ntimers = ntimers + 1
  return item
end

local function cancel_timer(item)
  local w = item[3]
  if not w.cancelled and not w.fired then
    w.cancelled = true
    ntimers = ntimers - 1
  end
end

-- Drops cancelled timers from the top so they never decide a wait.
local function top_timer()
  local top = sleepers[1]
  while top and top[3].cancelled do
    heap_pop()
    top = sleepers[1]
  end
  return top
end

local function wake(w)
  w.done = true
  if w.task then push_run(w.task) else plain_woken = true end
end

-- ---- running tasks -----------------------------------------------------------------

-- The error value stays as raised (callers compare messages); the traceback
-- of where it was raised is kept beside it for reports.
local function capture(err)
  return { err = err, tb = type(err) == "table" and nil or debug.traceback(tostring(err), 2) }
end

local function finish(task, ok, ...)
  live = live - 1
  task.state = ok and "done" or (task.cancelled and "cancelled" or "failed")
  if ok then
    task.results = pack(...)
  else
    local e = ...
    if type(e) == "table" and e.err ~= nil and getmetatable(e) == nil then
      task.err, task.traceback = e.err, e.tb
    else
      task.err = e
    end
  end
  local joiners = task.joiners
  task.joiners = nil
  if joiners then
    for i = 1, #joiners do wake(joiners[i]) end
  elseif not ok and not task.cancelled then
    -- Nobody is waiting for this task yet: say so now rather than lose it.
    task.reported = true
    io.stderr:write("keel: error in task ", tostring(task), ": ",
      task.traceback or tostring(task.err), "\n")
  end
end

-- What co_resume returned, passed as varargs: no table per resume.
local function resumed(task, ok, ...)
  if co_status(task.co) == "dead" then
    if ok then
      finish(task, ...) -- xpcall's status, then the function's values
    else
      finish(task, false, (...))
    end
  else
    task.state = "waiting"
    if (...) ~= WAIT then
      -- A plain coroutine.yield() inside a task: let the others run.
      push_run(task)
    end
  end
end

local function run_task(task)
  task.queued = false
  local co = task.co
  if co_status(co) ~= "suspended" then return end
  task.state = "running"
  local n = task.resume_n or 0
  if n == 0 then
    return resumed(task, co_resume(co))
  end
  local args = task.resume_args
  task.resume_args = nil
  return resumed(task, co_resume(co, unpack(args, 1, n)))
end

--- Runs one scheduler step: ready tasks, then one poll of the loop for at
--- most `max_wait` seconds (nil: until the loop's or a timer's next deadline).
function M.step(max_wait)
  plain_woken = false
  -- Tasks made ready while running these wait for the next step, so a task
  -- that keeps yielding can't starve the poll.
  -- Take this step's batch out of the queue first: a task may drive the loop
  -- itself (plain code in a coroutine that is not a task) and so re-enter.
  if runq_n > 0 then
    local batch, last = runq, runq_n
    runq, runq_n = spare or {}, 0
    spare = nil
    for i = 1, last do
      local task = batch[i]
      batch[i] = nil
      run_task(task)
    end
    if not spare then spare = batch end
  end

  local wait = max_wait -- nil: no cap
  if runq_n > 0 or plain_woken then
    wait = 0
  elseif sleepers[1] then
    local top = top_timer()
    if top then
      local d = top[1] - now()
      if d < 0 then d = 0 end
      if wait == nil or d < wait then wait = d end
    end
  end
  local n = poll(wait, polled)
  if not n then return false end -- no timer, no fd, no deadline: nothing can happen
  for i = 1, n do
    local obj = polled[i]
    polled[i] = nil
    local w = waiting[obj]
    if w ~= nil then
      if w == PLAIN then
        waiting[obj] = nil
        plain_woken = true
      elseif type(w) == "function" then
        w(obj)
      else
        waiting[obj] = nil
        push_run(w)
      end
    end
  end
  if sleepers[1] then
    local t = now()
    while sleepers[1] and sleepers[1][1] <= t do
      local item = heap_pop()
      local w = item[3]
      if not w.cancelled then
        w.fired = true
        ntimers = ntimers - 1
        wake(w)
      end
    end
  end
  return true
end

-- The current task, or nil in plain code (main chunk, foreign coroutine).
local function current()
  local co = co_running()
  return co and tasks_by_co[co]
end

local function cancelled_error()
  return kerror.new("cancelled", "task cancelled")
end

-- Waits until waiter.done. A task may be resumed for a stale reason (a
-- joiner entry left by an earlier cancelled wait): it just waits again.
local function block(waiter)
  local task = waiter.task
  if task then
    while not waiter.done do
      if task.cancelled then error(cancelled_error(), 0) end
      local sig = co_yield(WAIT)
      if sig == CANCEL or task.cancelled then
        error(cancelled_error(), 0)
      end
    end
  else
    while not waiter.done do
      if not M.step() and not waiter.done then
        error(kerror.new("cancelled", "nothing left to run: waiting forever"), 0)
      end
    end
  end
end

--- Waits for a polled object (request, watcher) to report news. On the hot
--- path of every request: no allocation. It may return without news (a
--- stale wake-up), so callers re-check the object's own state. If this
--- raises (cancel, interrupt), the caller cleans up with M.forget(obj).
function M.wait(obj)
  local task = current()
  if task then
    if task.cancelled then error(cancelled_error(), 0) end
    waiting[obj] = task
    task.blocked_on = obj
    local sig = co_yield(WAIT)
    task.blocked_on = nil
    if sig == CANCEL or task.cancelled then
      waiting[obj] = nil
      error(cancelled_error(), 0)
    end
  else
    waiting[obj] = PLAIN
    while waiting[obj] == PLAIN do
      if not M.step() and waiting[obj] == PLAIN then
        waiting[obj] = nil
        error(kerror.new("cancelled", "nothing left to run: waiting forever"), 0)
      end
    end
  end
end

--- Waits until obj:done().
function M.wait_done(obj)
  while not obj:done() do M.wait(obj) end
end

--- Drops any wait registered for obj (after an interrupted wait).
function M.forget(obj)
  if waiting[obj] ~= nil and type(waiting[obj]) ~= "function" then waiting[obj] = nil end
end

--- Calls fn(obj) each time obj reports news, until unhandled.
function M.handle(obj, fn)
  waiting[obj] = fn
end
function M.unhandle(obj)
  waiting[obj] = nil
end

function M.sleep(s)
  if type(s) ~= "number" then error("keel.sleep: number of seconds expected", 2) end
  local waiter = { task = current() }
  local item = add_timer(now() + (s > 0 and s or 0), waiter)
  if waiter.task then waiter.task.timer = item end
  local ok, err = pcall(block, waiter)
  if waiter.task then waiter.task.timer = nil end
  if not ok then
    cancel_timer(item)
    error(err, 0)
  end
end

-- ---- tasks: spawn, wait, cancel, gather ------------------------------------------------

function M.spawn(fn, ...)
  if type(fn) ~= "function" then error("keel.spawn: function expected", 2) end
  local nargs, args = select("#", ...), { ... }
  local task = setmetatable({ state = "ready" }, Task)
  task.co = co_create(function()
    return xpcall(fn, capture, unpack(args, 1, nargs))
  end)
  tasks_by_co[task.co] = task
  live = live + 1
  push_run(task)
  return task
end

local function is_task(t) return getmetatable(t) == Task end
M.is_task = is_task

local function join(task)
  if task.state == "done" or task.state == "failed" or task.state == "cancelled" then return end
  local me = current()
  if me == task then error("a task cannot wait for itself", 3) end
  local waiter = { task = me }
  task.joiners = task.joiners or {}
  task.joiners[#task.joiners + 1] = waiter
  block(waiter)
end

--- Waits for the task; returns its values or re-raises its error.
function Task:wait()
  join(self)
  if self.err ~= nil then error(self.err, 0) end
  local r = self.results
  return unpack(r, 1, r.n)
end

function Task:done()
  return self.state == "done" or self.state == "failed" or self.state == "cancelled"
end

--- Cancels the task: its pending keel call raises a cancelled error in it.
function Task:cancel()
  if self:done() or self.cancelled then return end
  self.cancelled = true
  local obj = self.blocked_on
  if obj then
    waiting[obj] = nil
    if obj.cancel then obj:cancel("task cancelled") end
  end
  if self.timer then cancel_timer(self.timer) end
  if self.state == "ready" then
    -- Never started: finish it without running it.
    self.co = co_create(function() return false, kerror.new("cancelled", "task cancelled") end)
    tasks_by_co[self.co] = self
  end
  if self ~= current() then push_run(self, CANCEL) end
end

--- keel.gather(a, b, ...) or keel.gather{a, b, ...}: a, b are tasks or
--- functions (spawned). Waits for all; returns their first values in order
--- (multiple values for varargs, an array for the table form); re-raises the
--- first error, by argument order, once all have finished.
function M.gather(...)
  local as_table = select("#", ...) == 1 and type((...)) == "table" and not is_task((...))
  local list = as_table and (...) or { ... }
  local n = as_table and #list or select("#", ...)
  local ts, mine = {}, {}
  for i = 1, n do
    local x = list[i]
    if type(x) ~= "function" and not is_task(x) then
      error(("keel.gather: argument %d is not a task or function"):format(i), 2)
    end
  end
  for i = 1, n do
    local x = list[i]
    if type(x) == "function" then
      ts[i] = M.spawn(x)
      mine[i] = true
    else
      ts[i] = x
    end
  end
  -- The tasks gather spawned are its own: if the caller is cancelled or
  -- interrupted while waiting, they are cancelled too, not left running.
  local ok, err = pcall(function() for i = 1, n do join(ts[i]) end end)
  if not ok then
    for i = 1, n do if mine[i] then ts[i]:cancel() end end
    error(err, 0)
  end
  local out = {}
  for i = 1, n do
    local t = ts[i]
    if t.err ~= nil then error(t.err, 0) end
    out[i] = t.results[1]
  end
  if as_table then
    out.n = n
    return out
  end
  return unpack(out, 1, n)
end

--- Runs until no task is left and nothing is being waited for (or until
--- `timeout` seconds passed; then returns false).
function M.run(timeout)
  local deadline = timeout and now() + timeout
  while live > 0 or next(waiting) ~= nil or ntimers > 0 do
    local w
    if deadline then
      w = deadline - now()
      if w <= 0 then return false end
    end
    if not M.step(w) and ntimers == 0 then break end
  end
  -- Tasks left here wait on each other with nothing that could wake them.
  return live == 0
end

return M
