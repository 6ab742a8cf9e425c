// Peer: node's built-in fetch (undici), sequential, kept-alive by default.
import { readFileSync } from "node:fs";
const [url, bodyfile, nstr] = process.argv.slice(2);
const body = readFileSync(bodyfile);
const n = Number(nstr);
const h = { "Content-Type": "application/json", Authorization: "Bearer sk-bench" };
async function one() {
  const r = await fetch(url, { method: "POST", body, headers: h });
  await r.text();
  if (r.status !== 200) throw new Error("status " + r.status);
}
await one();
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) await one();
console.log((Number(process.hrtime.bigint() - t0) / 1e3 / n).toFixed(3));
