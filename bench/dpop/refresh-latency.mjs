// The cost of DPoP on a refresh, end to end in workerd: sequential rotations (one connection) of
// a Bearer session and of a DPoP-bound session, interleaved in blocks, timed per request. The
// proofs are made beforehand (Node's WebCrypto), so only the Worker's side is timed: proof
// checks, Web Crypto verification and the replay-cache read and write in KV.
//
// Usage (from the repository root, after `make build` or scripts/build-worker.sh):
//   node bench/dpop/refresh-latency.mjs [OUT.json]
// Knobs: DPOP_LAT_BLOCKS (10), DPOP_LAT_BLOCK (50 rotations per block and kind).
import { writeFileSync } from "node:fs";
import { readFileSync } from "node:fs";
import { startWorker } from "../../tests/support/worker.mjs";

const BLOCKS = Number(process.env.DPOP_LAT_BLOCKS || 10);
const BLOCK = Number(process.env.DPOP_LAT_BLOCK || 50);
const outPath = process.argv[2];

// The Worker without its [assets] (the demo page), as bench/run.sh runs it.
const config = "target/bench/dpop/ours.wrangler.toml";
const toml = readFileSync("wrangler.toml", "utf8")
  .replace(/^main = .*$/m, `main = "${process.cwd()}/build/worker/index.js"`)
  .replace(/^\[assets\][\s\S]*?(?=^\[)/m, "");
writeFileSync(config, toml);

const b64u = (bytes) => Buffer.from(bytes).toString("base64url");
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};

const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
async function proof(htu, method = "POST") {
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } };
  const claims = { jti: b64u(crypto.getRandomValues(new Uint8Array(16))), htm: method, htu, iat: Math.floor(Date.now() / 1000) };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, new TextEncoder().encode(input));
  return `${input}.${b64u(new Uint8Array(sig))}`;
}

const w = await startWorker({ config });
try {
  const post = async (path, json, headers = {}) => {
    const res = await fetch(`${w.url}${path}`, { method: "POST", body: JSON.stringify(json), headers: { "content-type": "application/json", ...headers } });
    const body = await res.json();
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
  const admin = { authorization: `Bearer ${w.adminToken}` };
  let bearer = (await post("/auth/sessions", { sub: "bench-bearer" }, admin)).refresh_token;
  let bound = (await post("/auth/sessions", { sub: "bench-dpop" }, { ...admin, dpop: await proof(`${w.url}/auth/sessions`) })).refresh_token;
  const times = { bearer: [], dpop: [] };
  for (let b = 0; b < BLOCKS + 1; b++) {
    const proofs = [];
    for (let i = 0; i < BLOCK; i++) proofs.push(await proof(`${w.url}/auth/refresh`));
    const record = b > 0; // block 0 warms up
    for (let i = 0; i < BLOCK; i++) {
      const t0 = performance.now();
      bearer = (await post("/auth/refresh", { refresh_token: bearer })).refresh_token;
      if (record) times.bearer.push(performance.now() - t0);
    }
    for (let i = 0; i < BLOCK; i++) {
      const t0 = performance.now();
      const r = await post("/auth/refresh", { refresh_token: bound }, { dpop: proofs[i] });
      if (record) times.dpop.push(performance.now() - t0);
      if (r.token_type !== "DPoP") throw new Error("not a DPoP token response");
      bound = r.refresh_token;
    }
  }
  const out = {};
  for (const [kind, xs] of Object.entries(times)) {
    out[kind] = { n: xs.length, p50_ms: Number(quantile(xs, 0.5).toFixed(3)), p90_ms: Number(quantile(xs, 0.9).toFixed(3)) };
    console.error(`[dpop] refresh ${kind.padEnd(6)} p50 ${out[kind].p50_ms.toFixed(2)} ms  p90 ${out[kind].p90_ms.toFixed(2)} ms  (${xs.length} sequential rotations)`);
  }
  out.added_p50_ms = Number((out.dpop.p50_ms - out.bearer.p50_ms).toFixed(3));
  console.error(`[dpop] DPoP adds ${out.added_p50_ms} ms at the median`);
  if (outPath) writeFileSync(outPath, JSON.stringify(out, null, 2));
} finally {
  await w.stop();
}
