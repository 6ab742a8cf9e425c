-- keel.spawn / gather / sleep / now / run: the scheduler over the C loop.
local keel = require "keel"

local function elapsed(fn)
  local t0 = keel.now()
  fn()
  return keel.now() - t0
end

describe("keel.now", function()
  it("is a monotonic float clock in seconds", function()
    local a = keel.now()
    local b = keel.now()
    assert.is_number(a)
    assert.is_true(b >= a)
    keel.sleep(0.02)
    assert.is_true(keel.now() - a >= 0.02)
  end)
end)

describe("keel.sleep", function()
  it("sleeps about as long as asked, from plain code", function()
    local dt = elapsed(function() keel.sleep(0.05) end)
    assert.is_true(dt >= 0.05 and dt < 0.5, "slept " .. dt)
  end)

  it("returns at once for zero and negative times", function()
    assert.is_true(elapsed(function() keel.sleep(0); keel.sleep(-1) end) < 0.05)
  end)

  it("rejects a non-number", function()
    assert.has_error(function() keel.sleep("1") end, "keel.sleep: number of seconds expected")
  end)

  it("works inside a coroutine that is not a task (drives the loop itself)", function()
    local co = coroutine.wrap(function()
      keel.sleep(0.02)
      return "woke"
    end)
    assert.equal("woke", co())
  end)
end)

describe("keel.spawn and keel.gather", function()
  it("runs tasks concurrently: 10 x 100 ms sleeps take about 100 ms", function()
    local dt = elapsed(function()
      local fns = {}
      for i = 1, 10 do fns[i] = function() keel.sleep(0.1) return i end end
      local r = keel.gather(fns)
      assert.equal(10, r.n)
      for i = 1, 10 do assert.equal(i, r[i]) end
    end)
    assert.is_true(dt < 0.5, "took " .. dt)
  end)

  it("returns first values in argument order as multiple values", function()
    local a, b, c = keel.gather(
      function() keel.sleep(0.03) return "a" end,
      keel.spawn(function() return "b", "ignored" end),
      function() keel.sleep(0.01) return "c" end)
    assert.same({ "a", "b", "c" }, { a, b, c })
  end)

  it("passes spawn arguments through", function()
    local t = keel.spawn(function(x, y) return x + y end, 2, 3)
    assert.equal(5, t:wait())
  end)

  it("task:wait returns every value, nil included", function()
    local t = keel.spawn(function() return nil, "second" end)
    local a, b = t:wait()
    assert.is_nil(a)
    assert.equal("second", b)
  end)

  it("re-raises a task's error from gather once all finished", function()
    local finished = false
    assert.has_error(function()
      keel.gather(function() error("boom", 0) end, function() keel.sleep(0.02) finished = true end)
    end, "boom")
    assert.is_true(finished)
  end)

  it("re-raises a task's error unchanged from task:wait, keeping its traceback beside it", function()
    local t = keel.spawn(function() local x = nil; return x.y end)
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.matches("attempt to index", err)
    assert.not_matches("stack traceback", err)
    assert.matches("stack traceback", t.traceback)
  end)

  it("keeps error values that are tables as they are", function()
    local e = keel.error.new("server", "down")
    local t = keel.spawn(function() error(e) end)
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.equal(e, err)
  end)

  it("lets a plain coroutine.yield() inside a task pass the turn to others", function()
    local order = {}
    keel.gather(
      function() order[#order + 1] = "a1"; coroutine.yield(); order[#order + 1] = "a2" end,
      function() order[#order + 1] = "b1"; coroutine.yield(); order[#order + 1] = "b2" end)
    assert.same({ "a1", "b1", "a2", "b2" }, order)
  end)

  it("nests: tasks spawn and gather tasks", function()
    local r = keel.gather(function()
      local x, y = keel.gather(function() keel.sleep(0.01) return 1 end, function() return 2 end)
      return x + y
    end)
    assert.equal(3, r)
  end)

  it("reports an error in a task nobody waits for on stderr", function()
    local saved = io.stderr
    local got = {}
    io.stderr = { write = function(_, ...) for _, s in ipairs({ ... }) do got[#got + 1] = tostring(s) end end }
    local ok = pcall(function()
      keel.spawn(function() error("lost?", 0) end)
      keel.sleep(0.01)
    end)
    io.stderr = saved
    assert.is_true(ok)
    assert.matches("lost%?", table.concat(got))
  end)

  it("rejects things that are not tasks or functions", function()
    assert.has_error(function() keel.gather(function() end, 42) end,
      "keel.gather: argument 2 is not a task or function")
    assert.has_error(function() keel.spawn(42) end, "keel.spawn: function expected")
  end)

  it("raises instead of hanging when tasks wait on each other with nothing to wake them", function()
    local t1, t2
    t1 = keel.spawn(function() keel.sleep(0); return t2:wait() end)
    t2 = keel.spawn(function() keel.sleep(0); return t1:wait() end)
    local ok, err = pcall(t1.wait, t1)
    assert.is_false(ok)
    assert.matches("nothing left to run", tostring(err))
    t1:cancel()
    t2:cancel()
    keel.run(1)
  end)

  it("lets a task drive the loop from a coroutine of its own while others are queued", function()
    local t1 = keel.spawn(function()
      local f = coroutine.wrap(function() keel.sleep(0.01); return "inner ok" end)
      return f()
    end)
    local t2 = keel.spawn(function() return "t2" end)
    local t3 = keel.spawn(function() return "t3" end)
    assert.is_true(keel.run(2))
    assert.same({ "inner ok", "t2", "t3" }, { t1:wait(), t2:wait(), t3:wait() })
  end)

  it("cancels the tasks gather spawned when the gathering task is cancelled", function()
    local child_done = false
    local outer = keel.spawn(function()
      return keel.gather(function() keel.sleep(0.3); child_done = true end)
    end)
    keel.sleep(0.02)
    outer:cancel()
    assert.has_error(function() outer:wait() end)
    assert.is_true(keel.run(2))
    keel.sleep(0.4)
    assert.is_false(child_done)
  end)

  it("refuses to let a task wait for itself", function()
    local t
    t = keel.spawn(function() return t:wait() end)
    local ok, err = pcall(t.wait, t)
    assert.is_false(ok)
    assert.matches("cannot wait for itself", tostring(err))
  end)
end)

describe("task:cancel", function()
  it("stops a sleeping task with a cancelled error", function()
    local after = false
    local t = keel.spawn(function() keel.sleep(5); after = true end)
    keel.sleep(0.01)
    local dt = elapsed(function()
      t:cancel()
      local ok, err = pcall(t.wait, t)
      assert.is_false(ok)
      assert.is_true(keel.error.is(err, "cancelled"))
    end)
    assert.is_false(after)
    assert.is_true(dt < 0.5)
    assert.is_true(t:done())
  end)

  it("stops a task that never started", function()
    local ran = false
    local t = keel.spawn(function() ran = true end)
    t:cancel()
    assert.has_error(function() t:wait() end)
    assert.is_false(ran)
  end)

  it("is a no-op on a finished task", function()
    local t = keel.spawn(function() return 1 end)
    assert.equal(1, t:wait())
    t:cancel()
    assert.equal(1, t:wait())
  end)
end)

describe("keel.run", function()
  it("runs spawned tasks to completion", function()
    local done = 0
    for _ = 1, 3 do keel.spawn(function() keel.sleep(0.01) done = done + 1 end) end
    assert.is_true(keel.run())
    assert.equal(3, done)
  end)

  it("gives up after its timeout", function()
    local t = keel.spawn(function() keel.sleep(10) end)
    assert.is_false(keel.run(0.05))
    t:cancel()
    assert.is_true(keel.run(1))
  end)
end)
