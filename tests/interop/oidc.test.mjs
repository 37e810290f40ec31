// The package against a certified OpenID provider (oidc-provider from npm, tests/interop/servers/
// oidc.mjs): the test gets the first tokens with the authorization-code flow and PKCE in Chromium
// (the provider's login and consent pages, the code exchanged by the page), hands them to the
// package with setSession, and checks at the wire and at the provider that the package refreshes
// on schedule and on demand with RFC 6749 §6 requests, follows refresh-token rotation, calls a
// resource API that validates the tokens, ends the session with one `expired` once the grant is
// revoked at the provider, and revokes its refresh token on logout() (RFC 7009).
import { after, before, describe, test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { launchBrowser } from "../support/browser.mjs";
import { projectDir, serveStatic } from "./support.mjs";
import { CLIENT_ID, startOidc } from "./servers/oidc.mjs";
import { answered, signIn as signInAt, startClient as startClientOf } from "./oidc-flow.mjs";

const ACCESS_TTL = 8; // seconds: the package refreshes half-way, 4 s after a token is issued
let oidc, site, browser, redirectUri;

before(async () => {
  // The page's server first, holding its port, then the servers that must know its origin.
  site = await serveStatic({ "/oidc/": await projectDir("oidc") });
  const origin = site.url;
  redirectUri = `${origin}/oidc/`;
  oidc = await startOidc({ pageOrigin: origin, redirectUri, accessTtl: ACCESS_TTL });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await oidc?.close();
});

const signIn = () => signInAt(browser, oidc, redirectUri);
const startClient = (page, tokens) => startClientOf(page, oidc, tokens);

const me = (page) => page.evaluate(async (api) => {
  const res = await window.auth.fetch(`${api}/api/me`);
  return { status: res.status, body: await res.json() };
}, oidc.api);

describe("oidc-provider", () => {
  test("refreshes on schedule and on demand with RFC 6749 requests, follows rotation; the resource API accepts every token", async () => {
    const { context, page, calls, tokens } = await signIn();
    try {
      await startClient(page, tokens);
      assert.deepEqual(await me(page), { status: 200, body: { sub: "demo", client_id: CLIENT_ID } });

      // On schedule: before the access token's lifetime is over, with no call from the app.
      await page.waitForFunction(() => window.events.some((e) => e.type === "refresh"), null, { timeout: ACCESS_TTL * 3000 });
      // On demand (a scheduled one may slip in on a slow machine: at least one more).
      const before = await page.evaluate(() => window.auth.refreshCount);
      await page.evaluate(() => window.auth.refresh());
      const count = await page.evaluate(() => window.auth.refreshCount);
      assert.ok(count >= before + 1 && before >= 1, `${before} then ${count} refreshes`);
      assert.deepEqual(await page.evaluate(() => window.events), Array.from({ length: count }, () => (
        { type: "refresh", source: "network", code: undefined, status: undefined, oauthError: undefined })));

      await answered(calls);
      const refreshes = calls.filter((c) => c.path === "/token");
      assert.equal(refreshes.length, count);
      let current = tokens.refresh_token;
      for (const r of refreshes) {
        assert.equal(r.type, "application/x-www-form-urlencoded;charset=UTF-8");
        assert.deepEqual(r.form, { grant_type: "refresh_token", refresh_token: current, client_id: CLIENT_ID, scope: "openid offline_access" });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.ok(r.body.refresh_token && r.body.refresh_token !== current, "the provider rotated the refresh token");
        current = r.body.refresh_token; // the next request must present the rotated one
      }
      assert.deepEqual(await me(page), { status: 200, body: { sub: "demo", client_id: CLIENT_ID } });
      await page.evaluate(() => window.auth.dispose());
    } finally {
      await context.close();
    }
  });

  test("a grant revoked at the provider ends the session with one `expired` (status 400, invalid_grant)", async () => {
    const { context, page, calls, tokens } = await signIn();
    try {
      await startClient(page, tokens);
      const { grantId } = await oidc.provider.RefreshToken.find(tokens.refresh_token);
      await (await oidc.provider.Grant.find(grantId)).destroy();

      await page.waitForFunction(() => window.events.some((e) => e.type === "expired"), null, { timeout: ACCESS_TTL * 3000 });
      // Past the access token's lifetime: no retry, no second event.
      await new Promise((r) => setTimeout(r, ACCESS_TTL * 1000));
      assert.deepEqual(await page.evaluate(() => window.events), [
        { type: "expired", source: undefined, code: "ERR_SESSION_EXPIRED", status: 400, oauthError: "invalid_grant" },
      ]);
      await answered(calls);
      assert.equal(calls.filter((c) => c.path === "/token").length, 1, "one refresh request, not a loop");
      assert.equal(await page.evaluate(() => window.auth.signedIn), false);
    } finally {
      await context.close();
    }
  });

  test("logout() revokes the refresh token at the provider (RFC 7009 form with client_id)", async () => {
    const { context, page, calls, tokens } = await signIn();
    try {
      await startClient(page, tokens);
      assert.ok(await oidc.provider.RefreshToken.find(tokens.refresh_token), "the refresh token is live");
      assert.equal(await page.evaluate(() => window.auth.logout()), true);
      await answered(calls);
      const revocations = calls.filter((c) => c.path === "/token/revocation");
      assert.equal(revocations.length, 1);
      assert.equal(revocations[0].type, "application/x-www-form-urlencoded;charset=UTF-8");
      assert.deepEqual(revocations[0].form, { token: tokens.refresh_token, token_type_hint: "refresh_token", client_id: CLIENT_ID });
      assert.equal(revocations[0].status, 200);
      assert.equal(await oidc.provider.RefreshToken.find(tokens.refresh_token), undefined, "the provider forgot the token");
      assert.deepEqual(await page.evaluate(() => window.events.map((e) => [e.type, e.source])), [["logout", "local"]]);
    } finally {
      await context.close();
    }
  });
});
