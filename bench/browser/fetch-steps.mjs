// Where `auth.fetch`'s time per call over `fetch` goes (issue 22 item 3), in Chromium against a
// loopback endpoint, as bench/browser/client-overhead.mjs measures the ratio. Each step adds one
// thing `auth.fetch` does to a plain `fetch("/api/ping")` (body read each time):
//   fetch        fetch(url)
//   request      fetch(new Request(url))                       (request_ builds a Request)
//   bearer       + headers.set("Authorization", "Bearer ...")  (send_)
//   then         + .then(r => r?.status == 401 ? ... : r)       (send_'s 401 hand-over check)
//   getToken     await auth.getAccessToken(), then `bearer`     (the wasm entry, no request)
//   auth.fetch   auth.fetch(url)
// Then the client's own cost without the network, far less noisy on a loaded machine: a client
// whose `fetch` option answers at once (a Response made ahead, its body not read), against that
// `fetch` called with a Request as glue.js would call it:
//   local        answer(new Request(url) + Authorization)
//   local auth   auth.fetch(url) with `fetch: answer`
// Interleaved blocks of BLOCK calls per step, ROUNDS rounds; prints each step's median µs per
// call over the rounds, and the load average before and after.
//
// Usage: node bench/browser/fetch-steps.mjs [ROOT]   (serves ROOT/pkg; default: the repository)
import { createServer } from "node:http";
import { readFileSync, existsSync } from "node:fs";
import { loadavg } from "node:os";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = process.argv[2] || fileURLToPath(new URL("../..", import.meta.url));
const BLOCK = Number(process.env.BENCH_BLOCK || 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 15);

const PAGE = `<!doctype html><meta charset="utf-8"><title>bench</title>
<script type="module">
const { default: init, AuthClient } = await import("/pkg/silent_refresh.js");
await init();
window.__auth = new AuthClient({ baseUrl: "", mode: "body" });
const ok = new Response('{"ok":true}');
window.__answer = (request) => Promise.resolve(ok);
window.__local = new AuthClient({ baseUrl: "", mode: "body", channelName: "local", fetch: window.__answer });
</script>`;

const types = { ".js": "text/javascript", ".wasm": "application/wasm" };
const server = createServer((req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html", "cache-control": "no-store" });
    return res.end(PAGE);
  }
  if (url.pathname === "/api/ping") {
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    return res.end('{"ok":true}');
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
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`http://127.0.0.1:${server.address().port}/`);
  await page.waitForFunction(() => window.__auth, null, { timeout: 30_000 });
  const result = await page.evaluate(async ({ BLOCK, ROUNDS }) => {
    const b64u = (o) => btoa(JSON.stringify(o)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const now = Math.floor(Date.now() / 1000);
    const jwt = `${b64u({ alg: "EdDSA", typ: "at+jwt" })}.${b64u({ sub: "bench", iat: now, exp: now + 3600 })}.c2ln`;
    const auth = window.__auth;
    const session = { access_token: jwt, expires_in: 3600, refresh_token: "srt_" + "A".repeat(43), token_type: "Bearer" };
    auth.setSession(session);
    const local = window.__local, answer = window.__answer;
    local.setSession(session);
    const bearer = (token) => {
      const r = new Request("/api/ping");
      r.headers.set("Authorization", "Bearer " + token);
      return r;
    };
    const steps = {
      fetch: () => fetch("/api/ping"),
      request: () => fetch(new Request("/api/ping")),
      bearer: () => fetch(bearer(jwt)),
      then: () => fetch(bearer(jwt)).then((r) => (r?.status == 401 ? null : r)),
      getToken: async () => fetch(bearer(await auth.getAccessToken())),
      "auth.fetch": () => auth.fetch("/api/ping"),
      local: () => answer(bearer(jwt)),
      "local auth": () => local.fetch("/api/ping"),
    };
    const times = Object.fromEntries(Object.keys(steps).map((k) => [k, []]));
    for (let round = -1; round < ROUNDS; round++) {
      for (const [name, step] of Object.entries(steps)) {
        const t = performance.now();
        // The body is read, except the local steps' (the same made-up Response each time).
        const read = !name.startsWith("local");
        for (let i = 0; i < BLOCK; i++) {
          const r = await step();
          if (read) await r.text();
        }
        // Round -1 warms every step up.
        if (round >= 0) times[name].push(((performance.now() - t) * 1000) / BLOCK);
      }
    }
    return times;
  }, { BLOCK, ROUNDS });
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const base = median(result.fetch);
  console.log(`Chromium ${browser.version()}; ${ROUNDS} interleaved rounds of ${BLOCK} calls per step; load average ${loadBefore} before, ${load()} after`);
  for (const [name, xs] of Object.entries(result)) {
    const m = median(xs);
    console.log(`${name.padEnd(11)} ${m.toFixed(0).padStart(6)} µs/call  ×${(m / base).toFixed(3)}  (rounds: ${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`);
  }
} finally {
  await browser.close();
  server.close();
}
