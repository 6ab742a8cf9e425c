-- bench/tokenizer corpus: a deterministic mixed text, the one file keel and
-- the JS peers all read. Same bytes on every machine and run (a fixed 64-bit
-- LCG, no os/time input): English prose with contractions and numbers,
-- accented Latin, Cyrillic and Greek, CJK (Chinese, Japanese, Korean),
-- emoji (ZWJ families, flags, skin tones), C / Lua / Python / JS code, JSON
-- (pretty and compact), markdown, log lines, URLs, hex and base64, and
-- whitespace (indentation, blank-line runs, CRLF, tabs, NBSP, U+3000, space
-- runs up to 256). Valid UTF-8 throughout and no special-token text.
-- Letter and whitespace runs are kept short (printed on stderr): npm
-- tiktoken's merge is quadratic in piece length, and the throughput figures
-- should measure tokenizing, not that.
--   lua5.4 corpus.lua OUT [BYTES]      (default 2000000; Lua 5.4 integers)
local out, target = arg[1], tonumber(arg[2] or "2000000")
assert(out, "usage: corpus.lua OUT [BYTES]")
assert(math.type(1) == "integer", "corpus.lua needs Lua 5.4 integers")

local state = 0x2545F4914F6CDD1D
local function rand(n) -- 1..n
  state = state * 6364136223846793005 + 1442695040888963407
  return ((state >> 33) % n) + 1
end
local function pick(t) return t[rand(#t)] end
local function chance(p) return rand(1000) <= p * 1000 end

local W = {} -- English words
for w in ([[the of and to in a is that for it as was with be by on not he I this are or his from at which
but have an they you were her she there been one all we their has would when if so no will more can who
its out into them only some than other time could these two may first then do any like my now over such
our man me even most made after also did many before must through back years where much your way well down
should because each just those people how too little state good very make world still own see men work long
get here between both life being under never day same another know while last might us great old year off
come since against go came right used take three states himself few house use during without again place
around however home small found thought went say part once general high upon school every number does
system request response token model server client stream buffer message context latency budget retry
timeout connection payload schema function parameter vector memory thread process kernel socket library
compile runtime benchmark throughput cache vocabulary encoder decoder parser pipeline deploy config error
value string integer boolean object array index cluster network storage database query transaction
quietly rapidly carefully nearly simply really usually often always sometimes perhaps probably clearly
river mountain garden window kitchen morning evening winter summer yellow silver golden ancient modern
history science language culture music painting letter story journey village harbor market island forest]]):gmatch("%S+") do
  W[#W + 1] = w
end
local CONTRACT = { "don't", "it's", "they're", "we'll", "I'm", "you've", "can't", "she'd", "isn't", "won't",
  "that's", "there's", "we've", "I'd", "he'll", "wouldn't", "DON'T", "It's", "They'RE" }
local FOREIGN = {
  "café", "naïve", "façade", "élève", "déjà", "über", "Straße", "Größe", "Mädchen", "español", "niño",
  "corazón", "São", "Ærø", "smørrebrød", "Łódź", "Český", "İstanbul", "Ελλάδα", "καλημέρα", "φιλοσοφία",
  "Москва", "спасибо", "программирование", "хорошо", "Привет", "мир", "Київ", "שלום", "مرحبا", "नमस्ते",
  "ภาษาไทย", "Tiếng", "Việt", "coöperate", "résumé", "crème", "brûlée", "jalapeño", "Zürich", "Øresund",
}
local ZH = { "我们", "今天", "天气", "很好", "一起", "去", "公园", "散步", "这个", "问题", "非常", "重要",
  "人工智能", "语言模型", "计算机", "程序员", "正在", "学习", "新的", "技术", "数据", "分析", "结果",
  "北京", "上海", "中国", "世界", "发展", "经济", "文化", "历史", "时间", "因为", "所以", "但是", "可以",
  "没有", "已经", "应该", "需要", "服务器", "请求", "响应", "缓存", "分词器", "性能", "测试" }
local JA = { "こんにちは", "ありがとう", "ございます", "日本語", "勉強", "しています", "東京", "大阪", "の",
  "天気", "は", "です", "ました", "カタカナ", "コンピュータ", "プログラム", "データベース", "を", "に",
  "使って", "作り", "ます", "とても", "面白い", "桜", "が", "咲いて", "いる", "ラーメン", "食べ", "たい" }
local KO = { "안녕하세요", "감사합니다", "한국어", "공부", "하고", "있습니다", "서울", "날씨", "가", "좋아요",
  "컴퓨터", "프로그램", "데이터", "를", "사용", "해서", "만들", "었어요", "정말", "재미있", "는", "책" }
local EMOJI = { "😀", "😂", "🥲", "😍", "🤔", "🙏", "👍", "👍🏽", "👋🏻", "🎉", "🔥", "✨", "❤️", "💯", "🚀",
  "🐍", "🦀", "🌍", "☕", "🍕", "📦", "✅", "❌", "⚠️", "🧵", "👨‍👩‍👧", "👩🏾‍💻", "🏳️‍🌈", "🇫🇷", "🇯🇵",
  "🇺🇸", "1️⃣", "🤷‍♀️", "🧑‍🚀", "🫠", "🪐", "💡", "📈", "🎵", "👀" }
local IDENT = { "count", "buf", "len", "ctx", "node", "next", "prev", "value", "result", "err", "opts",
  "items", "index", "offset", "size", "cap", "data", "key", "tokens", "piece", "rank", "state", "handle",
  "config", "request", "response", "payload", "stream", "parser", "encoder", "retries", "timeout_ms" }

local parts, total = {}, 0
local function emit(s)
  parts[#parts + 1] = s
  total = total + #s
end

local function word()
  local r = rand(100)
  if r <= 4 then return pick(CONTRACT) end
  if r <= 7 then return pick(FOREIGN) end
  if r <= 9 then return tostring(rand(100000) - 1) end
  if r == 10 then return ("%d,%03d"):format(rand(999), rand(1000) - 1) end
  if r == 11 then return ("%d.%02d"):format(rand(500), rand(100) - 1) end
  return pick(W)
end

local function sentence()
  local n = 6 + rand(18)
  local ws = {}
  for i = 1, n do
    local w = word()
    if i == 1 then w = w:gsub("^%l", string.upper) end
    if i > 2 and i < n and chance(0.06) then w = w .. "," end
    if chance(0.02) then w = '"' .. w .. '"' end
    if chance(0.015) then w = "(" .. w .. ")" end
    if chance(0.01) then w = w .. " " .. pick(EMOJI) end
    ws[#ws + 1] = w
  end
  local ends = { ".", ".", ".", ".", "?", "!", "...", ":" }
  return table.concat(ws, " ") .. pick(ends)
end

local function prose()
  if chance(0.3) then emit(("#"):rep(rand(3)) .. " " .. sentence():gsub("[%p]+$", "") .. "\n\n") end
  for _ = 1, 1 + rand(4) do
    local ss = {}
    for i = 1, 2 + rand(5) do ss[i] = sentence() end
    emit(table.concat(ss, " ") .. "\n\n")
  end
  if chance(0.3) then
    for _ = 1, 2 + rand(4) do emit(pick { "- ", "* ", "1. ", "  - " } .. sentence() .. "\n") end
    emit("\n")
  end
end

local function cjk()
  local langs = { ZH, ZH, JA, KO }
  local L = pick(langs)
  local punct = L == KO and { ". ", "? ", "! " } or { "。", "，", "！", "？", "、", "：" }
  for _ = 1, 2 + rand(5) do
    local n = 2 + rand(6)
    local ws = {}
    for i = 1, n do ws[i] = pick(L) end
    local sep = L == KO and " " or ""
    local s = table.concat(ws, sep)
    if chance(0.15) then s = s .. pick(EMOJI) end
    if chance(0.1) then s = s .. " " .. pick(W) .. " " .. rand(2025) end
    emit(s .. pick(punct))
  end
  emit("\n\n")
end

local function emoji_chat()
  for _ = 1, 2 + rand(6) do
    local s = {}
    for i = 1, 1 + rand(6) do s[i] = pick(EMOJI) end
    local line = chance(0.5) and (sentence() .. " " .. table.concat(s)) or (table.concat(s, chance(0.5) and "" or " ") .. " " .. pick(W))
    emit(line .. "\n")
  end
  emit("\n")
end

local function ident()
  local a = pick(IDENT)
  local r = rand(4)
  if r == 1 then return a .. "_" .. pick(IDENT) end
  if r == 2 then return a .. pick(IDENT):gsub("^%l", string.upper) end
  return a
end

local function code()
  local lang = rand(4)
  local ind = pick { "  ", "    ", "\t" }
  local name = ident()
  local lines = {}
  local function L(depth, s) lines[#lines + 1] = ind:rep(depth) .. s end
  if lang == 1 then -- C
    L(0, ("static int %s(struct %s *%s, size_t %s) {"):format(name, ident(), ident(), ident()))
    for _ = 1, 3 + rand(8) do
      local r = rand(5)
      if r == 1 then L(1, ("if (%s->%s == NULL) return -%d;"):format(ident(), ident(), rand(40)))
      elseif r == 2 then
        L(1, ("for (size_t i = 0; i < %s; i++) {"):format(ident()))
        L(2, ("%s[i] = (uint32_t)%s[i] << %d | 0x%04x;"):format(ident(), ident(), rand(24), rand(65535)))
        L(1, "}")
      elseif r == 3 then L(1, ("%s += %s * %d; /* %s */"):format(ident(), ident(), rand(1000), sentence()))
      elseif r == 4 then L(1, ('fprintf(stderr, "%s: %%s (%%d)\\n", %s, %s);'):format(pick(W), ident(), ident()))
      else L(1, ("memcpy(%s + %s, %s, %s * sizeof(*%s));"):format(ident(), ident(), ident(), ident(), ident())) end
    end
    L(1, "return 0;")
    L(0, "}")
  elseif lang == 2 then -- Lua
    L(0, ("local function %s(%s, %s)"):format(name, ident(), ident()))
    for _ = 1, 3 + rand(8) do
      local r = rand(5)
      if r == 1 then L(1, ("if not %s then return nil, %q end"):format(ident(), sentence()))
      elseif r == 2 then
        L(1, ("for i, %s in ipairs(%s) do"):format(ident(), ident()))
        L(2, ("%s[#%s + 1] = %s:sub(1, %d)"):format(ident(), ident(), ident(), rand(80)))
        L(1, "end")
      elseif r == 3 then L(1, ("local %s = %s.%s or %d -- %s"):format(ident(), ident(), ident(), rand(9999), sentence()))
      elseif r == 4 then L(1, ('%s = ("%%s=%%d"):format(%s, %s)'):format(ident(), ident(), ident()))
      else L(1, ("%s = %s and %s(%s) or {}"):format(ident(), ident(), ident(), ident())) end
    end
    L(1, ("return %s"):format(ident()))
    L(0, "end")
  elseif lang == 3 then -- Python
    L(0, ("def %s(self, %s: int = %d) -> dict[str, list[int]]:"):format(name, ident(), rand(100)))
    L(1, '"""' .. sentence() .. '"""')
    for _ = 1, 3 + rand(8) do
      local r = rand(5)
      if r == 1 then L(1, ("if %s is None:"):format(ident())); L(2, ("raise ValueError(f\"bad {%s!r}\")"):format(ident()))
      elseif r == 2 then L(1, ("for %s in range(%d):"):format(ident(), rand(512))); L(2, ("self.%s.append(%s ** 2)"):format(ident(), ident()))
      elseif r == 3 then L(1, ("%s = [x for x in %s if x %% %d == 0]  # %s"):format(ident(), ident(), rand(9), sentence()))
      elseif r == 4 then L(1, ("%s = {\"%s\": %s, \"%s\": %d}"):format(ident(), ident(), ident(), ident(), rand(99)))
      else L(1, ("await asyncio.sleep(%d.%d)"):format(rand(5), rand(9))) end
    end
    L(1, ("return %s"):format(ident()))
  else -- JavaScript
    L(0, ("export async function %s(%s, { %s = %d } = {}) {"):format(name, ident(), ident(), rand(100)))
    for _ = 1, 3 + rand(8) do
      local r = rand(5)
      if r == 1 then L(1, ("const %s = await fetch(`${%s}/v1/%s`, { method: 'POST' });"):format(ident(), ident(), pick(W)))
      elseif r == 2 then L(1, ("for (const %s of %s) %s.push(%s?.%s ?? null);"):format(ident(), ident(), ident(), ident(), ident()))
      elseif r == 3 then L(1, ("if (!%s) throw new Error('%s');"):format(ident(), sentence()))
      elseif r == 4 then L(1, ("%s = %s.map((x) => x * %d).filter(Boolean); // %s"):format(ident(), ident(), rand(10), pick(W)))
      else L(1, ("console.log(JSON.stringify(%s, null, 2));"):format(ident())) end
    end
    L(1, ("return %s;"):format(ident()))
    L(0, "}")
  end
  local nl = chance(0.1) and "\r\n" or "\n"
  local s = table.concat(lines, nl) .. nl
  if chance(0.5) then s = "```" .. ({ "c", "lua", "python", "js" })[lang] .. "\n" .. s .. "```\n" end
  emit(s .. "\n")
end

local function jstr()
  local r = rand(10)
  if r == 1 then return pick(ZH) .. pick(ZH) end
  if r == 2 then return pick(EMOJI) .. " " .. pick(W) end
  if r == 3 then return sentence():gsub('"', '\\"') end
  if r == 4 then return pick(FOREIGN) .. "\\n" .. pick(W) .. "\\u00e9" end
  if r == 5 then return ("%08x-%04x-4%03x-%04x"):format(rand(0x7fffffff), rand(65535), rand(4095), rand(65535)) end
  return pick(W) .. (chance(0.5) and ("_" .. pick(W)) or "")
end

local function jvalue(depth)
  local r = rand(depth > 2 and 6 or 9)
  if r == 1 then return tostring(rand(1000000) - 500000) end
  if r == 2 then return ("%d.%d"):format(rand(1000), rand(99999)) end
  if r == 3 then return pick { "true", "false", "null" } end
  if r <= 6 then return '"' .. jstr() .. '"' end
  if r == 7 then
    local a = {}
    for i = 1, rand(5) do a[i] = jvalue(depth + 1) end
    return a
  end
  local o = {}
  for i = 1, 1 + rand(5) do o[i] = { ident(), jvalue(depth + 1) } end
  o.obj = true
  return o
end

local function jdump(v, pretty, depth)
  if type(v) == "string" then return v end
  local pad, inner, sep, colon = "", "", ",", ":"
  if pretty then
    pad = "\n" .. ("  "):rep(depth)
    inner = "\n" .. ("  "):rep(depth + 1)
    sep, colon = ",", ": "
  end
  local items = {}
  if v.obj then
    for i, kv in ipairs(v) do items[i] = inner .. '"' .. kv[1] .. '"' .. colon .. jdump(kv[2], pretty, depth + 1) end
    return "{" .. table.concat(items, sep) .. pad .. "}"
  end
  for i, x in ipairs(v) do items[i] = inner .. jdump(x, pretty, depth + 1) end
  return "[" .. table.concat(items, sep) .. pad .. "]"
end

local function json()
  local o = { obj = true }
  for i = 1, 2 + rand(6) do o[i] = { ident(), jvalue(0) } end
  emit(jdump(o, chance(0.6), 0) .. "\n\n")
end

local function misc()
  local r = rand(5)
  if r == 1 then -- log lines
    for _ = 1, 3 + rand(8) do
      emit(("2024-%02d-%02dT%02d:%02d:%02d.%03dZ %s [%s] %s=%d %s\n"):format(rand(12), rand(28), rand(24) - 1,
        rand(60) - 1, rand(60) - 1, rand(1000) - 1, pick { "INFO", "WARN", "ERROR", "DEBUG" }, pick(IDENT),
        ident(), rand(100000), sentence()))
    end
  elseif r == 2 then -- URLs and hashes
    for _ = 1, 2 + rand(5) do
      local h = {}
      for i = 1, 8 do h[i] = ("%08x"):format(rand(0x7fffffff)) end
      emit(("https://%s.example.com/%s/%s?id=%d&q=%s#%s sha256:%s\n"):format(pick(W), pick(W), ident(),
        rand(99999), pick(W), pick(W), table.concat(h)))
    end
  elseif r == 3 then -- base64 (short lines, so no long letter runs)
    local b = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    for _ = 1, 2 + rand(4) do
      local t = {}
      for i = 1, 76 do local k = rand(64); t[i] = b:sub(k, k) end
      emit(table.concat(t) .. "\n")
    end
  elseif r == 4 then -- markdown table, aligned with space runs
    emit("| name | value | note |\n|---|---:|:---|\n")
    for _ = 1, 2 + rand(6) do
      emit(("| %-24s | %12d | %s%s|\n"):format(ident(), rand(1000000), pick(W), (" "):rep(rand(40))))
    end
  else -- whitespace: trailing spaces, blank runs, tabs, NBSP, U+3000, long space runs (<= 256)
    for _ = 1, 2 + rand(6) do
      local k = rand(8)
      if k == 1 then emit(pick(W) .. (" "):rep(rand(16)) .. "\n")
      elseif k == 2 then emit(("\n"):rep(rand(8)))
      elseif k == 3 then emit(("\t"):rep(rand(6)) .. pick(W) .. "\t" .. pick(W) .. "\n")
      elseif k == 4 then emit(pick(W) .. "\194\160" .. pick(W) .. "\227\128\128" .. pick(ZH) .. "\n")
      elseif k == 5 then emit((" "):rep(rand(256)) .. pick(W) .. "\n")
      elseif k == 6 then emit(pick(W) .. "\r\n\r\n" .. pick(W) .. "  \r\n")
      elseif k == 7 then emit((" \t"):rep(rand(10)) .. "\n" .. (" "):rep(rand(64)) .. "\n")
      else emit("    " .. sentence() .. "\n        " .. sentence() .. "\n") end
    end
    emit("\n")
  end
end

local kinds = {
  { prose, 34 }, { code, 22 }, { json, 14 }, { cjk, 12 }, { emoji_chat, 5 }, { misc, 13 },
}
local wsum = 0
for _, k in ipairs(kinds) do wsum = wsum + k[2] end
while total < target do
  local r = rand(wsum)
  for _, k in ipairs(kinds) do
    r = r - k[2]
    if r <= 0 then k[1](); break end
  end
end

local text = table.concat(parts):sub(1, target)
-- Cut at a character boundary (target may fall inside a UTF-8 sequence).
while #text > 0 and not utf8.len(text) do text = text:sub(1, -2) end
assert(utf8.len(text), "corpus is not valid UTF-8")
assert(not text:find("<|", 1, true), "corpus contains special-token text")
local f = assert(io.open(out, "wb"))
f:write(text)
f:close()

local function longest(pat)
  local m = 0
  for run in text:gmatch(pat) do if #run > m then m = #run end end
  return m
end
io.stderr:write(("corpus: %d bytes, %d characters; longest whitespace run %d bytes, longest letter run %d bytes\n")
  :format(#text, utf8.len(text), longest("[ \t\r\n]+"), longest("[%a\128-\255]+")))
