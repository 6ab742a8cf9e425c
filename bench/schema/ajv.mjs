// bench/schema, ajv's side: one process, one measurement.
//   node ajv.mjs DIR PASSES [all|parse]  ->  "count median_ms best_ms"
// Reads DIR/schema.json and DIR/docs.jsonl (one document a line; reading and
// splitting are not timed), compiles the schema once with Ajv2020 (ajv's
// defaults: strict, stop at the first error; "all" = allErrors: true, which
// collects every error as keel does), then per document JSON.parse + validate;
// count = valid documents. "parse": JSON.parse alone, count = documents parsed.
// One untimed pass (V8's JIT), then PASSES timed passes (median).
// Also writes DIR/valid.ajv[.all]: "1"/"0" per document, for the agreement check.
import { readFileSync, writeFileSync } from "node:fs";
import Ajv2020 from "ajv/dist/2020.js";

const [dir, passesArg, mode] = process.argv.slice(2);
const passes = Number(passesArg || 3);
const all = mode === "all";
const parseOnly = mode === "parse";
// allowUnionTypes: the schema uses "type": [..] (valid JSON Schema; ajv's strict mode only warns).
const ajv = new Ajv2020({ allErrors: all, allowUnionTypes: true });
const validate = ajv.compile(JSON.parse(readFileSync(`${dir}/schema.json`, "utf8")));
const docs = readFileSync(`${dir}/docs.jsonl`, "utf8").split("\n");
if (docs[docs.length - 1] === "") docs.pop();

const flags = new Uint8Array(docs.length);
function parsePass() {
  let parsed = 0;
  for (let i = 0; i < docs.length; i++) if (JSON.parse(docs[i]) !== undefined) parsed++;
  return parsed;
}
function validatePass() {
  let valid = 0;
  for (let i = 0; i < docs.length; i++) {
    let ok;
    try {
      ok = validate(JSON.parse(docs[i]));
    } catch {
      ok = false; // not JSON: invalid, as keel's s:validate(text) says
    }
    flags[i] = ok ? 1 : 0;
    if (ok) valid++;
  }
  return valid;
}

const now = () => performance.now();
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const pass = parseOnly ? parsePass : validatePass;
const n = pass();
const ts = [];
for (let p = 0; p < passes; p++) {
  const t0 = now();
  const m = pass();
  ts.push(now() - t0);
  if (m !== n) throw new Error(`valid count changed between passes: ${n} then ${m}`);
}
if (!parseOnly) writeFileSync(`${dir}/valid.ajv${all ? ".all" : ""}`, Array.from(flags).join(""));
console.log(`${n} ${median(ts).toFixed(3)} ${Math.min(...ts).toFixed(3)}`);
