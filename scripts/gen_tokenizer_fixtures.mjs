// Generates spec/fixtures/tokenizer/<encoding>.txt: expected token ids for
// whole texts (pretokenizer + byte-pair merge + special tokens), from OpenAI's
// own implementation: npm tiktoken@1.0.22 (their Rust core compiled to WASM;
// fancy-regex, Unicode 16.0). The spec and the C test run keel's tokenizer on
// every input and compare ids exactly, including the error for a special token
// that is not allowed.
//
//   KEEL_NODE_DIR=/dir/with/node_modules node scripts/gen_tokenizer_fixtures.mjs
//   (tiktoken@1.0.22: npm install --no-save tiktoken@1.0.22)
// Environment: NRANDOM (random strings per encoding, default 300), SEED.
//
// Output: "# comment" lines, then one case per line, exactly two TABs:
//   HEX<TAB>MODE<TAB>EXPECTED
// HEX       input bytes, lowercase hex (empty input: empty field). May be invalid
//           UTF-8 on purpose; the expected ids are those of the text decoded by
//           TextDecoder("utf-8", {ignoreBOM: true}): one U+FFFD per maximal
//           subpart (WHATWG = Python 'replace'), a leading BOM kept as U+FEFF.
// MODE      none              encode(text): allowed none, disallowed "all"
//           all               encode(text, "all")
//           ordinary          encode_ordinary(text)
//           allow=A,B         encode(text, [A,B]) (disallowed: the default "all")
//           allow=A;disallow=B encode(text, [A], [B]); an empty list is []
// EXPECTED  token ids separated by one space (no ids: empty field), or
//           "ERR <special>" when tiktoken throws "The text contains a special
//           token that is not allowed: <special>".
//
// tiktoken behaviour these lines pin down: disallowed = all specials minus the
// allowed ones unless given; names in either list that the encoding does not
// have are ignored (o200k allow=<|fim_prefix|> encodes it as text); a token
// both allowed and disallowed is an error; the error names the leftmost
// disallowed special in the text. Each input is at most 20 KB: npm tiktoken's
// merge is quadratic (100 KB of one letter takes ~10 s).
import { createRequire } from "module";
import { readFileSync, writeFileSync, mkdirSync } from "fs";
import path from "path";
import { fileURLToPath } from "url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const base = process.env.KEEL_NODE_DIR ? path.join(process.env.KEEL_NODE_DIR, "x.js") : import.meta.url;
const require = createRequire(base);
const { get_encoding } = require("tiktoken");
const tkdir = path.dirname(require.resolve("tiktoken"));
const version = JSON.parse(readFileSync(path.join(tkdir, "package.json"))).version;
if (version !== "1.0.22") throw new Error(`expected tiktoken@1.0.22, got ${version}`);
const registry = JSON.parse(readFileSync(path.join(tkdir, "registry.json")));

// gpt2 is left out: its ranks and specials are r50k_base's (the spec checks that keel maps
// it so), and its file would repeat r50k_base.txt.
const ENCS = ["r50k_base", "p50k_base", "p50k_edit", "cl100k_base", "o200k_base"];
const NRANDOM = Number(process.env.NRANDOM || 300);
const MAX_INPUT = 20000;

// deterministic PRNG (mulberry32)
let seed = 0;
const reseed = (s) => { seed = s | 0; };
const rnd = () => { seed = (seed + 0x6d2b79f5) | 0; let t = seed; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const strSeed = (s) => { let h = Number(process.env.SEED || 0x6b65656c); for (const c of s) h = Math.imul(h ^ c.charCodeAt(0), 16777619); return h; };

const te = new TextEncoder();
const td = new TextDecoder("utf-8", { ignoreBOM: true });
const B = (...xs) => Uint8Array.from(xs);
// A piece of input: a JS string (valid UTF-8) or a Uint8Array (raw bytes).
const bytesOf = (x) => (typeof x === "string" ? te.encode(x) : x);
const cat = (...xs) => { const bs = xs.map(bytesOf); const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0)); let o = 0; for (const b of bs) { out.set(b, o); o += b.length; } return out; };

// ---------------------------------------------------------------- corpus
const SPECIALS = ["<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>",
  "<|im_start|>", "<|im_end|>", "<|startoftext|>"];

const WS = [" ", "\t", "\n", "\r\n", "\r", "\u000b", "\u000c", "\u0085", "\u00a0", "\u1680", "\u2009", "\u202f",
  "\u3000", "\u2028", "\u2029"];
const NOT_WS = ["\u200b", "\ufeff", "\u180e", "\u001c", "\u001f", "\u0000"];
const CONTR = ["'s", "'S", "'t", "'T", "'re", "'RE", "'Re", "'rE", "'ve", "'VE", "'vE", "'m", "'M", "'ll", "'LL", "'Ll",
  "'lL", "'d", "'D", "'\u017f", "'\u212a", "'x", "''", "'", "\u2019s"];
const WORDS = ["hello", "world", "The", "quick", "brown", "fox", "I", "a", "Z", "naïve", "café", "straße", "STRASSE",
  "привет", "Мир", "ΣΑΣ", "ςσ", "İstanbul", "ǅungla", "ʰello", "ªb", "ﬃ", "Ǆ", "Ⅻ", "x"];
const DIGITS = ["0", "7", "12", "123", "1234", "12345", "123456", "1234567", "99999999", "3.14159", "1,234,567.89",
  "1e10", "0x1F", "v1.2.3", "2024-01-31", "12:30:45", "$100", "50%", "١٢٣٤", "²³¹", "½", "１２３", "१२३४", "Ⅻ", "⑤"];
const CJK = ["日本語のテキスト。", "中文分词测试", "我爱北京天安门", "これは日本語です、", "カタカナ", "ｶﾀｶﾅ", "ひらがな",
  "한국어 텍스트", "안녕하세요", "漢字かな交じり文", "東京2024年", "〜", "「引用」", "！？", "𠮷野家", "々"];
const EMOJI = ["😀", "👍", "👍🏻", "👍🏼", "👍🏽", "👍🏾", "👍🏿", "👨‍👩‍👧‍👦", "👨‍👩‍👧", "🧑🏿‍💻", "🏳️‍🌈", "🏴‍☠️",
  "🇺🇸", "🇯🇵🇫🇷", "🇩", "❤️", "❤", "1️⃣", "#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "✨", "🎉🎊", "\u200d", "\ufe0f", "🫠"];
const MARKS = ["e\u0301", "cafe\u0301", " e\u0301t\u00e9", "\u0301abc", "\u0301", "A\u0301B\u0301c", "n\u0303",
  "नमस्ते", "हिन्दी दुनिया", "क्षत्रिय", "بِسْمِ اللَّهِ", "الرَّحْمَٰنِ", "مرحبا", "שָׁלוֹם", "สวัสดีครับ",
  "Z̴̡̛a̸l̷g̶o̵", "a\u20dd", "\u0903", "ḁ̊"];
const IDENT = ["camelCase", "PascalCase", "HTTPServer", "parseJSON", "XMLHttpRequest", "getHTTPResponseCode",
  "snake_case", "SCREAMING_CASE", "kebab-case", "iPhone", "McDonald's", "IOError", "URLs", "PDFs", "ABCdefGHI",
  "aBcDeF", "HTTPServer'S", "iOS", "macOS", "x86_64", "utf8proc", "__init__", "ǅX", "ΑβΓ"];
const CODE = [
  "int main(void) {\n    printf(\"hi\\n\");\n    return 0;\n}\n",
  "static int\nkl_add(int a, int b)\n{\n\treturn a + b;\n}\n",
  "for (i = 0; i < n; i++) {\r\n        x[i] = 0;\r\n}\r\n",
  "def f(x):\n    if x:\n        return [y for y in x]\n    return None\n",
  "class A:\n    def __init__(self):\n        self.x = 1  # comment\n",
  "{\n  \"name\": \"keel\",\n  \"ids\": [1, 2, 3],\n  \"ok\": true,\n  \"nested\": {\"a\": null}\n}\n",
  "{\"a\":1,\"b\":[\"x\",\"y\"],\"c\":{\"d\":-2.5e3}}",
  "local t = {}\nfor k, v in pairs(t) do\n  print(k, v)\nend\n",
  "if [ -z \"$X\" ]; then\n  echo \"empty\" >&2\nfi\n",
  "<div class=\"a\">\n  <p>Hi &amp; bye</p>\n</div>\n",
  "# Title\n\n- item 1\n- item 2\n\n```c\nx++;\n```\n",
  "x = a->b[3] << 2 | ~c && !d;",
  "    \n\t\n    foo\n",
];
const URLS = ["https://example.com/path/to/file.html?q=1&x=y#frag", "http://", "https://", "/usr/local/bin/", "a/b//\n",
  "C:\\Windows\\System32\\", "../../etc/passwd", "//comment", "src/core/pretok.c", "~/.config/keel/", "foo/Bar/baz",
  "a/b/c", " /x/", "//\n", "/\r\n/", "www.x.org/a_b-c", "mailto:a@b.co", "file:///tmp/x"];
const PUNCT = ["!!!\r\n", "...\r\n\r\n", "?!\r\n\n", " --\r\n", "});\r\n", "*/\r\n/*", ".\n", ":\r", " !?\r\n/", "...///\n",
  "!!! \n", ",", ".", "...", "—", "«»", "()", "[]{}", "\"\"", "''", "``", "@#$%^&*", "~~~", "=>", "::", "->", "***\n\n",
  "\u00a9", "\ufffd", "\u007f", "\u0080", "\u07ff", "\u0800", "\uffff", "\ufffe", "\ue000", "\u{10000}", "\u{10ffff}"];
const INVALID = [B(0xc0, 0xaf), B(0xe0, 0x80, 0xaf), B(0xed, 0xa0, 0x80), B(0xed, 0xbf, 0xbf), B(0xf4, 0x90, 0x80, 0x80),
  B(0xf0, 0x9f, 0x98), B(0xc3, 0x28), B(0x80), B(0xbf), B(0xff), B(0xfe), B(0xc0), B(0xc1, 0xbf), B(0xf5, 0x80),
  B(0xf8, 0x88, 0x80, 0x80, 0x80), B(0xe2, 0x82), B(0xe2, 0x28, 0xa1), B(0xf0, 0x80, 0x80, 0x80), B(0xe0, 0x9f, 0xbf),
  B(0xf0, 0x8f, 0xbf, 0xbf), B(0x80, 0x80, 0x80), B(0xc3), B(0xf0, 0x9f, 0x98, 0x80, 0x80)];

// Each case: [input (string | Uint8Array), modes[]]
const general = [];
const g = (x, modes = ["none"]) => general.push([x, modes]);

// whitespace
g(""); g("", ["all"]); g("", ["ordinary"]);
for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100, 129, 1000]) {
  g(" ".repeat(n)); g(" ".repeat(n) + "x"); g("x" + " ".repeat(n)); g("x" + " ".repeat(n) + "y");
}
for (const n of [1, 2, 3, 4, 8, 16, 100]) {
  for (const w of ["\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028"]) {
    const r = w.repeat(n); g(r); g(r + "x"); g("x" + r); g("x" + r + "y"); g(" " + r + " x");
  }
}
g("\n\n\n"); g("a\n\n\nb"); g("a\r\n\r\nb"); g("abc  \n  "); g("abc   "); g("abc \n"); g(" \t x"); g("  \t x");
for (const a of WS) for (const b of WS) { g(a + b); g("x" + a + b); g(a + b + "y"); g("x" + a + b + "y"); g("x" + a + a + b + " y"); }
for (const a of NOT_WS) { g("x" + a + "y"); g(a + "abc"); g(" " + a + " "); g("x " + a + " y"); }

// contractions
for (const c of CONTR) {
  for (const pre of ["", " ", "I", "x", "HTTP", "it", "1", "12", ".", ")", "'", " '", "é", "😀", "\n", "ǅ", "\u0301"])
    for (const post of ["", "a", " x", "s", c]) g(pre + c + post);
}
g("I'm I'M you'RE we'Ve he'LL she'd it'S don't DON'T"); g("x'\u017fa"); g("x'\u017f"); g("'\u017f");
g("''s"); g("a''"); g("rock'n'roll"); g("'tis"); g("y'all'll've");

// digits
const digs = "123456789012";
for (let n = 1; n <= 12; n++) {
  const d = digs.slice(0, n);
  for (const v of [d, "9".repeat(n), "0".repeat(n)]) { g(v); g(" " + v); g("a" + v); g(v + "a"); g("x" + v + "y"); g(v + "." + v); g("$" + v + ","); g("  " + v); }
}
for (const d of DIGITS) { g(d); g(" " + d); g("x" + d + "x"); g(d + "th"); }
g("abc123def456"); g("1a2b3c"); g("A1B2"); g("Ⅻ12"); g("²³12"); g("12 345 6789"); g("1\n2\n3");

// CJK, emoji, combining marks
for (const s of [...CJK, ...EMOJI, ...MARKS]) { g(s); g(" " + s); g("x" + s); g(s + "x"); g(s + " " + s); g("Hello " + s + "!"); g(s + "123"); g(s + "'s"); }
g("東京は日本の首都です。人口は約1400万人。"); g("我们的目标是：让每个人都能使用AI。"); g("대한민국의 수도는 서울입니다.");
g("👨‍👩‍👧 été"); g("👍🏽👍🏽👍🏽"); g("🇺🇸🇯🇵🇫🇷🇩🇪"); g("I ❤️ NY"); g("e\u0301\u0301\u0301"); g("\u0301\u0301");

// identifiers, code, URLs, punctuation
for (const s of IDENT) { g(s); g(" " + s); g(s + "("); g("." + s); g(s + " " + s); g("_" + s); }
g("HTTPServer'S parseJSON"); g("getXMLHttpRequestForURLs IOErrors iPhone's"); g("THE QUICK Brown fOX");
for (const s of CODE) { g(s); g(s.replaceAll("\n", "\r\n")); g("    " + s); }
for (const s of URLS) { g(s); g(" " + s); g("see " + s + " now"); g(s + "\n"); }
for (const s of PUNCT) { g(s); g("x" + s); g(" " + s); g(s + "y"); g(s + "\r\n"); g("word" + s + "\r\nnext"); }

// invalid UTF-8
for (const b of INVALID) {
  g(b); g(cat("abc", b, "def")); g(cat(" ", b)); g(cat(b, " ")); g(cat(b, b)); g(cat("hello", b, "world"));
  g(cat("12", b, "34")); g(cat(b, "'s")); g(cat("\u3000", b)); g(cat(b, "\n\n"));
}
g(B(0xef, 0xbb, 0xbf, 0x80)); g(B(0xef, 0xbb, 0xbf)); g(cat("\ufeff", "x", B(0xff)));
g(cat("caf", B(0xc3), "é")); g(cat("日本", B(0xe6, 0x97), "語")); g(cat(B(0xf0, 0x9f, 0x98), "😀", B(0xf0, 0x9f)));
g(cat(B(0xe0, 0x80, 0xaf), B(0xed, 0xa0, 0x80), B(0xf4, 0x90, 0x80, 0x80), B(0xc0, 0xaf)));

// special-token text: for each input, all kinds of allowed/disallowed modes
const specialInputs = [];
for (const s of SPECIALS) {
  for (const [pre, post] of [["", ""], ["x", ""], ["", "x"], ["hello", "world"], [" ", ""], ["", " "], ["x  ", "y"],
    ["x\n\n", "\n"], ["foo", "bar"], ["a", "'s"], ["12", "34"], ["😀", "😀"], ["\t", " "], ["<", ">"], ["<|", "|>"]])
    specialInputs.push(pre + s + post);
  specialInputs.push(s + s, s + " " + s, s + "\n" + s);
}
for (const a of SPECIALS.slice(0, 5)) for (const b of SPECIALS.slice(0, 5)) if (a !== b) specialInputs.push(a + b, "x" + a + " " + b + "y");
specialInputs.push("<|endoftext", "<|endoftext|", "endoftext|>", "|endoftext|>", "<|endoftext|>>", "<<|endoftext|>",
  "<|endoftext|><|endoftext", "<|EndOfText|>", "< |endoftext|>", "<|endoftext |>", "<||>", "<|>", "<|fim|>", "<|im_start",
  "x  <|endoftext|>y", "x   <|endoftext|>   y", "a\r\n<|endoftext|>\r\nb", "<|endofprompt|>x<|endoftext|>",
  "<|endoftext|>\ufffd", "def f():\n    return '<|endoftext|>'\n", "Hello<|endoftext|>HTTPServer<|endofprompt|>parseJSON",
  "<|fim_prefix|>def f(<|fim_suffix|>)\n<|fim_middle|>", "<|endoftext|>".repeat(50));
const specialBytes = [cat(B(0xff), "<|endoftext|>", B(0x80)), cat("<|endoftext|", B(0xc3), ">"), cat("x ", B(0xc0, 0xaf), " <|endofprompt|> y")];

// long inputs (each <= 20 KB)
const rl = (alpha, n) => Array.from({ length: n }, () => alpha[Math.floor(rnd() * alpha.length)]).join("");
reseed(strSeed("long"));
// A few runs at 16 KB (the size that exercises npm's quadratic merge); the
// other shapes at 2-5 KB, which is enough to cover their periodicity.
const long = [" ".repeat(16000), "a".repeat(16000), rl("abcdefghijklmnopqrstuvwxyz", 16000), "😀".repeat(4000),
  "\n".repeat(4000), "\t".repeat(3000), "ab".repeat(2000), "x" + " ".repeat(4000) + "y", "1".repeat(4000),
  "中".repeat(1500), "-".repeat(5000), "\r\n".repeat(1500), " a".repeat(2000), "ae".repeat(2000),
  rl("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 4000), rl("的一是不了人我在有他这", 1500),
  rl("!\"#$%&()*+,-.:;<=>?@[]^_`{|}~", 4000), rl("etaoin shrdlu\n", 5000), "a".repeat(499), "a".repeat(500),
  "a".repeat(501), " ".repeat(500), "<|endoftext|>".repeat(300), "x<|endoftext|>".repeat(300), "👍🏽".repeat(500),
  "e\u0301".repeat(1500), " ".repeat(2000) + "\n" + " ".repeat(2000)];

// random strings mixing all of the above
const CLASSES = [WS, WS, NOT_WS, CONTR, WORDS, WORDS, WORDS, DIGITS, CJK, EMOJI, MARKS, IDENT, CODE, URLS, PUNCT, INVALID,
  SPECIALS, [" ", " ", "  ", "\n"]];
const cpLen = (x) => (typeof x === "string" ? Array.from(x).length : td.decode(x).length);
function randomInput() {
  const target = 1 + Math.floor(rnd() * 200);
  const parts = []; let n = 0;
  while (n < target) {
    let a = pick(pick(CLASSES)); const len = cpLen(a);
    if (n + len > target && typeof a === "string") a = Array.from(a).slice(0, target - n).join("");
    parts.push(a); n += cpLen(a);
  }
  return cat(...parts);
}

// ---------------------------------------------------------------- oracle
const ERR_PREFIX = "The text contains a special token that is not allowed: ";
function parseMode(mode) {
  if (mode === "none" || mode === "all" || mode === "ordinary") return mode;
  const m = /^allow=([^;]*)(?:;disallow=(.*))?$/.exec(mode);
  if (!m) throw new Error("bad mode " + mode);
  const list = (s) => (s === "" ? [] : s.split(","));
  return { allow: list(m[1]), disallow: m[2] === undefined ? undefined : list(m[2]) };
}
function expected(enc, text, mode) {
  const p = parseMode(mode);
  try {
    let ids;
    if (p === "none") ids = enc.encode(text);
    else if (p === "all") ids = enc.encode(text, "all");
    else if (p === "ordinary") ids = enc.encode_ordinary(text);
    else if (p.disallow === undefined) ids = enc.encode(text, p.allow);
    else ids = enc.encode(text, p.allow, p.disallow);
    return Array.from(ids).join(" ");
  } catch (e) {
    const msg = String(e && e.message !== undefined ? e.message : e);
    if (!msg.startsWith(ERR_PREFIX)) throw e;
    const tok = msg.slice(ERR_PREFIX.length);
    if (!text.includes(tok)) throw new Error("error names a token not in the text: " + tok);
    return "ERR " + tok;
  }
}

function specialModes(text, specials) {
  const present = specials.filter((s) => text.includes(s));
  const absent = SPECIALS.filter((s) => !specials.includes(s) && text.includes(s));
  const modes = ["none", "all", "ordinary", "allow=", "allow=;disallow="];
  for (const s of present) modes.push(`allow=${s}`, `allow=${s};disallow=`, `allow=;disallow=${s}`, `allow=${s};disallow=${s}`);
  const others = specials.filter((s) => !present.includes(s));
  if (others.length) modes.push(`allow=${others[0]}`);
  if (present.length > 1) modes.push(`allow=${present.join(",")}`, `allow=${present[0]};disallow=${present[1]}`,
    `allow=${present[1]};disallow=${present[0]}`);
  for (const s of absent) modes.push(`allow=${s}`, `allow=${s};disallow=`);
  modes.push(`allow=${specials.join(",")}`);
  return modes;
}

// ---------------------------------------------------------------- write
const outdir = path.join(root, "spec/fixtures/tokenizer");
mkdirSync(outdir, { recursive: true });
const t0 = Date.now();
for (const name of ENCS) {
  const t1 = Date.now();
  const enc = get_encoding(name);
  const specials = Object.keys(registry[name].special_tokens);
  const lines = [`# ${name}: expected ids from npm tiktoken@${version} (Rust core as WASM, Unicode 16.0)`,
    `# generated by scripts/gen_tokenizer_fixtures.mjs; see its header for the format and modes`,
    `# special tokens: ${specials.map((s) => `${s}=${registry[name].special_tokens[s]}`).join(" ")}`,
    `# pat_str: ${registry[name].pat_str}`,
    `# HEX<TAB>MODE<TAB>EXPECTED (ids, or ERR <special>)`];
  const seen = new Set();
  const counts = {};
  const add = (x, mode, kind) => {
    const b = bytesOf(x);
    if (b.length > MAX_INPUT) throw new Error(`input of ${b.length} bytes is too long`);
    const hex = Buffer.from(b).toString("hex");
    const key = hex + "\t" + mode;
    if (seen.has(key)) return;
    seen.add(key);
    lines.push(key + "\t" + expected(enc, td.decode(b), mode));
    counts[kind] = (counts[kind] || 0) + 1;
  };
  for (const [x, modes] of general) for (const m of modes) add(x, m, "general");
  for (const x of [...specialInputs, ...specialBytes]) for (const m of specialModes(td.decode(bytesOf(x)), specials)) add(x, m, "special");
  for (const x of long) add(x, "none", "long");
  add("<|endoftext|>".repeat(300), "all", "long"); add("x<|endoftext|>".repeat(300), "ordinary", "long");
  reseed(strSeed(name));
  for (let i = 0; i < NRANDOM; i++) {
    const b = randomInput(), text = td.decode(b);
    const hasSpecial = SPECIALS.some((s) => text.includes(s));
    const mode = hasSpecial ? pick(specialModes(text, specials)) : pick(["none", "none", "none", "ordinary", "all"]);
    add(b, mode, "random");
  }
  enc.free();
  const out = lines.join("\n") + "\n";
  writeFileSync(path.join(outdir, `${name}.txt`), out);
  console.log(`${name}: ${lines.length - 5} cases (${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ")}), ` +
    `${out.length} bytes, ${((Date.now() - t1) / 1000).toFixed(1)} s`);
  if (out.length > 1.5e6) console.warn(`warning: ${name}.txt is over 1.5 MB`);
}
console.log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
