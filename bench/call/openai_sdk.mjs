// Node peers of bench/call, sequential awaits against the same nginx.
// usage: node openai_sdk.mjs sdk|fetch BASE_URL N [WARMUP]
//   sdk    the official openai SDK (version pinned in package.json):
//          client.chat.completions.create({...}), maxRetries 0
//   fetch  node's fetch with request.json + JSON.parse: the hand-rolled
//          caller in Node, the SDK's own floor
//   -> microseconds per call (wall), then process CPU per call (user + system)
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [mode, baseURL, nstr, wstr] = process.argv.slice(2);
const n = Number(nstr);
const warmup = Number(wstr ?? 2000);
const inputs = JSON.parse(readFileSync(join(here, "inputs.json"), "utf8"));
const want = JSON.parse(readFileSync(join(here, "response.json"), "utf8")).choices[0].message.content;

let one;
if (mode === "sdk") {
  const { default: OpenAI } = await import("openai");
  const client = new OpenAI({ apiKey: "sk-bench", baseURL, maxRetries: 0 });
  one = async () => {
    const r = await client.chat.completions.create({
      model: inputs.model,
      messages: [
        { role: "system", content: inputs.system },
        { role: "user", content: inputs.user },
      ],
      max_tokens: inputs.max_tokens,
      temperature: inputs.temperature,
    });
    return r.choices[0].message.content;
  };
} else if (mode === "fetch") {
  const body = readFileSync(join(here, "request.json"), "utf8").replace(/\n$/, "");
  const url = baseURL + "/chat/completions";
  const headers = { "Content-Type": "application/json", Accept: "application/json", Authorization: "Bearer sk-bench" };
  one = async () => {
    const r = await fetch(url, { method: "POST", body, headers });
    if (r.status !== 200) throw new Error("status " + r.status);
    return JSON.parse(await r.text()).choices[0].message.content;
  };
} else {
  throw new Error("usage: node openai_sdk.mjs sdk|fetch BASE_URL N [WARMUP]");
}

const got = await one();
if (got !== want) throw new Error(`${mode}: unexpected content ${JSON.stringify(got)}`);
for (let i = 1; i < warmup; i++) await one();
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) await one();
const us = Number(process.hrtime.bigint() - t0) / 1e3 / n;
const c = process.cpuUsage(c0);
console.log(`${us.toFixed(3)} ${((c.user + c.system) / n).toFixed(2)}`);
