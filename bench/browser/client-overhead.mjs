// Client overhead in Chromium (Debian's, through playwright-core), against a local endpoint:
//   1. page load -> ready AuthClient: performance.now() (ms since navigation start) once
//      `await init()` (fetch + compile + instantiate of the wasm) and `new AuthClient(...)` are
//      done, and the duration of init() alone; median over fresh browser contexts (cold cache).
//   2. auth.fetch against plain fetch: 1,000 sequential calls each (interleaved blocks of 100)
//      to GET /api/ping on the same loopback server, body read, the order alternating block by
//      block (ABBA); per run the ratio of the totals, over BENCH_FETCH_REPS runs (5) the median.
//      Measured twice: in a Chromium that no DevTools client is attached to (started as a user
//      would start it, the page posting its figures to the server: the figure the target is
//      judged on), and in the page Playwright drives, kept as `devtools` (why they differ:
//      bench/browser/chromium.mjs).
// The server checks that every auth.fetch call carried the bearer token.
//
// Usage: node client-overhead.mjs ROOT OUT.json   (serves ROOT/pkg; BENCH_PKG_ROOT overrides ROOT)
import { createServer } from "node:http";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join, normalize } from "node:path";
import { chromium } from "playwright-core";
import { median } from "../stats.mjs";
import { CHROMIUM, CHROMIUM_ARGS, withoutDevTools } from "./chromium.mjs";

const [repoRoot, outPath] = process.argv.slice(2);
const root = process.env.BENCH_PKG_ROOT || repoRoot;
const LOADS = Number(process.env.BENCH_PAGE_LOADS || 10);
const CALLS = 1000;
const BLOCK = 100;
const REPS = Number(process.env.BENCH_FETCH_REPS || 5);

const PAGE = `<!doctype html><meta charset="utf-8"><title>bench</title>
<script type="module">
const t0 = performance.now();
const { default: init, AuthClient } = await import("/pkg/silent_refresh.js");
const t1 = performance.now();
await init();
const t2 = performance.now();
const auth = new AuthClient({ baseUrl: "", mode: "body" });
const t3 = performance.now();
window.__auth = auth;
// One run: CALLS sequential calls of each kind against /api/ping, in blocks of BLOCK.
window.__measure = async (CALLS, BLOCK) => {
  const b64u = (o) => btoa(JSON.stringify(o)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const now = Math.floor(Date.now() / 1000);
  const jwt = \`\${b64u({ alg: "EdDSA", typ: "at+jwt", kid: "bench" })}.\${b64u({ sub: "bench", iat: now, exp: now + 3600 })}.c2ln\`;
  auth.setSession({ access_token: jwt, expires_in: 3600, refresh_token: "srt_" + "A".repeat(43), token_type: "Bearer" });
  const plain = async (n) => {
    for (let i = 0; i < n; i++) await (await fetch("/api/ping")).text();
  };
  const wrapped = async (n) => {
    for (let i = 0; i < n; i++) await (await auth.fetch("/api/ping")).text();
  };
  await plain(BLOCK);
  await wrapped(BLOCK); // warm-up
  const p = [];
  const w = [];
  // ABBA: the order alternates block by block, so that neither kind always runs second
  // (after the other's garbage, on a socket the other just used).
  for (let i = 0; i < CALLS / BLOCK; i++) {
    for (const kind of i % 2 ? ["wrapped", "plain"] : ["plain", "wrapped"]) {
      const t = performance.now();
      await (kind === "plain" ? plain(BLOCK) : wrapped(BLOCK));
      (kind === "plain" ? p : w).push(performance.now() - t);
    }
  }
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  return { plainMs: sum(p), wrappedMs: sum(w), plainBlocksMs: p, wrappedBlocksMs: w, refreshes: auth.refreshCount };
};
window.__ready = { scriptStart: t0, imported: t1, initDone: t2, ready: t3 };
// In the browser without DevTools (?reps=N): the runs, each posted to the server as it ends.
const reps = Number(new URLSearchParams(location.search).get("reps") || 0);
for (let r = 0; r < reps; r++) {
  const run = await window.__measure(${CALLS}, ${BLOCK});
  await fetch("/results", { method: "POST", body: JSON.stringify(run) });
}
</script>`;

let pings = 0;
let bearerPings = 0;
let onResult; // the run the page without DevTools posted
const types = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
const server = createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname === "/" || url.pathname === "/bench.html") {
    res.writeHead(200, { "content-type": "text/html", "cache-control": "no-store" });
    return res.end(PAGE);
  }
  if (url.pathname === "/results" && req.method === "POST") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      onResult?.({ ...JSON.parse(body), bearer: bearerPings, pings });
      bearerPings = 0;
      pings = 0;
      res.writeHead(204).end();
    });
    return;
  }
  if (url.pathname === "/api/ping") {
    pings++;
    if ((req.headers.authorization || "").startsWith("Bearer ")) bearerPings++;
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    return res.end('{"ok":true}');
  }
  if (url.pathname.startsWith("/pkg/")) {
    const file = normalize(join(root, url.pathname));
    if (file.startsWith(join(root, "pkg")) && existsSync(file)) {
      const ext = file.slice(file.lastIndexOf("."));
      res.writeHead(200, { "content-type": types[ext] || "application/octet-stream", "cache-control": "no-store" });
      return res.end(readFileSync(file));
    }
  }
  res.writeHead(url.pathname === "/favicon.ico" ? 204 : 404).end();
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
try {
  const version = browser.version();
  // 1. Page load -> ready AuthClient, each in a fresh context (no HTTP or code cache).
  const loads = [];
  for (let i = 0; i < LOADS; i++) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(`${origin}/bench.html`);
    await page.waitForFunction(() => window.__ready, null, { timeout: 30_000 }).catch((e) => {
      throw new Error(`the page did not get a ready AuthClient: ${errors.join("; ") || e.message}`);
    });
    loads.push(await page.evaluate(() => window.__ready));
    await ctx.close();
  }

  // 2. auth.fetch vs fetch.
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.error("[client] page error:", e.message));
  await page.goto(`${origin}/bench.html`);
  await page.waitForFunction(() => window.__ready, null, { timeout: 30_000 });
  const fetchRuns = [];
  for (let r = 0; r < REPS; r++) {
    bearerPings = 0;
    pings = 0;
    const run = await page.evaluate(({ CALLS, BLOCK }) => window.__measure(CALLS, BLOCK), { CALLS, BLOCK });
    run.bearer = bearerPings;
    run.pings = pings;
    fetchRuns.push(run);
  }
  await ctx.close();

  // 3. auth.fetch vs fetch in a Chromium no DevTools client is attached to: the same page, its
  // runs posted to /results.
  bearerPings = 0;
  pings = 0;
  const plainRuns = await withoutDevTools(`${origin}/bench.html?reps=${REPS}`, REPS, (deliver) => (onResult = deliver), { what: "the client page" });

  const summary = (runs) => {
    const plainMs = median(runs.map((r) => r.plainMs));
    const wrappedMs = median(runs.map((r) => r.wrappedMs));
    return {
      reps: runs.length,
      plainMs,
      wrappedMs,
      perCallPlainUs: (plainMs * 1000) / CALLS,
      perCallWrappedUs: (wrappedMs * 1000) / CALLS,
      ratio: median(runs.map((r) => r.wrappedMs / r.plainMs)),
      runs,
    };
  };
  const result = {
    chromium: version,
    loads: LOADS,
    readyMs: median(loads.map((l) => l.ready)),
    initMs: median(loads.map((l) => l.initDone - l.imported)),
    importMs: median(loads.map((l) => l.imported - l.scriptStart)),
    scriptStartMs: median(loads.map((l) => l.scriptStart)),
    calls: CALLS,
    // Without DevTools: the figure the target is judged on.
    ...summary(plainRuns),
    // The page Playwright drives (DevTools attached, its network domain on).
    devtools: summary(fetchRuns),
  };
  for (const r of [...plainRuns, ...fetchRuns]) {
    const expected = CALLS + BLOCK; // the measured calls plus the warm-up block
    if (r.bearer !== expected) throw new Error(`auth.fetch sent the bearer token on ${r.bearer} of ${expected} calls`);
    if (r.refreshes !== 0) throw new Error("the client refreshed during the measurement");
  }
  writeFileSync(outPath, JSON.stringify(result, null, 2));
  console.error(
    `[client] ready ${result.readyMs.toFixed(1)} ms after navigation (init ${result.initMs.toFixed(1)} ms); ` +
      `without DevTools: fetch ${result.perCallPlainUs.toFixed(0)} µs/call, auth.fetch ${result.perCallWrappedUs.toFixed(0)} µs/call, ratio ${result.ratio.toFixed(3)}; ` +
      `with DevTools attached: fetch ${result.devtools.perCallPlainUs.toFixed(0)} µs/call, auth.fetch ${result.devtools.perCallWrappedUs.toFixed(0)} µs/call, ratio ${result.devtools.ratio.toFixed(3)}`,
  );
} finally {
  await browser.close();
  server.close();
}
