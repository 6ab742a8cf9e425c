// bench/tokenizer JS peers, one peer and one encoding per process.
//   node peers.mjs tp    PEER ENC FILE PASSES  -> "tokens median_ms best_ms"
//        encodes FILE (read as UTF-8) once to warm up (JIT; gpt-tokenizer's
//        piece cache fills), then PASSES timed times
//   node peers.mjs chat  PEER ENC FILE ITERS   -> "tokens us_per_count"
//        median over batches of 100 counts of the same text
//   node peers.mjs long  PEER ENC CHAR BYTES... -> "bytes ms tokens" per size,
//        one line as soon as each is done (the caller holds the timeout)
// PEER: tiktoken | gpt-tokenizer | js-tiktoken. Every peer encodes ordinary
// text (special-token text is plain text, as keel's encode_ordinary).
import { readFileSync } from "node:fs";

const [mode, peer, enc, ...rest] = process.argv.slice(2);

async function load(peer, enc) {
  if (peer === "tiktoken") {
    const { get_encoding } = await import("tiktoken");
    const e = get_encoding(enc);
    return (s) => e.encode_ordinary(s).length;
  }
  if (peer === "gpt-tokenizer") {
    // The module's default instance: merge cache on, 100,000 entries.
    const m = await import(`gpt-tokenizer/encoding/${enc}`);
    const opts = { disallowedSpecial: new Set() };
    return (s) => m.encode(s, opts).length;
  }
  if (peer === "js-tiktoken") {
    const { getEncoding } = await import("js-tiktoken");
    const e = getEncoding(enc);
    return (s) => e.encode(s, [], []).length;
  }
  throw new Error(`unknown peer ${peer}`);
}

const now = () => performance.now();
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

const count = await load(peer, enc);
if (mode === "tp") {
  const text = readFileSync(rest[0], "utf8");
  const passes = Number(rest[1] || 3);
  const n = count(text);
  const ts = [];
  for (let i = 0; i < passes; i++) {
    const t0 = now();
    const m = count(text);
    ts.push(now() - t0);
    if (m !== n) throw new Error(`count changed between passes: ${n} then ${m}`);
  }
  console.log(`${n} ${median(ts).toFixed(3)} ${Math.min(...ts).toFixed(3)}`);
} else if (mode === "chat") {
  const text = readFileSync(rest[0], "utf8");
  const iters = Number(rest[1] || 20000);
  const B = 100;
  const n = count(text);
  for (let i = 0; i < 2000; i++) count(text);
  const ts = [];
  for (let b = 0; b < Math.max(1, Math.floor(iters / B)); b++) {
    const t0 = now();
    for (let i = 0; i < B; i++) count(text);
    ts.push(((now() - t0) * 1000) / B);
  }
  console.log(`${n} ${median(ts).toFixed(3)}`);
} else if (mode === "long") {
  const ch = rest[0] === "space" ? " " : rest[0];
  for (const size of rest.slice(1).map(Number)) {
    const text = ch.repeat(size);
    const t0 = now();
    const n = count(text);
    console.log(`${size} ${(now() - t0).toFixed(1)} ${n}`);
  }
} else {
  throw new Error(`unknown mode ${mode}`);
}
