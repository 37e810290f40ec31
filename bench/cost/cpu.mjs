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
for (const store of STORES) result.stores[store] = await measureStore(store);
if (outPath) writeFileSync(outPath, JSON.stringify(result, null, 2));
else console.log(JSON.stringify(result, null, 2));
