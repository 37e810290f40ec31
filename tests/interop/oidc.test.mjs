// The package against a certified OpenID provider (oidc-provider from npm, tests/interop/servers/
// oidc.mjs): the test gets the first tokens with the authorization-code flow and PKCE in Chromium
// (the provider's login and consent pages, the code exchanged by the page), hands them to the
// package with setSession, and checks at the wire and at the provider that the package refreshes
// on schedule and on demand with RFC 6749 §6 requests, follows refresh-token rotation, calls a
// resource API that validates the tokens, ends the session with one `expired` once the grant is
// revoked at the provider, and revokes its refresh token on logout() (RFC 7009).
import { after, before, describe, test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { freePort } from "../support/worker.mjs";
import { launchBrowser } from "../support/browser.mjs";
import { projectDir, serveStatic } from "./support.mjs";
import { CLIENT_ID, startOidc } from "./servers/oidc.mjs";

const ACCESS_TTL = 8; // seconds: the package refreshes half-way, 4 s after a token is issued
let oidc, site, browser, redirectUri;

before(async () => {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  redirectUri = `${origin}/oidc/`;
  oidc = await startOidc({ pageOrigin: origin, redirectUri, accessTtl: ACCESS_TTL });
  site = await serveStatic({ "/oidc/": await projectDir("oidc") }, port);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await oidc?.close();
});

/**
 * A fresh context signed in at the provider through the authorization-code flow with PKCE; the
 * page (the redirect target) exchanges the code like a single-page app. Records every request to
 * the token and revocation endpoints with its decoded form and its answer.
 */
async function signIn() {
  const context = await browser.newContext();
  const page = await context.newPage();
  // Recorded when sent (in order); `status` and `body` arrive with the answer (see `answered`).
  const calls = [];
  page.on("request", (req) => {
    const path = new URL(req.url()).pathname;
    if (req.method() !== "POST" || !req.url().startsWith(oidc.issuer) || !["/token", "/token/revocation"].includes(path)) return;
    const call = { path, type: req.headers()["content-type"], form: Object.fromEntries(new URLSearchParams(req.postData() ?? "")) };
    calls.push(call);
    req.response().then(async (res) => {
      let body;
      try { body = await res.json(); } catch { body = null; }
      Object.assign(call, { status: res.status(), body });
    }, () => Object.assign(call, { status: 0, body: null }));
  });
  const verifier = randomBytes(32).toString("base64url");
  const url = new URL(`${oidc.issuer}/auth`);
  for (const [k, v] of Object.entries({
    client_id: CLIENT_ID, response_type: "code", redirect_uri: redirectUri, scope: "openid offline_access",
    prompt: "consent", state: randomBytes(8).toString("hex"),
    code_challenge: createHash("sha256").update(verifier).digest("base64url"), code_challenge_method: "S256",
  })) url.searchParams.set(k, v);
  await page.goto(url.href);
  await page.fill('input[name="login"]', "demo");
  await page.fill('input[name="password"]', "any");
  await page.click('button[type="submit"]');
  await page.click('button:has-text("Continue")');
  await page.waitForURL((u) => u.href.startsWith(redirectUri) && u.searchParams.has("code"));
  await page.waitForSelector('body[data-ready="true"]', { state: "attached" });
  const code = new URL(page.url()).searchParams.get("code");
  const tokens = await page.evaluate(async ({ issuer, code, verifier, redirectUri, clientId }) => {
    const res = await fetch(`${issuer}/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "authorization_code", code, code_verifier: verifier, redirect_uri: redirectUri, client_id: clientId }),
    });
    return res.json();
  }, { issuer: oidc.issuer, code, verifier, redirectUri, clientId: CLIENT_ID });
  assert.ok(tokens.access_token && tokens.refresh_token, `code exchange: ${JSON.stringify(tokens)}`);
  await answered(calls);
  calls.length = 0; // the code exchange is the test's, not the package's
  return { context, page, calls, tokens };
}

/** Waits until every recorded call has its answer. */
async function answered(calls) {
  const deadline = Date.now() + 10_000;
  while (calls.some((c) => c.status === undefined)) {
    if (Date.now() > deadline) throw new Error("a call to the provider got no answer");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Creates `window.auth` for the provider in `page`, recording its events in `window.events`, and hands it `tokens`. */
async function startClient(page, tokens) {
  await page.evaluate(({ issuer, api, clientId, tokens }) => {
    window.events = [];
    window.auth = new window.sr.AuthClient({
      mode: "body",
      baseUrl: issuer,
      refreshPath: "/token",
      revokePath: "/token/revocation",
      clientId,
      scope: "openid offline_access",
      bearerOrigins: [api],
    });
    for (const type of ["refresh", "expired", "error", "logout"]) {
      window.auth.on(type, (e) => window.events.push({
        type: e.type, source: e.source, code: e.error?.code, status: e.error?.status, oauthError: e.error?.oauthError,
      }));
    }
    window.auth.setSession(tokens);
  }, { issuer: oidc.issuer, api: oidc.api, clientId: CLIENT_ID, tokens });
}

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
