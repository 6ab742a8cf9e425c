-- keel.http: the transport, against loopback servers only: keel mock, a
-- throwaway nginx (TLS, HTTP/2) and raw sockets.
local keel = require "keel"
local sh = require "spec.support.sh"
local socket = require "socket"

-- Slow builds (valgrind, ASan) stretch every timing; margins scale with this.
local SLOW = (os.getenv("KEEL_VALGRIND") and 10) or (os.getenv("KEEL_ASAN") and 3) or 1

local function count_keys(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function timed(fn)
  local t0 = keel.now()
  local a, b = fn()
  return keel.now() - t0, a, b
end

describe("keel.http transport errors", function()
  it("connection refused is kind connect", function()
    local dt, resp, err = timed(function() return keel.http.request{ url = "http://127.0.0.1:1/" } end)
    assert.is_nil(resp)
    assert.equal("connect", err.kind)
    assert.matches("127%.0%.0%.1", err.message)
    assert.is_true(dt < 1 * SLOW)
  end)

  it("a connect timeout fires when the server never accepts", function()
    -- A listener whose accept queue is full drops new SYNs: connect hangs.
    local srv = assert(socket.tcp())
    assert(srv:bind("127.0.0.1", 0))
    assert(srv:listen(0))
    local _, port = srv:getsockname()
    local fillers = {}
    for i = 1, 3 do
      fillers[i] = socket.tcp()
      fillers[i]:settimeout(0)
      fillers[i]:connect("127.0.0.1", port)
    end
    keel.sleep(0.1)
    local dt, resp, err = timed(function()
      return keel.http.request{ url = ("http://127.0.0.1:%d/"):format(port), connect_timeout = 0.3 }
    end)
    for _, c in ipairs(fillers) do c:close() end
    srv:close()
    assert.is_nil(resp)
    assert.equal("timeout", err.kind)
    assert.equal("connect", err.timeout)
    assert.is_true(dt >= 0.29 and dt < 2 * SLOW, "took " .. dt)
  end)
end)

local nginx = require "spec.support.nginx"
local describe_nginx = nginx.available() and describe or pending

describe_nginx("keel.http against nginx", function()
  local plain, tls
  setup(function()
    plain = nginx.start()
    tls = nginx.start{ tls = true }
  end)
  teardown(function()
    if plain then plain.stop() end
    if tls then tls.stop() end
  end)

  it("reuses one kept-alive HTTP/1.1 connection for sequential requests", function()
    local c = keel.http.client()
    local conns = {}
    for i = 1, 10 do
      local r = assert(c:request{ url = plain.url .. "/connection" })
      assert.equal(200, r.status)
      assert.equal(1.1, r.http_version)
      assert.equal(i > 1, r.reused)
      conns[r.body] = true
    end
    assert.equal(1, count_keys(conns))
    c:close()
  end)

  it("verifies TLS certificates by default", function()
    local resp, err = keel.http.request{ url = tls.url .. "/" }
    assert.is_nil(resp)
    assert.equal("tls", err.kind)
    assert.matches("certificate", err.message)
  end)

  it("speaks HTTP/2 when the server offers it, with a trusted CA", function()
    local r = assert(keel.http.request{ url = tls.url .. "/", cainfo = tls.cert })
    assert.equal(200, r.status)
    assert.equal(2, r.http_version)
    assert.equal("ok", r.body)
  end)

  it("multiplexes concurrent requests over one HTTP/2 connection", function()
    local c = keel.http.client{ cainfo = tls.cert }
    assert(c:request{ url = tls.url .. "/" }) -- learn that the server speaks h2
    local fns = {}
    for i = 1, 20 do
      fns[i] = function() return assert(c:request{ url = tls.url .. "/connection" }) end
    end
    local rs = keel.gather(fns)
    local conns = {}
    for i = 1, 20 do
      assert.equal(2, rs[i].http_version)
      conns[rs[i].body] = true
    end
    assert.equal(1, count_keys(conns))
    c:close()
  end)

  it("takes proxy settings from the environment", function()
    -- example.invalid can't resolve: the answer can only come through the proxy.
    local rc, out, err = sh.run(("env http_proxy=%s HTTP_PROXY=%s no_proxy= NO_PROXY= %s -e %s"):format(
      plain.url, plain.url, sh.keel,
      sh.q("local r, e = require('keel').http.request{url='http://example.invalid/host'} print(r and r.body or tostring(e))")))
    assert.equal(0, rc, err)
    assert.equal("example.invalid\n", out)
  end)
end)

local mock = require "spec.support.mock"

describe("keel.http against keel mock", function()
  local m, chat
  local body = { model = "gpt-4o-mini", messages = { { role = "user", content = "hello there" } } }
  setup(function()
    m = mock.start{ scenario = "spec/support/scenarios/transport.lua" }
    chat = m.url .. "/v1/chat/completions"
  end)
  teardown(function() if m then m:stop() end end)

  local function post(extra, client)
    local o = { url = chat, json = body, headers = {} }
    for k, v in pairs(extra or {}) do
      if k == "headers" then for hk, hv in pairs(v) do o.headers[hk] = hv end else o[k] = v end
    end
    if client then return client:request(o) end
    return keel.http.request(o)
  end

  local function stream(extra, on_event)
    local o = { url = chat, json = { model = "m", stream = true, stream_options = { include_usage = true },
      messages = body.messages }, headers = {}, on_event = on_event }
    for k, v in pairs(extra or {}) do
      if k == "headers" then for hk, hv in pairs(v) do o.headers[hk] = hv end else o[k] = v end
    end
    return keel.http.stream(o)
  end

  it("sends N sequential requests over one kept-alive connection (the mock's count)", function()
    local c = keel.http.client()
    m:reset()
    for i = 1, 25 do
      local r = assert(post(nil, c))
      assert.equal(200, r.status)
      assert.equal(i > 1, r.reused)
    end
    local st = m:stats()
    assert.equal(25, st.requests)
    assert.equal(1, st.connections)
    c:close()
  end)

  it("overlaps spawned requests: 20 x 200 ms finish together", function()
    local fns = {}
    for i = 1, 20 do
      fns[i] = function() return assert(post{ headers = { ["X-Mock-Delay"] = "0.2" } }).status end
    end
    local dt = timed(function()
      local rs = keel.gather(fns)
      for i = 1, 20 do assert.equal(200, rs[i]) end
    end)
    -- sequential would be 4 s; together is one delay plus overhead
    assert.is_true(dt >= 0.19 and dt < 1.0 * SLOW, ("20 x 200 ms took %.3f s"):format(dt))
  end)

  it("fires the total timeout while waiting for a slow response", function()
    local dt, r, err = timed(function() return post{ timeout = 0.3, headers = { ["X-Mock-Delay"] = "3" } } end)
    assert.is_nil(r)
    assert.equal("timeout", err.kind)
    assert.equal("total", err.timeout)
    assert.is_true(dt >= 0.29 and dt < 2 * SLOW, "took " .. dt)
  end)

  it("fires the idle timeout on a stream that stalls, after the events sent", function()
    local got = 0
    local dt, r, err = timed(function()
      return stream({ idle_timeout = 0.3, headers = { ["X-Mock-Stall-After"] = "3" } },
        function() got = got + 1 end)
    end)
    assert.is_nil(r)
    assert.equal("timeout", err.kind)
    assert.equal("idle", err.timeout)
    assert.matches("no data received for 0%.3 s", err.message)
    assert.equal(3, got)
    assert.is_true(dt >= 0.29 and dt < 2 * SLOW, "took " .. dt)
  end)

  it("does not fire the idle timeout on a slow but steady stream", function()
    local got = 0
    local r = assert(stream({ idle_timeout = 0.25, headers = { ["X-Mock-Chunk-Delay"] = "0.05" } },
      function() got = got + 1 end))
    assert.equal(200, r.status)
    assert.is_true(got >= 4)
    assert.equal(got, r.events)
    assert.is_false(r.incomplete)
  end)

  local caps = {
    { "a chunked body over max_body", { max_body = 100000, headers = { ["X-Mock-Body-Bytes"] = "3000000" } },
      "response body exceeds max_body %(100000 bytes%)" },
    { "a declared Content-Length over max_body", { max_body = 10 }, "exceeds max_body %(10 bytes%)" },
    { "headers over max_header", { max_header = 20 }, "response headers exceed max_header %(20 bytes%)" },
  }
  for _, c in ipairs(caps) do
    it("errors with too_large, never truncates: " .. c[1], function()
      local r, err = post(c[2])
      assert.is_nil(r)
      assert.equal("too_large", err.kind)
      assert.matches(c[3], err.message)
    end)
  end

  it("errors with too_large for an SSE event over max_event", function()
    local r, err = stream({ max_event = 40 }, function() end)
    assert.is_nil(r)
    assert.equal("too_large", err.kind)
    assert.matches("max_event %(40 bytes%)", err.message)
  end)

  it("delivers a large body whole under the cap", function()
    local r = assert(post{ headers = { ["X-Mock-Body-Bytes"] = "3000000" } })
    assert.equal(3000000, #r.body)
  end)

  it("is not an error for an HTTP error status", function()
    local r = assert(post{ headers = { ["X-Mock-Status"] = "503", ["X-Mock-Retry-After"] = "7" } })
    assert.equal(503, r.status)
    assert.equal("7", r.headers["Retry-After"])
    assert.equal("7", r.headers["retry-after"])
    assert.matches('"error"', r.body)
  end)

  it("streams events in order with the terminal [DONE], and the stream's body is not kept", function()
    local evs = {}
    local r = assert(stream(nil, function(ev) evs[#evs + 1] = ev end))
    assert.equal(200, r.status)
    assert.is_true(r.sse)
    assert.is_nil(r.body)
    assert.equal(#evs, r.events)
    assert.equal("[DONE]", evs[#evs].data)
    assert.equal("message", evs[1].event)
    assert.matches('"chat.completion.chunk"', evs[1].data)
  end)

  it("keeps the body of a non-2xx answer to a stream request", function()
    local n = 0
    local r = assert(stream({ headers = { ["X-Mock-Status"] = "429" } }, function() n = n + 1 end))
    assert.equal(429, r.status)
    assert.equal(0, n)
    assert.matches('"error"', r.body)
  end)

  it("reports a stream cut without its terminal event (transport sees a clean end)", function()
    local evs = {}
    local r = assert(stream({ headers = { ["X-Mock-Cut-After"] = "3" } }, function(ev) evs[#evs + 1] = ev end))
    assert.equal(3, #evs)
    assert.are_not.equal("[DONE]", evs[#evs].data)
  end)

  it("a connection dropped mid-body is kind connect", function()
    local r, err = stream({ headers = { ["X-Mock-Drop-After"] = "2" } }, function() end)
    assert.is_nil(r)
    assert.equal("connect", err.kind)
  end)

  it("re-raises an error from on_event after curl let go, and the client keeps working", function()
    local c = keel.http.client()
    m:reset()
    local seen = 0
    local ok, err = pcall(c.stream, c, { url = chat, on_event = function()
      seen = seen + 1
      if seen == 2 then error("consumer blew up", 0) end
    end, json = { model = "m", stream = true, messages = body.messages },
      headers = { ["X-Mock-Chunk-Delay"] = "0.02" } })
    assert.is_false(ok)
    assert.equal("consumer blew up", err)
    assert.equal(2, seen)
    -- the aborted transfer's connection is closed; the next request works
    local r = assert(c:request{ url = chat, json = body })
    assert.equal(200, r.status)
    c:close()
  end)

  it("lets on_event call keel (a slow consumer that sleeps) without losing events", function()
    local n = 0
    local r = assert(stream(nil, function() keel.sleep(0.005); n = n + 1 end))
    assert.equal(r.events, n)
  end)

  it("overlaps requests on a fresh client to a cleartext host (no HTTP/2 wait)", function()
    local c = keel.http.client()
    local fns = {}
    for i = 1, 3 do
      fns[i] = function() return assert(post({ headers = { ["X-Mock-Delay"] = "0.4" } }, c)).status end
    end
    local dt = timed(function() keel.gather(fns) end)
    assert.is_true(dt < 0.75 * SLOW, ("3 x 400 ms on a fresh client took %.3f s"):format(dt))
    c:close()
  end)

  -- on_event may call keel, which drives the loop: the stream's own news
  -- (events, end) must not be lost while it does.
  for _, where in ipairs{ "plain code", "a task" } do
    it("delivers every event when on_event sleeps, in " .. where, function()
      local n = 0
      local function go()
        return keel.http.stream{ url = chat, timeout = 5 * SLOW,
          json = { model = "m", stream = true, messages = body.messages },
          headers = { ["X-Mock-Chunk-Delay"] = "0.02" },
          on_event = function() n = n + 1; if n == 1 then keel.sleep(0.3) end end }
      end
      local r, err
      if where == "a task" then r, err = keel.spawn(go):wait() else r, err = go() end
      assert.is_nil(err)
      assert.equal(200, r.status)
      assert.equal(r.events, n)
    end)
  end

  it("pauses the transfer for a slow consumer and resumes it: no event lost", function()
    local n, bytes = 0, 0
    local r = assert(keel.http.stream{ url = m.url .. "/big", timeout = 20 * SLOW, idle_timeout = 5 * SLOW,
      on_event = function(ev)
        n = n + 1
        bytes = bytes + #ev.data
        if n % 8 == 0 then keel.sleep(0.05) end
      end })
    assert.equal(64, n)
    assert.equal(64 * 65536, bytes)
    assert.equal(64, r.events)
  end)

  it("merges client and request headers by name, whatever the spelling or form", function()
    local c = keel.http.client{ headers = { "Authorization: Bearer from-client", ["X-Client"] = "1",
      ["x-override"] = "client" } }
    m:reset()
    assert(c:request{ url = chat, json = body, headers = { "X-Trace: 7", ["X-Override"] = "request" } })
    local h = m:requests()[1].headers
    assert.equal("Bearer from-client", h["authorization"])
    assert.equal("1", h["x-client"])
    assert.equal("7", h["x-trace"])
    assert.equal("request", h["x-override"])
    c:close()
  end)

  it("cancels a request in flight when its task is cancelled", function()
    local t = keel.spawn(function() return post{ headers = { ["X-Mock-Delay"] = "5" } } end)
    keel.sleep(0.05)
    local dt = timed(function()
      t:cancel()
      local ok, err = pcall(t.wait, t)
      assert.is_false(ok)
      assert.equal("cancelled", err.kind)
    end)
    assert.is_true(dt < 1 * SLOW)
  end)

  it("sends json= with its content type, and headers as given", function()
    m:reset()
    assert(post{ headers = { ["X-Trace"] = "abc", Authorization = "Bearer sk-test" } })
    local rec = m:requests()[1]
    assert.equal("POST", rec.method)
    assert.equal("/v1/chat/completions", rec.path)
    assert.equal("application/json", rec.headers["content-type"])
    assert.equal("abc", rec.headers["x-trace"])
    assert.same(body, require("cjson").decode(rec.body))
  end)

  it("runs 64 requests in flight on one client", function()
    local c = keel.http.client()
    local fns = {}
    for i = 1, 64 do fns[i] = function() return assert(post(nil, c)).status end end
    local rs = keel.gather(fns)
    for i = 1, 64 do assert.equal(200, rs[i]) end
    c:close()
  end)
end)
