// Generates spec/fixtures/pretok/{r50k,cl100k,o200k,sanitize}.txt, the expected
// output of src/core/pretok.c, from OpenAI's own implementation: npm
// tiktoken@1.0.22 (their Rust core as WASM; fancy-regex, Unicode 16.0).
//
//   npm install --prefix scripts --no-save --no-package-lock tiktoken@1.0.22
//   node scripts/gen_pretok_fixtures.mjs
// Environment: TIKTOKEN_DIR (the tiktoken package dir), NRANDOM (random cases
// per pattern, default 3000), SEED, PRETOK_OUT (output dir; for large
// uncommitted runs: PRETOK_OUT=/tmp/x/spec/fixtures/pretok, then
// KEEL_ROOT=/tmp/x build/asan/ctest/test_pretok).
//
// Piece oracle: a Tiktoken whose vocabulary is the 256 single bytes plus every
// substring of the input, with the real pat_str. Every regex piece is then in
// the vocabulary and comes back as exactly one token, so the token byte
// lengths are the regex split.
//
// Format, one case per line: hex(input UTF-8) TAB comma-separated piece byte lengths.
// sanitize.txt: hex(random bytes) TAB hex(new TextDecoder().decode(bytes) as UTF-8),
// the WHATWG / Python 'replace' rule (one U+FFFD per maximal subpart).
import { createRequire } from "module";
import { fileURLToPath } from "url";
import { dirname, join } from "path";
import { readFileSync, writeFileSync, mkdirSync } from "fs";

const here = dirname(fileURLToPath(import.meta.url));
const tdir = process.env.TIKTOKEN_DIR || join(here, "node_modules/tiktoken");
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(tdir, "package.json"), "utf8"));
if (pkg.version !== "1.0.22") throw new Error(`expected tiktoken@1.0.22, got ${pkg.version}`);
const { Tiktoken } = require(join(tdir, "lite/tiktoken.cjs"));
const out = process.env.PRETOK_OUT || join(here, "../spec/fixtures/pretok");
mkdirSync(out, { recursive: true });
const te = new TextEncoder();

function pieces(pat, text) {
  const b = te.encode(text), seen = new Set(), toks = [];
  for (let i = 0; i < 256; i++) { const s = Buffer.from([i]).toString("base64"); seen.add(s); toks.push(s); }
  for (let i = 0; i < b.length; i++)
    for (let j = i + 2; j <= b.length; j++) {
      const s = Buffer.from(b.subarray(i, j)).toString("base64");
      if (!seen.has(s)) { seen.add(s); toks.push(s); }
    }
  const enc = new Tiktoken("! 0 " + toks.join(" "), {}, pat);
  const lens = Array.from(enc.encode_ordinary(text)).map((t) => enc.decode_single_token_bytes(t).length);
  enc.free();
  if (lens.reduce((a, x) => a + x, 0) !== b.length) throw new Error("oracle pieces do not cover " + JSON.stringify(text));
  return lens;
}

// deterministic PRNG (mulberry32)
let seed = Number(process.env.SEED || 0x6b65656c);
const rnd = () => { seed = (seed + 0x6d2b79f5) | 0; let t = seed; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const pick = (a) => a[Math.floor(rnd() * a.length)];

const atoms = [
  " ", " ", " ", "  ", "\n", "\n\n", "\r", "\r\n", "\t", "\u000b", "\u000c",
  "\u00a0", "\u2028", "\u2029", "\u0085", "\u3000", "\u1680", "\u2009", "\u202f",
  "\u180e", "\u200b", "\ufeff", "\u001c", "\u0000", "\u0001", "\u007f",
  "'", "'s", "'S", "'\u017f", "'t", "'T", "'re", "'RE", "'rE", "'ve", "'Ve", "'m", "'M", "'ll", "'lL", "'LL", "'d", "'D", "'x", "'\u212a", "''",
  "a", "b", "e", "s", "t", "Z", "abc", "Hello", "world", "HTTP", "Server", "JSON", "parse", "x", "I", "Ab",
  "0", "1", "7", "12", "123", "1234", "123456", "\u00b2", "\u00bd", "\u216b", "\u0663", "\u0967", "\uff11",
  "\u65e5\u672c\u8a9e", "\u306e", "\u4e2d", "\ud55c\uad6d", "\u0645\u0631\u062d\u0628\u0627", "\u05e9\u05dc\u05d5\u05dd",
  "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35", "\u03a3\u03c2", "\u00df", "\u0130", "\ufb03",
  "\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67", "\ud83d\ude00", "\ud83d\udc4d\ud83c\udffd", "\u200d", "\u2764\ufe0f",
  "\u0301", "\u0300", "\u0308", "\u0903", "\u20dd", "e\u0301", "\u00e9", "\u01c5", "\u02b0", "\u00aa", "\u3005", "\u1c89", "\ua7cb",
  "\ud803\udd50", "\ud803\udd70", "\ud803\udd40", "\ud87a\udff0", "\ud802\udd40", "\ud807\uddb0",
  "!", ".", ",", "/", "//", "...", "-", "\"", "(", ")", "{", "}", "#", "$", "_", "<|endoftext|>", "\ufffd", "\u2014", "\u00a9",
];

const hand = [
  "", "a", " ", "  ", "   ", "\n", "\n\n\n", "  \n", "\n  ", "abc  \n  ", "abc   ", "abc \n", " \t x", "  \t x", "\t\tx",
  "Hello world's  \n\n  foo123456 !!!\n", "x'\u017fa", "x'\u017f", "'\u017f", "HTTPServer'S parseJSON", "a/b//\n", "a/b//\r\n\r\nc",
  "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3002", "\ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67 e\u0301t\u00e9",
  "I'm", "I'M", "you'RE", "we'Ve", "he'LL", "she'd", "it'S", "don't", "DON'T", "x'Ll", "'s", "'", "''s", "a''", "'\u212a",
  "12345678901", " 123", "  123", "\u00b2\u00b3\u00b9", "1,234.56", "$100", "v1.2.3",
  "foo(); // bar\r\n", "if (x) {\n    return y;\n}\n", "<|endoftext|>", "a\u00a0b", "a\u00a0\u00a0b", "a\u2028b", "a\u0085b", "a\u3000\u3000b",
  "\u0301abc", " \u0301abc", "\u0301", "\u0301\u0301", "A\u0301B\u0301c", "\u01c5ungla", "\u02b0ello", "ABCdefGHI", "aBcDeF",
  "\ud803\udd50\ud803\udd70", "\ud87a\udff0\ud87a\udff1", "\ud802\udd40x", "\u1c89\u1c8a", "\ua7cb\ua7cc",
  "   \n\n   ", " \r\n ", "!!!\n\n\n", "!!! \n", " !?\r\n/", "...///\n", "\n\r\n\r", "\t\n\t", " \u00a0\n\u00a0 ",
  "x \u200by", "\ufeffabc", "a\u180eb", "\u001c\u001d",
];

// any scalar value below U+32400 (the assigned planes 0-3), or a tag / variation selector
function randomCodePoint() {
  for (;;) {
    const cp = rnd() < 0.9 ? Math.floor(rnd() * 0x32400) : 0xe0000 + Math.floor(rnd() * 0x200);
    if (cp < 0xd800 || cp > 0xdfff) return String.fromCodePoint(cp);
  }
}

function randomCase() {
  const k = 1 + Math.floor(rnd() * 10);
  let s = "";
  for (let i = 0; i < k; i++) s += rnd() < 0.08 ? randomCodePoint() : pick(atoms);
  return s;
}

const pats = {
  r50k: JSON.parse(readFileSync(join(tdir, "encoders/r50k_base.json"), "utf8")).pat_str,
  cl100k: JSON.parse(readFileSync(join(tdir, "encoders/cl100k_base.json"), "utf8")).pat_str,
  o200k: JSON.parse(readFileSync(join(tdir, "encoders/o200k_base.json"), "utf8")).pat_str,
};
const NRANDOM = Number(process.env.NRANDOM || 3000);
const cases = [...hand];
for (let i = 0; i < NRANDOM; i++) cases.push(randomCase());
for (const [name, pat] of Object.entries(pats)) {
  const lines = cases.map((c) => `${Buffer.from(c, "utf8").toString("hex")}\t${pieces(pat, c).join(",")}`);
  writeFileSync(join(out, `${name}.txt`), lines.join("\n") + "\n");
  console.error(`${name}: ${lines.length} cases`);
}

// sanitize fixtures
const frag = [[0xc0], [0xc1], [0xaf], [0x80], [0xbf], [0xf5], [0xff], [0xe0, 0x80], [0xe0, 0xa0], [0xed, 0xa0, 0x80], [0xed, 0x9f, 0xbf],
  [0xf4, 0x90, 0x80, 0x80], [0xf4, 0x8f, 0xbf, 0xbf], [0xf0, 0x9f, 0x98], [0xf0, 0x9f], [0xf0], [0xf0, 0x80, 0x80], [0xc3], [0xc3, 0x28],
  [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xe2, 0x82], [0xf0, 0x9f, 0x98, 0x80], [0x41], [0x20], [0x00], [0xef, 0xbf, 0xbd], [0xee, 0x80]];
const slines = [];
for (let i = 0; i < 2000; i++) {
  const parts = [];
  const k = 1 + Math.floor(rnd() * 8);
  for (let j = 0; j < k; j++) parts.push(...(rnd() < 0.15 ? [Math.floor(rnd() * 256)] : pick(frag)));
  const b = Buffer.from(parts);
  slines.push(`${b.toString("hex")}\t${Buffer.from(new TextDecoder().decode(b), "utf8").toString("hex")}`);
}
writeFileSync(join(out, "sanitize.txt"), slines.join("\n") + "\n");
console.error(`sanitize: ${slines.length} cases`);
