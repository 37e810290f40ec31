// Token work in V8 (Node, the engine workerd embeds): the crate's access-token signing,
// verification and full rotation compiled to wasm32 with the Worker's release profile
// (bench/token-bench), against Web Crypto Ed25519 (crypto.subtle sign/verify of the same
// signing input with the same key) and against jose (SignJWT / jwtVerify, and the jose
// Worker's whole fetch handler doing a rotation over an in-memory KV).
//
// Usage: node token-bench.mjs WASM_DIR JOSE_WORKER_JS OUT.json
// Each figure is the median over batches of the time per operation, in microseconds.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { SignJWT, importJWK, jwtVerify } from "jose";
import { median } from "../stats.mjs";

const [wasmDir, joseWorkerPath, outPath] = process.argv.slice(2);
const NOW = 1_800_000_000;
const ISSUER = "http://127.0.0.1:8787";
const AUDIENCE = "silent-refresh-demo";
const BUDGET_MS = Number(process.env.TOKEN_BENCH_MS || 1500);

const wasmModule = await import(pathToFileURL(join(wasmDir, "token_bench.js")).href);
const { initSync, TokenBench } = wasmModule;
initSync({ module: readFileSync(join(wasmDir, "token_bench_bg.wasm")) });


/** Runs `batch(n)` (n operations) repeatedly for the time budget; median µs per operation. */
async function measure(name, batch, n) {
  for (let i = 0; i < 3; i++) await batch(n); // warm-up (JIT tiers, caches)
  const perOp = [];
  const end = performance.now() + BUDGET_MS;
  while (performance.now() < end || perOp.length < 5) {
    const t0 = performance.now();
    await batch(n);
    perOp.push(((performance.now() - t0) * 1000) / n);
  }
  const us = median(perOp);
  console.error(`[token] ${name.padEnd(34)} ${us.toFixed(1).padStart(8)} µs/op  (${perOp.length} batches of ${n})`);
  return us;
}

const b64u = (bytes) => Buffer.from(bytes).toString("base64url");
const unb64u = (text) => new Uint8Array(Buffer.from(text, "base64url"));

const tb = new TokenBench();
const jwk = JSON.parse(tb.privateJwk());
const token = tb.sign();
const [h, p, s] = token.split(".");
const signingInput = new TextEncoder().encode(`${h}.${p}`);
const signature = unb64u(s);

// Web Crypto Ed25519 with the same key, over the same signing input.
const wcPrivate = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x, d: jwk.d }, { name: "Ed25519" }, false, ["sign"]);
const wcPublic = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, ["verify"]);
if (!(await crypto.subtle.verify("Ed25519", wcPublic, signature, signingInput))) throw new Error("Web Crypto rejects the crate's signature");
const wcSig = new Uint8Array(await crypto.subtle.sign("Ed25519", wcPrivate, signingInput));
// jwt-simple signs with added noise (hedged Ed25519), so compare by verification, not bytes.
if (!tb.verifyN(`${h}.${p}.${b64u(wcSig)}`, 1)) throw new Error("the crate rejects Web Crypto's signature");

// jose, the same key and claims.
const josePrivate = await importJWK({ kty: "OKP", crv: "Ed25519", x: jwk.x, d: jwk.d }, "EdDSA");
const josePublic = await importJWK({ kty: "OKP", crv: "Ed25519", x: jwk.x }, "EdDSA");
const joseSign = () =>
  new SignJWT({ sr_ep: 0 })
    .setProtectedHeader({ alg: "EdDSA", kid: jwk.kid, typ: "at+jwt" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject("bench-user")
    .setIssuedAt(NOW)
    .setExpirationTime(NOW + 900)
    .setJti(b64u(crypto.getRandomValues(new Uint8Array(16))))
    .sign(josePrivate);
const joseVerifyOpts = { issuer: ISSUER, audience: AUDIENCE, typ: "at+jwt", algorithms: ["EdDSA"], currentDate: new Date(NOW * 1000) };
await jwtVerify(token, josePublic, joseVerifyOpts); // throws if jose disagrees with the crate
if (!tb.verifyN(await joseSign(), 1)) throw new Error("the crate rejects jose's token");

// The jose Worker's fetch handler over an in-memory KV (CPU of a rotation without KV latency).
const worker = (await import(pathToFileURL(joseWorkerPath).href)).default;
const mem = new Map();
const env = {
  REFRESH_TOKENS: {
    async get(k) {
      return mem.has(k) ? mem.get(k) : null;
    },
    async put(k, v) {
      mem.set(k, v);
    },
  },
  SIGNING_KEYS: JSON.stringify([{ kid: jwk.kid, kty: "OKP", crv: "Ed25519", x: jwk.x, d: jwk.d }]),
  REFRESH_SECRET: b64u(new Uint8Array(32).fill(7)),
  ADMIN_TOKEN: "bench-admin-token-0123",
};
const post = (path, body, headers = {}) =>
  new Request(`http://127.0.0.1${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
let current = (await (await worker.fetch(post("/auth/sessions", { sub: "bench-user" }, { authorization: `Bearer ${env.ADMIN_TOKEN}` }), env)).json()).refresh_token;
async function joseRotate() {
  const res = await worker.fetch(post("/auth/refresh", { refresh_token: current }), env);
  const body = await res.json();
  if (res.status !== 200) throw new Error(`jose Worker rotation failed: ${JSON.stringify(body)}`);
  current = body.refresh_token;
}

const results = {
  runtime: `Node ${process.version} (V8 ${process.versions.v8})`,
  sign: {
    wasm: await measure("sign: crate (wasm)", (n) => tb.signN(n), 200),
    webcrypto: await measure("sign: Web Crypto Ed25519 (raw)", async (n) => {
      for (let i = 0; i < n; i++) await crypto.subtle.sign("Ed25519", wcPrivate, signingInput);
    }, 200),
    jose: await measure("sign: jose SignJWT", async (n) => {
      for (let i = 0; i < n; i++) await joseSign();
    }, 200),
  },
  verify: {
    wasm: await measure("verify: crate (wasm)", (n) => tb.verifyN(token, n), 100),
    webcrypto: await measure("verify: Web Crypto Ed25519 (raw)", async (n) => {
      for (let i = 0; i < n; i++) await crypto.subtle.verify("Ed25519", wcPublic, signature, signingInput);
    }, 100),
    jose: await measure("verify: jose jwtVerify", async (n) => {
      for (let i = 0; i < n; i++) await jwtVerify(token, josePublic, joseVerifyOpts);
    }, 100),
  },
  rotate: {
    wasm: await measure("rotation: crate core (wasm)", (n) => tb.rotateN(n), 100),
    jose: await measure("rotation: jose Worker fetch()", async (n) => {
      for (let i = 0; i < n; i++) await joseRotate();
    }, 100),
  },
};

// JS <-> Rust conversions of the Worker (bench/token-bench/src/convert.rs): the string +
// serde_json path against serde-wasm-bindgen, on inputs shaped like the runtime's.
const family = { sub: "user-1234", created: NOW, abs: NOW + 2592000, gen: 41, rotated_at: NOW + 36000, ep: 0 };
const epoch = { n: 2, at: NOW - 86400 };
const bulkText = new Map([["f:fam", JSON.stringify(family)], ["r:fam", null], ["e:sub", JSON.stringify(epoch)]]);
// KV's get([keys], "json") parses in the runtime: that parse is part of the serde-wasm-bindgen path.
const bulkJson = () => new Map([...bulkText].map(([k, v]) => [k, v === null ? null : JSON.parse(v)]));
const rows = [
  { k: "t:Q2hhbmdlIHRoaXMgdG8gYSByZWFsIGhhc2ggb2YgYSB0b2tlbg", v: JSON.stringify({ fam: "fam", gen: 41, sub: "user-1234", idle: NOW + 604800, abs: NOW + 2592000 }) },
  { k: "f:fam", v: JSON.stringify(family) },
  { k: "e:user-1234", v: JSON.stringify(epoch) },
];
const { bulkText: bt, bulkSwb, claimsText, claimsSwb, callText, callSwb, rowsSwb, rowsDirect } = wasmModule;
results.convert = {
  bulk: {
    text: await measure("KV bulk read: text + serde_json", (n) => { let s = 0; for (let i = 0; i < n; i++) s += bt(bulkText, 1); return s; }, 1000),
    swb: await measure("KV bulk read: json + serde-wasm-bindgen", (n) => { let s = 0; for (let i = 0; i < n; i++) s += bulkSwb(bulkJson(), 1); return s; }, 1000),
  },
  claims: {
    text: await measure("/api/me claims: serde_json text", (n) => claimsText(n), 1000),
    swb: await measure("/api/me claims: swb + JSON.stringify", (n) => claimsSwb(n), 1000),
  },
  call: {
    text: await measure("object call: JSON text both ways", (n) => callText(n), 1000),
    swb: await measure("object call: swb both ways", (n) => callSwb(n), 1000),
  },
  rows: {
    swb: await measure("SQL rows (3): serde-wasm-bindgen", (n) => rowsSwb(rows, n), 1000),
    direct: await measure("SQL rows (3): two property reads", (n) => rowsDirect(rows, n), 1000),
  },
};
writeFileSync(outPath, JSON.stringify(results, null, 2));
