// `/auth/refresh` throughput of provider sign-ins against password sign-ins, side by side in one
// run: three Workers in `wrangler dev` (workerd), strict mode (one Durable Object per subject),
// with the local oidc-provider (tests/support/oidc-provider.mjs) as the provider:
//   password   PASSWORD_LOGIN sessions (no provider configured)
//   worker     provider sign-ins, ACCESS_TOKEN_SOURCE=worker (our access tokens)
//   upstream   provider sign-ins, ACCESS_TOKEN_SOURCE=upstream (the provider's access token)
// Each Worker gets SESSIONS sessions of distinct users (the provider's through the whole redirect
// flow: /auth/authorize, the provider's pages, /auth/callback), then each session is one chain
// of cookie-mode refreshes, all chains at once, for DURATION s; the three Workers take turns,
// REPS times. The provider's access tokens live an hour (its steady state: our rotations unseal
// and reseal nothing, and no refresh reaches the provider); ROUTE_RATE_LIMIT is off (one chain
// refreshes faster than a user would). Any answer but 200 fails the run (exit 1).
// Output: a table on stderr and OUT.json (median req/s per mode, ratios to password, load average).
//
// Usage: node bench/oidc/refresh-modes.mjs OUT.json   (after `make build`)
// Knobs: OIDC_LOAD_SESSIONS (8), OIDC_LOAD_DURATION (5), OIDC_LOAD_REPS (3).
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { freePort, startWorker } from "../../tests/support/worker.mjs";
import { Jar, signInHttp, startProvider } from "../../tests/support/oidc-provider.mjs";
import { median } from "../stats.mjs";

const [outPath] = process.argv.slice(2);
const SESSIONS = Number(process.env.OIDC_LOAD_SESSIONS || 8);
const DURATION = Number(process.env.OIDC_LOAD_DURATION || 5);
const REPS = Number(process.env.OIDC_LOAD_REPS || 3);
const COMMON = { ROUTE_RATE_LIMIT: "0", ACCESS_TTL_SECONDS: "900" };

/** The refresh cookie of a jar's Worker origin. */
const cookieOf = (jar, url) => jar.get(url, "sr_refresh");

async function passwordSession(w) {
  const res = await fetch(`${w.url}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-silent-refresh": "1" },
    body: JSON.stringify({ username: "demo", password: "demo-password", transport: "cookie" }),
  });
  if (res.status !== 200) throw new Error(`password login: ${res.status} ${await res.text()}`);
  return /sr_refresh=([^;]*)/.exec(res.headers.get("set-cookie"))[1];
}

async function providerSession(w, login) {
  const { jar, callback } = await signInHttp(w.url, { login, jar: new Jar() });
  if (callback.status !== 303 || callback.location.includes("auth_error")) throw new Error(`sign-in ${login}: ${callback.status} ${callback.location}`);
  return cookieOf(jar, w.url);
}

/** One chain: refreshes `cookie` until `until`, keeping the rotated cookie; resolves to its count. */
async function chain(w, state, i, until) {
  let n = 0;
  while (performance.now() < until) {
    const res = await fetch(`${w.url}/auth/refresh`, { method: "POST", headers: { cookie: `sr_refresh=${state[i]}`, "x-silent-refresh": "1" } });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`${w.mode} refresh: ${res.status} ${text}`);
    state[i] = /sr_refresh=([^;]*)/.exec(res.headers.get("set-cookie"))[1];
    n += 1;
  }
  return n;
}

const ports = { worker: await freePort(), upstream: await freePort() };
const op = await startProvider({
  redirectUris: Object.values(ports).map((p) => `http://127.0.0.1:${p}/auth/callback`),
  accessTtl: 3600,
});
const workers = {};
try {
  workers.password = await startWorker({ rotationStore: "durable-object", vars: COMMON });
  for (const source of ["worker", "upstream"]) {
    workers[source] = await startWorker({
      port: ports[source], rotationStore: "durable-object",
      vars: { ...COMMON, ...op.vars, ACCESS_TOKEN_SOURCE: source }, secrets: op.secrets,
    });
  }
  const sessions = {};
  for (const [mode, w] of Object.entries(workers)) {
    w.mode = mode;
    sessions[mode] = [];
    for (let i = 0; i < SESSIONS; i++) {
      sessions[mode].push(mode === "password" ? await passwordSession(w) : await providerSession(w, `bench-${mode}-${i}`));
    }
  }
  const code = op.counts.code;
  // One untimed second per Worker first (isolate and objects warm).
  for (const [mode, w] of Object.entries(workers)) {
    const until = performance.now() + 1000;
    await Promise.all(sessions[mode].map((_, i) => chain(w, sessions[mode], i, until)));
  }
  const rates = { password: [], worker: [], upstream: [] };
  const load = [loadavg()[0]];
  for (let rep = 0; rep < REPS; rep++) {
    for (const [mode, w] of Object.entries(workers)) {
      const t0 = performance.now();
      const counts = await Promise.all(sessions[mode].map((_, i) => chain(w, sessions[mode], i, t0 + DURATION * 1000)));
      const secs = (performance.now() - t0) / 1000;
      rates[mode].push(counts.reduce((a, b) => a + b, 0) / secs);
    }
    load.push(loadavg()[0]);
  }
  const out = { sessions: SESSIONS, duration: DURATION, reps: REPS, loadavg1: load, providerRefreshes: op.counts.refresh, codeExchanges: code, modes: {} };
  for (const mode of Object.keys(rates)) {
    out.modes[mode] = { rates: rates[mode].map((r) => Math.round(r)), median: Math.round(median(rates[mode])), ratioToPassword: +(median(rates[mode]) / median(rates.password)).toFixed(2) };
  }
  writeFileSync(outPath, JSON.stringify(out, null, 2));
  process.stderr.write(`refresh req/s, strict mode, ${SESSIONS} chains, ${REPS} x ${DURATION} s interleaved (load average ${load.map((l) => l.toFixed(1)).join(" → ")}):\n`);
  for (const [mode, m] of Object.entries(out.modes)) process.stderr.write(`  ${mode.padEnd(9)} ${String(m.median).padStart(6)} req/s (runs ${m.rates.join(", ")}), ${m.ratioToPassword} × password\n`);
  process.stderr.write(`  refreshes at the provider during the run: ${op.counts.refresh}\n`);
} finally {
  for (const w of Object.values(workers)) await w.stop();
  await op.close();
}
