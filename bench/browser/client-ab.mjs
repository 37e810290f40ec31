// Two builds of the package side by side in one page, for a change to `auth.fetch`: plain
// `fetch`, build A's `auth.fetch` and build B's, each call timed alone and the three kinds in a
// new random order for every triple, so that load from other processes falls on all of them
// alike (bench/browser/client-overhead.mjs alternates blocks of 100 calls over minutes, which a
// compile beside it can tilt). Prints per kind the median µs per call (the body read), the mean
// without the slowest tenth, each ÷ `fetch`, B ÷ A paired per triple (median), and the load
// average. Chromium through Playwright, as client-overhead.mjs; the page is cross-origin
// isolated (a 5 µs clock).
//
// Usage: node bench/browser/client-ab.mjs A_ROOT B_ROOT   (serves A_ROOT/pkg and B_ROOT/pkg;
//        BENCH_CALLS calls of each kind, 2,000 by default)
import { createServer } from "node:http";
import { readFileSync, existsSync } from "node:fs";
import { loadavg } from "node:os";
import { join, normalize } from "node:path";
import { chromium } from "playwright-core";
import { median } from "../stats.mjs";

const roots = process.argv.slice(2, 4);
if (roots.length != 2) throw new Error("usage: node bench/browser/client-ab.mjs A_ROOT B_ROOT");
const CALLS = Number(process.env.BENCH_CALLS || 2000);

const PAGE = `<!doctype html><meta charset="utf-8"><title>bench</title>
<script type="module">
const clients = [];
for (const v of ["a", "b"]) {
  const { default: init, AuthClient } = await import("/" + v + "/pkg/silent_refresh.js");
  await init();
  clients.push(new AuthClient({ baseUrl: "", mode: "body", channelName: "bench-" + v }));
}
window.__clients = clients;
</script>`;

const types = { ".js": "text/javascript", ".wasm": "application/wasm" };
let bearer = 0;
const server = createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html", "cache-control": "no-store",
      "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" });
    return res.end(PAGE);
  }
  if (url.pathname === "/api/ping") {
    if ((req.headers.authorization || "").startsWith("Bearer ")) bearer++;
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    return res.end('{"ok":true}');
  }
  const m = /^\/([ab])(\/pkg\/.*)$/.exec(url.pathname);
  if (m) {
    const root = roots[m[1] == "a" ? 0 : 1];
    const file = normalize(join(root, m[2]));
    if (file.startsWith(join(root, "pkg")) && existsSync(file)) {
      res.writeHead(200, { "content-type": types[file.slice(file.lastIndexOf("."))] || "application/octet-stream", "cache-control": "no-store" });
      return res.end(readFileSync(file));
    }
  }
  res.writeHead(404).end();
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const loadBefore = load();
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
try {
  const page = await (await browser.newContext()).newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.__clients, null, { timeout: 30_000 }).catch((e) => {
    throw new Error(`the page did not load both builds: ${errors.join("; ") || e.message}`);
  });
  const { times, isolated } = await page.evaluate(async (CALLS) => {
    const b64u = (o) => btoa(JSON.stringify(o)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const now = Math.floor(Date.now() / 1000);
    const jwt = `${b64u({ alg: "EdDSA", typ: "at+jwt", kid: "bench" })}.${b64u({ sub: "bench", iat: now, exp: now + 3600 })}.c2ln`;
    const [a, b] = window.__clients;
    for (const c of [a, b]) c.setSession({ access_token: jwt, expires_in: 3600, refresh_token: "srt_" + "A".repeat(43), token_type: "Bearer" });
    const kinds = { fetch: () => fetch("/api/ping"), A: () => a.fetch("/api/ping"), B: () => b.fetch("/api/ping") };
    const names = Object.keys(kinds);
    const times = Object.fromEntries(names.map((k) => [k, []]));
    // 100 triples of warm-up.
    for (let i = -100; i < CALLS; i++) {
      const order = [...names];
      for (let j = order.length - 1; j > 0; j--) {
        const k = Math.floor(Math.random() * (j + 1));
        [order[j], order[k]] = [order[k], order[j]];
      }
      for (const name of order) {
        const t = performance.now();
        await (await kinds[name]()).text();
        if (i >= 0) times[name].push((performance.now() - t) * 1000);
      }
    }
    return { times, isolated: crossOriginIsolated };
  }, CALLS);
  if (bearer !== 2 * (CALLS + 100)) throw new Error(`the token went out on ${bearer} of ${2 * (CALLS + 100)} calls of auth.fetch`);
  const trimmed = (xs) => {
    const s = [...xs].sort((x, y) => x - y).slice(0, Math.floor(xs.length * 0.9));
    return s.reduce((x, y) => x + y, 0) / s.length;
  };
  console.log(`Chromium ${browser.version()}; ${CALLS} calls of each kind, interleaved at random; ` +
    `load average ${loadBefore} before, ${load()} after${isolated ? "" : "; not cross-origin isolated"}`);
  for (const [name, xs] of Object.entries(times)) {
    console.log(`${(name == "fetch" ? "fetch" : `auth.fetch ${name} (${roots[name == "A" ? 0 : 1]})`).padEnd(40)} ` +
      `median ${median(xs).toFixed(0).padStart(5)} µs ×${(median(xs) / median(times.fetch)).toFixed(3)}   ` +
      `mean of the fastest 90 % ${trimmed(xs).toFixed(0).padStart(5)} µs ×${(trimmed(xs) / trimmed(times.fetch)).toFixed(3)}`);
  }
  console.log(`B ÷ A, paired per triple: median ×${median(times.B.map((x, i) => x / times.A[i])).toFixed(3)}`);
} finally {
  await browser.close();
  server.close();
}
