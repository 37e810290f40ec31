// The package against the classic tutorial's backend (Express + jsonwebtoken, tests/interop/
// servers/tutorial.mjs, run as its own process and restarted like one), configured with the three
// options such a backend needs: refreshEncoding "json", mapTokenResponse (accessToken ->
// access_token) and sessionEndingStatuses [401, 403]. Checks at the wire: JSON refresh requests
// carrying the login's refresh token, kept across refreshes since the answers carry none; and that
// the server forgetting its tokens (a restart) ends the session once, with or without the option.
import { after, before, describe, test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { freePort } from "../support/worker.mjs";
import { launchBrowser } from "../support/browser.mjs";
import { projectDir, root, spawnServer } from "./support.mjs";
import { join } from "node:path";

const ACCESS_TTL = 6; // seconds (the tutorial's 15 minutes, shortened)
let browser, dir, port, server;

async function startServer() {
  server = await spawnServer(process.execPath, [join(root, "tests/interop/servers/tutorial.mjs"), String(port), dir], {
    env: { ACCESS_TTL: `${ACCESS_TTL}s` }, readyUrl: `http://127.0.0.1:${port}/index.html`,
  });
}

before(async () => {
  port = await freePort();
  dir = await projectDir("tutorial");
  await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** A page of the tutorial's origin with `window.auth` (options over the tutorial's three) and its events. */
async function openClient(options = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const refreshes = [];
  page.on("request", (req) => {
    if (req.method() === "POST" && new URL(req.url()).pathname === "/auth/refresh") {
      refreshes.push({ type: req.headers()["content-type"], body: req.postData() });
    }
  });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector('body[data-ready="true"]', { state: "attached" });
  await page.evaluate((options) => {
    window.events = [];
    window.auth = new window.sr.AuthClient({
      mode: "body",
      refreshEncoding: "json",
      mapTokenResponse: (body) => ({ access_token: body.accessToken, refresh_token: body.refreshToken }),
      ...options,
    });
    for (const type of ["refresh", "expired", "error", "logout"]) {
      window.auth.on(type, (e) => window.events.push({
        type: e.type, source: e.source, code: e.error?.code, status: e.error?.status, retryIn: e.retryIn,
      }));
    }
  }, options);
  return { context, page, refreshes };
}

const me = (page) => page.evaluate(async () => {
  const res = await window.auth.fetch("/api/me");
  return { status: res.status, body: await res.json() };
});

describe("the tutorial's Express + jsonwebtoken backend", () => {
  test("login, auth.fetch, refresh on schedule and on demand with JSON bodies; the login's refresh token is kept", async () => {
    const { context, page, refreshes } = await openClient({ sessionEndingStatuses: [401, 403] });
    try {
      const loginBody = page.waitForResponse((r) => r.url().endsWith("/auth/login")).then((r) => r.json());
      await page.evaluate(() => window.auth.login("demo", "demo-password"));
      const { refreshToken } = await loginBody;
      assert.deepEqual(await me(page), { status: 200, body: { username: "demo" } });

      await page.waitForFunction(() => window.events.some((e) => e.type === "refresh"), null, { timeout: ACCESS_TTL * 3000 });
      await page.evaluate(() => window.auth.refresh());
      assert.equal(await page.evaluate(() => window.auth.refreshCount), 2);
      assert.deepEqual(await page.evaluate(() => window.events.map((e) => [e.type, e.source])), [["refresh", "network"], ["refresh", "network"]]);
      assert.equal(refreshes.length, 2);
      for (const r of refreshes) {
        assert.equal(r.type, "application/json");
        assert.deepEqual(JSON.parse(r.body), { grant_type: "refresh_token", refresh_token: refreshToken });
      }
      assert.deepEqual(await me(page), { status: 200, body: { username: "demo" } });
      await page.evaluate(() => window.auth.dispose());
    } finally {
      await context.close();
    }
  });

  test("sessionEndingStatuses [401, 403]: after a server restart (tokens forgotten) the first refresh ends the session", async () => {
    const { context, page, refreshes } = await openClient({ sessionEndingStatuses: [401, 403] });
    try {
      await page.evaluate(() => window.auth.login("demo", "demo-password"));
      await server.stop();
      await startServer();
      const error = await page.evaluate(() => window.auth.refresh().then(() => null, (e) => ({ code: e.code, status: e.status })));
      assert.deepEqual(error, { code: "ERR_SESSION_EXPIRED", status: 403 });
      assert.deepEqual(await page.evaluate(() => window.events), [
        { type: "expired", source: undefined, code: "ERR_SESSION_EXPIRED", status: 403, retryIn: undefined },
      ]);
      assert.equal(await page.evaluate(() => window.auth.signedIn), false);
      assert.equal(refreshes.length, 1);
    } finally {
      await context.close();
    }
  });

  test("default sessionEndingStatuses: a 403 is retried at the slowest pace while the access token lasts, then ends the session once", async () => {
    const retryMaxDelay = 2000;
    const { context, page, refreshes } = await openClient({ retryMaxDelay });
    try {
      await page.evaluate(() => window.auth.login("demo", "demo-password"));
      await server.stop();
      await startServer();
      const error = await page.evaluate(() => window.auth.refresh().then(() => null, (e) => ({ code: e.code, status: e.status })));
      assert.deepEqual(error, { code: "ERR_REJECTED", status: 403 });
      const [first] = await page.evaluate(() => window.events);
      assert.deepEqual(first, { type: "error", source: undefined, code: "ERR_REJECTED", status: 403, retryIn: retryMaxDelay });
      assert.equal(await page.evaluate(() => window.auth.signedIn), true, "kept while the access token is valid");

      await page.waitForFunction(() => window.events.some((e) => e.type === "expired"), null, { timeout: ACCESS_TTL * 3000 });
      await new Promise((r) => setTimeout(r, 2 * retryMaxDelay)); // no retry after the end
      const events = await page.evaluate(() => window.events);
      assert.deepEqual(events.filter((e) => e.type === "expired"), [
        { type: "expired", source: undefined, code: "ERR_SESSION_EXPIRED", status: 403, retryIn: undefined },
      ]);
      assert.ok(events.slice(0, -1).every((e) => e.type === "error" && e.status === 403 && e.retryIn === retryMaxDelay), JSON.stringify(events));
      assert.equal(events.at(-1).type, "expired");
      assert.equal(refreshes.length, events.length, "one request per event, none after the end");
      assert.equal(await page.evaluate(() => window.auth.signedIn), false);
    } finally {
      await context.close();
    }
  });
});
