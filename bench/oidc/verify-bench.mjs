// Times ID token verification inside workerd (bench/oidc/worker.mjs): for each algorithm and
// way, requests that verify one token n times and requests that verify it 0 times, alternated;
// the cost of one verification is (median(n) - median(0)) / n. Prints a table and writes OUT.json.
//
// Usage (from the repository root, after bench/oidc/run.sh built the wasm):
//   node bench/oidc/verify-bench.mjs CONFIG.toml OUT.json
import { generateKeyPairSync, sign } from "node:crypto";
import { writeFileSync } from "node:fs";
import { startWorker } from "../../tests/support/worker.mjs";
import { median } from "../stats.mjs";

const [config, outPath] = process.argv.slice(2);
const N = Number(process.env.OIDC_BENCH_N || 100);
const REPS = Number(process.env.OIDC_BENCH_REPS || 15);

const b64u = (v) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

const issuer = "https://id.example";
const clientId = "edge";
const nonce = "n-0S6_WzA2Mj";
const now = Math.floor(Date.now() / 1000);
const claims = { iss: issuer, aud: clientId, sub: "248289761001", nonce, iat: now, exp: now + 300, email: "ada@example.com", name: "Ada" };

/** An ID token like a provider's, and the public JWK, for each algorithm. */
function fixture(alg) {
  const { privateKey, publicKey } = alg === "RS256" ? generateKeyPairSync("rsa", { modulusLength: 2048 })
    : alg === "ES256" ? generateKeyPairSync("ec", { namedCurve: "P-256" }) : generateKeyPairSync("ed25519");
  const jwk = { ...publicKey.export({ format: "jwk" }), kid: "k1", use: "sig", alg };
  const input = `${b64u({ alg, kid: "k1", typ: "JWT" })}.${b64u(claims)}`;
  const sig = alg === "ES256" ? sign("sha256", Buffer.from(input), { key: privateKey, dsaEncoding: "ieee-p1363" })
    : sign(alg === "RS256" ? "sha256" : null, Buffer.from(input), privateKey);
  const { kid: _kid, use: _use, alg: _alg, ...bare } = jwk;
  return { token: `${input}.${sig.toString("base64url")}`, jwks: JSON.stringify({ keys: [jwk] }), jwk: bare, alg };
}

const w = await startWorker({ config });
try {
  const results = {};
  for (const alg of ["RS256", "ES256", "EdDSA"]) {
    const body = JSON.stringify({ ...fixture(alg), issuer, clientId, nonce, now });
    const call = async (impl, n) => {
      const t0 = performance.now();
      const res = await fetch(`${w.url}/?impl=${impl}&n=${n}`, { method: "POST", body, headers: { "content-type": "application/json" } });
      const out = await res.json();
      const ms = performance.now() - t0;
      if (out.ok !== n) throw new Error(`${alg} ${impl}: ${out.ok} of ${n} verifications succeeded`);
      return ms;
    };
    results[alg] = {};
    for (const impl of ["rust", "webcrypto"]) {
      for (let i = 0; i < 3; i++) await call(impl, N); // warm-up
      const full = [];
      const empty = [];
      for (let i = 0; i < REPS; i++) {
        full.push(await call(impl, N));
        empty.push(await call(impl, 0));
      }
      const us = ((median(full) - median(empty)) * 1000) / N;
      results[alg][impl] = { us_per_verify: Number(us.toFixed(1)), n: N, reps: REPS };
      console.error(`[oidc] ${alg.padEnd(6)} ${impl.padEnd(10)} ${us.toFixed(1).padStart(8)} µs per ID token  (${REPS} × ${N}, minus empty requests)`);
    }
  }
  writeFileSync(outPath, JSON.stringify(results, null, 2));
} finally {
  await w.stop();
}
