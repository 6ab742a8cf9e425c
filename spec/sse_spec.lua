-- keel.core.sse through the Lua binding: the WHATWG event-stream rules, the
-- provider fixtures cut at every byte offset, the size cap, misuse, and the
-- handle lifecycle.
local globals_before = {}
for k in pairs(_G) do globals_before[k] = true end

local core = require("keel.core")
local sse = core.sse

local FIXTURES = "spec/support/fixtures/"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Feeds chunks in order into p (a new parser when nil); returns all events,
-- and the first error.
local function feed_all(chunks, p)
  p = p or sse.parser()
  local all = {}
  for _, c in ipairs(chunks) do
    local evs, err, before = p:feed(c)
    if not evs then
      for _, e in ipairs(before) do all[#all + 1] = e end
      return all, err
    end
    for _, e in ipairs(evs) do all[#all + 1] = e end
  end
  return all
end

-- Same events? Returns true, or false and a description of the difference.
local function same_events(a, b)
  if #a ~= #b then return false, ("%d events vs %d"):format(#a, #b) end
  for i = 1, #a do
    local x, y = a[i], b[i]
    if x.event ~= y.event or x.data ~= y.data or x.id ~= y.id or x.retry ~= y.retry then
      return false, ("event %d differs: %q/%q vs %q/%q"):format(i, x.event, x.data, y.event, y.data)
    end
  end
  return true
end

-- Every way of cutting s that the cases are checked with: whole, two chunks
-- at every offset, one byte at a time.
local function cuttings(s)
  local out = { { name = "whole", chunks = { s } } }
  for i = 0, #s do
    out[#out + 1] = { name = "split at " .. i, chunks = { s:sub(1, i), s:sub(i + 1) } }
  end
  local bytes = {}
  for i = 1, #s do bytes[i] = s:sub(i, i) end
  out[#out + 1] = { name = "byte at a time", chunks = bytes }
  return out
end

local function ev(data, event, id, retry)
  return { event = event or "message", data = data, id = id, retry = retry }
end

describe("keel.core.sse", function()
  it("is reachable as keel.core.sse and adds no globals", function()
    assert.equal(sse, package.loaded["keel.core.sse"])
    assert.is_function(sse.parser)
    for k in pairs(_G) do
      assert.is_true(globals_before[k] ~= nil, "new global " .. tostring(k))
    end
  end)

  describe("WHATWG event stream rules", function()
    local cases = {
      { "simple data", "data: hello\n\n", { ev("hello") } },
      { "no space after colon", "data:hello\n\n", { ev("hello") } },
      { "one leading space removed", "data:  two\n\n", { ev(" two") } },
      { "multi-line data joined", "data: a\ndata: b\n\n", { ev("a\nb") } },
      { "final newline removed once", "data: a\ndata:\n\n", { ev("a\n") } },
      { "line without colon is empty field", "data\n\n", { ev("") } },
      { "colon in value kept", "data: a:b\n\n", { ev("a:b") } },
      { "NUL in data kept", "data: a\0b\n\n", { ev("a\0b") } },
      { "event type", "event: add\ndata: x\n\n", { ev("x", "add") } },
      { "empty event is message", "event:\ndata: x\n\n", { ev("x") } },
      { "type reset after dispatch", "event: a\ndata: 1\n\ndata: 2\n\n", { ev("1", "a"), ev("2") } },
      { "no data: no dispatch, type reset", "event: a\n\ndata: 2\n\n", { ev("2") } },
      { "comments ignored", ": c\ndata: x\n: d\n\n", { ev("x") } },
      { "unknown fields ignored", "foo: 1\nData: 2\ndata : 3\ndata: x\n\n", { ev("x") } },
      { "id persists", "id: 1\ndata: a\n\ndata: b\n\n", { ev("a", nil, "1"), ev("b", nil, "1") } },
      { "id from a block without data", "id: 7\n\ndata: z\n\n", { ev("z", nil, "7") } },
      { "empty id clears", "id: 1\n\nid\ndata: b\n\n", { ev("b") } },
      { "id with NUL ignored", "id: 1\nid: 2\0\ndata: b\n\n", { ev("b", nil, "1") } },
      { "retry reported", "retry: 1500\ndata: x\n\n", { ev("x", nil, nil, 1500) } },
      { "retry only in its block", "retry: 5\ndata: a\n\ndata: b\n\n", { ev("a", nil, nil, 5), ev("b") } },
      { "retry not all digits ignored", "retry: 5s\ndata: x\n\nretry: -1\ndata: y\n\n", { ev("x"), ev("y") } },
      { "CR line ends", "data: a\rdata: b\r\r", { ev("a\nb") } },
      { "CRLF line ends", "data: a\r\ndata: b\r\n\r\n", { ev("a\nb") } },
      { "LF CR is two line ends", "data: a\n\rdata: b\n\n", { ev("a"), ev("b") } },
      { "CR CR LF is two line ends", "data: a\r\r\ndata: b\n\n", { ev("a"), ev("b") } },
      { "leading BOM stripped", "\239\187\191data: a\n\n", { ev("a") } },
      { "second BOM not stripped", "\239\187\191\239\187\191data: a\n\ndata: b\n\n", { ev("b") } },
      { "partial BOM is line text", "\239\187data: a\n\ndata: b\n\n", { ev("b") } },
      { "UTF-8 data", "data: caf\195\169\n\n", { ev("caf\195\169") } },
    }
    for _, c in ipairs(cases) do
      local name, input, want = c[1], c[2], c[3]
      it(name .. " (whole, every split, byte at a time)", function()
        local p = sse.parser()
        for _, cut in ipairs(cuttings(input)) do
          p:reset()
          local got, err = feed_all(cut.chunks, p)
          assert.is_nil(err, cut.name)
          assert.same(want, got, cut.name)
          assert.is_false(p:pending(), cut.name)
        end
      end)
    end
  end)

  describe("pending", function()
    local cases = {
      { "empty stream", "", false },
      { "dispatched event", "data: a\n\n", false },
      { "missing blank line", "data: a\n", true },
      { "partial line", "data: a", true },
      { "event field only", "event: x\n", true },
      { "ended on CR", "data: a\r", true },
      { "complete comment", ": ping\n", false },
      { "partial BOM", "\239\187", true },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        for _, cut in ipairs(cuttings(c[2])) do
          local p = sse.parser()
          feed_all(cut.chunks, p)
          assert.equal(c[3], p:pending(), cut.name)
        end
      end)
    end
  end)

  describe("fixtures", function()
    local fixtures = {
      {
        file = "openai_stream.sse",
        check = function(evs)
          assert.is_true(#evs > 150)
          for _, e in ipairs(evs) do
            assert.equal("message", e.event)
          end
          assert.equal("[DONE]", evs[#evs].data)
          local ok, cjson = pcall(require, "cjson")
          if ok then
            local first = cjson.decode(evs[1].data)
            assert.equal("chat.completion.chunk", first.object)
            assert.equal("assistant", first.choices[1].delta.role)
            local stop = cjson.decode(evs[#evs - 2].data)
            assert.equal("stop", stop.choices[1].finish_reason)
            local usage = cjson.decode(evs[#evs - 1].data)
            assert.equal(0, #usage.choices)
            assert.is_true(usage.usage.total_tokens > 0)
          end
        end,
      },
      {
        file = "anthropic_stream.sse",
        check = function(evs)
          local kinds = {}
          for i, e in ipairs(evs) do
            kinds[i] = e.event
            assert.is_truthy(e.data:find('"type": ?"' .. e.event .. '"'), e.data)
          end
          assert.same({ "message_start", "content_block_start", "ping", "content_block_delta" },
            { kinds[1], kinds[2], kinds[3], kinds[4] })
          assert.same({ "content_block_stop", "message_delta", "message_stop" },
            { kinds[#kinds - 2], kinds[#kinds - 1], kinds[#kinds] })
        end,
      },
    }
    for _, fx in ipairs(fixtures) do
      local s = read(FIXTURES .. fx.file)

      it(fx.file .. " parses whole into the documented shape", function()
        local p = sse.parser()
        local evs = assert(p:feed(s))
        fx.check(evs)
        assert.is_false(p:pending())
      end)

      it(fx.file .. " gives the same events split at every byte offset", function()
        local p = sse.parser()
        local want = assert(p:feed(s))
        for i = 0, #s do
          p:reset()
          local a = assert(p:feed(s:sub(1, i)))
          local b = assert(p:feed(s:sub(i + 1)))
          for _, e in ipairs(b) do a[#a + 1] = e end
          local same, why = same_events(want, a)
          if not same then error(("split at %d: %s"):format(i, why)) end
          if p:pending() then error(("split at %d: pending after the whole stream"):format(i)) end
        end
      end)

      it(fx.file .. " gives the same events fed one byte at a time", function()
        local p = sse.parser()
        local want = assert(p:feed(s))
        p:reset()
        local got = {}
        for i = 1, #s do
          for _, e in ipairs(assert(p:feed(s:sub(i, i)))) do got[#got + 1] = e end
        end
        assert.is_true(same_events(want, got))
        assert.is_false(p:pending())
      end)

      it(fx.file .. " with CRLF line ends gives the same events", function()
        local p = sse.parser()
        local want = assert(p:feed(s))
        local crlf = s:gsub("\n", "\r\n")
        -- 7-byte chunks: many CRLFs are cut between their CR and LF
        local chunks = {}
        for i = 1, #crlf, 7 do chunks[#chunks + 1] = crlf:sub(i, i + 6) end
        local got = feed_all(chunks, sse.parser())
        assert.is_true(same_events(want, got))
      end)
    end
  end)

  describe("size cap", function()
    it("accepts an event exactly at max_event and refuses one byte more", function()
      local at = sse.parser { max_event = 16 }
      assert.same({ ev("0123456789") }, at:feed("data: 0123456789\n\n"))
      local over = sse.parser { max_event = 15 }
      local evs, err = over:feed("data: 0123456789\n\n")
      assert.is_nil(evs)
      assert.equal("too_large", err.kind)
      assert.equal("SSE event or line exceeds max_event (15 bytes)", err.message)
      assert.equal("too_large: SSE event or line exceeds max_event (15 bytes)", tostring(err))
      assert.equal(core.error_meta, getmetatable(err))
    end)

    it("counts data, type and id together", function()
      local p = sse.parser { max_event = 12 }
      assert.same({ ev("ijkl", "efgh", "abcd") }, p:feed("id:abcd\nevent:efgh\ndata:ijkl\n\n"))
      p:reset()
      local evs, err = p:feed("id:abcd\nevent:efgh\ndata:ijklm\n\n")
      assert.is_nil(evs)
      assert.equal("too_large", err.kind)
    end)

    it("refuses an over-long line even before its end arrives", function()
      local p = sse.parser { max_event = 10 }
      assert.same({}, p:feed(": 012345"))
      local evs, err = p:feed("6789")
      assert.is_nil(evs)
      assert.equal("too_large", err.kind)
    end)

    it("returns the events completed before the error as a third value", function()
      local p = sse.parser { max_event = 10 }
      local evs, err, before = p:feed("data: a\n\ndata: b\n\ndata: 0123456789\n\n")
      assert.is_nil(evs)
      assert.equal("too_large", err.kind)
      assert.same({ ev("a"), ev("b") }, before)
    end)

    it("keeps failing until reset", function()
      local p = sse.parser { max_event = 10 }
      assert.is_nil((p:feed("data: 0123456789\n\n")))
      local evs, err = p:feed("data: x\n\n")
      assert.is_nil(evs)
      assert.equal("too_large", err.kind)
      p:reset()
      assert.same({ ev("x") }, p:feed("data: x\n\n"))
    end)

    it("defaults to 1 MiB", function()
      local limit = 1024 * 1024
      local p = sse.parser()
      local evs = assert(p:feed("data: " .. ("x"):rep(limit - 6) .. "\n\n"))
      assert.equal(limit - 6, #evs[1].data)
      local _, err = p:feed("data: " .. ("x"):rep(limit - 5) .. "\n\n")
      assert.equal("too_large", err.kind)
      assert.equal("SSE event or line exceeds max_event (1048576 bytes)", err.message)
    end)
  end)

  describe("misuse raises", function()
    local cases = {
      { "feed a number", function() sse.parser():feed(5) end, "string expected, got number" },
      { "feed nothing", function() sse.parser():feed() end, "string expected, got no value" },
      { "feed on a non-parser", function() local p = sse.parser(); p.feed({}, "x") end, "keel.sse.parser expected" },
      { "options not a table", function() sse.parser("big") end, "table expected, got string" },
      { "max_event not a number", function() sse.parser { max_event = "1k" } end,
        "option 'max_event': integer expected, got string" },
      { "max_event fractional", function() sse.parser { max_event = 1.5 } end,
        "option 'max_event': integer expected" },
      { "max_event zero", function() sse.parser { max_event = 0 } end, "max_event must be a positive integer" },
      { "max_event negative", function() sse.parser { max_event = -1 } end, "max_event must be a positive integer" },
    }
    for _, c in ipairs(cases) do
      it(c[1], function()
        local ok, err = pcall(c[2])
        assert.is_false(ok)
        assert.is_truthy(tostring(err):find(c[3], 1, true), tostring(err))
      end)
    end

    for _, m in ipairs { "feed", "pending", "reset" } do
      it(m .. " on a closed parser", function()
        local p = sse.parser()
        p:close()
        local ok, err = pcall(p[m], p, "data: x\n\n")
        assert.is_false(ok)
        assert.is_truthy(err:find("attempt to use a closed keel.sse.parser", 1, true), err)
      end)
    end
  end)

  describe("handle", function()
    it("says (closed) in tostring once closed, and close is idempotent", function()
      local p = sse.parser()
      assert.is_truthy(tostring(p):match("^keel%.sse%.parser %(0?x?%x+%)$"), tostring(p))
      p:close()
      assert.equal("keel.sse.parser (closed)", tostring(p))
      p:close()
      assert.equal("keel.sse.parser (closed)", tostring(p))
    end)

    it("is closed by __gc with buffered state", function()
      for _ = 1, 200 do
        local p = sse.parser()
        p:feed("id: 1\nevent: e\ndata: partial")
      end
      collectgarbage()
      collectgarbage()
    end)

    it("is closed by a to-be-closed variable (Lua 5.4)", function()
      if _VERSION ~= "Lua 5.4" then return end -- no <close> syntax elsewhere
      local f = assert(load([[
        local sse = ...
        local keep
        do
          local p <close> = sse.parser()
          keep = p
          p:feed("data: x")
        end
        return keep
      ]]))
      assert.equal("keel.sse.parser (closed)", tostring(f(sse)))
    end)

    it("reset restores the start-of-stream state", function()
      local p = sse.parser()
      p:feed("id: 9\n\nevent: e\ndata: x\r")
      assert.is_true(p:pending())
      p:reset()
      assert.is_false(p:pending())
      -- The leading LF is a blank line now (not the rest of a CRLF), the BOM
      -- is stripped again, and the old id is gone.
      assert.same({}, p:feed("\n"))
      p:reset()
      assert.same({ ev("y") }, p:feed("\239\187\191data: y\n\n"))
    end)
  end)
end)
