// silent-refresh/react (the packed package) in a React 19 app under StrictMode, development
// build, bundled by esbuild, in Chromium, against the real Worker (access tokens of 6 s, so a
// refresh every 3 s): one client although StrictMode mounts twice, one refresh request per
// expiry, and useAuth() re-rendering on login, on each refresh, on another tab's logout and on
// the server ending the session; the client disposed on unmount.
import { after, before, test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { startWorker } from "../support/worker.mjs";
import { launchBrowser } from "../support/browser.mjs";
import { bin, projectDir, run, serveStatic } from "./support.mjs";

let worker, browser, site, url;
const dirs = {};

before(async () => {
  site = await serveStatic(dirs);
  worker = await startWorker({ vars: { ALLOWED_ORIGINS: site.url, ACCESS_TTL_SECONDS: "6", LEEWAY_SECONDS: "0" } });
  const dir = await projectDir("react");
  // The development build of React: StrictMode's double mount happens there only.
  await run(bin("esbuild"), ["main.js", "--bundle", "--format=esm", "--outfile=dist/main.js", "--log-level=warning",
    "--define:process.env.NODE_ENV=\"development\""], { cwd: dir });
  // esbuild leaves `new URL("silent_refresh_bg.wasm", import.meta.url)` as it is: the wasm goes beside the bundle.
  copyFileSync(join(dir, "node_modules/silent-refresh/silent_refresh_bg.wasm"), join(dir, "dist/silent_refresh_bg.wasm"));
  copyFileSync(join(dir, "index.html"), join(dir, "dist/index.html"));
  dirs["/react/"] = join(dir, "dist");
  url = `${site.url}/react/?api=${encodeURIComponent(worker.url)}`;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await worker?.stop();
});

const status = (page, s, timeout = 15_000) => page.waitForSelector(`body[data-status="${s}"]`, { state: "attached", timeout });
/** The error code of the last render. */
const lastError = (page) => page.evaluate(() => window.renders.at(-1).error);

test("React 19 StrictMode: one client, one refresh per expiry; useAuth follows login, refresh, another tab's logout and expiry", { timeout: 120_000 }, async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const refreshes = [];
  context.on("request", (r) => r.method() === "POST" && r.url().endsWith("/auth/refresh") && refreshes.push(r.frame().page() === page ? 1 : 2));
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  try {
    await page.goto(url);
    await status(page, "signedOut");
    assert.equal(await page.evaluate(() => window.mounts), 2, "StrictMode ran the effects twice (development build)");
    assert.deepEqual(await page.evaluate(() => window.channels), { opened: 1, closed: 0 }, "one client");
    assert.equal(refreshes.length, 0, "nothing stored: no refresh request");

    await page.evaluate(() => window.auth.login("demo", "demo-password"));
    await status(page, "signedIn");
    // Two scheduled refreshes: each re-renders with a new expiresAt, and each is one request.
    const distinct = () => page.evaluate(() => new Set(window.renders.filter((r) => r.status === "signedIn").map((r) => r.expiresAt)).size);
    await page.waitForFunction(() => new Set(window.renders.filter((r) => r.status === "signedIn").map((r) => r.expiresAt)).size >= 3, null, { timeout: 20_000 });
    const count = await page.evaluate(() => window.auth.client.refreshCount);
    assert.equal(count, (await distinct()) - 1, "one refresh per new expiresAt rendered");
    assert.equal(refreshes.length, count, "one request per refresh: the only client sends them");
    assert.deepEqual(await page.evaluate(() => window.channels), { opened: 1, closed: 0 });

    // Another tab (same storage) restores, then logs out: this tab renders signedOut.
    const other = await context.newPage();
    await other.goto(url);
    await status(other, "signedIn");
    await other.evaluate(() => window.auth.logout());
    await status(other, "signedOut");
    await status(page, "signedOut");
    assert.equal(await lastError(page), "ERR_SESSION_EXPIRED");
    await other.close();

    // The server ends the session: the next refresh is refused and the tab renders signedOut.
    await page.evaluate(() => window.auth.login("demo", "demo-password"));
    await status(page, "signedIn");
    const res = await fetch(`${worker.url}/auth/sessions/demo`, { method: "DELETE", headers: { authorization: `Bearer ${worker.adminToken}` } });
    assert.equal(res.status, 204);
    await status(page, "signedOut");
    assert.equal(await lastError(page), "ERR_SESSION_EXPIRED");

    await page.evaluate(() => window.unmount());
    assert.deepEqual(await page.evaluate(() => window.channels), { opened: 1, closed: 1 }, "disposed on unmount");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
