// End-to-end sign-in with an OpenID provider (issue 21): Chromium navigates to the Worker's
// /auth/authorize, logs in on oidc-provider's own pages (a confidential client, refresh-token
// rotation on), comes back to the demo page, which restores the session from the cookie
// (restore(), cookie mode); then silent refreshes carry on, with the provider's refreshes behind
// them: ACCESS_TOKEN_SOURCE=worker over KV, and ACCESS_TOKEN_SOURCE=upstream in strict mode.
import { after, before, describe, test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { freePort, startWorker } from "../support/worker.mjs";
import { launchBrowser } from "../support/browser.mjs";
import { startProvider } from "../support/oidc-provider.mjs";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** Signs in through the provider in a fresh context; resolves to { context, page, refreshes }. */
async function signInWithProvider(w, login) {
  const context = await browser.newContext();
  const refreshes = [];
  const accessTokens = [];
  context.on("response", async (res) => {
    if (res.request().method() !== "POST" || new URL(res.url()).pathname !== "/auth/refresh") return;
    refreshes.push(res.status());
    const body = await res.json().catch(() => null);
    if (body?.access_token) accessTokens.push(body.access_token);
  });
  const page = await context.newPage();
  // The demo page offers the provider (its /healthz says there is one) and no password form.
  await page.goto(`${w.url}/`);
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.isVisible("#login-form"), false, "no password form: PASSWORD_LOGIN is off");
  await page.click("#provider-button");
  await page.waitForURL((u) => u.origin !== w.url);
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', "any");
  await page.click('button[type="submit"]');
  await page.click('button:has-text("Continue")');
  await page.waitForURL((u) => u.origin === w.url, { timeout: 60_000 });
  assert.equal(page.url(), `${w.url}/`, "back at return_to without auth_error");
  await page.waitForSelector('body[data-ready="true"]');
  await page.waitForSelector('body[data-state="signed-in"]');
  return { context, page, refreshes, accessTokens };
}

for (const { source, store, providerTtl, workerTtl } of [
  { source: "worker", store: "kv", providerTtl: 3, workerTtl: 5 },
  { source: "upstream", store: "durable-object", providerTtl: 30, workerTtl: 900 },
]) {
  describe(`Chromium signs in with oidc-provider (ACCESS_TOKEN_SOURCE=${source}, ${store})`, () => {
    let w, op;
    before(async () => {
      const workerPort = await freePort();
      op = await startProvider({ redirectUris: [`http://127.0.0.1:${workerPort}/auth/callback`], accessTtl: providerTtl });
      w = await startWorker({
        port: workerPort,
        rotationStore: store,
        vars: { ...op.vars, ACCESS_TOKEN_SOURCE: source, ACCESS_TTL_SECONDS: String(workerTtl), LEEWAY_SECONDS: "0" },
        secrets: op.secrets,
      });
    });
    after(async () => {
      await w?.stop();
      await op?.close();
    });

    test("the full redirect flow, restore() in cookie mode, then silent refreshes with the provider's rotation", async () => {
      const { context, page, refreshes, accessTokens } = await signInWithProvider(w, "chromium-user");
      assert.equal(op.counts.code, 1);
      const cookie = (await context.cookies()).find((c) => c.name === "sr_refresh");
      assert.ok(cookie?.httpOnly, "the session is our httpOnly cookie");
      assert.equal((await context.cookies()).find((c) => c.name === "sr_oidc"), undefined, "transaction cookie gone");
      const visible = await page.evaluate(() => document.cookie + JSON.stringify(Object.entries(localStorage)) + JSON.stringify(Object.entries(sessionStorage)));
      assert.doesNotMatch(visible, /srt_|refresh_token|id_token/);
      if (source === "worker") {
        assert.match(await page.textContent("#claims"), /"sub": "oidc:/);
        assert.match(await page.textContent("#claims"), /"email": "chromium-user@example.com"/);
        // Our access tokens live 5 s and the provider's 3 s: the page refreshes on its own, and
        // each rotation past the provider's expiry refreshes at the provider.
        const before = op.counts.refresh;
        const deadline = Date.now() + 20_000;
        while ((refreshes.filter((s) => s === 200).length < 3 || op.counts.refresh - before < 2) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 250));
        }
        assert.ok(refreshes.filter((s) => s === 200).length >= 3, `silent refreshes: ${refreshes}`);
        assert.ok(op.counts.refresh - before >= 2, `provider refreshes: ${op.counts.refresh - before}`);
        assert.ok(refreshes.every((s) => s === 200), `every refresh succeeded: ${refreshes}`);
        const status = await page.evaluate(async () => (await window.auth.fetch("/api/me")).status);
        assert.equal(status, 200);
      } else {
        // The page holds the provider's access token (30 s, within the 60 s margin at once: each
        // rotation refreshes at the provider first). The provider's userinfo accepts it.
        const before = op.counts.refresh;
        const seen = accessTokens.length;
        await page.evaluate(async () => { await window.auth.refresh(); });
        await page.waitForFunction(() => true);
        const deadline = Date.now() + 5000;
        while (accessTokens.length === seen && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        const token = accessTokens.at(-1);
        assert.ok(token && token.split(".").length !== 3, "an opaque provider access token, not our JWT");
        const info = await fetch(`${op.issuer}/me`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(info.status, 200);
        assert.equal((await info.json()).sub, "chromium-user");
        await page.evaluate(async () => { await window.auth.refresh(); });
        assert.equal(op.counts.refresh - before, 2, "one provider refresh per rotation");
        assert.ok(refreshes.every((s) => s === 200), `every refresh succeeded: ${refreshes}`);
      }
      await context.close();
    });

    test("the provider revokes the grant: the next refresh ends the session and the package says expired", async () => {
      const { context, page } = await signInWithProvider(w, `revoked-${source}`);
      await page.evaluate(() => { window.ended = []; window.auth.on("expired", () => window.ended.push("expired")); });
      assert.ok(await op.revokeAccount(`revoked-${source}`) > 0);
      // The next rotation that reaches the provider (at once with the upstream source; once the
      // provider's 3 s access token has expired with ours) ends the session; the page's own timer
      // may get there first.
      const deadline = Date.now() + 15_000;
      let outcome;
      while (Date.now() < deadline) {
        outcome = await page.evaluate(async () => {
          if (window.ended.length) return "ended";
          try { await window.auth.refresh(); return "refreshed"; } catch (e) { return e.code ?? String(e); }
        });
        if (outcome !== "refreshed") break;
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.ok(["ended", "ERR_SESSION_EXPIRED"].includes(outcome), outcome);
      assert.deepEqual(await page.evaluate(() => window.ended), ["expired"], "the package says expired");
      await context.close();
    });
  });
}
