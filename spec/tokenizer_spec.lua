-- keel.tokenizer: exact against OpenAI's tiktoken, and the Lua API around it.
-- The expected ids in spec/fixtures/tokenizer/*.txt come from npm
-- tiktoken@1.0.22 (OpenAI's Rust core as WASM), written by
-- scripts/gen_tokenizer_fixtures.mjs (its header explains the format).
local tokenizer = require "keel.tokenizer"
local sh = require "spec.support.sh"

local ENCODINGS = { "r50k_base", "p50k_base", "p50k_edit", "cl100k_base", "o200k_base" }

local function unhex(h) return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end)) end
local function split(s, sep)
  local out = {}
  if s == "" then return out end
  for part in (s .. sep):gmatch("(.-)" .. sep:gsub("%p", "%%%0")) do out[#out + 1] = part end
  return out
end

-- Under valgrind (50x slower) every 20th case: the memory checks need the
-- code paths, the exactness runs in full in the other suites.
local STEP = os.getenv("KEEL_VALGRIND") and 20 or 1

local function load_cases(enc)
  local f = assert(io.open("spec/fixtures/tokenizer/" .. enc .. ".txt", "rb"))
  local groups = {}
  local seen = {}
  for line in f:lines() do
    if line:sub(1, 1) ~= "#" then
      local hex, mode, want = line:match("^(%x*)\t([^\t]+)\t(.*)$")
      assert(hex, "bad fixture line: " .. line)
      local g = mode:match("^%a+")
      groups[g] = groups[g] or {}
      seen[g] = (seen[g] or 0) + 1
      if seen[g] % STEP == 0 then table.insert(groups[g], { text = unhex(hex), mode = mode, want = want }) end
    end
  end
  f:close()
  return groups
end

-- The options a fixture mode stands for, and the names in it the encoding lacks.
local function opts_for(mode, specials)
  if mode == "none" or mode == "ordinary" then return nil, nil end
  if mode == "all" then return { allowed_special = "all" }, nil end
  local a, d = mode:match("^allow=([^;]*);disallow=(.*)$")
  if not a then a = mode:match("^allow=(.*)$") end
  local unknown
  local function list(s)
    local t = setmetatable({}, nil)
    for _, name in ipairs(split(s, ",")) do
      t[#t + 1] = name
      if not specials[name] then unknown = unknown or name end
    end
    return t
  end
  local o = { allowed_special = list(a) }
  if d then o.disallowed_special = list(d) end
  return o, unknown
end

local function valid_utf8(s)
  return utf8 and utf8.len(s) ~= nil
end

describe("keel.tokenizer exactness against tiktoken", function()
  for _, enc in ipairs(ENCODINGS) do
    describe(enc, function()
      local tok = tokenizer.get(enc)
      local specials = tok:special_tokens()
      for _, g in ipairs({ "none", "ordinary", "all", "allow" }) do
        it(("gives tiktoken's ids (mode %s)"):format(g), function()
          local cases = load_cases(enc)[g]
          assert.is_true(#cases * STEP > 100, "too few fixture cases")
          local bad = {}
          for _, c in ipairs(cases) do
            local opts, unknown = opts_for(c.mode, specials)
            local ok, got = pcall(function()
              if c.mode == "ordinary" then return tok:encode_ordinary(c.text) end
              return tok:encode(c.text, opts)
            end)
            local want = c.want
            local err_tok = want:match("^ERR (.*)$")
            local fail
            if unknown then
              -- keel refuses names the encoding lacks (tiktoken ignores them)
              if ok or not tostring(got):find("'" .. unknown .. "' is not a special token of " .. enc, 1, true) then
                fail = "expected an error naming " .. unknown .. ", got " .. tostring(ok and "ids" or got)
              end
            elseif err_tok then
              if ok or not tostring(got):find("special token that is not allowed: " .. err_tok, 1, true) then
                fail = "expected ERR " .. err_tok .. ", got " .. (ok and table.concat(got, " ") or tostring(got))
              end
            elseif not ok then
              fail = "raised " .. tostring(got)
            else
              local s = table.concat(got, " ")
              if s ~= want then fail = "got " .. s .. ", want " .. want end
              local n = c.mode == "ordinary" and tok:count_ordinary(c.text) or tok:count(c.text, opts)
              if not fail and n ~= #got then fail = ("count %d ~= #encode %d"):format(n, #got) end
              if not fail and valid_utf8(c.text) and tok:decode(got) ~= c.text then fail = "decode differs" end
            end
            if fail then bad[#bad + 1] = ("%q [%s]: %s"):format(c.text:sub(1, 60), c.mode, fail) end
          end
          assert(#bad == 0, #bad .. " of " .. #cases .. " cases differ:\n" .. table.concat(bad, "\n", 1, math.min(#bad, 15)))
        end)
      end
    end)
  end

  it("maps gpt2 to r50k_base's ranks and specials", function()
    local g, r = tokenizer.get("gpt2"), tokenizer.get("r50k_base")
    local s = "Hello, world! <|endoftext|> 12345 naïve 日本語"
    assert.same(r:encode(s, { allowed_special = "all" }), g:encode(s, { allowed_special = "all" }))
    assert.same({ ["<|endoftext|>"] = 50256 }, g:special_tokens())
    assert.equal(50257, g.n_vocab)
  end)
end)

describe("keel.tokenizer API", function()
  local tok = tokenizer.get("cl100k_base")

  it("keeps one tokenizer per encoding per Lua state", function()
    assert.equal(tok, tokenizer.get("cl100k_base"))
    assert.equal("cl100k_base", tok.name)
    assert.equal(100277, tok.n_vocab)
    assert.equal("keel.tokenizer(cl100k_base)", tostring(tok))
  end)

  it("maps models to encodings, dated names included", function()
    for model, enc in pairs({ ["gpt-4o"] = "o200k_base", ["gpt-4o-2024-08-06"] = "o200k_base",
      ["gpt-4.1-mini"] = "o200k_base", ["o3-mini"] = "o200k_base", ["gpt-5.1"] = "o200k_base",
      ["gpt-4-0613"] = "cl100k_base", ["gpt-3.5-turbo-0125"] = "cl100k_base",
      ["text-embedding-3-small"] = "cl100k_base", ["text-davinci-003"] = "p50k_base",
      ["gpt-oss-120b"] = "o200k_harmony" }) do
      local t, name = tokenizer.for_model(model)
      assert.equal(enc, name, model)
      assert.equal(enc, t.name, model)
    end
    assert.has_error(function() tokenizer.for_model("llama-3") end,
      "keel.tokenizer: no encoding known for model 'llama-3' (give the encoding: keel.tokenizer.get(name))")
  end)

  it("names the known encodings when given an unknown one", function()
    local ok, err = pcall(tokenizer.get, "cl200k")
    assert.is_false(ok)
    assert.matches("unknown encoding 'cl200k' %(known: gpt2, r50k_base, p50k_base, p50k_edit, cl100k_base, o200k_base, o200k_harmony%)", err)
  end)

  it("has o200k_harmony's special tokens", function()
    local h = tokenizer.get("o200k_harmony")
    local sp = h:special_tokens()
    assert.equal(199998, sp["<|startoftext|>"])
    assert.equal(200006, sp["<|start|>"])
    assert.equal(200012, sp["<|call|>"])
    assert.equal(201087, sp["<|reserved_201087|>"])
    assert.is_nil(sp["<|reserved_201088|>"])
    assert.same({ 200006, 1428, 200008, 3686, 200007 },
      h:encode("<|start|>user<|message|>hi<|end|>", { allowed_special = "all" }))
    assert.equal(201088, h.n_vocab)
    assert.equal("<|endofprompt|>", h:decode({ 200018 })) -- named twice; the first name wins
  end)

  it("replaces invalid UTF-8 by U+FFFD per maximal subpart, as tiktoken", function()
    for bad, good in pairs({ ["\xff"] = "\u{FFFD}", ["a\xc0\xafb"] = "a\u{FFFD}\u{FFFD}b",
      ["\xf0\x9f\x98"] = "\u{FFFD}", ["\xed\xa0\x80x"] = "\u{FFFD}\u{FFFD}\u{FFFD}x" }) do
      assert.same(tok:encode(good), tok:encode(bad))
      assert.equal(tok:count(good), tok:count(bad))
    end
  end)

  it("counts without building a table, with the same options as encode", function()
    local s = "x<|endoftext|>y <|fim_prefix|>"
    assert.equal(#tok:encode(s, { allowed_special = "all" }), tok:count(s, { allowed_special = "all" }))
    assert.equal(#tok:encode_ordinary(s), tok:count_ordinary(s))
    assert.has_error(function() tok:count(s) end)
  end)

  it("says which special token is not allowed, and where", function()
    local ok, err = pcall(tok.encode, tok, "abc <|fim_middle|> <|endoftext|>", { allowed_special = { "<|endoftext|>" } })
    assert.is_false(ok)
    assert.matches("special token that is not allowed: <|fim_middle|> (at byte 5)", err, 1, true)
  end)

  it("accepts specials as a list or a set, and checks option values", function()
    local s = "a<|endoftext|>"
    assert.same({ 64, 100257 }, tok:encode(s, { allowed_special = { "<|endoftext|>" } }))
    assert.same({ 64, 100257 }, tok:encode(s, { allowed_special = { ["<|endoftext|>"] = true } }))
    assert.same(tok:encode_ordinary(s), tok:encode(s, { disallowed_special = {} }))
    for _, o in ipairs({ { allowed_special = "some" }, { allowed_special = 3 }, { allowed_special = { 3 } },
      { disallowed_special = { "<|nope|>" } }, { allowedspecial = "all" }, { [1] = "x" } }) do
      assert.has_error(function() tok:encode(s, o) end)
    end
  end)

  it("decodes ids to bytes and refuses ids that are not tokens", function()
    assert.equal("hello world", tok:decode(tok:encode("hello world")))
    assert.equal("<|endoftext|>", tok:decode({ 100257 }))
    assert.equal("", tok:decode({}))
    -- a token can end mid-character: decode gives the bytes as they are
    local ids = tok:encode("日本")
    local partial = tok:decode({ ids[1] })
    assert.equal(("日本"):sub(1, #partial), partial)
    assert.equal(tok:token_bytes(ids[1]), partial)
    assert.has_error(function() tok:decode({ 100256 }) end, "keel.tokenizer: decode: ids[1] = 100256 is not a token of cl100k_base")
    assert.has_error(function() tok:decode({ 1, -1 }) end)
    assert.has_error(function() tok:decode({ 1.5 }) end)
    assert.has_error(function() tok:decode({ "x" }) end)
    assert.has_error(function() tok:token_bytes(1e12) end)
  end)

  it("gives the same ids with the piece cache off, on and warm", function()
    local s = ("Tokenization of unusual words: antidisestablishmentarianism, floccinaucinihilipilification. "):rep(20)
    tok:set_cache(false)
    local cold = tok:encode(s)
    tok:set_cache(true)
    tok:clear_cache()
    local h0, m0 = tok:cache_stats()
    assert.same(cold, tok:encode(s))
    assert.same(cold, tok:encode(s))
    local h1, m1 = tok:cache_stats()
    assert.is_true(h1 > h0 and m1 > m0)
  end)

  it("encodes 1 MiB runs in linear time", function()
    for _, c in ipairs({ { " ", 8192 }, { "a", nil }, { "\n", nil } }) do
      local s = c[1]:rep(1048576)
      local t0 = os.clock()
      local n = tok:count(s)
      local dt = os.clock() - t0
      if c[2] then assert.equal(c[2], n) end
      assert.is_true(n > 0 and n < #s)
      assert.is_true(dt < 2, ("%q x 1 MiB took %.3f s"):format(c[1], dt))
      assert.equal(n, #tok:encode(s))
    end
  end)

  describe("truncate", function()
    local function next_cp(s, i)
      local j = i + 1
      while j <= #s and s:byte(j) >= 0x80 and s:byte(j) < 0xc0 do j = j + 1 end
      return j
    end
    local samples = { "Hello, world! This is a test of truncation.", "日本語のテキストを切り詰める",
      "emoji 👨‍👩‍👧 and é (e\u{301}) combining", "   spaces   and\n\n\nnewlines  ", "1234567890123",
      "a<|endoftext|>b<|endoftext|>c" }
    it("gives the longest prefix that fits, on a code point boundary", function()
      for _, s in ipairs(samples) do
        local opts = { allowed_special = "all" }
        local total = tok:count(s, opts)
        for n = 0, total + 1 do
          local p, c = tok:truncate(s, n, opts)
          assert.equal(s:sub(1, #p), p)
          assert.is_true(c <= n)
          assert.equal(tok:count(p, opts), c)
          if #p < #s then
            assert.is_true(s:byte(#p + 1) < 0x80 or s:byte(#p + 1) >= 0xc0, "cut inside a character")
            assert.is_true(tok:count(s:sub(1, next_cp(s, #p + 1) - 1), opts) > n, ("could keep more of %q at %d"):format(s, n))
          else
            assert.equal(total, c)
          end
        end
      end
    end)
    it("looks past a prefix that does not fit, since counts are not monotone", function()
      -- r50k: "HT" is 1 token, "HTT" 2, "HTTP" 1
      assert.same({ "HTTP", 1 }, { tokenizer.get("r50k_base"):truncate("HTTPServer", 1) })
      assert.same({ "McDonald", 2 }, { tok:truncate("McDonalde", 2) })
    end)
    it("checks its arguments and honours special-token rules", function()
      assert.has_error(function() tok:truncate("x", -1) end)
      assert.has_error(function() tok:truncate("x", 1.5) end)
      assert.has_error(function() tok:truncate("x<|endoftext|>", 1) end)
      assert.same({ "", 0 }, { tok:truncate("hello", 0) })
      -- invalid input: a prefix of the replaced text (two U+FFFD are one token here)
      assert.same({ "\u{FFFD}\u{FFFD}", 1 }, { tok:truncate("\xff\xffabc", 1) })
      assert.same({ "a\u{FFFD}\u{FFFD}", 2 }, { tok:truncate("a\xff\xa0 b", 2) })
    end)
  end)
end)

describe("vocabulary lookup", function()
  local keel = os.getenv("KEEL_BIN") or "bin/keel"
  local script = [[local t = require("keel.tokenizer").get(arg[1]); local i = t:info()
    io.write(i.source, "\n", t:count("hello world"), "\n")]]
  local function run(env, enc)
    local f = sh.tmpname()
    sh.write(f, script)
    local rc, out, err = sh.run(("env -u KEEL_TOKENIZER_DIR -u TIKTOKEN_CACHE_DIR -u DATA_GYM_CACHE_DIR %s %s %s %s")
      :format(env, sh.q(keel), sh.q(f), enc or "r50k_base"))
    os.remove(f)
    return rc, out, err
  end
  local vocab = "build/vocab/r50k_base.tiktoken"

  it("uses KEEL_TOKENIZER_DIR first and checks the file's sha256", function()
    local d = sh.tmpname()
    assert(sh.ok("mkdir -p " .. sh.q(d) .. " && cp " .. vocab .. " " .. sh.q(d)))
    local rc, out = run("KEEL_TOKENIZER_DIR=" .. sh.q("/nonexistent:" .. d))
    assert.equal(0, rc)
    assert.equal(d .. "/r50k_base.tiktoken\n2\n", out)
    assert(sh.ok("printf 'x' >> " .. sh.q(d .. "/r50k_base.tiktoken")))
    local rc2, _, err = run("KEEL_TOKENIZER_DIR=" .. sh.q(d))
    assert.equal(1, rc2)
    assert.matches("r50k_base.tiktoken: sha256 mismatch: expected 306cd27f", err)
    sh.ok("rm -rf " .. sh.q(d))
  end)

  it("turns the cache off for an empty DATA_GYM_CACHE_DIR, as tiktoken", function()
    local rc, _, err = run("KEEL_TOKENIZER_SHARE= KEEL_TOKENIZER_OFFLINE=1 DATA_GYM_CACHE_DIR=")
    assert.equal(1, rc)
    assert.matches("not found %(looked in no directory: none is set; downloads are off", err)
  end)

  it("says where it looked when the file is nowhere and downloads are off", function()
    local c = sh.tmpname()
    local rc, _, err = run(("KEEL_TOKENIZER_SHARE= KEEL_TOKENIZER_OFFLINE=1 TIKTOKEN_CACHE_DIR=%s"):format(sh.q(c)))
    assert.equal(1, rc)
    assert.matches("r50k_base.tiktoken not found %(looked in " .. c:gsub("%p", "%%%0") ..
      "/0ea1e91bbb3a60f729a8dc8f777fd2fc07cd8df4; downloads are off", err)
    assert.matches("make vocab", err)
  end)

  local nginx = require "spec.support.nginx"
  local it_nginx = nginx.available() and it or pending
  it_nginx("downloads into tiktoken's cache (sha1 of the URL), then reads the cache", function()
    local root = assert(io.popen("pwd")):read("*l")
    local srv = nginx.start({ locations = ("location /enc/ { alias %s/build/vocab/; }"):format(root) })
    local cache = sh.tmpname()
    local env = ("KEEL_TOKENIZER_SHARE= TIKTOKEN_CACHE_DIR=%s KEEL_TOKENIZER_BASE_URL=%s/enc"):format(
      sh.q(cache), srv.url)
    local rc, out, err = run(env)
    assert.equal(0, rc, err)
    assert.equal(srv.url .. "/enc/r50k_base.tiktoken\n2\n", out)
    local url = srv.url .. "/enc/r50k_base.tiktoken"
    local p = assert(io.popen("printf %s " .. sh.q(url) .. " | sha1sum"))
    local key = p:read("*a"):match("^(%x+)")
    p:close()
    srv:stop()
    rc, out = run(env .. " KEEL_TOKENIZER_OFFLINE=1")
    assert.equal(0, rc)
    assert.equal(cache .. "/" .. key .. "\n2\n", out)
    -- a corrupt cached file is ignored, as tiktoken does, and the message says so
    assert(sh.ok("printf 'x' >> " .. sh.q(cache .. "/" .. key)))
    local err
    rc, _, err = run(env .. " KEEL_TOKENIZER_OFFLINE=1")
    assert.equal(1, rc)
    assert.matches("failed its sha256 check: ignored", err)
    sh.ok("rm -rf " .. sh.q(cache))
  end)

  it_nginx("refuses a download whose sha256 is wrong", function()
    local d = sh.tmpname()
    assert(sh.ok("mkdir -p " .. sh.q(d) .. " && head -c 1000 build/vocab/r50k_base.tiktoken > " .. sh.q(d .. "/r50k_base.tiktoken")))
    local srv = nginx.start({ locations = ("location /enc/ { alias %s/; }"):format(d) })
    local rc, _, err = run(("KEEL_TOKENIZER_SHARE= TIKTOKEN_CACHE_DIR= KEEL_TOKENIZER_BASE_URL=%s/enc"):format(srv.url))
    srv:stop()
    assert.equal(1, rc)
    assert.matches("sha256 mismatch", err)
    sh.ok("rm -rf " .. sh.q(d))
  end)
end)

describe("keel tokens (CLI)", function()
  local keel = os.getenv("KEEL_BIN") or "bin/keel"
  local cases = {
    { "count --encoding cl100k_base", "hello world", 0, "2\n" },
    { "count --model gpt-4o", "hello world <|endoftext|>", 0, "9\n" }, -- text is text by default
    { "count --encoding cl100k_base --allowed-special all", "hello<|endoftext|>", 0, "2\n" },
    { "encode --encoding cl100k_base", "hello world", 0, "[15339,1917]\n" },
    { "encode --encoding cl100k_base --allowed-special '<|endoftext|>'", "x<|endoftext|>", 0, "[87,100257]\n" },
    { "encode --encoding cl100k_base --allowed-special all", "", 0, "[]\n" },
    { "decode --encoding cl100k_base", "[15339, 1917, 100257]", 0, "hello world<|endoftext|>" },
    { "decode --encoding cl100k_base -", "[]", 0, "" },
    { "count --chat --model gpt-4o", '[{"role":"user","content":"hi"}]', 0, "8\n" },
    { "count --chat --model claude-sonnet-4-5", '[{"role":"user","content":"hi"}]', 0, "8 (estimated)\n" },
    { "decode --encoding cl100k_base", "[1, 100256]", 1, "", "decode: ids%[2%] = 100256 is not a token of cl100k_base" },
    { "decode", "{\"a\":1", 1, "", "a JSON array of token ids expected" },
    { "count --encoding cl100k_base --allowed-special '<|nope|>'", "x", 1, "", "'<|nope|>' is not a special token" },
    { "count --encoding cl9", "x", 2, "", "unknown encoding 'cl9'" },
    { "count --model llama", "x", 2, "", "no encoding known for model 'llama'" },
    { "count --encoding cl100k_base --model gpt-4", "x", 2, "", "not both" },
    { "count --chat", "[]", 2, "", "%-%-chat goes with count and %-%-model" },
    { "frob", "", 2, "", "unknown command 'frob'" },
    { "count a b", "", 2, "", "one input file at most" },
    { "count /nonexistent/file", "", 1, "", "No such file" },
    { "count --bogus", "", 2, "", "unknown option %-%-bogus" },
    { "decode", '{"a":1}', 1, "", "a JSON array of token ids expected" },
    { "decode", "[1.5]", 1, "", "ids%[1%] is not a token id %(1.5%)" },
    { "decode", '["x"]', 1, "", "ids%[1%] is not a token id %(a string%)" },
    { "count --chat --model gpt-4o", '{"role":"user","content":"hi"}', 1, "", "a JSON array of messages expected" },
    { "count --chat --model gpt-4o", "[1,2]", 1, "", "message 1 is not an object with a role" },
  }
  for _, c in ipairs(cases) do
    it(("%s → exit %d"):format(c[1], c[3]), function()
      local rc, out, err = sh.run(sh.q(keel) .. " tokens " .. c[1], c[2])
      assert.equal(c[3], rc, err)
      assert.equal(c[4], out)
      if c[5] then assert.matches(c[5], err) end
    end)
  end
  it("reads a file argument", function()
    local f = sh.tmpname()
    sh.write(f, "hello world")
    local rc, out = sh.run(sh.q(keel) .. " tokens count --encoding cl100k_base " .. sh.q(f))
    os.remove(f)
    assert.equal(0, rc)
    assert.equal("2\n", out)
  end)
end)

describe("keel.tokenizer handles", function()
  it("close once, say so, refuse use, and get() makes a fresh one", function()
    local t = tokenizer.get("r50k_base")
    assert.is_false(t.closed)
    t:close()
    t:close()
    assert.is_true(t.closed)
    assert.equal("keel.tokenizer (closed)", tostring(t))
    assert.has_error(function() t:count("x") end, "keel.tokenizer: the tokenizer is closed")
    local t2 = tokenizer.get("r50k_base")
    assert.are_not.equal(t, t2)
    assert.equal(1, t2:count("x"))
  end)
end)
