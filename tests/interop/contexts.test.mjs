// The package (unbundled, from the packed tarball) in the JavaScript contexts besides a page, in
// headless Chromium against our Worker (body mode, cross-origin with CORS):
//   - a module Web Worker: init, login, auth.fetch, refresh, auth.fetch, logout;
//   - a module Service Worker that signs in and answers the page's ./api/* requests with
//     auth.fetch, so the page calls the API without ever holding a token.
import { after, before, describe, test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { freePort, startWorker } from "../support/worker.mjs";
import { launchBrowser } from "../support/browser.mjs";
import { projectDir, serveStatic } from "./support.mjs";

let worker, browser, site;

before(async () => {
  const port = await freePort();
  worker = await startWorker({ vars: { ALLOWED_ORIGINS: `http://127.0.0.1:${port}` } });
  site = await serveStatic({ "/": await projectDir("workers") }, port);
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

describe("contexts", () => {
  test("module Web Worker, body mode: login, auth.fetch, refresh, auth.fetch, logout", async () => {
    const { result, errors } = await runPage("worker.html");
    assert.deepEqual(result, { signedIn: true, status: 200, refreshCount: 1, statusAfterRefresh: 200, sub: "demo", loggedOut: true });
    assert.deepEqual(errors, []);
  });

  test("module Service Worker: signs in, answers the page's API requests with auth.fetch", async () => {
    const { result, errors } = await runPage("sw.html");
    assert.deepEqual(result, { login: { signedIn: true }, status: 200, sub: "demo" });
    assert.deepEqual(errors, []);
  });
});
