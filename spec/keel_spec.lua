-- Conventions every module keeps (DESIGN.md): no globals, one error shape,
-- handles that close once and say so.
local keel = require "keel"

describe("require 'keel'", function()
  it("adds nothing to _G", function()
    local before = {}
    for k in pairs(_G) do before[k] = true end
    local names = {}
    for name in pairs(package.loaded) do
      if name == "keel" or name:match("^keel%.") then names[#names + 1] = name end
    end
    for _, name in ipairs(names) do package.loaded[name] = nil end
    -- keel.core registers its C submodules (keel.core.http, ...) itself.
    table.sort(names, function(a, b)
      local ca, cb = a == "keel.core", b == "keel.core"
      if ca ~= cb then return ca end
      return a < b
    end)
    for _, name in ipairs(names) do require(name) end
    local added = {}
    for k in pairs(_G) do if not before[k] then added[#added + 1] = tostring(k) end end
    assert.same({}, added)
  end)
end)

describe("keel.error", function()
  local kinds = {
    "timeout", "connect", "tls", "too_large", "rate_limit", "server", "client", "auth",
    "context_length", "content_filter", "invalid_output", "truncated", "budget",
    "circuit_open", "cancelled",
  }

  it("has exactly the kinds of the one list in src/core/kerr.h", function()
    local got = {}
    for k in pairs(keel.error.kinds) do got[#got + 1] = k end
    table.sort(got)
    local want = {}
    for i, k in ipairs(kinds) do want[i] = k end
    table.sort(want)
    assert.same(want, got)
  end)

  for _, kind in ipairs(kinds) do
    it("reads '" .. kind .. ": message' through tostring", function()
      local e = keel.error.new(kind, "what happened", { status = 503 })
      assert.equal(kind .. ": what happened", tostring(e))
      assert.equal(503, e.status)
      assert.is_true(keel.error.is(e))
      assert.is_true(keel.error.is(e, kind))
    end)
  end

  it("rejects an unknown kind", function()
    assert.has_error(function() keel.error.new("oops", "x") end, "keel.error: unknown kind 'oops'")
  end)

  it("is the same value shape for errors made in C", function()
    local _, err = keel.http.request{ url = "http://127.0.0.1:1/", connect_timeout = 1 }
    assert.is_true(keel.error.is(err, "connect"))
    assert.matches("^connect: ", tostring(err))
  end)
end)

describe("handles", function()
  it("a client closes once, says (closed), and refuses use after close", function()
    local c = keel.http.client()
    assert.matches("keel.http.client %(0x", tostring(c))
    c:close()
    c:close()
    assert.equal("keel.http.client (closed)", tostring(c))
    assert.has_error(function() c:request{ url = "http://127.0.0.1:1/" } end, "keel.http: client is closed")
  end)

  it("the C client handle closes once too", function()
    local c = keel.core.http.client{}
    c:close()
    c:close()
    assert.equal("keel.http.client (closed)", tostring(c))
    assert.has_error(function() c:request{ url = "http://x/" } end)
  end)

  it("never echoes a header value or a URL into an error message", function()
    local cases = {
      { url = "http://x/", headers = { ["Authorization "] = "Bearer sk-SECRET1" } },
      { url = "http://x/", headers = { "Authorization : Bearer sk-SECRET1" } },
      { url = "http://x/", headers = { "Bearer sk-SECRET1" } },
      { url = "http://x/", headers = { Authorization = "Bearer sk-SECRET1\r\n" } },
      { url = "htp://x/?key=sk-SECRET1" },
    }
    for _, o in ipairs(cases) do
      local ok, err = pcall(keel.http.request, o)
      assert.is_false(ok)
      assert.falsy(tostring(err):find("SECRET1", 1, true), tostring(err))
    end
  end)

  it("misuse raises with a message saying what", function()
    local cases = {
      { function() keel.http.request("http://x") end, "keel.http.request: options table expected" },
      { function() keel.http.request{} end, "'url' is required" },
      { function() keel.http.request{ url = "ftp://x/" } end, "url must start with http:// or https://" },
      { function() keel.http.request{ url = "http://x/", headers = { "no colon here" } } end, "headers[1]: expected a 'Name: value' string" },
      { function() keel.http.request{ url = "http://x/", timeout = "1" } end, "option 'timeout': number expected" },
      { function() keel.http.request{ url = "http://x/", timeout = -1 } end, "option 'timeout' must be >= 0" },
      { function() keel.http.request{ url = "http://x/", headers = { ["X-A"] = "a\r\nInjected: 1" } } end, "value contains CR, LF or NUL" },
      { function() keel.http.request{ url = "http://x/", headers = { ["Bad Name"] = "v" } } end, "invalid header name" },
      { function() keel.http.request{ url = "http://x/", body = "a", json = {} } end, "give 'body' or 'json', not both" },
      { function() keel.http.client{ tiemout = 1 } end, "unknown option 'tiemout'" },
      { function() keel.http.client{ max_connections = 1e300 } end, "option 'max_connections': integer expected" },
      { function() keel.http.client{ max_connections = 0 / 0 } end, "option 'max_connections': integer expected" },
      { function() keel.http.request{ url = "http://x/", max_body = 1.5 } end, "option 'max_body': integer expected" },
      { function() keel.http.request{ url = "http://x/", max_body = 2 ^ 70 } end, "option 'max_body': integer expected" },
      { function() keel.http.request{ url = "http://x/", timeot = 1 } end, "unknown request option 'timeot'" },
      { function() keel.http.request{ url = "http://x/", sse = "yes" } end, "option 'sse': boolean expected" },
      { function() keel.http.stream{ url = "http://x/" } end, "on_event function expected" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[1])
      assert.is_false(ok)
      assert.truthy(tostring(err):find(c[2], 1, true), ("expected %q in %q"):format(c[2], tostring(err)))
    end
  end)
end)

describe("lua/keel modules", function()
  -- A local used before its definition compiles into a global access that
  -- is nil at run time; listing every global a module touches catches it.
  local allowed = {}
  for name in ([[assert collectgarbage coroutine debug dofile error getmetatable io ipairs
    load loadfile math next os package pairs pcall print rawequal rawget rawlen rawset
    require select setmetatable string table tonumber tostring type unpack utf8 xpcall
    jit bit _G _VERSION arg]]):gmatch("%S+") do allowed[name] = true end

  local luac = io.popen("command -v luac5.4 2>/dev/null"):read("*l")
  local files = {}
  for f in io.popen("find lua -name '*.lua' | sort"):lines() do files[#files + 1] = f end

  it("finds the module files", function() assert.is_true(#files >= 5) end)

  for _, f in ipairs(files) do
    (luac and it or pending)("touch only standard globals: " .. f, function()
      local bad = {}
      for line in io.popen("luac5.4 -p -l " .. f):lines() do
        local op, name = line:match("%s(%u+TABUP)%s.*_ENV%s+\"([%w_]+)\"")
        if op and not allowed[name] then bad[#bad + 1] = op .. " " .. name end
      end
      assert.same({}, bad)
    end)
  end
end)
