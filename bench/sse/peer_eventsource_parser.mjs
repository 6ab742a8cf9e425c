// The peer: npm eventsource-parser (the SSE parser most JS SDKs use, e.g.
// the OpenAI and Vercel AI SDKs' fetch-based streaming), on the same file in
// the same chunk sizes as sse_bench.c, printing the same fields.
//
//   node peer_eventsource_parser.mjs FILE [CHUNK=1024] [ROUNDS=31] [MIN_ROUND_S=0.05]
//
// The byte chunks are decoded to strings once, before timing (the parser
// takes strings), which favours the peer slightly: a real client pays for
// TextDecoder on every chunk.
import { readFileSync } from "node:fs";
import { createParser } from "eventsource-parser";

const [file, chunkArg, roundsArg, minArg] = process.argv.slice(2);
const chunk = Number(chunkArg ?? 1024);
const rounds = Number(roundsArg ?? 31);
const minRound = Number(minArg ?? 0.05);

const bytes = readFileSync(file);
const decoder = new TextDecoder("utf-8");
const chunks = [];
for (let at = 0; at < bytes.length; at += chunk) {
  chunks.push(decoder.decode(bytes.subarray(at, at + chunk), { stream: true }));
}

let events = 0;
let payload = 0;
const parser = createParser({
  onEvent(ev) {
    events++;
    payload += ev.data.length + (ev.event ?? "message").length;
  },
});

const now = () => Number(process.hrtime.bigint()) / 1e9;
const gbps = [];
const evps = [];
let perPass = 0;
let payloadPerPass = 0;
for (let r = -1; r < rounds; r++) { // round -1 warms up (and lets the JIT settle)
  let passes = 0;
  const ev0 = events;
  const p0 = payload;
  const t0 = now();
  let t;
  do {
    for (let i = 0; i < chunks.length; i++) parser.feed(chunks[i]);
    parser.reset();
    passes++;
    t = now() - t0;
  } while (t < minRound);
  perPass = (events - ev0) / passes;
  if (r === -1) payloadPerPass = (payload - p0) / passes;
  if (r >= 0) {
    gbps.push((bytes.length * passes) / t / 1e9);
    evps.push((events - ev0) / t);
  }
}
const sorted = (a) => [...a].sort((x, y) => x - y);
const g = sorted(gbps);
const e = sorted(evps);
console.log(
  `eventsource-parser best_gbps=${g[g.length - 1].toFixed(3)} median_gbps=${g[rounds >> 1].toFixed(3)} ` +
    `best_events_per_s=${e[e.length - 1].toFixed(0)} median_events_per_s=${e[rounds >> 1].toFixed(0)} ` +
    `events=${perPass} payload=${payloadPerPass} bytes=${bytes.length} chunk=${chunk}`,
);
