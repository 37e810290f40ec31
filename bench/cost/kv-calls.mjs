// Confirms in workerd the KV counts of a refresh that the native cost table (tests/native/cost.rs,
// `make cost`) gives for KV mode: the built Worker runs in `wrangler dev` behind a thin wrapper
// module that hands it a counting proxy of its KV binding (every `get`, by keys and by calls,
// `put`, `delete`, `list`), then refreshes families in steady state (the 30th rotation, as the
// table measures it) with and without DPoP and prints the calls per refresh.
//
// Usage (from the repository root, after `make build`): node bench/cost/kv-calls.mjs [OUT.json]
// Exits 1 when a count differs from the table's (KV mode, refresh: 3 keys read in 2 calls and 1
// write; with DPoP 4 in 2 and 1; no deletes), or when the 30th of quick DPoP refreshes does not
// spend its proof in the replay cache (a second write: the family record keeps at most 8).
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { freePort, startWorker } from "../../tests/support/worker.mjs";

const root = process.cwd();
const dir = `${root}/target/bench/kv-calls`;
mkdirSync(dir, { recursive: true });
writeFileSync(`${dir}/wrap.mjs`, `
import Worker, { RotationObject, LoginThrottle } from "${root}/build/worker/index.js";
export { RotationObject, LoginThrottle };
const counts = { getCalls: 0, getKeys: 0, put: 0, delete: 0, list: 0 };
function counting(kv) {
  return new Proxy(kv, {
    get(target, prop) {
      const v = Reflect.get(target, prop);
      if (typeof v !== "function") return v;
      return (...args) => {
        if (prop === "get") { counts.getCalls++; counts.getKeys += Array.isArray(args[0]) ? args[0].length : 1; }
        else if (prop in counts) counts[prop]++;
        return v.apply(target, args);
      };
    },
  });
}
export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__kv_counts") return Response.json(counts);
    const inner = new Worker(ctx, { ...env, REFRESH_TOKENS: counting(env.REFRESH_TOKENS) });
    return inner.fetch(request);
  },
};
`);
writeFileSync(`${dir}/wrangler.toml`, readFileSync("wrangler.toml", "utf8")
  .replace(/^main = .*$/m, `main = "${dir}/wrap.mjs"`)
  // The wrapper imports the built Worker: this one is bundled by wrangler (the shipped config
  // uploads build/worker/index.js as it is: no_bundle, the wasm by a module rule).
  .replace(/^no_bundle = true\n/m, "")
  .replace(/^rules = .*\n/m, "")
  .replace(/^\[assets\][\s\S]*?(?=^\[)/m, ""));

const b64u = (bytes) => Buffer.from(bytes).toString("base64url");
const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
async function proof(method, htu) {
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } };
  const claims = { jti: b64u(randomBytes(16)), htm: method, htu, iat: Math.floor(Date.now() / 1000) };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, new TextEncoder().encode(input));
  return `${input}.${b64u(new Uint8Array(sig))}`;
}

const port = await freePort();
const w = await startWorker({ config: `${dir}/wrangler.toml`, port, vars: { ROTATION_STORE: "kv", ISSUER: `http://127.0.0.1:${port}` } });
const out = {};
let ok = true;
try {
  const ask = async (path, json, headers = {}) => {
    const res = await fetch(`${w.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(json) });
    const body = await res.json();
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
  const counts = async () => (await fetch(`${w.url}/__kv_counts`)).json();
  // DPoP: the table's refreshes are 15 minutes apart, so the family record has room for the proof
  // (it keeps the proofs of the last two minutes, at most 8); here they follow each other, so the
  // 5th refresh is the table's case and the 30th the burst's (its proof goes to the replay cache).
  const expected = {
    bearer: { getKeys: 3, getCalls: 2, put: 1, delete: 0 },
    dpop: { getKeys: 4, getCalls: 2, put: 1, delete: 0 },
    "dpop-burst": { getKeys: 4, getCalls: 2, put: 2, delete: 0 },
  };
  for (const [kind, dpop, UPTO] of [["bearer", false, 30], ["dpop", true, 5], ["dpop-burst", true, 30]]) {
    const headers = { authorization: `Bearer ${w.adminToken}`, ...(dpop ? { dpop: await proof("POST", `${w.url}/auth/sessions`) } : {}) };
    let token = (await ask("/auth/sessions", { sub: `kv-calls-${kind}-${randomBytes(3).toString("hex")}` }, headers)).refresh_token;
    const FAMILIES = 5;
    const per = [];
    for (let f = 0; f < FAMILIES; f++) {
      if (f > 0) token = (await ask("/auth/sessions", { sub: `kv-calls-${kind}-${f}-${randomBytes(3).toString("hex")}` }, { authorization: `Bearer ${w.adminToken}`, ...(dpop ? { dpop: await proof("POST", `${w.url}/auth/sessions`) } : {}) })).refresh_token;
      for (let i = 1; i <= UPTO; i++) {
        const h = dpop ? { dpop: await proof("POST", `${w.url}/auth/refresh`) } : {};
        const before = i === UPTO ? await counts() : null;
        token = (await ask("/auth/refresh", { refresh_token: token }, h)).refresh_token;
        if (before) {
          const after = await counts();
          per.push(Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]])));
        }
      }
    }
    out[kind] = per;
    const same = per.every((c) => Object.entries(expected[kind]).every(([k, v]) => c[k] === v));
    if (!same) ok = false;
    console.error(`[kv-calls] KV mode, ${kind.padEnd(10)} refresh (${UPTO}th of a family, ${FAMILIES} families): ${JSON.stringify(per[0])}${same ? " in every family, as the native table counts" : ` DIFFERS from the native table's ${JSON.stringify(expected[kind])}: ${JSON.stringify(per)}`}`);
  }
} finally {
  await w.stop();
}
if (process.argv[2]) writeFileSync(process.argv[2], JSON.stringify(out, null, 2));
process.exitCode = ok ? 0 : 1;
