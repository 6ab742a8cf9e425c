-- keel.config: the YAML config file — sections, ${ENV}, positions in every
-- error, and a client built from it (tasks, models, providers) against keel mock.
local keel = require "keel"
local config = keel.config
local mock = require "spec.support.mock"
local cjson = require "cjson"

local function env(t) return function(k) return t[k] end end

local GOOD = [[
# providers, models, tasks
providers:
  openai:
    api_key: ${OPENAI_KEY_FOR_SPEC}
    timeout: ${TIMEOUT:-30}
  claude:
    type: anthropic
    api_key: ${ANTHROPIC_KEY_FOR_SPEC}
    headers:
      anthropic-beta: prompt-caching-2024-07-31
models:
  fast:
    provider: openai
    name: gpt-4o-mini
    context_window: 128000
    max_output_tokens: 16384
    price: { input: 0.15, output: 0.60, cached_input: 0.075 }
  smart:
    provider: claude
    name: claude-sonnet-4-5
    context_window: 200000
    max_output_tokens: 8192
    price: { input: 3, output: 15 }
tasks:
  sentiment:
    model: fast
    temperature: 0
    max_tokens: 5
    system: Answer positive, negative or neutral.
  summary:
    model: smart
    system: |
      Summarize in one sentence.
defaults:
  model: fast
  embed_model: fast
]]

describe("keel.config", function()
  it("reads providers, models, tasks and defaults", function()
    local cfg = config.parse(GOOD, "keel.yaml", env { OPENAI_KEY_FOR_SPEC = "sk-1", ANTHROPIC_KEY_FOR_SPEC = "sk-2" })
    assert.equal("sk-1", cfg.providers.openai.api_key)
    assert.equal(30, cfg.providers.openai.timeout)
    assert.equal("openai", cfg.providers.openai.type)
    assert.equal("anthropic", cfg.providers.claude.type)
    assert.same({ ["anthropic-beta"] = "prompt-caching-2024-07-31" }, cfg.providers.claude.headers)
    assert.same({ provider = "openai", name = "gpt-4o-mini", context_window = 128000, max_output_tokens = 16384,
      price = { input = 0.15, output = 0.60, cached_input = 0.075 } }, cfg.models.fast)
    assert.same({ model = "fast", temperature = 0, max_tokens = 5, system = "Answer positive, negative or neutral." },
      cfg.tasks.sentiment)
    assert.equal("Summarize in one sentence.\n", cfg.tasks.summary.system)
    assert.same({ model = "fast", embed_model = "fast" }, cfg.defaults)
  end)

  it("interpolates ${VAR}, ${VAR:-default} and $$", function()
    local cfg = config.parse([[
providers:
  openai:
    base_url: http://${HOST:-localhost}:${PORT}/v1
    headers: { X-Cost: "$$5", X-Empty: "${EMPTY:-none}" }
]], "c.yaml", env { PORT = "8080", EMPTY = "" })
    assert.equal("http://localhost:8080/v1", cfg.providers.openai.base_url)
    assert.same({ ["X-Cost"] = "$5", ["X-Empty"] = "none" }, cfg.providers.openai.headers)
  end)

  -- Each bad file and the exact error: file:line:col first.
  local BAD = {
    { "unknown top key", "providers: {}\nmodel: x\n", "c.yaml:2:1: unknown key 'model' at the top (did you mean 'models'?)" },
    { "unknown model key", "providers: {openai: {}}\nmodels:\n  m:\n    provider: openai\n    contex_window: 5\n",
      "c.yaml:5:5: unknown key 'contex_window' in models.m (did you mean 'context_window'?)" },
    { "wrong type", "providers: {openai: {}}\ntasks:\n  t:\n    temperature: hot\n",
      "c.yaml:4:18: tasks.t.temperature: expected number, got 'hot'" },
    { "float for integer", "providers: {openai: {}}\nmodels:\n  m: {provider: openai, context_window: 1.5}\n",
      "c.yaml:3:41: models.m.context_window: expected integer, got the number 1.5" },
    { "mapping expected", "providers:\n  openai: yes\n", "c.yaml:2:11: providers.openai: expected a mapping, got string" },
    { "literal api key", "providers:\n  openai:\n    api_key: sk-live-123\n",
      "c.yaml:3:14: providers.openai.api_key: keys must not be written in the file" },
    { "unset variable", "providers:\n  openai:\n    base_url: ${NOPE_NOT_SET}\n",
      "c.yaml:3:15: providers.openai.base_url: environment variable NOPE_NOT_SET is not set" },
    { "number from env", "providers:\n  openai:\n    timeout: ${T}\n",
      "c.yaml:3:14: providers.openai.timeout: expected a number, ${...} gave 'soon'", { T = "soon" } },
    { "unknown provider type", "providers:\n  local:\n    base_url: http://x\n",
      "c.yaml:2:3: providers.local: unknown provider type 'local' (known: openai, anthropic); set type:" },
    { "model's provider missing", "providers: {openai: {}}\nmodels:\n  m:\n    provider: azure\n",
      "c.yaml:4:15: models.m: no provider 'azure' in providers:" },
    { "task model unknown with several providers",
      "providers: {openai: {}, anthropic: {}}\ntasks:\n  t:\n    model: gpt-9\n",
      "c.yaml:4:12: tasks.t.model: model 'gpt-9' is not in models:" },
    { "yaml syntax", "providers:\n  openai: {\n", "c.yaml:3:1:" },
    { "duplicate key", "providers: {}\nproviders: {}\n", "c.yaml:2:1: duplicate key 'providers'" },
    { "not a mapping", "- a\n- b\n", "c.yaml:1:1: expected a mapping at the top" },
  }
  for _, c in ipairs(BAD) do
    it("reports " .. c[1], function()
      local ok, err = pcall(config.parse, c[2], "c.yaml", env(c[4] or {}))
      assert.is_false(ok)
      assert.equal(c[3], err:sub(1, #c[3]))
    end)
  end

  it("defers an unset api_key variable to the first use of that provider", function()
    local cfg = config.parse(GOOD, "keel.yaml", env { OPENAI_KEY_FOR_SPEC = "sk-1" })
    local client = keel.client(cfg)
    local ok, err = pcall(client.chat, client, { model = "smart", prompt = "x" })
    assert.is_false(ok)
    assert.truthy(err:find("keel.yaml:8:14: providers.claude.api_key: environment variable ANTHROPIC_KEY_FOR_SPEC " ..
      "is not set", 1, true), err)
    client:close()
  end)

  it("loads a file and names a missing one", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("providers:\n  openai: {base_url: http://127.0.0.1:9/v1}\n")
    f:close()
    local cfg = config.load(path)
    assert.equal("http://127.0.0.1:9/v1", cfg.providers.openai.base_url)
    os.remove(path)
    assert.has_error(function() config.load(path) end)
  end)
end)

describe("a client from a config", function()
  local m, client
  setup(function()
    m = mock.start()
    local cfg = config.parse(([[
providers:
  local:
    type: openai
    base_url: %s/v1
  claude:
    type: anthropic
    base_url: %s/v1
    api_key: ${SPEC_KEY:-sk-spec}
models:
  fast: {provider: local, name: gpt-4o-mini, context_window: 128000}
  smart: {provider: claude, name: claude-x, max_output_tokens: 1000}
tasks:
  sentiment: {model: fast, temperature: 0, max_tokens: 5, system: "Label it."}
  summary: {model: smart, system: "Summarize."}
defaults: {model: fast, embed_model: fast}
]]):format(m.url, m.url), "spec.yaml")
    client = keel.client(cfg)
  end)
  teardown(function()
    client:close()
    m:stop()
  end)
  before_each(function() m:reset() end)

  local function sent()
    local rs = m:requests()
    return cjson.decode(rs[#rs].body), rs[#rs]
  end

  it("runs a task with its model, provider and settings", function()
    local r = assert(client:task("sentiment"):chat { prompt = "great product" })
    assert.equal("local", r.provider)
    local b = sent()
    assert.equal("gpt-4o-mini", b.model)
    assert.equal(0, b.temperature)
    assert.equal(5, b.max_tokens)
    assert.same({ role = "system", content = "Label it." }, b.messages[1])
  end)

  it("lets the call override the task", function()
    assert(client:task("sentiment"):chat { prompt = "x", temperature = 0.5, max_tokens = 9 })
    local b = sent()
    assert.equal(0.5, b.temperature)
    assert.equal(9, b.max_tokens)
  end)

  it("routes a task to the other provider and uses the model's output limit", function()
    local r = assert(client:task("summary"):chat { prompt = "long text" })
    assert.equal("claude", r.provider)
    local b, rec = sent()
    assert.equal("/v1/messages", rec.path)
    assert.equal("Summarize.", b.system)
    assert.equal(1000, b.max_tokens)
    assert.equal("claude-x", b.model)
    assert.equal("sk-spec", rec.headers["x-api-key"])
  end)

  it("uses the default model and embeds with the default embedding model", function()
    assert(client:chat { prompt = "x" })
    assert.equal("gpt-4o-mini", sent().model)
    assert(client:embed { input = "x" })
    assert.equal("gpt-4o-mini", sent().model)
  end)

  it("names unknown tasks and models", function()
    assert.has_error(function() client:task("nope") end, "keel: no task 'nope' (known: sentiment, summary)")
    local ok, err = pcall(client.chat, client, { model = "gpt-9", prompt = "x" })
    assert.is_false(ok)
    assert.truthy(err:find("model 'gpt-9' is not in the config's models", 1, true), err)
  end)
end)

describe("keel.client options", function()
  it("refuses unknown options and wrong types", function()
    assert.has_error(function() keel.client { provider = "openai", base_ulr = "x" } end,
      "keel.client: unknown option 'base_ulr'")
    local c = keel.client { provider = "openai", base_url = "http://127.0.0.1:9/v1", model = "m" }
    assert.has_error(function() c:chat { prompt = "x", temprature = 1 } end, "keel: unknown chat option 'temprature'")
    assert.has_error(function() c:chat { prompt = "x", max_tokens = "5" } end,
      "keel: chat option 'max_tokens' must be a number, got string")
    assert.has_error(function() c:chat {} end, "keel: chat needs messages (a non-empty array) or prompt")
    assert.has_error(function() keel.client { provider = "gemini" } end,
      "keel.client: unknown provider 'gemini' (known: openai, anthropic)")
    c:close()
    assert.has_error(function() c:chat { prompt = "x" } end, "keel: client is closed")
  end)

  it("asks for a key before calling a provider's own endpoint without one", function()
    local c = keel.client { provider = "anthropic", model = "m" }
    local saved = os.getenv("ANTHROPIC_API_KEY")
    if saved then pending("ANTHROPIC_API_KEY is set here") return end
    assert.has_error(function() c:chat { prompt = "x" } end,
      "keel: provider 'anthropic' needs an api_key: set ANTHROPIC_API_KEY or give api_key=")
    c:close()
  end)

  it("never sends an environment key to a base_url the user chose", function()
    local c = keel.client { provider = "openai", base_url = "http://127.0.0.1:9/v1" }
    local p = c:provider("openai")
    assert.is_nil(p.headers.Authorization)
    c:close()
  end)

  it("lets a stage be inserted and removed", function()
    local c = keel.client { provider = "openai", base_url = "http://127.0.0.1:9/v1", model = "m" }
    local seen
    c:use("spy", function(next) return function(ctx) seen = ctx.req.model; return nil, "stopped" end end)
    assert.same({ "route", "spy", "send" }, c:stage_names())
    assert.same({ nil, "stopped" }, { c:chat { prompt = "x" } })
    assert.equal("m", seen)
    c:remove("spy")
    assert.same({ "route", "send" }, c:stage_names())
    c:close()
  end)
end)

describe("docs/config.md", function()
  it("its example loads as documented", function()
    local f = assert(io.open("docs/config.md", "rb"))
    local doc = f:read("*a")
    f:close()
    local yaml_text = assert(doc:match("```yaml\n(.-)```"))
    local cfg = config.parse(yaml_text, "docs/config.md", env { OPENAI_API_KEY = "sk-a", ANTHROPIC_API_KEY = "sk-b" })
    assert.equal(120, cfg.providers["local"].timeout)
    assert.equal("claude-sonnet-4-5", cfg.models.smart.name)
    assert.equal("Summarize in one sentence.\n", cfg.tasks.summary.system)
    assert.equal("openai", cfg.defaults.provider)
  end)
end)

describe("keel.config review regressions", function()
  it("reads $$ as a literal $ and never rescans a substituted value", function()
    local cfg = config.parse("providers:\n  openai:\n    api_key: ${K}\n    base_url: https://$${HOST}/v1\n",
      "c.yaml", env { K = "sk-ab$$cd", HOST = "evil" })
    assert.equal("sk-ab$$cd", cfg.providers.openai.api_key)
    assert.equal("https://${HOST}/v1", cfg.providers.openai.base_url)
    local ok, err = pcall(config.parse, "providers:\n  openai:\n    api_key: sk$$live\n", "c.yaml", env {})
    assert.is_false(ok)
    assert.matches("keys must not be written in the file", err)
  end)

  local BAD_TASKS = {
    { "tool_choice: 5", "c.yaml:4:18: tasks.t.tool_choice: expected string or table, got the number 5" },
    { "stop: 5", "c.yaml:4:11: tasks.t.stop: expected string or table, got the number 5" },
  }
  for _, c in ipairs(BAD_TASKS) do
    it("checks task option types: " .. c[1], function()
      local ok, err = pcall(config.parse, "providers: {openai: {}}\ntasks:\n  t:\n    " .. c[1] .. "\n", "c.yaml", env {})
      assert.is_false(ok)
      assert.equal(c[2], err)
    end)
  end

  it("checks a provider's http options and interpolates them", function()
    local ok, err = pcall(config.parse, "providers:\n  openai:\n    http: {max_conections: 5}\n", "c.yaml", env {})
    assert.is_false(ok)
    assert.equal("c.yaml:3:12: unknown key 'max_conections' in providers.openai.http (did you mean 'max_connections'?)", err)
    local cfg = config.parse("providers:\n  openai:\n    http: {proxy: 'http://u:${P}@proxy:3128'}\n", "c.yaml",
      env { P = "pw" })
    assert.equal("http://u:pw@proxy:3128", cfg.providers.openai.http.proxy)
  end)

  it("checks a config written as a Lua table", function()
    assert.has_error(function()
      keel.client { providers = { openai = { base_ulr = "http://127.0.0.1:9/v1" } } }
    end, "keel.client: unknown key 'base_ulr' in providers.openai (did you mean 'base_url'?)")
    assert.has_error(function()
      keel.client { providers = { openai = {} }, model = "m" }
    end, "keel.client: unknown key 'model' at the top (did you mean 'models'?)")
    local c = keel.client { providers = { openai = { base_url = "http://127.0.0.1:9/v1", api_key = "sk-lua" } },
      defaults = { model = "m" } }
    assert.equal("Bearer sk-lua", c:provider("openai").headers.Authorization)
    c:close()
  end)
end)
