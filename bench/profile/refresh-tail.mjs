// Tail latency of sequential refreshes, ours against the jose Worker with the same bulk read (the
// benchmark's row a′): each Worker in its own `wrangler dev`, one after the other, N refreshes of
// one session each, client-side latency; prints percentiles and how the slow requests (more than
// 3× the median) are spread.
//   . scripts/env.sh && node bench/profile/refresh-tail.mjs [N=3000]
// Needs `make build`, and `make bench` once (the jose bundle in target/bench/jose-worker and our
// config without the demo's [assets], as in the benchmark). Only 127.0.0.1; Workers are stopped.
import { existsSync } from "node:fs";
import { startWorker } from "../../tests/support/worker.mjs";

const N = Number(process.argv[2] ?? 3000);
const WARM = 300;
const root = new URL("../..", import.meta.url).pathname;

// Our wrangler.toml without [assets], as `make bench` writes it for its load run.
const ours = `${root}target/bench/ours.wrangler.toml`;
if (!existsSync(ours)) throw new Error(`${ours} is missing: run \`make bench\` first`);

const workers = [
  ["ours", { config: ours }],
  ["jose (a′, bulk read)", { config: `${root}bench/jose-worker/wrangler.toml`, vars: { BULK_READ: "on" } }],
];
for (const [name, options] of workers) {
  const w = await startWorker(options);
  try {
    const res = await fetch(`${w.url}/auth/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${w.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ sub: "tail" }),
    });
    let token = (await res.json()).refresh_token;
    const lat = [];
    for (let i = 0; i < WARM + N; i++) {
      const t0 = performance.now();
      const r = await fetch(`${w.url}/auth/refresh`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: token }),
      });
      const body = await r.json();
      if (r.status !== 200) throw new Error(`${name}: refresh answered ${r.status}`);
      token = body.refresh_token;
      if (i >= WARM) lat.push(performance.now() - t0);
    }
    const sorted = [...lat].sort((a, b) => a - b);
    const q = (p) => sorted[Math.floor(p * (sorted.length - 1))];
    const slow = lat.flatMap((v, i) => (v > 3 * q(0.5) ? [i] : []));
    const gaps = slow.slice(1).map((v, k) => v - slow[k]).sort((a, b) => a - b);
    console.log(`${name.padEnd(22)} p50 ${q(0.5).toFixed(2)} p90 ${q(0.9).toFixed(2)} p99 ${q(0.99).toFixed(2)} ` +
      `p99.9 ${q(0.999).toFixed(2)} max ${sorted.at(-1).toFixed(1)} ms; ${slow.length} of ${N} slower than 3× the median, ` +
      `requests between them: min ${gaps[0] ?? "-"} median ${gaps[Math.floor(gaps.length / 2)] ?? "-"} max ${gaps.at(-1) ?? "-"}`);
  } finally {
    await w.stop();
  }
}
