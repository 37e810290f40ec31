// DPoP proof creation in headless Chromium: the cost DPoP adds per refresh (key read from
// IndexedDB + proof: `auth.dpopFetch`, which does what a refresh does) and per auth.fetch with a
// DPoP-bound token (proof with `ath`; the key is cached), with a fetch that answers at once.
// Usage: node bench/browser/dpop-proof.mjs (after make build). Prints the mean, p50 and p90 in ms.
import { startWorker } from "../../tests/support/worker.mjs";
import { launchBrowser } from "../../tests/support/browser.mjs";

const N = Number(process.env.N ?? 300);
const worker = await startWorker();
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(worker.url + "/style.css");
  const r = await page.evaluate(async (n) => {
    const m = await import("/pkg/silent_refresh.js");
    await m.default();
    const ok = async () => new Response("{}");
    const auth = new m.AuthClient({ mode: "body", channelName: "bench", crossTab: false, dpop: true, fetch: ok });
    // A DPoP-bound session (an opaque token: its lifetime from expires_in).
    auth.setSession({ access_token: "x".repeat(400), token_type: "DPoP", expires_in: 3600 });
    await auth.dpopFetch(location.origin + "/style.css");
    const time = async (f) => {
      const t = [], start = performance.now();
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await f();
        t.push(performance.now() - t0);
      }
      t.sort((a, b) => a - b);
      // The page's clock is coarse (0.1 ms without cross-origin isolation): the mean is the total / n.
      return { mean: (performance.now() - start) / n, p50: t[n >> 1], p90: t[Math.floor(n * 0.9)] };
    };
    const refresh = await time(() => auth.dpopFetch(location.origin + "/auth/refresh", { method: "POST" }));
    const fetchProof = await time(() => auth.fetch(location.origin + "/api/me"));
    const plain = await time(() => ok(new Request(location.origin + "/api/me")));
    await auth.logout();
    return { refresh, fetchProof, plain };
  }, N);
  const f = (x) => `mean ${x.mean.toFixed(3)} ms, p50 ${x.p50.toFixed(3)} ms, p90 ${x.p90.toFixed(3)} ms`;
  console.log(`[dpop] per refresh (IndexedDB read + proof): ${f(r.refresh)} (n=${N})`);
  console.log(`[dpop] per auth.fetch (proof with ath, key cached): ${f(r.fetchProof)}`);
  console.log(`[dpop] baseline (Request + answered fetch, no proof): ${f(r.plain)}`);
} finally {
  await browser.close();
  await worker.stop();
}
