// Login throttling under attack, against the built Worker in workerd (`make build` first):
//
//   node bench/security/stuffing.mjs            four 60 s credential-stuffing runs + CPU figures
//   STUFFING_SECONDS=10 node bench/security/stuffing.mjs   (0: only the CPU figures)
//
// Each run sends wrong-password logins as fast as CONCURRENCY (4) loops allow, from a fresh
// Worker (fresh counters), in one of four shapes: one account from one address, one account from
// many addresses (a new CF-Connecting-IP per request), many accounts (a new username per
// request) from one address, many accounts from many addresses. It counts the attempts that
// reached the password check (401) and those refused before it (429), and prints them.
// Then the CPU cost per attempt: workerd's own CPU time (utime + stime of the workerd processes
// of the Worker's process group, from /proc, 10 ms ticks, read around each request) averaged
// over N (40) sequential answers of each kind: refused (429), checked and wrong (401), checked and right (200); then a successful
// login with PBKDF2_ITERATIONS of 100,000, 300,000 and 600,000 (one, three and six chained calls).
// Only 127.0.0.1; every Worker it starts is stopped.
import { readdirSync, readFileSync } from "node:fs";
import { startWorker } from "../../tests/support/worker.mjs";

const SECONDS = Number(process.env.STUFFING_SECONDS ?? 60);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 4);
const N = Number(process.env.CPU_SAMPLES ?? 40);
const TICK_MS = 10; // USER_HZ = 100 on Linux

let counter = 0;
const ip = () => { counter++; return `10.${(counter >> 16) & 255}.${(counter >> 8) & 255}.${counter & 255}`; };

async function login(w, username, password, address) {
  const res = await fetch(`${w.url}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": address },
    body: JSON.stringify({ username, password }),
    signal: AbortSignal.timeout(30_000),
  });
  await res.arrayBuffer();
  return res.status;
}

async function run(shape) {
  const w = await startWorker({ vars: { GRACE_SECONDS: "0" } });
  try {
    const counts = {};
    let n = 0;
    const end = Date.now() + SECONDS * 1000;
    const loop = async () => {
      while (Date.now() < end) {
        n++;
        const user = shape.manyAccounts ? `user${n}` : "victim";
        const address = shape.manyAddresses ? ip() : "192.0.2.1";
        const status = await login(w, user, "guess-123456", address);
        counts[status] = (counts[status] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, loop));
    return counts;
  } finally {
    await w.stop();
  }
}

/** CPU ms used so far by the workerd processes of process group `pgid`. */
function workerdCpuMs(pgid) {
  let ticks = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let stat;
    try { stat = readFileSync(`/proc/${pid}/stat`, "utf8"); } catch { continue; }
    const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields[0] is state (field 3); pgrp is field 5, utime 14, stime 15.
    if (Number(fields[2]) !== pgid || !comm.includes("workerd")) continue;
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * TICK_MS;
}

async function cpu(iterations = 100_000, kinds = "all") {
  const w = await startWorker({ vars: { GRACE_SECONDS: "0", PBKDF2_ITERATIONS: String(iterations) } });
  try {
    const res = await fetch(`${w.url}/auth/users`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${w.adminToken}` },
      body: JSON.stringify({ username: "cpu-user", password: "correct horse" }),
    });
    if (res.status !== 201) throw new Error(`creating the user: ${res.status}`);
    // CPU is read around each request and counted only for answers of the expected status, so
    // an attempt that happens to be let through (a block that just expired) is left out.
    const measure = async (label, expect, send) => {
      for (let i = 0; i < 3; i++) await send(i); // warm-up
      let ms = 0;
      let n = 0;
      for (let i = 0; n < N && i < 20 * N; i++) {
        const before = workerdCpuMs(w.pgid);
        const status = await send(i);
        const used = workerdCpuMs(w.pgid) - before;
        if (status === expect) {
          ms += used;
          n++;
        } else if (expect !== 429 || status !== 401) {
          throw new Error(`${label}: status ${status}, expected ${expect}`);
        }
      }
      if (n < N) throw new Error(`${label}: only ${n} answers of ${expect}`);
      return { label, ms: ms / n };
    };
    if (kinds === "right") {
      return [await measure(`right password at ${iterations} iterations`, 200, () => login(w, "cpu-user", "correct horse", ip()))];
    }
    // Refused: an account blocked by its own failures, each request from a new address.
    for (let i = 0; i < 8; i++) await login(w, "blocked", "guess", ip());
    const refused = await measure("refused (429)", 429, () => login(w, "blocked", "guess", ip()));
    const wrong = await measure("checked, wrong password (401)", 401, (i) => login(w, `nobody${i}-${ip()}`, "guess", ip()));
    const right = await measure("checked, right password (200)", 200, () => login(w, "cpu-user", "correct horse", ip()));
    return [refused, wrong, right];
  } finally {
    await w.stop();
  }
}

const shapes = [
  { name: "one account, one address", manyAccounts: false, manyAddresses: false },
  { name: "one account, many addresses", manyAccounts: false, manyAddresses: true },
  { name: "many accounts, one address", manyAccounts: true, manyAddresses: false },
  { name: "many accounts, many addresses", manyAccounts: true, manyAddresses: true },
];
console.log(`credential stuffing: ${SECONDS} s per run, ${CONCURRENCY} concurrent loops, wrong passwords`);
console.log("| attacker | attempts | password checked (401) | refused (429) | other |");
console.log("|---|---:|---:|---:|---:|");
for (const shape of SECONDS > 0 ? shapes : []) {
  const c = await run(shape);
  const total = Object.values(c).reduce((a, b) => a + b, 0);
  const other = total - (c[401] ?? 0) - (c[429] ?? 0);
  console.log(`| ${shape.name} | ${total} | ${c[401] ?? 0} | ${c[429] ?? 0} | ${other}${other ? ` ${JSON.stringify(c)}` : ""} |`);
}
console.log(`\nworkerd CPU per login attempt (${N} sequential requests each, /proc ticks of ${TICK_MS} ms):`);
for (const { label, ms } of await cpu()) console.log(`  ${label.padEnd(40)} ${ms.toFixed(1)} ms`);
console.log("\nchained deriveBits calls (100,000 iterations each), CPU of a successful login:");
for (const iterations of [100_000, 300_000, 600_000]) {
  for (const { label, ms } of await cpu(iterations, "right")) console.log(`  ${label.padEnd(40)} ${ms.toFixed(1)} ms`);
}
