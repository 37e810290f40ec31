// The package (unbundled, from the packed tarball) in the JavaScript contexts besides a page, in
// headless Chromium against our Worker (body mode, cross-origin with CORS):
//   - a module Web Worker: init, login, auth.fetch, refresh, auth.fetch, logout;
//   - a module Service Worker that signs in and answers the page's ./api/* requests with
//     auth.fetch, so the page calls the API without ever holding a token;
//   - both again with DPoP (the option `dpop`, the refresh token in IndexedDB): every request of
//     the client carries a proof by the key stored in IndexedDB, the access tokens are bound to it
//     (cnf.jkt) and sent as `DPoP`, refreshes keep the binding; a second Web Worker started after
//     the first is terminated restores the session with the same key.
import { after, before, describe, test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { startWorker } from "../support/worker.mjs";
import { launchBrowser } from "../support/browser.mjs";
import { projectDir, serveStatic } from "./support.mjs";

let worker, browser, site;

before(async () => {
  // The page's server first, holding its port, then the Worker that must know its origin.
  site = await serveStatic({ "/": await projectDir("workers") });
  worker = await startWorker({ vars: { ALLOWED_ORIGINS: site.url } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await worker?.stop();
});

async function runPage(path) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  try {
    await page.goto(`${site.url}/${path}?api=${encodeURIComponent(worker.url)}`);
    await page.waitForSelector("body[data-result]", { state: "attached", timeout: 30_000 });
    return { result: JSON.parse(await page.getAttribute("body", "data-result")), errors, context };
  } finally {
    await context.close();
  }
}

/** What dpop-common.js records of a request with a proof by key `jkt` to `path` (GET with `access`: a resource call). */
const proofed = (api, path, jkt, method = "POST") => ({
  path, scheme: method === "GET" ? "DPoP" : null, ...(method === "GET" ? { cnf: jkt } : {}),
  proofJkt: jkt, htm: method, htu: api + path, ath: method === "GET", status: 200,
});

describe("contexts", () => {
  test("module Web Worker, body mode: login, auth.fetch, refresh, auth.fetch, logout", async () => {
    const { result, errors } = await runPage("worker.html");
    assert.deepEqual(result, { signedIn: true, status: 200, refreshCount: 1, statusAfterRefresh: 200, sub: "demo", loggedOut: true });
    assert.deepEqual(errors, []);
  });

  test("module Web Worker with DPoP: bound tokens, proofs on login, refresh and auth.fetch; a new worker restores the session with the key from IndexedDB; logout removes it", async () => {
    const { result, errors } = await runPage("worker-dpop.html");
    assert.deepEqual(errors, []);
    const { first, second } = result;
    const jkt = first.jkt;
    assert.match(jkt ?? "", /^[\w-]{43}$/, JSON.stringify(first));
    const api = worker.url;
    assert.deepEqual(first, {
      signedIn: true, status: 200, refreshCount: 1, statusAfterRefresh: 200, sub: "demo", jkt,
      log: [proofed(api, "/auth/login", jkt), proofed(api, "/api/me", jkt, "GET"), proofed(api, "/auth/refresh", jkt), proofed(api, "/api/me", jkt, "GET")],
    });
    assert.deepEqual(second, {
      jkt, restored: true, status: 200, sub: "demo", loggedOut: true, jktAfterLogout: null,
      log: [proofed(api, "/auth/refresh", jkt), proofed(api, "/api/me", jkt, "GET"), proofed(api, "/auth/logout", jkt)],
    });
  });

  test("module Service Worker with DPoP: answers the page's API requests with auth.fetch and proofs by its stored key", async () => {
    const { result, errors } = await runPage("sw-dpop.html");
    assert.deepEqual(errors, []);
    const jkt = result.report?.jkt;
    assert.match(jkt ?? "", /^[\w-]{43}$/, JSON.stringify(result));
    const api = worker.url;
    assert.deepEqual(result, {
      login: { signedIn: true }, status: 200, sub: "demo", statusAfterRefresh: 200,
      report: {
        jkt, refreshCount: 1,
        log: [proofed(api, "/auth/login", jkt), proofed(api, "/api/me", jkt, "GET"), proofed(api, "/auth/refresh", jkt), proofed(api, "/api/me", jkt, "GET")],
      },
    });
  });

  test("module Service Worker: signs in, answers the page's API requests with auth.fetch", async () => {
    const { result, errors } = await runPage("sw.html");
    assert.deepEqual(result, { login: { signedIn: true }, status: 200, sub: "demo" });
    assert.deepEqual(errors, []);
  });
});
