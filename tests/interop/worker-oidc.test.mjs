// The Worker as the OpenID relying party, the way a deployment uses it: an app bundled by a real
// bundler (esbuild) from the packed npm package, served by the Worker itself (its static assets,
// the same origin as /auth/*), in Chromium, against oidc-provider (a certified provider nobody
// here wrote, confidential client, refresh-token rotation on). The app calls
// `auth.loginWithRedirect()` (to the Worker's /auth/authorize, never to the provider itself), the
// user logs in on the provider's own pages, the Worker's /auth/callback brings the browser back,
// `handleRedirectCallback()` restores the cookie session; `auth.fetch` then works across silent
// refreshes while the Worker refreshes at the provider behind them; `logout({ federated: true })`
// revokes the provider's grant and follows the Worker's `end_session_url` to the provider's
// end-session page, and back.
import { after, before, describe, test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startWorker } from "../support/worker.mjs";
import { launchBrowser } from "../support/browser.mjs";
import { startProvider } from "../support/oidc-provider.mjs";
import { bin, projectDir, run } from "./support.mjs";

const PROVIDER_ACCESS_TTL = 2; // s: each of our rotations after it refreshes at the provider
const ACCESS_TTL = 6; // s (the least the Worker takes): the package refreshes half-way

let w, op, browser, dist;

before(async () => {
  const dir = await projectDir("worker-oidc");
  const out = await run(bin("esbuild"), ["main.js", "--bundle", "--format=esm", "--outfile=dist/app.js", "--log-level=warning"], { cwd: dir });
  assert.equal(out, "", "esbuild printed no warning");
  copyFileSync(join(dir, "index.html"), join(dir, "dist/index.html"));
  dist = join(dir, "dist");
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  op = await startProvider({ redirectUris: [`${origin}/auth/callback`], postLogoutRedirectUris: [`${origin}/`], accessTtl: PROVIDER_ACCESS_TTL });
  w = await startWorker({
    port, assets: dist, rotationStore: "kv",
    vars: { ...op.vars, ACCESS_TTL_SECONDS: String(ACCESS_TTL), LEEWAY_SECONDS: "0" },
    secrets: op.secrets,
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await w?.stop();
  await op?.close();
});

const settled = (page) => page.waitForSelector('body[data-ready="true"]', { state: "attached" });

describe("a bundled app signs in through the Worker (oidc-provider, Chromium)", () => {
  test("loginWithRedirect → the provider's pages → /auth/callback → restore; auth.fetch across silent refreshes; logout({ federated: true }) to the provider's end-session page", { timeout: 90_000 }, async () => {
    assert.match(readFileSync(join(dist, "app.js"), "utf8"), /loginWithRedirect/, "the package is in the bundle");
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = [];
    page.on("request", (req) => seen.push(`${req.method()} ${req.url()}`));
    try {
      await page.goto(`${w.url}/`);
      await settled(page);
      assert.deepEqual(await page.evaluate(() => window.outcome), { signedIn: false });

      await page.evaluate(() => void window.auth.loginWithRedirect({ returnTo: "/?back=1" }));
      await page.waitForURL((u) => u.origin === op.issuer);
      const firstAtProvider = seen.findIndex((r) => r.startsWith(`GET ${op.issuer}/`));
      assert.ok(seen.slice(0, firstAtProvider).some((r) => r.startsWith(`GET ${w.url}/auth/authorize?return_to=`)), "through the Worker first");
      await page.fill('input[name="login"]', "ada");
      await page.fill('input[name="password"]', "any");
      await page.click('button[type="submit"]');
      await page.click('button:has-text("Continue")');
      await page.waitForURL((u) => u.origin === w.url && u.searchParams.has("back"));
      await settled(page);
      assert.ok(seen.some((r) => r.startsWith(`GET ${w.url}/auth/callback?code=`)), "back through the Worker's callback");
      const outcome = await page.evaluate(() => window.outcome);
      assert.deepEqual(outcome, { returnTo: "/?back=1", signedIn: true });
      assert.equal(op.counts.code, 1);

      const me = () => page.evaluate(async () => {
        const r = await window.auth.fetch("/api/me");
        return { status: r.status, ...(await r.json()) };
      });
      const first = await me();
      assert.equal(first.status, 200);
      assert.match(first.sub, /^oidc:/);
      assert.equal(first.email, "ada@example.com");

      // Two silent refreshes (the first after ACCESS_TTL / 2); the provider's access token has
      // expired by then, so the Worker refreshes at the provider behind them.
      await page.waitForFunction(() => window.refreshes >= 2, null, { timeout: 30_000 });
      assert.ok(op.counts.refresh >= 1, `the Worker refreshed at the provider (${op.counts.refresh})`);
      const later = await me();
      assert.equal(later.status, 200);
      assert.equal(later.sub, first.sub);
      // No token of the provider reaches the page's storage: every JWT there is the Worker's.
      const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
      const jwts = stored.match(/eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/g) ?? [];
      assert.ok(jwts.length >= 1, "the Worker's access token is shared with other tabs (positive control)");
      for (const t of jwts) assert.notEqual(JSON.parse(Buffer.from(t.split(".")[1], "base64url")).iss, op.issuer);

      const revocations = op.counts.revocations;
      await page.evaluate(() => void window.auth.logout({ federated: true }));
      await page.waitForURL((u) => u.origin === op.issuer && u.pathname.startsWith("/session/end"));
      const end = new URL(page.url());
      assert.ok(end.searchParams.get("id_token_hint"), "with id_token_hint");
      assert.equal(end.searchParams.get("post_logout_redirect_uri"), `${w.url}/`);
      assert.equal(op.counts.revocations, revocations + 1, "the provider's refresh token revoked by the Worker");
      await page.click('button[name="logout"][value="yes"]');
      await page.waitForURL((u) => u.origin === w.url);
      await settled(page);
      assert.deepEqual(await page.evaluate(() => window.outcome), { signedIn: false }, "signed out here too");
    } finally {
      await context.close();
    }
  });
});
