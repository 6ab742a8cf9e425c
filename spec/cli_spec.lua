-- The keel interpreter: lua.c's behaviour, keel built in, run --watch.
local sh = require "spec.support.sh"
local keel_bin, q = sh.keel, sh.q

local function tmpdir()
  local d = sh.tmpname()
  assert(sh.ok("mkdir -p " .. q(d)))
  return d
end

describe("keel interpreter", function()
  local cases = {
    { "-v prints the version", "-v", 0, "^keel %d+%.%d+%.%d+ %(Lua 5%.4" },
    { "-e runs a string", "-e " .. q("print(1 + 1)"), 0, "^2\n$" },
    { "-e with keel built in, no path set-up", "-e " .. q("print(require('keel').version)"), 0, "^%d+%.%d+%.%d+\n$" },
    { "-l requires a module into a global", "-l string -e " .. q("print(type(string.rep))"), 0, "^function\n$" },
    { "help", "help", 0, "" },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local rc, out, err = sh.run("env LUA_PATH= LUA_CPATH= " .. keel_bin .. " " .. c[2])
      assert.equal(c[3], rc, err)
      assert.matches(c[4], out)
    end)
  end

  it("runs a script with arg and ... like lua", function()
    local d = tmpdir()
    sh.write(d .. "/s.lua", "print(arg[0], arg[1], arg[2], #arg, select('#', ...), ...)")
    local rc, out = sh.run(keel_bin .. " " .. q(d .. "/s.lua") .. " a b")
    assert.equal(0, rc)
    assert.equal(d .. "/s.lua\ta\tb\t2\t2\ta\tb\n", out)
  end)

  it("keel run script is keel script", function()
    local d = tmpdir()
    sh.write(d .. "/s.lua", "print('ran', ...)")
    local rc, out = sh.run(keel_bin .. " run " .. q(d .. "/s.lua") .. " x")
    assert.equal(0, rc)
    assert.equal("ran\tx\n", out)
  end)

  it("reads the script from stdin with -", function()
    local rc, out = sh.run(keel_bin .. " -", "print(6 * 7)")
    assert.equal(0, rc)
    assert.equal("42\n", out)
  end)

  it("prints a traceback and exits 1 on an uncaught error", function()
    local d = tmpdir()
    sh.write(d .. "/bad.lua", "local function f() error('kaput') end\nf()\n")
    local rc, out, err = sh.run(keel_bin .. " " .. q(d .. "/bad.lua"))
    assert.equal(1, rc)
    assert.equal("", out)
    assert.matches("bad%.lua:1: kaput", err)
    assert.matches("stack traceback:", err)
    assert.matches("in local 'f'", err)
  end)

  it("prints error objects through __tostring (keel.error)", function()
    local rc, _, err = sh.run(keel_bin .. " -e " .. q("error(require('keel').error.new('budget', 'over the limit'))"))
    assert.equal(1, rc)
    assert.matches("budget: over the limit", err)
  end)

  it("reports a syntax error with file:line and exits 1", function()
    local d = tmpdir()
    sh.write(d .. "/syn.lua", "x = = 1\n")
    local rc, _, err = sh.run(keel_bin .. " " .. q(d .. "/syn.lua"))
    assert.equal(1, rc)
    assert.matches("syn%.lua:1:", err)
  end)

  it("prints a traceback for an uncaught error object too", function()
    local rc, _, err = sh.run(keel_bin .. " -e " .. q("error(require('keel').error.new('budget', 'over'))"))
    assert.equal(1, rc)
    assert.matches("budget: over", err)
    assert.matches("stack traceback:", err)
  end)

  it("exits 1 and says so when tasks are left waiting on each other", function()
    local rc, _, err = sh.run(keel_bin .. " -e " .. q([[
      local keel = require "keel"
      local t1, t2
      t1 = keel.spawn(function() keel.sleep(0); t2:wait() end)
      t2 = keel.spawn(function() keel.sleep(0); t1:wait() end)]]))
    assert.equal(1, rc)
    assert.matches("deadlock", err)
  end)

  it("os.exit sets the exit status", function()
    local rc = sh.run(keel_bin .. " -e " .. q("os.exit(7)"))
    assert.equal(7, rc)
  end)

  it("rejects an unknown option", function()
    local rc, _, err = sh.run(keel_bin .. " --nope")
    assert.equal(1, rc)
    assert.matches("unrecognized option '%-%-nope'", err)
  end)

  it("finishes spawned tasks after the main chunk", function()
    local rc, out = sh.run(keel_bin .. " -e " .. q([[
      local keel = require "keel"
      keel.spawn(function() keel.sleep(0.05) print("task done") end)
      print("main done")]]))
    assert.equal(0, rc)
    assert.equal("main done\ntask done\n", out)
  end)

  it("-i evaluates expressions and statements interactively", function()
    local rc, out = sh.run(keel_bin .. " -i", "1 + 1\nx = 5\nx * 2\nfor i = 1, 2 do\nprint(i)\nend\n")
    assert.equal(0, rc)
    assert.matches("\n> 2\n> > 10\n> >> >> 1\n2\n", out)
  end)

  it("reports errors in -i and carries on", function()
    local rc, out, err = sh.run(keel_bin .. " -i", "error('x')\nprint('after')\n")
    assert.equal(0, rc)
    assert.matches("after", out)
    assert.matches("stdin:1: x", err)
  end)
end)

describe("keel run --watch", function()
  it("re-runs the script when a project module it required changes", function()
    local d = tmpdir()
    sh.write(d .. "/rules.lua", "return { version = 1 }\n")
    sh.write(d .. "/main.lua", "package.path = " .. ("%q"):format(d .. "/?.lua;") .. " .. package.path\n" ..
      "print('version', require('rules').version)\nio.stdout:flush()\n" ..
      "require('keel').sleep(30)\n")
    local p = sh.spawn("cd " .. q(d) .. " && exec " .. q((keel_bin:sub(1, 1) == "/" and "" or os.getenv("PWD") .. "/") .. keel_bin) .. " run --watch main.lua")
    local ok, err = pcall(function()
      assert.truthy(sh.wait_for(function() return (sh.read(p.out) or ""):find("version\t1") end, 10),
        "first run: " .. tostring(sh.read(p.out)))
      os.execute("sleep 0.3")
      sh.write(d .. "/rules.lua", "return { version = 2 }\n")
      assert.truthy(sh.wait_for(function() return (sh.read(p.out) or ""):find("version\t2") end, 10),
        "after change: " .. tostring(sh.read(p.out)))
      assert.matches("rules%.lua changed; restarting", sh.read(p.out))
    end)
    sh.kill(p)
    assert(ok, err)
  end)

  it("keeps watching after the script exits, and re-runs on change", function()
    local d = tmpdir()
    -- the last write has no newline: the child must flush it before exiting
    sh.write(d .. "/once.lua", "print('run', 'A') io.write('tail-A')\n")
    local p = sh.spawn("cd " .. q(d) .. " && exec " .. q((keel_bin:sub(1, 1) == "/" and "" or os.getenv("PWD") .. "/") .. keel_bin) .. " run --watch once.lua")
    local ok, err = pcall(function()
      assert.truthy(sh.wait_for(function() return (sh.read(p.out) or ""):find("exited with status 0") end, 10),
        tostring(sh.read(p.out)))
      assert.matches("tail%-A", sh.read(p.out))
      sh.write(d .. "/once.lua", "print('run', 'B')\n")
      assert.truthy(sh.wait_for(function() return (sh.read(p.out) or ""):find("run\tB") end, 10),
        tostring(sh.read(p.out)))
    end)
    sh.kill(p)
    assert(ok, err)
  end)
end)

describe("keel.watch", function()
  it("tells a running script that a file changed, so it reloads in place", function()
    local d = tmpdir()
    local cfg = d .. "/config.lua"
    sh.write(cfg, "return { limit = 10 }\n")
    sh.write(d .. "/server.lua", ([[
      local keel = require "keel"
      local config = dofile(%q)
      print("limit", config.limit); io.stdout:flush()
      local w
      w = keel.watch(%q, function(path)
        config = dofile(path)
        print("reloaded", config.limit); io.stdout:flush()
        if config.limit == 30 then w:close() end
      end)
    ]]):format(cfg, cfg))
    local p = sh.spawn(keel_bin .. " " .. q(d .. "/server.lua"))
    local ok, err = pcall(function()
      assert.truthy(sh.wait_for(function() return (sh.read(p.out) or ""):find("limit\t10") end, 10))
      os.execute("sleep 0.2")
      sh.write(cfg, "return { limit = 20 }\n")
      assert.truthy(sh.wait_for(function() return (sh.read(p.out) or ""):find("reloaded\t20") end, 10),
        tostring(sh.read(p.out)))
      -- an editor-style save: write a new file, rename it over the old one
      sh.write(cfg .. ".tmp", "return { limit = 30 }\n")
      os.rename(cfg .. ".tmp", cfg)
      assert.truthy(sh.wait_for(function() return (sh.read(p.out) or ""):find("reloaded\t30") end, 10),
        tostring(sh.read(p.out)))
      -- closing the last watcher lets the script end on its own
      assert.truthy(sh.wait_for(function()
        return not sh.alive(p.pid)
      end, 10), "script should exit once its watcher is closed")
    end)
    sh.kill(p)
    assert(ok, err)
  end)

  it("raises for a path whose directory does not exist", function()
    local keel = require "keel"
    assert.has_error(function() keel.watch("/nonexistent-dir-keel/x.lua", function() end) end)
  end)
end)

describe("keel chat", function()
  local mock = require "spec.support.mock"
  local m
  setup(function() m = mock.start() end)
  teardown(function() m:stop() end)
  -- No key or config from the developer's environment leaks into the cases.
  local function chat(args, stdin, envs)
    return sh.run("env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u KEEL_CONFIG -u KEEL_MODEL " ..
      (envs or "") .. " " .. keel_bin .. " chat " .. args, stdin)
  end

  it("streams the answer, then one line with tokens, latency and model", function()
    local rc, out, err = chat("--base-url " .. m.url .. "/v1 --model m1 hello there friend")
    assert.equal(0, rc, err)
    assert.equal("Mock reply to: hello there friend\n", out)
    assert.matches("^%-%- 3 in %+ 6 out tokens · %d+ ms %(first token %d+ ms%) · m1 via openai · stop\n$", err)
  end)

  it("reads the prompt from stdin and talks to Anthropic", function()
    local rc, out, err = chat("--provider anthropic --base-url " .. m.url .. "/v1 --model c1 --max-tokens 3",
      "from standard input\n")
    assert.equal(0, rc, err)
    assert.equal("Mock reply to:\n", out)
    assert.matches("c1 via anthropic · length: cut at max_tokens", err)
  end)

  it("runs a task from a config file", function()
    local d = sh.tmpname()
    sh.write(d, ("providers:\n  local: {type: openai, base_url: %s/v1}\nmodels:\n  fast: {provider: local, name: gpt-x}\n" ..
      "tasks:\n  label: {model: fast, system: Label it., max_tokens: 50}\n"):format(m.url))
    local rc, out, err = chat("--config " .. q(d) .. " --task label --json great")
    assert.equal(0, rc, err)
    local r = require("cjson").decode(out)
    assert.equal("Mock reply to: great", r.content)
    assert.equal("gpt-x", r.model)
    assert.equal("local", r.provider)
  end)

  local FAILS = {
    { "no provider", "hi", 2, "no provider: set OPENAI_API_KEY or ANTHROPIC_API_KEY" },
    { "unknown option", "--bogus hi", 2, "unknown option %-%-bogus" },
    { "bad number", "--max-tokens lots hi", 2, "%-%-max%-tokens needs a number" },
    { "task without config", "--task x hi", 2, "%-%-task needs a config file" },
    { "bad config", "--config /nonexistent/keel.yaml hi", 2, "keel.config.load: /nonexistent/keel.yaml" },
  }
  for _, f in ipairs(FAILS) do
    it("says what is wrong: " .. f[1], function()
      local rc, _, err = chat(f[2])
      assert.equal(f[3], rc)
      assert.matches(f[4], err)
    end)
  end

  it("exits 1 with the error when the call fails", function()
    local rc, _, err = chat("--base-url " .. m.url .. "/v1 --model m1 hi", nil, "")
    assert.equal(0, rc)
    local d = sh.tmpname()
    sh.write(d, "return function(req, mock) return mock.openai.error_kind('rate_limit') end\n")
    local m2 = mock.start { scenario = d }
    rc, _, err = chat("--base-url " .. m2.url .. "/v1 --model m1 hi")
    m2:stop()
    assert.equal(1, rc)
    assert.matches("keel chat: rate_limit: HTTP 429 from openai", err)
  end)
end)

describe("examples/quickstart.lua (make demo)", function()
  local mock = require "spec.support.mock"
  local function run(envs)
    return sh.run("env -u OPENAI_API_KEY -u ANTHROPIC_API_KEY -u OPENAI_BASE_URL -u ANTHROPIC_BASE_URL " ..
      envs .. " " .. keel_bin .. " examples/quickstart.lua")
  end

  it("says it uses the local mock when no key is set, and runs all three steps", function()
    local rc, out, err = run("")
    assert.equal(0, rc, err)
    assert.matches("using the LOCAL MOCK provider", out)
    assert.matches("%[stream%] gpt%-4o%-mini · %d+ in %+ %d+ out tokens · %d+ ms %(first token %d+ ms%) · finish: stop", out)
    assert.matches("model called get_weather%(", out)
    assert.matches("2 vectors of 8 dimensions", out)
  end)

  -- The key paths, offline: the provider's base URL variable points at the mock.
  for _, p in ipairs { { "OPENAI", "Using OpenAI" }, { "ANTHROPIC", "Using Anthropic" } } do
    it("takes the " .. p[1] .. " path when its key is set", function()
      local m = mock.start()
      local rc, out, err = run(("%s_API_KEY=sk-demo %s_BASE_URL=%s/v1"):format(p[1], p[1], m.url))
      local reqs = m:requests()
      m:stop()
      assert.equal(0, rc, err .. out)
      assert.matches(p[2], out)
      assert.falsy(out:find("LOCAL MOCK", 1, true))
      assert.truthy(#reqs >= 3)
      if p[1] == "ANTHROPIC" then
        assert.matches("skipped: Anthropic has no embeddings API", out)
        assert.equal("sk-demo", reqs[1].headers["x-api-key"])
      else
        assert.equal("Bearer sk-demo", reqs[1].headers.authorization)
      end
    end)
  end
end)
