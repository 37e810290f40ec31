// The client's cost of DPoP in Chromium (Debian's), against a loopback Node server serving pkg/
// and GET /api/ping:
//   1. auth.fetch ÷ fetch with a DPoP-bound session (dpop: true, the key made by dpopFetch as a
//      code exchange would, setSession with token_type DPoP), and with a Bearer session for reference:
//      1,200 sequential calls of each (interleaved blocks of 100, the order rotated), body read, at two server
//      delays: none (the bare loopback call) and DELAY ms (a call of about 2 ms, the case the
//      target is set for). Median of REPS runs of the ratio of the sums. Measured twice: in a
//      Chromium no DevTools client is attached to (the page posting its runs to the server: the
//      figures judged), and in the page Playwright drives, kept as `devtools` (why they differ:
//      bench/browser/chromium.mjs).
//   2. What a proof costs, piece by piece, in the Playwright page (no request leaves the page):
//      ES256 signing (crypto.subtle.sign),
//      the `ath` hash (SHA-256 of the access token), reading the key from IndexedDB (once per
//      refresh; auth.fetch keeps it), and a whole DPoP auth.fetch with a fetch that answers at
//      once, less a Bearer auth.fetch with the same fetch (the proof with `ath`, headers), each
//      the mean of N calls.
// Correctness, checked after the timed part (a failure fails the run): every DPoP auth.fetch
// carried `Authorization: DPoP <the token>` and a proof that verifies under its `jwk`, by the
// key its page stored, with htm GET, htu the URL without query, ath of the token, iat within 60 s
// of its arrival and a jti never seen before; every Bearer auth.fetch carried `Bearer`; no client
// refreshed.
//
// Usage: node bench/browser/dpop-overhead.mjs ROOT OUT.json   (serves ROOT/pkg)
// Knobs: BENCH_DPOP_REPS (3), BENCH_DPOP_DELAY_MS (2), BENCH_DPOP_N (500).
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, normalize } from "node:path";
import { chromium } from "playwright-core";
import { median } from "../stats.mjs";
import { CHROMIUM, CHROMIUM_ARGS, withoutDevTools } from "./chromium.mjs";

const [root, outPath] = process.argv.slice(2);
const CALLS = 1200; // a multiple of 3 blocks: each kind as often in each position
const BLOCK = 100;
const REPS = Number(process.env.BENCH_DPOP_REPS || 3);
const DELAY = Number(process.env.BENCH_DPOP_DELAY_MS || 2);
const N = Number(process.env.BENCH_DPOP_N || 500);

const PAGE = `<!doctype html><meta charset="utf-8"><title>bench</title>
<script type="module">
const m = await import("/pkg/silent_refresh.js");
await m.default();
/** The stored key [privateKey, publicJwk] of database \`name\` (as the package keeps it). */
window.__key = (name) => new Promise((ok, fail) => {
  const open = indexedDB.open(name);
  open.onerror = () => fail(open.error);
  open.onsuccess = () => {
    const get = open.result.transaction("dpop").objectStore("dpop").get(0);
    get.onsuccess = () => (open.result.close(), ok(get.result));
    get.onerror = () => fail(get.error);
  };
});
window.__m = m;
// Two clients on one token: DPoP-bound (the key created in IndexedDB first, as a code exchange
// would) and Bearer. Returns the token and the public key, for the server's checks.
window.__setup = async () => {
  const b64 = (o) => btoa(JSON.stringify(o)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const now = Math.floor(Date.now() / 1000);
  const token = \`\${b64({ alg: "EdDSA", typ: "at+jwt", kid: "bench" })}.\${b64({ sub: "bench", iat: now, exp: now + 3600 })}.c2ln\`;
  const session = (type) => ({ access_token: token, expires_in: 3600, refresh_token: "srt_" + "A".repeat(43), token_type: type });
  window.__bound = new m.AuthClient({ baseUrl: "", mode: "body", channelName: "bench", dpop: true, crossTab: false });
  // The key, made and stored as a code exchange with dpopFetch would make it.
  await window.__bound.dpopFetch(location.origin + "/favicon.ico");
  const k = await window.__key("bench:dpop");
  window.__bound.setSession(session("DPoP"));
  window.__bearer = new m.AuthClient({ baseUrl: "", mode: "body", channelName: "bench-bearer", crossTab: false });
  window.__bearer.setSession(session("Bearer"));
  return { token, jwk: k[1] };
};
// One run at one server delay: CALLS sequential calls of each kind, in blocks of BLOCK.
window.__measure = async ({ CALLS, BLOCK, delay }) => {
  const url = \`/api/ping?delay=\${delay}\`;
  const loop = (f) => async (n) => {
    for (let i = 0; i < n; i++) await (await f(url)).text();
  };
  const kinds = { plain: loop((u) => fetch(u)), dpop: loop((u) => window.__bound.fetch(u)), bearer: loop((u) => window.__bearer.fetch(u)) };
  for (const f of Object.values(kinds)) await f(BLOCK); // warm-up
  const ms = { plain: 0, dpop: 0, bearer: 0 };
  const order = Object.entries(kinds);
  for (let i = 0; i < CALLS / BLOCK; i++) {
    // Each kind in each position of the round equally often (a position may cost more).
    for (const [k, f] of [...order.slice(i % 3), ...order.slice(0, i % 3)]) {
      const t = performance.now();
      await f(BLOCK);
      ms[k] += performance.now() - t;
    }
  }
  return { ...ms, refreshes: window.__bound.refreshCount + window.__bearer.refreshCount };
};
window.__ready = true;
// In the browser without DevTools (?reps=N&delays=a,b): the setup posted to /setup, then each
// run to /results as it ends.
const q = new URLSearchParams(location.search);
const reps = Number(q.get("reps") || 0);
if (reps) {
  await fetch("/setup", { method: "POST", body: JSON.stringify(await window.__setup()) });
  for (const delay of q.get("delays").split(",").map(Number)) {
    for (let r = 0; r < reps; r++) {
      const run = await window.__measure({ CALLS: ${CALLS}, BLOCK: ${BLOCK}, delay });
      await fetch("/results", { method: "POST", body: JSON.stringify({ delay, ...run }) });
    }
  }
}
</script>`;

/** Requests to /api/ping by Authorization scheme since the last run, and the DPoP ones' headers for the checks. */
const fresh = () => ({ Bearer: 0, DPoP: 0, none: 0, other: 0, dpop: [] });
let seen = fresh();
let onPost; // what the page without DevTools posted: { path, body }
const types = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm" };
const server = createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname === "/" || url.pathname === "/bench.html") {
    res.writeHead(200, { "content-type": "text/html", "cache-control": "no-store" });
    return res.end(PAGE);
  }
  if ((url.pathname === "/setup" || url.pathname === "/results") && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      // A run comes with the requests it made; the setup's favicon request is no /api/ping.
      onPost?.(url.pathname, { ...JSON.parse(body), seen });
      seen = fresh();
      res.writeHead(204).end();
    });
    return;
  }
  if (url.pathname === "/api/ping") {
    const [scheme, token] = (req.headers.authorization ?? "").split(" ");
    if (scheme === "DPoP") seen.dpop.push({ token, proof: req.headers.dpop, url: url.href, at: Date.now() / 1000 });
    seen[scheme in seen ? scheme : scheme ? "other" : "none"]++;
    const answer = () => {
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end('{"ok":true}');
    };
    const delay = Number(url.searchParams.get("delay") || 0);
    return delay > 0 ? setTimeout(answer, delay) : answer();
  }
  if (url.pathname.startsWith("/pkg/")) {
    const file = normalize(join(root, url.pathname));
    if (file.startsWith(join(root, "pkg")) && existsSync(file)) {
      res.writeHead(200, { "content-type": types[file.slice(file.lastIndexOf("."))] || "application/octet-stream", "cache-control": "no-store" });
      return res.end(readFileSync(file));
    }
  }
  res.writeHead(url.pathname === "/favicon.ico" ? 204 : 404).end();
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${server.address().port}`;

const b64u = (b) => Buffer.from(b).toString("base64url");
const thumbprint = ({ crv, kty, x, y }) => createHash("sha256").update(JSON.stringify({ crv, kty, x, y })).digest("base64url");

/** Every problem with the DPoP requests recorded (empty: all good). */
async function checkProofs(records, token, jkt) {
  const problems = [];
  const jtis = new Set();
  for (const { token: t, proof, url, at } of records) {
    const parts = (proof ?? "").split(".");
    if (t !== token) { problems.push("Authorization: DPoP with another token"); continue; }
    if (parts.length !== 3) { problems.push("no proof"); continue; }
    const [h, p] = parts.slice(0, 2).map((s) => JSON.parse(Buffer.from(s, "base64url")));
    const key = await crypto.subtle.importKey("jwk", h.jwk, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
    const valid = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, Buffer.from(parts[2], "base64url"),
      new TextEncoder().encode(parts[0] + "." + parts[1]));
    const u = new URL(url);
    const want = {
      signature: valid, typ: h.typ === "dpop+jwt" && h.alg === "ES256", key: thumbprint(h.jwk) === jkt, htm: p.htm === "GET",
      htu: p.htu === origin + u.pathname, ath: p.ath === b64u(createHash("sha256").update(token).digest()),
      iat: Math.abs(at - p.iat) <= 60, jti: typeof p.jti === "string" && !jtis.has(p.jti),
    };
    jtis.add(p.jti);
    for (const [k, v] of Object.entries(want)) if (!v) problems.push(k);
  }
  return [...new Set(problems)];
}

/** The per-call figures and ratios at each delay, from runs { delay, plain, dpop, bearer } (ms). */
function rows(runs) {
  return [0, DELAY].map((delay) => {
    const at = runs.filter((r) => r.delay === delay);
    return {
      delayMs: delay,
      perCallPlainUs: (median(at.map((r) => r.plain)) * 1000) / CALLS,
      perCallDpopUs: (median(at.map((r) => r.dpop)) * 1000) / CALLS,
      perCallBearerUs: (median(at.map((r) => r.bearer)) * 1000) / CALLS,
      ratioDpop: median(at.map((r) => r.dpop / r.plain)),
      ratioBearer: median(at.map((r) => r.bearer / r.plain)),
      runs: at.map((r) => ({ plainMs: r.plain, dpopMs: r.dpop, bearerMs: r.bearer })),
    };
  });
}

/** Fails the benchmark unless every request of `run` was as it should be (see the top). */
async function check(run, token, jkt, where) {
  const expected = CALLS + BLOCK; // the measured calls plus the warm-up block
  const { seen: s } = run;
  if (s.DPoP !== expected || s.Bearer !== expected || s.none !== expected || s.other) {
    throw new Error(`${where}: requests by scheme ${JSON.stringify({ ...s, dpop: s.dpop.length })}, expected ${expected} of each`);
  }
  const problems = await checkProofs(s.dpop, token, jkt);
  if (problems.length) throw new Error(`${where}: DPoP proofs wrong: ${problems.join(", ")}`);
  if (run.refreshes !== 0) throw new Error(`${where}: a client refreshed during the measurement`);
}

const log = (label, r) =>
  console.error(`[dpop-client] ${label}, delay ${r.delayMs} ms: fetch ${r.perCallPlainUs.toFixed(0)} µs, auth.fetch DPoP ${r.perCallDpopUs.toFixed(0)} µs (×${r.ratioDpop.toFixed(3)}), Bearer ${r.perCallBearerUs.toFixed(0)} µs (×${r.ratioBearer.toFixed(3)})`);

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
try {
  // 1a. The ratios in the page Playwright drives (DevTools attached).
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.error("[dpop-client] page error:", e.message));
  await page.goto(`${origin}/bench.html`);
  await page.waitForFunction(() => window.__ready, null, { timeout: 30_000 });
  const { token, jwk } = await page.evaluate(() => window.__setup());
  const devtoolsRuns = [];
  for (const delay of [0, DELAY]) {
    for (let r = 0; r < REPS; r++) {
      seen = fresh();
      const run = await page.evaluate((arg) => window.__measure(arg), { CALLS, BLOCK, delay });
      await check({ ...run, seen }, token, thumbprint(jwk), "with DevTools");
      devtoolsRuns.push({ delay, ...run });
    }
  }
  const devtools = rows(devtoolsRuns);
  for (const r of devtools) log("with DevTools", r);

  // 1b. The same in a Chromium no DevTools client is attached to: the figures judged.
  let setup;
  const posted = await withoutDevTools(`${origin}/bench.html?reps=${REPS}&delays=0,${DELAY}`, 2 * REPS, (deliver) => {
    seen = fresh();
    onPost = deliver && ((path, body) => (path === "/setup" ? (setup = body) : deliver(body)));
  }, { what: "the DPoP page" });
  for (const run of posted) await check(run, setup.token, thumbprint(setup.jwk), "without DevTools");
  const ratios = rows(posted);
  for (const r of ratios) log("without DevTools", r);

  // 2. The pieces of a proof (the page's clock is coarse: means over N).
  const parts = await page.evaluate(async ({ n, token }) => {
    const k = await window.__key("bench:dpop");
    const ok = async () => new Response("{}");
    // Clients whose fetch answers at once: a DPoP-bound one (the stored key) and a Bearer one.
    const session = (type) => ({ access_token: token, expires_in: 3600, token_type: type });
    const bound = new window.__m.AuthClient({ baseUrl: "", mode: "body", channelName: "bench", dpop: true, crossTab: false, fetch: ok });
    bound.setSession(session("DPoP"));
    const bearer = new window.__m.AuthClient({ baseUrl: "", mode: "body", channelName: "bench-ok", dpop: false, crossTab: false, fetch: ok });
    bearer.setSession(session("Bearer"));
    const bytes = new TextEncoder().encode("x".repeat(330));
    const time = async (f) => {
      await f();
      const t = performance.now();
      for (let i = 0; i < n; i++) await f();
      return ((performance.now() - t) * 1000) / n;
    };
    const url = location.origin + "/api/ping";
    return {
      signUs: await time(() => crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, k[0], bytes)),
      athUs: await time(() => crypto.subtle.digest("SHA-256", new TextEncoder().encode(token))),
      idbUs: await time(() => window.__key("bench:dpop")),
      sendUs: await time(() => bound.fetch(url)),
      baselineUs: await time(() => bearer.fetch(url)),
    };
  }, { n: N, token });
  parts.proofUs = parts.sendUs - parts.baselineUs;
  console.error(`[dpop-client] per proof: ${parts.proofUs.toFixed(0)} µs (sign ${parts.signUs.toFixed(0)}, ath ${parts.athUs.toFixed(0)}); IndexedDB key read ${parts.idbUs.toFixed(0)} µs (per refresh only)`);
  await ctx.close();
  writeFileSync(outPath, JSON.stringify({ chromium: browser.version(), calls: CALLS, reps: REPS, n: N, ratios, devtools: { ratios: devtools }, parts }, null, 2));
} finally {
  await browser.close();
  server.close();
}
