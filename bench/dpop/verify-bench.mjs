// Times DPoP proof verification inside workerd (bench/dpop/worker.mjs): for each way, requests
// that verify one proof n times and requests that verify it 0 times, alternated; the cost of one
// verification is (median(n) - median(0)) / n. Prints a table and writes OUT.json.
//
// Usage (from the repository root, after bench/dpop/run.sh built the wasm):
//   node bench/dpop/verify-bench.mjs CONFIG.toml OUT.json
import { writeFileSync } from "node:fs";
import { startWorker } from "../../tests/support/worker.mjs";
import { median } from "../stats.mjs";

const [config, outPath] = process.argv.slice(2);
const N = Number(process.env.DPOP_BENCH_N || 200);
const REPS = Number(process.env.DPOP_BENCH_REPS || 15);

const b64u = (bytes) => Buffer.from(bytes).toString("base64url");

// A real proof, made with Node's WebCrypto like a browser would.
const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
const htu = "https://auth.example.com/auth/refresh";
const now = Math.floor(Date.now() / 1000);
const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } };
const claims = { jti: b64u(crypto.getRandomValues(new Uint8Array(16))), htm: "POST", htu, iat: now };
const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, new TextEncoder().encode(input));
const body = JSON.stringify({ proof: `${input}.${b64u(new Uint8Array(sig))}`, htu, now });

const w = await startWorker({ config });
try {
  const call = async (impl, n) => {
    const t0 = performance.now();
    const res = await fetch(`${w.url}/?impl=${impl}&n=${n}`, { method: "POST", body, headers: { "content-type": "application/json" } });
    const out = await res.json();
    const ms = performance.now() - t0;
    if (out.ok !== n) throw new Error(`${impl}: ${out.ok} of ${n} verifications succeeded`);
    return ms;
  };
  const results = {};
  for (const impl of ["rust", "checks", "webcrypto"]) {
    for (let i = 0; i < 3; i++) await call(impl, N); // warm-up (JIT tiers, Liftoff -> TurboFan)
    const full = [];
    const empty = [];
    for (let i = 0; i < REPS; i++) {
      full.push(await call(impl, N));
      empty.push(await call(impl, 0));
    }
    const us = ((median(full) - median(empty)) * 1000) / N;
    results[impl] = { us_per_verify: Number(us.toFixed(1)), n: N, reps: REPS, median_ms_n: median(full), median_ms_0: median(empty) };
    console.error(`[dpop] ${impl.padEnd(10)} ${us.toFixed(1).padStart(8)} µs per proof  (${REPS} × ${N}, minus empty requests)`);
  }
  results.worker_webcrypto_us = Number((results.checks.us_per_verify + results.webcrypto.us_per_verify).toFixed(1));
  console.error(`[dpop] the Worker's way (checks in Rust + Web Crypto): ${results.worker_webcrypto_us} µs; pure Rust: ${results.rust.us_per_verify} µs`);
  writeFileSync(outPath, JSON.stringify(results, null, 2));
} finally {
  await w.stop();
}
