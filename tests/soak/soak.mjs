// Load and soak test of the built Worker in `wrangler dev` (a separate command, scripts/soak.sh;
// not part of `make test`).
//
// Starts the Worker with tests/support/worker.mjs (fresh local KV, generated secrets), creates
// users through POST /auth/users, then runs SOAK_SESSIONS simulated sessions in a closed loop
// (each sends its next request as soon as the previous one is answered, so the rate is the
// highest the machine sustains) for SOAK_SECONDS. A session's life: log in (body transport),
// then a few cycles of 1-3 GET /api/me and one refresh, then log out (half of them) or walk away
// keeping its refresh token; then it starts over as a new session.
//
// Passes when:
//   - no answer was a 5xx and no request failed at the network level;
//   - no session was lost: every refresh and /api/me of a live session answered 200 during the
//     run, and afterwards every session not logged out (walked away, or still running at the
//     end) refreshes with 200 and its new access token reads /api/me; logged-out ones get 400;
//   - memory is stable: the Worker's own isolate (JS heap plus the wasm linear memory, from heap
//     snapshots over the inspector) does not grow after warm-up, and the resident set of the
//     workerd process running it grows no faster per request than MEMORY.rssKbPerRequest allows.
// Prints requests/s, p50/p99 latency and statuses per kind, and the memory samples.
//
// Why two memory measures. The workerd processes of `wrangler dev` grow by tens of KB per request
// whatever the Worker does: a short control phase at the start serves a static asset (answered
// by wrangler's asset server, our code never runs) and measures it: 30-55 KB/request measured in
// both the proxy and the Worker's process, i.e. hundreds of MB per minute at this load. So raw RSS
// cannot be flat in a 60 s soak of any Worker. What the Worker itself holds is measured exactly:
// a heap snapshot counts every JS object and ArrayBuffer of its isolate, the wasm memory of the
// Rust code included (~2.5 MB in all). A leak of 250 bytes per request shows there within a
// minute; the process RSS bound only catches gross regressions (a retained response per request).
//
// Env: SOAK_SECONDS (60), SOAK_SESSIONS (48), SOAK_USERS (16), SOAK_SAMPLE_SECONDS (3),
// SOAK_CONTROL_SECONDS (8).
import http from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { startWorker } from "../support/worker.mjs";
import { connectInspector } from "../support/inspector.mjs";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const SESSIONS = Number(process.env.SOAK_SESSIONS ?? 48);
const USERS = Number(process.env.SOAK_USERS ?? 16);
const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_SECONDS ?? 3) * 1000;
const CONTROL_SECONDS = Number(process.env.SOAK_CONTROL_SECONDS ?? 8);
const WARMUP_S = Math.min(10, SECONDS / 4);
const MEMORY = {
  // The isolate, from the snapshot after warm-up to the one at the end: a few hundred KB of
  // noise (tier-up code, one more 64 KB wasm page); 4 MB (or half the baseline) is generous.
  isolateGrowthMb: (baseline) => Math.max(4, baseline / 2),
  // The process: 4x the control phase's growth per request (the Worker's requests also make KV
  // subrequests inside the same process), at least 150 KB per request.
  rssKbPerRequest: (control) => Math.max(150, 4 * control),
};
const PASSWORD = "soak-password-1";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const agent = new http.Agent({ keepAlive: true, maxSockets: SESSIONS + 8 });

/** One request over a keep-alive connection; resolves to { status, body, ms } (status 0 = network error). */
function request(base, method, path, { json, bearer, headers: extra = {} } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const headers = { ...extra };
    let payload;
    if (json !== undefined) {
      payload = Buffer.from(JSON.stringify(json));
      headers["content-type"] = "application/json";
      headers["content-length"] = payload.length;
    }
    if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
    const req = http.request(`${base}${path}`, { method, headers, agent, timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        let body = null;
        try { body = text ? JSON.parse(text) : null; } catch { body = undefined; }
        resolve({ status: res.statusCode, body, text, ms: performance.now() - started });
      });
      res.on("error", (e) => resolve({ status: 0, error: e.code ?? e.message, ms: performance.now() - started }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: 0, error: e.code ?? e.message, ms: performance.now() - started }));
    req.end(payload);
  });
}

/** Per-kind statistics: latencies and statuses. */
class Stats {
  constructor() { this.kinds = new Map(); }
  add(kind, res) {
    let k = this.kinds.get(kind);
    if (!k) this.kinds.set(kind, (k = { ms: [], status: new Map(), errors: new Map() }));
    k.ms.push(res.ms);
    k.status.set(res.status, (k.status.get(res.status) ?? 0) + 1);
    if (res.status === 0) k.errors.set(res.error, (k.errors.get(res.error) ?? 0) + 1);
  }
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);

/** The workerd processes in the process group of the wrangler serving `port`: { pid, role }. */
function workerdOf(port) {
  const procs = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // after "pid (comm) "
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      procs.push({ pid: Number(pid), pgid: Number(rest[2]), comm, cmd });
    } catch { /* exited meanwhile */ }
  }
  // wrangler is spawned detached by the harness, so it leads its own process group.
  const leader = procs.find((p) => p.pid === p.pgid && p.cmd.some((a) => a.endsWith("wrangler.js")) &&
    p.cmd.includes("dev") && p.cmd[p.cmd.indexOf("--port") + 1] === String(port));
  if (!leader) return [];
  return procs
    .filter((p) => p.pgid === leader.pgid && p.comm === "workerd")
    // wrangler runs two: a proxy on the public port, and the one running the Worker (with the
    // inspector); the second is the one whose memory matters.
    .map((p) => ({ pid: p.pid, role: p.cmd.some((a) => a.startsWith("--inspector-addr")) ? "worker" : "proxy" }));
}

function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch { return NaN; }
}

/** Least-squares slope of y over x. */
function slope(points) {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let num = 0, den = 0;
  for (const [x, y] of points) { num += (x - mx) * (y - my); den += (x - mx) ** 2; }
  return den ? num / den : 0;
}

/** Heap snapshots of the Worker's isolate; `snapshot()` sums one (MB). */
async function inspector(inspectorPort) {
  let chunks = [];
  const c = await connectInspector(inspectorPort, (d) => {
    if (d.method === "HeapProfiler.addHeapSnapshotChunk") chunks.push(d.params.chunk);
  });
  return {
    // A snapshot collects garbage first, so it counts what the isolate retains.
    async snapshot() {
      chunks = [];
      await c.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
      const snap = JSON.parse(chunks.join(""));
      chunks = [];
      const fields = snap.snapshot.meta.node_fields;
      const size = fields.indexOf("self_size"), name = fields.indexOf("name");
      let total = 0, buffers = 0;
      for (let i = 0; i < snap.nodes.length; i += fields.length) {
        total += snap.nodes[i + size];
        // ArrayBuffer backing stores; the wasm linear memory is the largest of them.
        if (snap.strings[snap.nodes[i + name]] === "system / JSArrayBufferData") buffers += snap.nodes[i + size];
      }
      return { totalMb: total / 1048576, buffersMb: buffers / 1048576 };
    },
    close: () => c.close(),
  };
}

async function main() {
  const failures = [];
  let w, cdp;
  const stopAll = async () => { cdp?.close(); if (w) { const x = w; w = undefined; await x.stop(); } };
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { stopAll().finally(() => process.exit(130)); });
  try {
    console.log(`soak: starting the Worker (wrangler dev) ...`);
    w = await startWorker();
    const base = w.url;
    const procs = workerdOf(w.port);
    const target = procs.find((p) => p.role === "worker") ?? procs[0];
    if (!target) throw new Error(`no workerd process found in the process group of wrangler on port ${w.port}`);
    console.log(`soak: ${base} (ROTATION_STORE=${w.rotationStore}); workerd ${procs.map((p) => `${p.pid} (${p.role})`).join(", ")}`);
    try {
      cdp = await inspector(w.inspectorPort);
    } catch (e) {
      failures.push(`cannot measure the Worker's isolate over the inspector: ${e.message}`);
    }

    // Control: the runtime's own growth per request, on a static asset our code never sees.
    const control = { requests: 0, before: rssMb(target.pid) };
    const controlEnd = Date.now() + CONTROL_SECONDS * 1000;
    await Promise.all(Array.from({ length: SESSIONS }, async () => {
      while (Date.now() < controlEnd) {
        const res = await request(base, "GET", "/");
        if (res.status !== 200) throw new Error(`control request: ${res.status}`);
        control.requests++;
      }
    }));
    control.after = rssMb(target.pid);
    control.kbPerRequest = ((control.after - control.before) * 1024) / Math.max(1, control.requests);
    console.log(`soak: control: ${control.requests} static-asset requests in ${CONTROL_SECONDS}s grew the Worker's workerd ` +
      `${control.before.toFixed(1)} -> ${control.after.toFixed(1)} MB (${control.kbPerRequest.toFixed(1)} KB/request)`);

    // Users, through the admin endpoint.
    const users = [];
    for (let i = 0; i < USERS; i++) {
      const username = `soak${i}`;
      const res = await request(base, "POST", "/auth/users", { json: { username, password: PASSWORD }, bearer: w.adminToken });
      if (res.status !== 201) throw new Error(`creating ${username}: ${res.status} ${res.text}`);
      users.push(username);
    }

    const stats = new Stats();
    const countAnswered = stats.add.bind(stats);
    stats.add = (kind, res) => { answered++; countAnswered(kind, res); };
    const kept = []; // refresh tokens of sessions that were not logged out
    const loggedOut = []; // a sample of logged-out refresh tokens
    let lost = 0;
    const lostWhy = new Map();
    const loseOne = (why) => { lost++; lostWhy.set(why, (lostWhy.get(why) ?? 0) + 1); };
    let lifecycles = 0;

    // RSS sampling, with the number of requests answered so far.
    let answered = 0;
    const samples = []; // [seconds since start, { pid: MB }, requests answered]
    const t0 = performance.now();
    const sample = () => {
      const row = {};
      for (const p of procs) row[p.pid] = rssMb(p.pid);
      samples.push([(performance.now() - t0) / 1000, row, answered]);
    };
    sample();
    const sampler = setInterval(sample, SAMPLE_MS);
    sampler.unref(); // never keeps node alive after a failure
    // Isolate snapshots: at the start, after warm-up and at the end.
    const snaps = [];
    const snapshot = async (label) => {
      if (!cdp) return;
      try {
        snaps.push({ label, at: (performance.now() - t0) / 1000, answered, ...(await cdp.snapshot()) });
      } catch (e) {
        failures.push(`isolate snapshot (${label}) failed: ${e.message}`);
      }
    };
    await snapshot("start");
    const warmSnap = setTimeout(() => void snapshot("after warm-up"), WARMUP_S * 1000);
    warmSnap.unref();

    const deadline = Date.now() + SECONDS * 1000;
    const timeUp = () => Date.now() >= deadline;
    const rnd = (n) => Math.floor(Math.random() * n);

    async function session(id) {
      while (!timeUp()) {
        lifecycles++;
        const username = users[(id + lifecycles) % users.length];
        // Each session is its own client (browser), with its own address as the edge reports it:
        // login throttling counts attempts per address.
        const client = { "cf-connecting-ip": `10.0.${id >> 8}.${id & 255}` };
        const login = await request(base, "POST", "/auth/login", { json: { username, password: PASSWORD }, headers: client });
        stats.add("login", login);
        if (login.status !== 200) { loseOne(`login ${login.status}`); await sleep(50); continue; }
        let { access_token: access, refresh_token: refresh } = login.body;
        let alive = true;
        const cycles = 3 + rnd(10);
        for (let c = 0; c < cycles && alive && !timeUp(); c++) {
          const reads = 1 + rnd(3);
          for (let r = 0; r < reads && !timeUp(); r++) {
            const me = await request(base, "GET", "/api/me", { bearer: access });
            stats.add("me", me);
            if (me.status !== 200 || me.body?.sub !== username) { loseOne(`me ${me.status}`); alive = false; break; }
          }
          if (!alive || timeUp()) break;
          const res = await request(base, "POST", "/auth/refresh", { json: { refresh_token: refresh } });
          stats.add("refresh", res);
          if (res.status !== 200) { loseOne(`refresh ${res.status} ${res.body?.error ?? ""}`); alive = false; break; }
          ({ access_token: access, refresh_token: refresh } = res.body);
        }
        if (!alive) continue;
        if (timeUp() || Math.random() < 0.5) {
          kept.push({ username, refresh }); // walked away, or still running at the end
          continue;
        }
        const out = await request(base, "POST", "/auth/logout", { json: { refresh_token: refresh } });
        stats.add("logout", out);
        if (out.status !== 200) loseOne(`logout ${out.status}`);
        else if (loggedOut.length < 200) loggedOut.push(refresh);
      }
    }

    console.log(`soak: ${USERS} users, ${SESSIONS} concurrent sessions, ${SECONDS}s ...`);
    const started = performance.now();
    await Promise.all(Array.from({ length: SESSIONS }, (_, i) => session(i)));
    const elapsed = (performance.now() - started) / 1000;
    clearInterval(sampler);
    clearTimeout(warmSnap);
    sample();
    await snapshot("end");

    // Afterwards: every kept session refreshes and reads /api/me; logged-out ones are refused.
    const check = new Stats();
    let lostAfter = 0, revivedAfterLogout = 0;
    const queue = [...kept];
    await Promise.all(Array.from({ length: 8 }, async () => {
      for (let s; (s = queue.pop());) {
        const res = await request(base, "POST", "/auth/refresh", { json: { refresh_token: s.refresh } });
        check.add("refresh", res);
        if (res.status !== 200) { lostAfter++; continue; }
        const me = await request(base, "GET", "/api/me", { bearer: res.body.access_token });
        check.add("me", me);
        if (me.status !== 200 || me.body?.sub !== s.username) lostAfter++;
      }
    }));
    for (const t of loggedOut) {
      const res = await request(base, "POST", "/auth/refresh", { json: { refresh_token: t } });
      check.add("refresh-after-logout", res);
      if (!(res.status === 400 && res.body?.error === "invalid_grant")) revivedAfterLogout++;
    }

    // ---- figures ----
    console.log(`\n=== soak: ${elapsed.toFixed(1)} s, ${SESSIONS} sessions, ${lifecycles} session lifecycles ===`);
    let total = 0;
    const all5xx = [], allNet = [];
    console.log("kind        requests    req/s    p50 ms   p99 ms   max ms  statuses");
    for (const [kind, k] of stats.kinds) {
      const sorted = k.ms.slice().sort((a, b) => a - b);
      total += k.ms.length;
      const statuses = [...k.status].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s || "net"}:${n}`).join(" ");
      console.log(`${kind.padEnd(10)} ${String(k.ms.length).padStart(9)} ${(k.ms.length / elapsed).toFixed(1).padStart(8)} ` +
        `${pct(sorted, 50).toFixed(1).padStart(9)} ${pct(sorted, 99).toFixed(1).padStart(8)} ${sorted.at(-1).toFixed(1).padStart(8)}  ${statuses}`);
      for (const [s, n] of k.status) if (s >= 500) all5xx.push(`${kind} ${s} x${n}`);
      for (const [e, n] of k.errors) allNet.push(`${kind} ${e} x${n}`);
    }
    console.log(`${"total".padEnd(10)} ${String(total).padStart(9)} ${(total / elapsed).toFixed(1).padStart(8)}`);
    const checkStatuses = [...check.kinds].map(([kind, k]) => `${kind} ${[...k.status].map(([s, n]) => `${s || "net"}:${n}`).join(" ")}`).join("; ");
    console.log(`\nafter the run: ${kept.length} sessions not logged out re-checked (${checkStatuses || "none"}); ` +
      `${loggedOut.length} logged-out tokens re-tried`);
    console.log(`lost sessions: ${lost} during the run${lost ? ` (${[...lostWhy].map(([k, v]) => `${k}: ${v}`).join(", ")})` : ""}, ` +
      `${lostAfter} afterwards; logged-out tokens that still refreshed: ${revivedAfterLogout}`);

    console.log(`\nworkerd RSS (MB), every ${SAMPLE_MS / 1000} s:`);
    console.log(`   t/s  ${procs.map((p) => `${p.role}:${p.pid}`.padStart(14)).join("")}`);
    for (const [t, row] of samples) console.log(`${t.toFixed(1).padStart(6)}  ${procs.map((p) => row[p.pid].toFixed(1).padStart(14)).join("")}`);
    const series = samples.map(([t, row, n]) => [t, row[target.pid], n]).filter(([, v]) => Number.isFinite(v));
    const warm = series.find(([t]) => t >= WARMUP_S) ?? series[0];
    const last = series.at(-1);
    const peak = Math.max(...series.map(([, v]) => v));
    const slopePerMin = slope(series.filter(([t]) => t >= WARMUP_S).map(([t, v]) => [t, v])) * 60;
    const kbPerRequest = ((last[1] - warm[1]) * 1024) / Math.max(1, last[2] - warm[2]);
    const rssAllowed = MEMORY.rssKbPerRequest(control.kbPerRequest);
    console.log(`Worker's workerd (pid ${target.pid}): start ${series[0][1].toFixed(1)}, after ${WARMUP_S}s warm-up ${warm[1].toFixed(1)}, ` +
      `peak ${peak.toFixed(1)}, end ${last[1].toFixed(1)} MB; slope after warm-up ${slopePerMin.toFixed(1)} MB/min = ` +
      `${kbPerRequest.toFixed(1)} KB/request (control ${control.kbPerRequest.toFixed(1)}, allowed ${rssAllowed.toFixed(0)})`);
    for (const p of procs.filter((x) => x !== target)) {
      const ps = samples.map(([, row]) => row[p.pid]);
      console.log(`${p.role} workerd (pid ${p.pid}): start ${ps[0].toFixed(1)}, peak ${Math.max(...ps).toFixed(1)}, end ${ps.at(-1).toFixed(1)} MB`);
    }
    console.log("Worker isolate (heap snapshots: JS heap + ArrayBuffers incl. the wasm memory):");
    for (const x of snaps) {
      console.log(`  ${x.label.padEnd(14)} t=${x.at.toFixed(1).padStart(5)}s after ${String(x.answered).padStart(6)} requests: ` +
        `${x.totalMb.toFixed(2)} MB, of which ArrayBuffers ${x.buffersMb.toFixed(2)} MB`);
    }
    const warmIsolate = snaps.find((x) => x.label === "after warm-up") ?? snaps[0];
    const endIsolate = snaps.find((x) => x.label === "end");
    const isolateGrowth = warmIsolate && endIsolate ? endIsolate.totalMb - warmIsolate.totalMb : NaN;
    const isolateAllowed = warmIsolate ? MEMORY.isolateGrowthMb(warmIsolate.totalMb) : NaN;
    if (Number.isFinite(isolateGrowth)) {
      console.log(`  growth after warm-up ${isolateGrowth.toFixed(2)} MB (allowed ${isolateAllowed.toFixed(1)})`);
    }

    // ---- verdict ----
    if (all5xx.length) failures.push(`5xx answers: ${all5xx.join(", ")}`);
    if (allNet.length) failures.push(`network errors: ${allNet.join(", ")}`);
    if (lost || lostAfter) failures.push(`lost sessions: ${lost} during the run, ${lostAfter} afterwards`);
    if (revivedAfterLogout) failures.push(`${revivedAfterLogout} logged-out tokens still refreshed`);
    if (check.kinds.size && [...check.kinds.values()].some((k) => [...k.status.keys()].some((s) => s >= 500 || s === 0))) {
      failures.push("5xx or network errors in the check after the run");
    }
    if (isolateGrowth > isolateAllowed) {
      failures.push(`the Worker's isolate grew ${isolateGrowth.toFixed(2)} MB after warm-up (allowed ${isolateAllowed.toFixed(1)})`);
    }
    if (cdp && !endIsolate) failures.push("no isolate snapshot at the end");
    if (kbPerRequest > rssAllowed) {
      failures.push(`the Worker's workerd grew ${kbPerRequest.toFixed(1)} KB/request after warm-up (allowed ${rssAllowed.toFixed(0)})`);
    }
    if (total === 0) failures.push("no request was made");
    // The checks after the run prove nothing about sessions that never existed.
    if (kept.length === 0) failures.push("no session was kept to re-check after the run");
    if (loggedOut.length === 0) failures.push("no session logged out, so none was re-tried after logout");
    const logs = w.logs();
    const panics = logs.split("\n").filter((l) => /panicked|RuntimeError|Uncaught/i.test(l));
    if (panics.length) failures.push(`the Worker log shows ${panics.length} panics/uncaught errors, first: ${panics[0]}`);
  } catch (e) {
    failures.push(`soak aborted: ${e.stack ?? e}`);
  } finally {
    agent.destroy();
    await stopAll();
  }
  if (failures.length) {
    console.log(`\nsoak: FAILED\n  - ${failures.join("\n  - ")}`);
    process.exitCode = 1;
  } else {
    console.log("\nsoak: passed (no 5xx, no lost session, the Worker's memory stable)");
  }
}

await main();
