// CPU profile of the refresh endpoint inside workerd: starts the built Worker with the test
// harness, mints sessions, records a V8 CPU profile over the inspector while N refreshes run one
// after another, and prints the functions with the most self time (JS and wasm frames alike).
//   . scripts/env.sh && [ROTATION_STORE=kv] node bench/profile/refresh-profile.mjs [N=400] [jose]
// With `jose`, profiles the benchmarks' TypeScript Worker instead (built by `make bench` into
// target/bench/jose-worker), so the two isolates' time per refresh can be compared.
// Needs `make build`. Only 127.0.0.1; the Worker is stopped at the end.
import { DEV_VARS, startWorker } from "../../tests/support/worker.mjs";
import { connectInspector } from "../../tests/support/inspector.mjs";

const N = Number(process.argv[2] ?? 400);
const jose = process.argv[3] === "jose";
// PROFILE_CONFIG: another wrangler.toml of our Worker (e.g. a variant build) instead of the shipped one.
const config = jose ? new URL("../jose-worker/wrangler.toml", import.meta.url).pathname : process.env.PROFILE_CONFIG;

// ROTATION_STORE=kv or durable-object (the default) for ours; the jose Worker has KV only.
const store = jose ? {} : { ROTATION_STORE: process.env.ROTATION_STORE ?? "durable-object" };
const w = await startWorker({ vars: { ACCESS_TTL_SECONDS: "900", ...store, ...(config && !jose ? DEV_VARS : {}) }, config });
try {
  const mint = async () => {
    const res = await fetch(`${w.url}/auth/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${w.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ sub: `u${Math.random()}` }),
    });
    return (await res.json()).refresh_token;
  };
  const refresh = async (token) => {
    const res = await fetch(`${w.url}/auth/refresh`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ refresh_token: token }),
    });
    if (res.status !== 200) throw new Error(`refresh answered ${res.status}`);
    return (await res.json()).refresh_token;
  };
  let token = await mint();
  for (let i = 0; i < 50; i++) token = await refresh(token); // warm-up
  const c = await connectInspector(w.inspectorPort);
  await c.send("Profiler.enable");
  await c.send("Profiler.setSamplingInterval", { interval: Number(process.env.PROFILE_INTERVAL_US ?? 100) });
  await c.send("Profiler.start");
  const t0 = performance.now();
  for (let i = 0; i < N; i++) token = await refresh(token);
  const ms = performance.now() - t0;
  const { result } = await c.send("Profiler.stop");
  c.close();
  const { nodes, samples, timeDeltas } = result.profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  // workerd takes a sample only while the isolate runs and folds the time it waits into the next
  // sample's delta, so the deltas add up to about the wall time. Each sample stands for one
  // sampling period instead (measured: the median of the deltas inside bursts), as in
  // bench/cost/cpu.mjs.
  const interval = Number(process.env.PROFILE_INTERVAL_US ?? 100);
  const deltas = timeDeltas.slice(1).filter((d) => d < 5 * interval).sort((a, b) => a - b);
  const period = deltas[deltas.length >> 1] ?? interval;
  const self = new Map();
  let total = 0;
  samples.forEach((sid) => {
    const n = byId.get(sid);
    const f = n.callFrame;
    const where = f.url ? ` ${f.url.split("/").pop()}:${f.lineNumber + 1}:${f.columnNumber + 1}` : "";
    const key = `${f.functionName || "(anonymous)"}${where}`;
    self.set(key, (self.get(key) ?? 0) + period);
    total += period;
  });
  console.log(`${N} sequential refreshes in ${ms.toFixed(0)} ms (${(ms / N).toFixed(2)} ms each, client-side)`);
  const idle = [...self].filter(([k]) => k.startsWith("(idle)")).reduce((a, [, v]) => a + v, 0);
  const busy = total - idle;
  console.log(`${samples.length} samples of ${period} µs; ${(busy / 1000).toFixed(0)} ms not idle (${(busy / 1000 / N).toFixed(3)} ms CPU per refresh); top self time:`);
  // By kind of frame: compiled wasm, JS of the Worker's bundle, the runtime's built-ins (KV,
  // Response, TextDecoder... have no script URL), and V8's own buckets.
  const kinds = new Map();
  for (const [k, v] of self) {
    const kind = k.startsWith("(") ? k.split(")")[0] + ")"
      : k.startsWith("wasm-function") || k.startsWith("wasm-to-js") || k.startsWith("js-to-wasm") ? "wasm and its crossings"
      : / [^ ]+\.js:\d+:\d+$/.test(k) ? "JS of the bundle" : "runtime built-ins";
    kinds.set(kind, (kinds.get(kind) ?? 0) + v);
  }
  console.log("by kind, ms per refresh:", [...kinds].sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${(v / 1000 / N).toFixed(3)}`).join(", "));
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
    console.log(`${(v / 1000).toFixed(1).padStart(8)} ms ${(100 * v / total).toFixed(1).padStart(5)} %  ${k.slice(0, 110)}`);
  }
} finally {
  await w.stop();
}
