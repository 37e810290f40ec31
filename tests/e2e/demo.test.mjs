// End-to-end: the demo page (www/) in headless Chromium, driven by Playwright, against the real
// Worker in workerd (wrangler dev, local KV), with 5-second access tokens.
//
// "An expired token" is produced honestly: the server's clock runs on, while the page's timers are
// frozen with Playwright's clock (as a throttled background tab's would be), so the client still
// holds a token the server no longer accepts. Refresh requests are counted at the browser
// (every POST /auth/refresh any page of the context sends), not by the app.
import { after, before, describe, test, within } from "../support/test.mjs";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { startWorker } from "../support/worker.mjs";
import { launchBrowser } from "../support/browser.mjs";

const ACCESS_TTL = 5;
let worker;
let browser;

before(async () => {
  worker = await startWorker({ vars: { ACCESS_TTL_SECONDS: String(ACCESS_TTL), LEEWAY_SECONDS: "0" } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await worker?.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A page.evaluate that awaits the page (which Playwright does not bound): fails after 30 s. */
const evaluate = (page, fn, what) => within(page.evaluate(fn), 30_000, what);

/** A fresh browser context (its own cookie jar) with a refresh-request counter and a paused-able clock. */
async function newContext() {
  const context = await browser.newContext();
  await context.clock.install();
  const refreshes = [];
  context.on("request", (req) => {
    if (req.method() === "POST" && new URL(req.url()).pathname === "/auth/refresh") refreshes.push(req);
  });
  return { context, refreshes };
}

async function openDemo(context) {
  const page = await context.newPage();
  await page.goto(worker.url + "/");
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

async function signIn(page) {
  await page.fill("#username", "demo");
  await page.fill("#password", "demo-password");
  await page.click("#login-button");
  await page.waitForSelector('body[data-state="signed-in"]');
  await page.waitForFunction(() => document.getElementById("claims").textContent.includes('"sub"'));
}

/** Freezes the page clocks of the context, then lets the server-side lifetime run out. */
async function expireWhileFrozen(context) {
  await context.clock.pauseAt(Date.now() + 100);
  await sleep((ACCESS_TTL + 1) * 1000);
}

const callMe = (page) => evaluate(page, async () => (await window.auth.fetch("/api/me")).status, "auth.fetch(/api/me)");

describe("demo page against the Worker", () => {
  test("1. sign in through the form; /api/me works; the refresh token is out of the page's reach", async () => {
    const { context } = await newContext();
    const page = await openDemo(context);
    assert.equal(await page.isVisible("#login-panel"), true, "login form shown first");
    assert.equal(await page.isVisible("#provider-signin"), false, "no provider configured: no provider button");
    await signIn(page);
    assert.equal(await callMe(page), 200);
    assert.match(await page.textContent("#claims"), /"sub": "demo"/);

    const cookie = (await context.cookies()).find((c) => c.name === "sr_refresh");
    assert.ok(cookie, "the refresh cookie is set");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.equal(cookie.path, "/auth");
    const visible = await page.evaluate(() => ({
      cookie: document.cookie,
      local: JSON.stringify(Object.entries(localStorage)),
      session: JSON.stringify(Object.entries(sessionStorage)),
    }));
    assert.equal(visible.cookie, "sr_session=1", "the page reads only the session hint");
    for (const [where, text] of Object.entries(visible)) {
      assert.ok(!text.includes(cookie.value), `refresh token readable from ${where}`);
      assert.ok(!text.includes("srt_"), `a refresh token in ${where}`);
    }
    mkdirSync("target/e2e", { recursive: true });
    await page.screenshot({ path: "target/e2e/demo-signed-in.png", fullPage: true });
    await context.close();
  });

  test("2. past the access token's lifetime, the next /api/me succeeds with exactly one refresh", async () => {
    const { context, refreshes } = await newContext();
    const page = await openDemo(context);
    await signIn(page);
    const before = refreshes.length;
    await expireWhileFrozen(context);
    assert.equal(await callMe(page), 200);
    assert.equal(refreshes.length - before, 1, "refresh requests on the wire");
    await context.close();
  });

  test("3. ten concurrent calls with an expired token share one refresh", async () => {
    const { context, refreshes } = await newContext();
    const page = await openDemo(context);
    await signIn(page);
    const before = refreshes.length;
    await expireWhileFrozen(context);
    const statuses = await evaluate(page, () =>
      Promise.all(Array.from({ length: 10 }, async () => (await window.auth.fetch("/api/me")).status)), "ten auth.fetch calls");
    assert.deepEqual(statuses, Array(10).fill(200));
    assert.equal(refreshes.length - before, 1, "refresh requests on the wire");
    await context.close();
  });

  test("4. two tabs with an expired token: one refresh in total, both get the new token; logout signs out both", async () => {
    const { context, refreshes } = await newContext();
    const tabA = await openDemo(context);
    await signIn(tabA);
    const tabB = await openDemo(context);
    await tabB.waitForSelector('body[data-state="signed-in"]');
    const before = refreshes.length;
    await expireWhileFrozen(context);
    const expiries = () => Promise.all([tabA, tabB].map((t) => evaluate(t, () => window.auth.expiresAt, "auth.expiresAt")));
    const [oldA, oldB] = await expiries();
    // The tab that refreshes tells the other its access token; the other, waiting for the Web
    // Lock, takes it and sends nothing.
    const statuses = await Promise.all([callMe(tabA), callMe(tabB)]);
    assert.deepEqual(statuses, [200, 200]);
    assert.equal(refreshes.length - before, 1, "one refresh request across both tabs");
    const [newA, newB] = await expiries();
    assert.ok(newA > oldA && newB > oldB, "both tabs hold the new expiry");
    assert.equal(newA, newB, "both tabs hold the same token");

    await context.clock.resume();
    await tabA.click("#logout");
    await tabA.waitForSelector('body[data-state="signed-out"]');
    await tabB.waitForSelector('body[data-state="signed-out"]', { timeout: 5000 });
    assert.ok(await tabB.isVisible("#login-panel"));
    await context.close();
  });

  test("5. reload keeps the session; after logout, reload shows the form without a refresh request and the old refresh token is dead", async () => {
    const { context, refreshes } = await newContext();
    const page = await openDemo(context);
    await signIn(page);
    const beforeRestore = refreshes.length;
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.getAttribute("body", "data-state"), "signed-in", "session restored after reload");
    // The restore refreshed, and the counter saw it: its silence after logout below means something.
    assert.ok(refreshes.length > beforeRestore, "restore() after reload made a refresh request");
    assert.equal(await callMe(page), 200);

    const { value: token } = (await context.cookies()).find((c) => c.name === "sr_refresh");
    await page.click("#logout");
    await page.waitForSelector('body[data-state="signed-out"]');
    // The page signs out at once; the Worker's answer to the logout sets the hint.
    let hint;
    for (let i = 0; i < 100 && hint?.value !== "0"; i++) {
      if (i) await sleep(50);
      hint = (await context.cookies()).find((c) => c.name === "sr_session");
    }
    assert.equal(hint?.value, "0", "the Worker's session hint says the session is over");
    assert.equal(hint.httpOnly, false);
    const before = refreshes.length;
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(await page.getAttribute("body", "data-state"), "signed-out");
    assert.ok(await page.isVisible("#login-panel"));
    assert.equal(refreshes.length, before, "restore() after logout made no refresh request");

    const res = await fetch(worker.url + "/auth/refresh", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: token }),
      signal: AbortSignal.timeout(30_000),
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, "invalid_grant");
    await context.close();
  });

  test("6. the server revokes the family (logout-all elsewhere): the page ends the session without a refresh loop", async () => {
    const { context, refreshes } = await newContext();
    const page = await openDemo(context);
    await signIn(page);
    const expired = page.evaluate(() => new Promise((resolve) => window.auth.on("expired", (e) => resolve(e.error.code))));

    const other = await newContext();
    const otherPage = await openDemo(other.context);
    await signIn(otherPage);
    const status = await evaluate(otherPage, async () => (await window.auth.fetch("/auth/logout-all", { method: "POST" })).status, "logout-all");
    assert.equal(status, 200);
    await other.context.close();

    const before = refreshes.length;
    assert.equal(await callMe(page), 401, "the revoked session's call fails once the refresh is refused");
    assert.equal(await within(expired, 30_000, "the expired event"), "ERR_SESSION_EXPIRED");
    await page.waitForSelector('body[data-state="signed-out"]');
    assert.ok(await page.isVisible("#login-panel"));
    await sleep((ACCESS_TTL + 1) * 1000);
    assert.equal(refreshes.length - before, 1, "exactly one refused refresh, no loop");
    await context.close();
  });

  test("7. offline for a while, then online: the session survives and calls work", async () => {
    const { context, refreshes } = await newContext();
    const page = await openDemo(context);
    await signIn(page);
    const events = [];
    await page.exposeFunction("recordEvent", (kind) => events.push(kind));
    await page.evaluate(() => ["refresh", "error", "expired", "logout"].forEach((k) => window.auth.on(k, () => window.recordEvent(k))));

    // The page learns it is online from the browser's `online` event, which ends the client's
    // backoff. Chromium dispatches it in a task of its own after setOffline(false) has returned, so
    // the call waits for it, as an app's would in a real browser: a call made before it, with the
    // token expired and the retry still pending, is answered with the server's 401 (the backoff
    // holds against the app's calls: client_engine::an_outage_of_several_minutes_keeps_the_session_without_a_storm).
    await page.evaluate(() => window.addEventListener("online", () => (window.__online = true)));
    const before = refreshes.length;
    await context.setOffline(true);
    await sleep((ACCESS_TTL + 2) * 1000);
    const whileOffline = refreshes.length - before;
    await context.setOffline(false);
    await within(page.waitForFunction(() => window.__online === true), 30_000, "the online event");
    assert.equal(await callMe(page), 200);
    assert.equal(await page.getAttribute("body", "data-state"), "signed-in");
    assert.ok(events.includes("error"), "refresh failures were reported as errors");
    assert.ok(!events.includes("expired") && !events.includes("logout"), `session kept: ${events}`);
    // At least one attempt (the token expired while offline), and no storm.
    assert.ok(whileOffline >= 1, `refresh attempts while offline were counted (${whileOffline})`);
    assert.ok(whileOffline <= 6, `no refresh storm while offline (${whileOffline} attempts in ${ACCESS_TTL + 2} s)`);
    await context.close();
  });
  test("8. a tab opened after sign-in elsewhere gets 200 from auth.fetch without calling restore()", async () => {
    const { context, refreshes } = await newContext();
    const page = await openDemo(context);
    await signIn(page);
    // A second page of the origin with a client of its own that never calls restore().
    const other = await context.newPage();
    await other.goto(worker.url + "/pkg/silent_refresh.js");
    const before = refreshes.length;
    const seen = await evaluate(other, async () => {
      const { default: init, AuthClient } = await import("/pkg/silent_refresh.js");
      await init();
      const auth = new AuthClient({ baseUrl: "", mode: "cookie" });
      const signedIn = auth.signedIn;
      const first = (await auth.fetch("/api/me")).status;
      const second = (await auth.fetch("/api/me")).status;
      return { signedIn, first, second, after: auth.signedIn };
    }, "a fresh client's first auth.fetch");
    assert.deepEqual(seen, { signedIn: false, first: 200, second: 200, after: true });
    assert.equal(refreshes.length - before, 1, "one refresh: the lazy restore");
    await context.close();
  });

  test("9. a first visit sends no refresh; the timeline draws each token, its refresh margin, who sent each refresh and the session's end (target/e2e/timeline.png)", async () => {
    const { context, refreshes } = await newContext();
    const page = await context.newPage();
    const logged = [];
    page.on("console", (m) => m.type() === "error" && logged.push(m.text()));
    await page.goto(worker.url + "/");
    await page.waitForSelector('body[data-ready="true"]');
    assert.equal(refreshes.length, 0, "no session hint on the Worker's own origin: restore() sent nothing");
    assert.deepEqual(logged, [], "no error in the console");
    await signIn(page);
    const mark = (label, timeout = 15_000) => page.waitForSelector(`#timeline [data-mark="${label}"]`, { state: "attached", timeout });
    await mark("login");
    await mark("timer", ACCESS_TTL * 3000);
    // Another tab restores; its new token reaches this one.
    const other = await openDemo(context);
    await mark("another tab");
    await other.close();
    assert.ok(await page.locator("#timeline .tl-margin").count() >= 2, "the refresh margins drawn (past tokens too)");
    assert.ok(await page.locator("#timeline [data-token]").count() >= 3, "a bar per token");
    await page.click("#logout");
    await mark("signed out");
    mkdirSync("target/e2e", { recursive: true });
    await page.locator("#timeline").screenshot({ path: "target/e2e/timeline.png" });
    await context.close();
  });
});
