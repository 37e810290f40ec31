// Where `auth.fetch`'s time per call over `fetch` goes (issue 22 item 3), in Chromium against a
// loopback endpoint, as bench/browser/client-overhead.mjs measures the ratio. Each step adds one
// thing to a plain `fetch("/api/ping")` (body read each time):
//   fetch        fetch(url)
//   request      fetch(new Request(url))                       (request_ builds a Request)
//   bearer       + headers.set("Authorization", "Bearer ...")  (send_)
//   then         + .then(r => r?.status == 401 ? ... : r)       (send_'s 401 hand-over check)
//   deep         `bearer` called 20 JavaScript frames deep
//   wasm         `bearer` called from inside a wasm function (a module of 40 bytes calling an
//                imported JavaScript function), as `auth.fetch` did through Rust before it took
//                a path without wasm while the token is fresh (client.js)
//   getToken     await auth.getAccessToken(), then `bearer`
//   auth.fetch   auth.fetch(url)
// Then the client's own cost without the network, far less noisy on a loaded machine: a client
// whose `fetch` option answers at once (a Response made ahead, its body not read), against that
// `fetch` called with a Request as glue.js would call it:
//   local        answer(new Request(url) + Authorization)
//   local auth   auth.fetch(url) with `fetch: answer`
// ROUNDS × BLOCK calls per step, each call timed alone, the steps in a new random order for every
// call; prints each step's median µs per call, ÷ `fetch`'s, the median of its difference to the
// `fetch` call of the same turn (paired), and the load average before and after. `start` is the
// median time from the call to the request's start as Resource Timing records it (`startTime`;
// the page is cross-origin isolated, so the clock's resolution is 5 µs): what happens before the
// request leaves the page.
//
// What it showed (issue 22): with Playwright attached (the Chrome DevTools Protocol, as in every
// benchmark and test here, and as with DevTools open), Chromium records each request's initiator
// with its JavaScript stack, and that costs more the deeper the stack and more still for wasm
// frames: `deep` and `wasm` cost more than `bearer`, and `auth.fetch` through Rust most (its
// `start` too). BENCH_CDP=0 runs Chromium without the protocol (the page posts its figures back):
// there `deep` costs about nothing, `wasm` still some, and the old `auth.fetch` about half as much
// (load average 4-6: +105 µs a call over the paired `fetch`, against +205 µs with the protocol).
//
// Usage: node bench/browser/fetch-steps.mjs [ROOT]   (serves ROOT/pkg; default: the repository)
import { createServer } from "node:http";
import { readFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { median } from "../stats.mjs";

const root = process.argv[2] || fileURLToPath(new URL("../..", import.meta.url));
const BLOCK = Number(process.env.BENCH_BLOCK || 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 15);
const CDP = process.env.BENCH_CDP !== "0";

const run = async (BLOCK, ROUNDS) => {
  const { default: init, AuthClient } = await import("/pkg/silent_refresh.js");
  await init();
  const auth = new AuthClient({ baseUrl: "", mode: "body" });
  const ok = new Response('{"ok":true}');
  const answer = (request) => Promise.resolve(ok);
  const local = new AuthClient({ baseUrl: "", mode: "body", channelName: "local", fetch: answer });
  const b64u = (o) => btoa(JSON.stringify(o)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const now = Math.floor(Date.now() / 1000);
  const jwt = `${b64u({ alg: "EdDSA", typ: "at+jwt" })}.${b64u({ sub: "bench", iat: now, exp: now + 3600 })}.c2ln`;
  const session = { access_token: jwt, expires_in: 3600, refresh_token: "srt_" + "A".repeat(43), token_type: "Bearer" };
  auth.setSession(session);
  local.setSession(session);
  // Each call's own URL, so that its Resource Timing entry can be found.
  let url = "/api/ping";
  const bearer = (token) => {
    const r = new Request(url);
    r.headers.set("Authorization", "Bearer " + token);
    return r;
  };
  // (module (import "m" "f" (func)) (func (export "g") (call 0)))
  let job, out;
  const wasm = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 2, 7, 1, 1, 109, 1, 102, 0, 0,
    3, 2, 1, 0, 7, 5, 1, 1, 103, 0, 1, 10, 6, 1, 4, 0, 16, 0, 11]);
  const { instance } = await WebAssembly.instantiate(wasm, { m: { f: () => { out = job(); } } });
  const viaWasm = (f) => ((job = f), instance.exports.g(), out);
  const deep = (n, f) => (n ? deep(n - 1, f) : f());
  const steps = {
    fetch: () => fetch(url),
    request: () => fetch(new Request(url)),
    bearer: () => fetch(bearer(jwt)),
    then: () => fetch(bearer(jwt)).then((r) => (r?.status == 401 ? null : r)),
    deep: () => deep(20, () => fetch(bearer(jwt))),
    wasm: () => viaWasm(() => fetch(bearer(jwt))),
    getToken: async () => fetch(bearer(await auth.getAccessToken())),
    "auth.fetch": () => auth.fetch(url),
    local: () => answer(bearer(jwt)),
    "local auth": () => local.fetch(url),
  };
  performance.setResourceTimingBufferSize(100_000);
  const names = Object.keys(steps);
  const times = Object.fromEntries(names.map((k) => [k, []]));
  const starts = Object.fromEntries(names.map((k) => [k, []]));
  let n = 0;
  // Rounds of BLOCK calls of every step, the steps in a new random order for each call (load
  // from other processes falls on all of them alike); round -1 warms them up.
  for (let i = -BLOCK; i < ROUNDS * BLOCK; i++) {
    const order = [...names];
    for (let j = order.length - 1; j > 0; j--) {
      const k = Math.floor(Math.random() * (j + 1));
      [order[j], order[k]] = [order[k], order[j]];
    }
    for (const name of order) {
      url = "/api/ping?" + ++n;
      const called = performance.now();
      const r = await steps[name]();
      // The body is read, except the local steps' (the same made-up Response each time).
      if (!name.startsWith("local")) await r.text();
      if (i < 0) continue;
      times[name].push((performance.now() - called) * 1000);
      const e = performance.getEntriesByName(new URL(url, location.href).href)[0];
      if (e) starts[name].push((e.startTime - called) * 1000);
    }
    if (n % 1000 < names.length) performance.clearResourceTimings();
  }
  return { times, starts, isolated: crossOriginIsolated };
};

const PAGE = `<!doctype html><meta charset="utf-8"><title>bench</title>
<script type="module">
const run = ${run.toString()};
const result = await run(${BLOCK}, ${ROUNDS});
await fetch("/result", { method: "POST", body: JSON.stringify(result) });
</script>`;

let done;
const result = new Promise((ok, fail) => (done = { ok, fail }));
const types = { ".js": "text/javascript", ".wasm": "application/wasm" };
const server = createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname === "/") {
    // Cross-origin isolated: performance.now() at 5 µs rather than 100 µs.
    res.writeHead(200, { "content-type": "text/html", "cache-control": "no-store",
      "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" });
    return res.end(PAGE);
  }
  if (url.pathname === "/api/ping") {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    return res.end('{"ok":true}');
  }
  if (url.pathname === "/result") {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => (res.end(), done.ok(JSON.parse(body))));
    return;
  }
  const file = normalize(join(root, url.pathname));
  if (url.pathname.startsWith("/pkg/") && file.startsWith(join(root, "pkg")) && existsSync(file)) {
    res.writeHead(200, { "content-type": types[file.slice(file.lastIndexOf("."))] || "application/octet-stream" });
    return res.end(readFileSync(file));
  }
  res.writeHead(404).end();
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
const loadBefore = load();
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const page = `http://127.0.0.1:${server.address().port}/`;
let browser, chrome, profile, version;
try {
  if (CDP) {
    browser = await chromium.launch({ executablePath, headless: true, args });
    version = browser.version();
    const p = await (await browser.newContext()).newPage();
    p.on("pageerror", (e) => done.fail(e));
    await p.goto(page);
  } else {
    // No DevTools protocol: Chromium alone, in a profile of its own.
    profile = mkdtempSync(join(tmpdir(), "fetch-steps-"));
    chrome = spawn(executablePath, [...args, `--user-data-dir=${profile}`, page], { stdio: "ignore" });
    chrome.on("exit", (code) => done.fail(new Error(`Chromium exited (${code}) before the page posted its figures`)));
    version = "(no DevTools protocol)";
  }
  const timeout = setTimeout(() => done.fail(new Error("no figures after 10 minutes")), 600_000);
  const { times, starts, isolated } = await result;
  clearTimeout(timeout);
  const base = median(times.fetch);
  console.log(`Chromium ${version}${CDP ? " through Playwright (DevTools protocol)" : ""}; ${ROUNDS * BLOCK} calls per step, ` +
    `interleaved at random; load average ${loadBefore} before, ${load()} after${isolated ? "" : "; not cross-origin isolated (a 100 µs clock)"}`);
  for (const [name, xs] of Object.entries(times)) {
    const m = median(xs);
    const start = starts[name].length ? `start ${median(starts[name]).toFixed(0).padStart(4)} µs` : "";
    const d = median(xs.map((x, i) => x - times.fetch[i]));
    const diff = name.startsWith("local") ? "" : `paired ${d < 0 ? "" : "+"}${d.toFixed(0)} µs`;
    console.log(`${name.padEnd(11)} ${m.toFixed(0).padStart(6)} µs/call  ×${(m / base).toFixed(3)}  ${diff.padEnd(17)} ${start}`);
  }
} finally {
  await browser?.close();
  if (chrome) {
    chrome.removeAllListeners("exit");
    chrome.kill();
    await new Promise((ok) => (chrome.exitCode === null ? chrome.on("exit", ok) : ok()));
  }
  if (profile) rmSync(profile, { recursive: true, force: true });
  server.close();
}
