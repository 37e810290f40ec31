// CPU time per operation of the Worker's isolate inside workerd: login, refresh, logout,
// logout-all and /api/me, in each ROTATION_STORE (kv, durable-object = strict mode), with and
// without DPoP. For the CPU-ms column of docs/BENCHMARKS.md section 6 ("What it costs") and the
// CPU part of the Workers Paid bill (tests/native/cost.rs reads this file's JSON through
// scripts/cost.sh's COST_CPU).
//
// How: the built Worker (build/worker, without the demo's [assets]) runs in `wrangler dev`
// (tests/support/worker.mjs); a V8 CPU profile of its isolate is recorded over the inspector
// (tests/support/inspector.mjs, as bench/profile/refresh-profile.mjs does) while a batch of one
// operation runs sequentially (one request in flight). CPU per op = the profile's samples that
// are not "(idle)" × the sampling period ÷ the batch's operations. Everything the batch needs
// (users, sessions, DPoP proofs made with Node's WebCrypto) is made before the profile starts;
// a warm-up batch runs unprofiled first. Each figure is the median of CPU_BATCHES batches.
//
// Samples, not time deltas: in workerd the deltas of a profile add up to the wall time (V8
// records a sample only when its signal finds the isolate on its thread; the time the isolate
// spends waiting, for its KV, for wrangler's proxy, for the next request, lands in the delta of
// the next sample), so "profiled ms not idle" (refresh-profile.mjs's figure) is about the wall
// time of the batch, here 10-20× the CPU. The count of samples × the period is the time the
// isolate ran. Checked against two references printed beside each figure:
// - the CPU time of the whole workerd process that runs the Worker (/proc schedstat, the V8
//   profiler's own thread left out): an upper bound, as it also runs wrangler's entry worker and
//   the local KV simulator; the figures come out at a tenth to two fifths of it;
// - login: the samples under Web Crypto's `deriveBits` per login against Node's pbkdf2Sync with
//   the same parameters (PBKDF2-HMAC-SHA256, 100,000 iterations; OpenSSL in Node, BoringSSL in
//   workerd): the same order (e.g. 16.6 against 18.8 ms on a loaded 2-core machine), so Web
//   Crypto runs synchronously on the isolate's thread and is counted.
//
// What the profile holds (CPU_TOP=1 prints each batch's top self time):
// - The Durable Objects (RotationObject, LoginThrottle) are classes of the same script, and
//   workerd runs them in the Worker's own isolate: their SQL (`exec`, `toArray`, `setAlarm`)
//   appears in the same profile. So strict mode's figures (and login's throttle calls in both
//   modes) are the Worker's CPU plus its objects'. On Cloudflare an object's time is billed as
//   DO duration, not as Worker CPU ms: for the bill these figures are an upper bound. The
//   samples whose stack shows an object's SQL call are printed as "under the objects' SQL" (a
//   lower bound of the objects' share: their wasm is not told apart from the Worker's).
// - The local KV (Miniflare's simulator) runs in another isolate: not in these figures.
// - Web Crypto is sampled under the calling builtin (`deriveBits`, `verify`, `importKey`,
//   `sign`, `digest`): printed as "under Web Crypto".
// Figures are CPU time on this machine's CPU, not Cloudflare's. A loaded machine lengthens the
// sampling period (the period is measured, not assumed) and adds noise (caches, frequency).
//
// Usage (from the repository root, after `make build` or scripts/build-worker.sh):
//   node bench/cost/cpu.mjs [OUT.json]
// Knobs: CPU_BATCHES (3), CPU_BATCH (150 operations per batch; login: CPU_LOGIN_BATCH, 20),
// CPU_INTERVAL_US (requested sampling interval, 100), CPU_TOP (print top self time per profile),
// CPU_STORES and CPU_OPS (comma lists: only those stores and operations, for a look at one path;
// the bill needs them all).
import { createHash, pbkdf2Sync, randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { freePort, startWorker } from "../../tests/support/worker.mjs";
import { connectInspector } from "../../tests/support/inspector.mjs";
import { median } from "../stats.mjs";

const BATCHES = Number(process.env.CPU_BATCHES || 3);
const BATCH = Number(process.env.CPU_BATCH || 150);
const LOGIN_BATCH = Number(process.env.CPU_LOGIN_BATCH || 20);
const INTERVAL = Number(process.env.CPU_INTERVAL_US || 100);
const TOP = Boolean(process.env.CPU_TOP);
const only = (name) => process.env[name] ? process.env[name].split(",") : null;
const STORES = only("CPU_STORES") ?? ["kv", "durable-object"];
const OPS = only("CPU_OPS");
const outPath = process.argv[2];
const log = (...a) => console.error("[cpu]", ...a);

// The Worker without its [assets] (the demo page), as bench/run.sh runs it.
mkdirSync("target/bench/cpu", { recursive: true });
const config = `${process.cwd()}/target/bench/cpu/ours.wrangler.toml`;
writeFileSync(config, readFileSync("wrangler.toml", "utf8")
  .replace(/^main = .*$/m, `main = "${process.cwd()}/build/worker/index.js"`)
  .replace(/^\[assets\][\s\S]*?(?=^\[)/m, ""));

const b64u = (bytes) => Buffer.from(bytes).toString("base64url");
const sha256 = (text) => createHash("sha256").update(text).digest();

// One DPoP key for the whole run (ES256, as the browser package makes it).
const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", pair.publicKey);
async function proof(method, htu, accessToken) {
  const header = { typ: "dpop+jwt", alg: "ES256", jwk: { kty, crv, x, y } };
  const claims = { jti: b64u(randomBytes(16)), htm: method, htu, iat: Math.floor(Date.now() / 1000), ...(accessToken ? { ath: b64u(sha256(accessToken)) } : {}) };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, new TextEncoder().encode(input));
  return `${input}.${b64u(new Uint8Array(sig))}`;
}

/**
 * CPU time of the isolate in a profile, from the number of samples, not from their time deltas:
 * V8 records a sample only when the sampler's signal finds the isolate on its thread, and the
 * delta of a sample is the wall time since the previous recorded one, so the deltas add up to
 * the wall time (in workerd, the isolate's waits between requests and for its KV and proxy are
 * folded into the next sample) while the count is proportional to the time the isolate ran.
 * The sampling period is the median of the deltas inside bursts (those under 5 × the requested
 * interval: consecutive samples of running code), about the requested interval, longer on a
 * loaded machine. Returns ms per category: busy (every sample not "(idle)"), program, gc, under the
 * objects' SQL calls, under Web Crypto calls; and the self time by frame for CPU_TOP.
 */
function analyse(profile) {
  const { nodes, samples, timeDeltas } = profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackHas = (id, names) => {
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) if (names.has(byId.get(cur).callFrame.functionName)) return true;
    return false;
  };
  const SQL = new Set(["exec", "toArray", "setAlarm", "getAlarm", "raw", "one"]);
  const CRYPTO = new Set(["deriveBits", "verify", "importKey", "sign", "digest", "exportKey"]);
  const period = median(timeDeltas.slice(1).filter((d) => d < 5 * INTERVAL)) / 1000; // ms
  const self = new Map();
  const n = { busy: 0, program: 0, gc: 0, sql: 0, crypto: 0 };
  for (const sid of samples) {
    const f = byId.get(sid).callFrame;
    const key = `${f.functionName || "(anonymous)"}${f.url ? ` ${f.url.split("/").pop()}:${f.lineNumber + 1}:${f.columnNumber + 1}` : ""}`;
    self.set(key, (self.get(key) ?? 0) + period);
    if (f.functionName === "(idle)") continue;
    n.busy++;
    if (f.functionName === "(program)") n.program++;
    else if (f.functionName === "(garbage collector)") n.gc++;
    else {
      if (stackHas(sid, SQL)) n.sql++;
      if (stackHas(sid, CRYPTO)) n.crypto++;
    }
  }
  const wall = timeDeltas.reduce((a, b) => a + b, 0) / 1000;
  return { period, wall, self, ...Object.fromEntries(Object.entries(n).map(([k, v]) => [k, v * period])) };
}

/** The workerd process that runs the Worker (wrangler dev starts two: its proxy, and the
 * runtime with the inspector), found in the Worker's process group. */
function runtimePid(pgid) {
  const pids = execFileSync("pgrep", ["-g", String(pgid), "workerd"], { encoding: "utf8" }).trim().split("\n");
  const pid = pids.find((p) => readFileSync(`/proc/${p}/cmdline`, "utf8").includes("--inspector-addr"));
  if (!pid) throw new Error(`no workerd with an inspector among ${pids.join(", ")}`);
  return pid;
}

/** CPU time (ns) of a process's threads so far, the V8 profiler's own thread left out. */
function processCpuNs(pid) {
  let ns = 0;
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").startsWith("v8:ProfEvntProc")) continue;
      ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
    } catch { /* the thread ended */ }
  }
  return ns;
}

async function withWorker(store, fn) {
  const port = await freePort();
  const w = await startWorker({
    config, port,
    vars: { ROTATION_STORE: store, ISSUER: `http://127.0.0.1:${port}`, ALLOWED_ORIGINS: `http://127.0.0.1:${port}`, ACCESS_TTL_SECONDS: "900" },
  });
  try { return await fn(w); } finally { await w.stop(); }
}

async function measureStore(store) {
  return withWorker(store, async (w) => {
    const ask = async (method, path, { json, headers = {}, expect = 200 } = {}) => {
      const res = await fetch(`${w.url}${path}`, {
        method, headers: { ...(json ? { "content-type": "application/json" } : {}), ...headers }, body: json ? JSON.stringify(json) : undefined,
      });
      const text = await res.text();
      if (res.status !== expect) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
      return text ? JSON.parse(text) : {};
    };
    const admin = { authorization: `Bearer ${w.adminToken}` };
    let n = 0;
    const unique = () => `${store === "kv" ? "k" : "d"}${++n}-${randomBytes(3).toString("hex")}`;
    const mint = async (dpop) => {
      const headers = { ...admin, ...(dpop ? { dpop: await proof("POST", `${w.url}/auth/sessions`) } : {}) };
      const r = await ask("POST", "/auth/sessions", { json: { sub: unique() }, headers });
      if ((r.token_type === "DPoP") !== dpop) throw new Error(`minted a ${r.token_type} session`);
      return r;
    };
    const auth = (dpop, at) => `${dpop ? "DPoP" : "Bearer"} ${at}`;
    // Each kind of operation: prepare(count) makes what `count` operations need (outside the
    // profile); run(prepared, i) performs the i-th.
    const kinds = {
      login: {
        count: LOGIN_BATCH,
        prepare: async (count, dpop) => {
          const users = [];
          for (let i = 0; i < count; i++) {
            const username = `u${unique()}`, password = `pw-${randomBytes(8).toString("hex")}`;
            await ask("POST", "/auth/users", { json: { username, password }, headers: admin, expect: 201 });
            // A distinct client address per login: the throttle counts per account and address.
            const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
            users.push({ username, password, ip, dpop: dpop ? await proof("POST", `${w.url}/auth/login`) : undefined });
          }
          return users;
        },
        run: async (users, i) => {
          const u = users[i];
          const r = await ask("POST", "/auth/login", { json: { username: u.username, password: u.password, transport: "body" }, headers: { "cf-connecting-ip": u.ip, ...(u.dpop ? { dpop: u.dpop } : {}) } });
          if (!r.refresh_token) throw new Error("login gave no refresh token");
        },
      },
      // Steady state as in the native table: families of 30 rotations (strict mode's object
      // then holds the retired token hashes its DPoP sweep scans).
      refresh: {
        count: BATCH,
        prepare: async (count, dpop) => {
          const chains = [];
          for (let i = 0; i < Math.ceil(count / 30); i++) chains.push({ token: (await mint(dpop)).refresh_token });
          const proofs = [];
          for (let i = 0; i < count; i++) proofs.push(dpop ? await proof("POST", `${w.url}/auth/refresh`) : undefined);
          return { chains, proofs };
        },
        run: async ({ chains, proofs }, i) => {
          const c = chains[Math.floor(i / 30)];
          const r = await ask("POST", "/auth/refresh", { json: { refresh_token: c.token }, headers: proofs[i] ? { dpop: proofs[i] } : {} });
          c.token = r.refresh_token;
        },
      },
      "/api/me": {
        count: BATCH,
        prepare: async (count, dpop) => {
          const at = (await mint(dpop)).access_token;
          const proofs = [];
          for (let i = 0; i < count; i++) proofs.push(dpop ? await proof("GET", `${w.url}/api/me`, at) : undefined);
          return { at, proofs, dpop };
        },
        run: async ({ at, proofs, dpop }, i) => {
          await ask("GET", "/api/me", { headers: { authorization: auth(dpop, at), ...(proofs[i] ? { dpop: proofs[i] } : {}) } });
        },
      },
      logout: {
        count: BATCH,
        prepare: async (count, dpop) => {
          const tokens = [];
          for (let i = 0; i < count; i++) tokens.push((await mint(dpop)).refresh_token);
          return tokens;
        },
        run: async (tokens, i) => { await ask("POST", "/auth/logout", { json: { refresh_token: tokens[i] } }); },
      },
      "logout-all": {
        count: BATCH,
        prepare: async (count, dpop) => {
          const calls = [];
          for (let i = 0; i < count; i++) {
            const at = (await mint(dpop)).access_token;
            calls.push({ at, dpop, proof: dpop ? await proof("POST", `${w.url}/auth/logout-all`, at) : undefined });
          }
          return calls;
        },
        run: async (calls, i) => {
          const c = calls[i];
          await ask("POST", "/auth/logout-all", { headers: { authorization: auth(c.dpop, c.at), ...(c.proof ? { dpop: c.proof } : {}) } });
        },
      },
    };
    const pid = runtimePid(w.pgid);
    const insp = await connectInspector(w.inspectorPort);
    await insp.send("Profiler.enable");
    await insp.send("Profiler.setSamplingInterval", { interval: INTERVAL });
    const out = {};
    try {
      for (const dpop of [false, true]) {
        for (const [op, k] of Object.entries(kinds).filter(([op]) => !OPS || OPS.includes(op))) {
          const perOp = [], detail = [];
          for (let b = 0; b <= BATCHES; b++) {
            const count = b === 0 ? Math.max(3, Math.ceil(k.count / 3)) : k.count; // batch 0 warms up
            const prepared = await k.prepare(count, dpop);
            if (b === 0) { for (let i = 0; i < count; i++) await k.run(prepared, i); continue; }
            await insp.send("Profiler.start");
            const t0 = performance.now(), c0 = processCpuNs(pid);
            for (let i = 0; i < count; i++) await k.run(prepared, i);
            const wall = performance.now() - t0, runtime = (processCpuNs(pid) - c0) / 1e6 / count;
            const { result } = await insp.send("Profiler.stop");
            const a = analyse(result.profile);
            const ms = a.busy / count;
            if (ms > runtime * 1.1) log(`warning: ${op}: the profile's ${ms.toFixed(2)} ms per op exceed the whole workerd process's ${runtime.toFixed(2)} ms`);
            perOp.push(ms);
            detail.push({ ms, runtimeMs: runtime, wallMs: wall / count, periodUs: a.period * 1000, programMs: a.program / count, gcMs: a.gc / count, objectSqlMs: a.sql / count, cryptoMs: a.crypto / count });
            if (TOP) {
              log(`${store} dpop=${dpop} ${op}: top self time per op`);
              for (const [key, v] of [...a.self].sort((p, q) => q[1] - p[1]).slice(0, 12)) log(`  ${(v / count).toFixed(3).padStart(8)} ms  ${key.slice(0, 100)}`);
            }
          }
          const med = (f) => Number(median(detail.map(f)).toFixed(3));
          const row = { ms: Number(median(perOp).toFixed(3)), batches: perOp.map((v) => Number(v.toFixed(3))), ops: k.count, periodUs: med((d) => d.periodUs), runtimeMs: med((d) => d.runtimeMs), wallMs: med((d) => d.wallMs), programMs: med((d) => d.programMs), gcMs: med((d) => d.gcMs), objectSqlMs: med((d) => d.objectSqlMs), cryptoMs: med((d) => d.cryptoMs) };
          // The docs say so: a figure above the whole process's CPU would be a broken measure.
          if (row.ms > row.runtimeMs) throw new Error(`${store} ${op}: ${row.ms} ms per op exceed the whole workerd process's ${row.runtimeMs} ms`);
          (out[dpop ? "dpop" : "bearer"] ??= {})[op] = row;
          log(`${store.padEnd(14)} ${dpop ? "DPoP  " : "Bearer"} ${op.padEnd(10)} ${row.ms.toFixed(3)} ms CPU/op (batches ${row.batches.join(", ")}; whole workerd process ${row.runtimeMs}, wall ${row.wallMs} ms, sampling period ${row.periodUs} µs; of which (program) ${row.programMs}, GC ${row.gcMs}, under Web Crypto ${row.cryptoMs}, under the objects' SQL ${row.objectSqlMs})`);
        }
      }
    } finally {
      insp.close();
    }
    return out;
  });
}

// Plausibility of login's figure: PBKDF2-HMAC-SHA256, 100,000 iterations, 32 bytes, in Node.
const pbkdf2 = [];
for (let i = 0; i < 5; i++) { const t0 = performance.now(); pbkdf2Sync("password", randomBytes(16), 100_000, 32, "sha256"); pbkdf2.push(performance.now() - t0); }
log(`reference: Node pbkdf2Sync, 100,000 iterations SHA-256: ${median(pbkdf2).toFixed(1)} ms`);

const result = {
  method: "V8 CPU profile of the Worker's isolate in wrangler dev (workerd): samples not idle × sampling period ÷ operations, median of batches",
  machine: { cpu: cpus()[0]?.model, nproc: cpus().length, loadavg: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ") },
  batches: BATCHES, batch: BATCH, loginBatch: LOGIN_BATCH, intervalUs: INTERVAL,
  pbkdf2NodeMs: Number(median(pbkdf2).toFixed(2)),
  stores: {},
};
for (const store of STORES) result.stores[store] = await measureStore(store);
if (outPath) writeFileSync(outPath, JSON.stringify(result, null, 2));
else console.log(JSON.stringify(result, null, 2));
