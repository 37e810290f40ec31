// Load and soak test of the built Worker in `wrangler dev` (issue 7; a separate command:
// scripts/soak.sh). Not part of `make test`.
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
//   - the workerd process that runs the Worker keeps a stable resident set (see RSS_* below).
// Prints requests/s, p50/p99 latency and statuses per kind, and the RSS samples.
//
// Env: SOAK_SECONDS (60), SOAK_SESSIONS (48), SOAK_USERS (16), SOAK_SAMPLE_SECONDS (3).
import http from "node:http";
import { readFileSync, readdirSync } from "node:fs";
import { startWorker } from "../support/worker.mjs";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);
const SESSIONS = Number(process.env.SOAK_SESSIONS ?? 48);
const USERS = Number(process.env.SOAK_USERS ?? 16);
const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_SECONDS ?? 3) * 1000;
// Memory bound. The first RSS_WARMUP_S seconds are warm-up (V8 compiles and grows the isolate's
// heap, the KV simulator's SQLite fills its page cache); after that a healthy workerd plateaus.
// It fails if, from the first sample after warm-up to the end of the run, the resident set grew
// by more than RSS_GROWTH_MB_MAX + RSS_GROWTH_FRACTION_MAX of that baseline, or if the
// least-squares slope over the second half of the run exceeds RSS_SLOPE_MB_PER_MIN_MAX. The
// numbers are generous on purpose: one leaked request body (~200 B) or token response (~700 B)
// per request at a few hundred requests/s grows by 10-20 MB a minute and keeps the slope up in
// the second half, which these catch, while GC sawtooth and page-cache growth (a few tens of MB
// that level off) do not trip them.
const RSS_WARMUP_S = Number(process.env.SOAK_RSS_WARMUP_SECONDS ?? Math.min(10, SECONDS / 4));
const RSS_GROWTH_MB_MAX = 64;
const RSS_GROWTH_FRACTION_MAX = 0.5;
const RSS_SLOPE_MB_PER_MIN_MAX = 30;
const PASSWORD = "soak-password-1";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const agent = new http.Agent({ keepAlive: true, maxSockets: SESSIONS + 8 });

/** One request over a keep-alive connection; resolves to { status, body, ms } (status 0 = network error). */
function request(base, method, path, { json, bearer } = {}) {
  return new Promise((resolve) => {
    const started = performance.now();
    const headers = {};
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

async function main() {
  const failures = [];
  let w;
  const stopAll = async () => { if (w) { const x = w; w = undefined; await x.stop(); } };
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => { stopAll().finally(() => process.exit(130)); });
  try {
    console.log(`soak: starting the Worker (wrangler dev) ...`);
    w = await startWorker();
    const base = w.url;
    const procs = workerdOf(w.port);
    const target = procs.find((p) => p.role === "worker") ?? procs[0];
    if (!target) throw new Error(`no workerd process found in the process group of wrangler on port ${w.port}`);
    console.log(`soak: ${base}; workerd ${procs.map((p) => `${p.pid} (${p.role})`).join(", ")}`);

    // Users, through the admin endpoint.
    const users = [];
    for (let i = 0; i < USERS; i++) {
      const username = `soak${i}`;
      const res = await request(base, "POST", "/auth/users", { json: { username, password: PASSWORD }, bearer: w.adminToken });
      if (res.status !== 201) throw new Error(`creating ${username}: ${res.status} ${res.text}`);
      users.push(username);
    }

    const stats = new Stats();
    const kept = []; // refresh tokens of sessions that were not logged out
    const loggedOut = []; // a sample of logged-out refresh tokens
    let lost = 0;
    const lostWhy = new Map();
    const loseOne = (why) => { lost++; lostWhy.set(why, (lostWhy.get(why) ?? 0) + 1); };
    let lifecycles = 0;

    // RSS sampling.
    const samples = []; // [seconds since start, { pid: MB }]
    const t0 = performance.now();
    const sample = () => {
      const row = {};
      for (const p of procs) row[p.pid] = rssMb(p.pid);
      samples.push([(performance.now() - t0) / 1000, row]);
    };
    sample();
    const sampler = setInterval(sample, SAMPLE_MS);

    const deadline = Date.now() + SECONDS * 1000;
    const timeUp = () => Date.now() >= deadline;
    const rnd = (n) => Math.floor(Math.random() * n);

    async function session(id) {
      while (!timeUp()) {
        lifecycles++;
        const username = users[(id + lifecycles) % users.length];
        const login = await request(base, "POST", "/auth/login", { json: { username, password: PASSWORD } });
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
    sample();

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
    const finalSample = samples.at(-1);

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
    const series = samples.map(([t, row]) => [t, row[target.pid]]).filter(([, v]) => Number.isFinite(v));
    const afterWarmup = series.filter(([t]) => t >= RSS_WARMUP_S);
    const baseline = (afterWarmup[0] ?? series[0])[1];
    const start = series[0][1], end = finalSample[1][target.pid];
    const peak = Math.max(...series.map(([, v]) => v));
    const half = series.filter(([t]) => t >= series.at(-1)[0] / 2);
    const slopePerMin = slope(half) * 60;
    const slopeAll = slope(afterWarmup.length >= 2 ? afterWarmup : series) * 60;
    const growth = end - baseline;
    const allowed = RSS_GROWTH_MB_MAX + RSS_GROWTH_FRACTION_MAX * baseline;
    console.log(`worker workerd (pid ${target.pid}): start ${start.toFixed(1)}, after ${RSS_WARMUP_S}s warm-up ${baseline.toFixed(1)}, ` +
      `peak ${peak.toFixed(1)}, end ${end.toFixed(1)} MB; growth after warm-up ${growth.toFixed(1)} MB (allowed ${allowed.toFixed(0)}); ` +
      `slope ${slopeAll.toFixed(1)} MB/min after warm-up, ${slopePerMin.toFixed(1)} MB/min over the second half (allowed ${RSS_SLOPE_MB_PER_MIN_MAX})`);

    // ---- verdict ----
    if (all5xx.length) failures.push(`5xx answers: ${all5xx.join(", ")}`);
    if (allNet.length) failures.push(`network errors: ${allNet.join(", ")}`);
    if (lost || lostAfter) failures.push(`lost sessions: ${lost} during the run, ${lostAfter} afterwards`);
    if (revivedAfterLogout) failures.push(`${revivedAfterLogout} logged-out tokens still refreshed`);
    if (check.kinds.size && [...check.kinds.values()].some((k) => [...k.status.keys()].some((s) => s >= 500 || s === 0))) {
      failures.push("5xx or network errors in the check after the run");
    }
    if (growth > allowed) failures.push(`workerd RSS grew ${growth.toFixed(1)} MB after warm-up (allowed ${allowed.toFixed(0)})`);
    if (slopePerMin > RSS_SLOPE_MB_PER_MIN_MAX) failures.push(`workerd RSS slope ${slopePerMin.toFixed(1)} MB/min over the second half`);
    if (total === 0) failures.push("no request was made");
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
    console.log("\nsoak: passed (no 5xx, no lost session, workerd memory stable)");
  }
}

await main();
