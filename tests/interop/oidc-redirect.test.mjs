// The package's own sign-in through a redirect (loginWithRedirect / handleRedirectCallback, the
// chunk silent_refresh_oidc.js) against a certified OpenID provider (oidc-provider, tests/interop/
// servers/oidc.mjs) in Chromium, with no hand-written PKCE: discovery, the authorization request
// (PKCE S256, state, nonce), the callback's checks, the code exchanged with a DPoP proof, the ID
// token's claims, refreshes at the discovered token endpoint, userinfo with the DPoP-bound token,
// a reload that restores, and RP-initiated logout at the provider. Then what must be refused: a
// tampered `state`, a replayed callback, a wrong `iss`, a wrong `nonce`. And the Worker's road:
// without `issuer`, loginWithRedirect goes to the Worker's /auth/authorize and its `auth_error`
// reaches the app.
import { after, before, describe, test } from "../support/test.mjs";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { launchBrowser } from "../support/browser.mjs";
import { projectDir, serveStatic } from "./support.mjs";
import { CLIENT_ID, startOidc } from "./servers/oidc.mjs";
import { decodeJws } from "./oidc-flow.mjs";

let oidc, site, browser, origin, redirectUri, goodbye;

before(async () => {
  site = await serveStatic({ "/oidc/": await projectDir("oidc-redirect", "oidc") });
  origin = site.url;
  redirectUri = `${origin}/oidc/`;
  goodbye = `${origin}/oidc/?signed-out`;
  oidc = await startOidc({ pageOrigin: origin, redirectUri, postLogoutRedirectUri: goodbye, accessTtl: 60 });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await site?.close();
  await oidc?.close();
});

const ready = (page) => page.waitForSelector('body[data-ready="true"]', { state: "attached" });

/** `window.auth` for the provider road (body mode, DPoP by default, localStorage), with `extra` options over them. */
const client = (page, extra = {}) => page.evaluate(({ issuer, api, clientId, extra }) => {
  window.auth = new window.sr.AuthClient({ mode: "body", issuer, clientId, scope: "openid offline_access",
    bearerOrigins: [api, issuer], storage: localStorage, ...extra });
}, { issuer: oidc.issuer, api: oidc.api, clientId: CLIENT_ID, extra });

/**
 * The authorization requests of `page` (its navigations to the provider), and the grants the
 * provider issued (recorded by the provider itself: the exchange's body is a stream Chromium
 * does not show): the token request's members and its decoded DPoP proof.
 */
function record(page) {
  const seen = { authorize: [], token: [] };
  page.on("request", (req) => {
    const url = new URL(req.url());
    if (url.origin === oidc.issuer && url.pathname === "/auth") seen.authorize.push(Object.fromEntries(url.searchParams));
  });
  const grant = (ctx) => {
    const p = ctx.oidc.params;
    seen.token.push({ form: { grant_type: p.grant_type, code_verifier: p.code_verifier, client_id: p.client_id, redirect_uri: p.redirect_uri },
      proof: decodeJws(ctx.get("dpop")) });
  };
  oidc.provider.on("grant.success", grant);
  seen.stop = () => oidc.provider.off("grant.success", grant);
  return seen;
}

/**
 * On the app's page: a new client calls loginWithRedirect; the user signs in at the provider
 * (the login form only if the provider has no session yet) and consents; resolves once back at
 * the redirect URI with a code, on a fresh client that has not handled it yet.
 */
async function toCallback(page) {
  await page.goto(redirectUri);
  await ready(page);
  await client(page);
  await page.evaluate(() => void window.auth.loginWithRedirect({ returnTo: "/oidc/#app" }));
  const form = await page.waitForSelector('input[name="login"], button:has-text("Continue")');
  if (await form.evaluate((e) => e.tagName === "INPUT")) {
    await page.fill('input[name="login"]', "demo");
    await page.fill('input[name="password"]', "any");
    await page.click('button[type="submit"]');
  }
  await page.click('button:has-text("Continue")');
  await page.waitForURL((u) => u.href.startsWith(redirectUri) && u.searchParams.has("code"));
  await ready(page);
  await client(page);
}

/** `[code, claim, oauthError]` of the rejection of `handleRedirectCallback(url)`, or "resolved". */
const refused = (page, url) => page.evaluate(async (url) => {
  try {
    await window.auth.handleRedirectCallback(url);
    return "resolved";
  } catch (e) {
    return [e.code, e.claim, e.oauthError];
  }
}, url);

/** `url` with its query member `name` set to `value`. */
const withParam = (url, name, value) => {
  const u = new URL(url);
  u.searchParams.set(name, value);
  return u.href;
};

describe("sign-in through a redirect (oidc-provider)", () => {
  test("loginWithRedirect and handleRedirectCallback only: PKCE S256, a DPoP-bound session, refresh, userinfo, reload, federated logout", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = record(page);
    try {
      await toCallback(page);
      const result = await page.evaluate(async () => {
        const r = await window.auth.handleRedirectCallback();
        return { ...r, url: location.href, signedIn: window.auth.signedIn, got: await window.auth.getUser() };
      });
      assert.equal(result.returnTo, "/oidc/#app");
      assert.equal(result.url, redirectUri, "the callback's parameters left the address bar");
      assert.equal(result.signedIn, true);
      assert.equal(result.user.sub, "demo");
      assert.equal(result.user.aud, CLIENT_ID);
      assert.deepEqual(result.got, result.user, "getUser() gives the ID token's claims");

      // The authorization request and the exchange: the verifier sent at the token endpoint is
      // the one whose S256 hash went in the authorization request; state and nonce are random.
      assert.equal(seen.authorize.length, 1);
      const [authorize] = seen.authorize;
      assert.equal(authorize.code_challenge_method, "S256");
      assert.equal(authorize.response_type, "code");
      assert.equal(authorize.redirect_uri, redirectUri);
      assert.equal(authorize.prompt, "consent", "offline_access is asked for with consent");
      assert.match(authorize.state, /^[\w-]{43}$/);
      assert.match(authorize.nonce, /^[\w-]{43}$/);
      assert.equal(seen.token.length, 1);
      const [exchange] = seen.token;
      assert.equal(exchange.form.grant_type, "authorization_code");
      assert.equal(exchange.form.client_id, CLIENT_ID);
      assert.equal(exchange.form.redirect_uri, redirectUri);
      assert.equal(createHash("sha256").update(exchange.form.code_verifier).digest("base64url"), authorize.code_challenge);
      assert.equal(exchange.proof?.header.typ, "dpop+jwt", "the code exchange carries a DPoP proof");
      assert.equal(exchange.proof.payload.htu, `${oidc.issuer}/token`);

      // The session refreshes at the discovered token endpoint, with a proof by the same key.
      assert.equal(await page.evaluate(async () => (await window.auth.refresh(), window.auth.refreshCount)), 1);
      assert.equal(seen.token.length, 2);
      assert.equal(seen.token[1].form.grant_type, "refresh_token");
      assert.deepEqual(seen.token[1].proof.header.jwk, exchange.proof.header.jwk);
      // Userinfo takes the DPoP-bound access token (with a proof) only.
      assert.deepEqual(await page.evaluate(async (issuer) => {
        const r = await window.auth.fetch(`${issuer}/me`);
        return [r.status, (await r.json()).sub];
      }, oidc.issuer), [200, "demo"]);

      // A reload: the client discovers the provider first, then restores from storage.
      await page.reload();
      await ready(page);
      await client(page);
      assert.deepEqual(await page.evaluate(async () => [await window.auth.restore(), (await window.auth.getUser())?.sub]), [true, "demo"]);
      assert.equal(seen.token.at(-1).form.grant_type, "refresh_token");

      // Federated logout: revoked here, then the provider's end_session_endpoint, then back.
      await page.evaluate((goodbye) => void window.auth.logout({ federated: true, returnTo: goodbye }), goodbye);
      await page.waitForURL((u) => u.href.startsWith(`${oidc.issuer}/session/end`));
      const end = new URL(page.url());
      assert.equal(end.searchParams.get("client_id"), CLIENT_ID);
      assert.equal(end.searchParams.get("post_logout_redirect_uri"), goodbye);
      assert.ok(end.searchParams.get("id_token_hint"), "id_token_hint sent");
      await page.click('button[value="yes"]');
      await page.waitForURL(goodbye);
      await ready(page);
      await client(page);
      assert.deepEqual(await page.evaluate(async () => [await window.auth.restore(), await window.auth.getUser()]), [false, undefined]);
      // The provider's session is over: a new sign-in asks for the password again.
      await page.evaluate(() => void window.auth.loginWithRedirect());
      await page.waitForSelector('input[name="login"]');
    } finally {
      seen.stop();
      await context.close();
    }
  });

  test("a tampered state, a replayed callback, a wrong iss and a wrong nonce are refused with stable codes, and start no session", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const seen = record(page);
    try {
      // A tampered state: refused, and the pending sign-in is spent by that one try, so the
      // genuine callback that follows is refused as well.
      await toCallback(page);
      const genuine = page.url();
      assert.deepEqual(await refused(page, withParam(genuine, "state", "tampered")), ["ERR_LOGIN_STATE", undefined, undefined]);
      assert.deepEqual(await refused(page, genuine), ["ERR_NO_PENDING_LOGIN", undefined, undefined]);

      // A wrong iss (RFC 9207: oidc-provider sends it).
      await toCallback(page);
      assert.ok(new URL(page.url()).searchParams.get("iss"), "the provider sends iss");
      assert.deepEqual(await refused(page, withParam(page.url(), "iss", "https://evil.example")), ["ERR_LOGIN_ISSUER", undefined, undefined]);

      // A wrong nonce: the ID token answers another sign-in than the one pending here.
      await toCallback(page);
      await page.evaluate(() => {
        const t = JSON.parse(sessionStorage.getItem("silent-refresh:login"));
        sessionStorage.setItem("silent-refresh:login", JSON.stringify({ ...t, nonce: "another-sign-in" }));
      });
      assert.deepEqual(await refused(page, page.url()), ["ERR_ID_TOKEN", "nonce", undefined]);
      assert.equal(seen.token.length, 1, "only the wrong-nonce sign-in got a grant");
      assert.deepEqual(await page.evaluate(async () => [window.auth.signedIn, await window.auth.getUser()]), [false, undefined]);

      // Positive control, then a replay of the callback that worked.
      await toCallback(page);
      const good = page.url();
      assert.equal((await page.evaluate(() => window.auth.handleRedirectCallback())).user.sub, "demo");
      assert.deepEqual(await refused(page, good), ["ERR_NO_PENDING_LOGIN", undefined, undefined]);
      assert.equal(seen.token.length, 2, "the replay sent no code exchange");

      // The provider's own refusal (a sign-in it must not prompt for, yet must re-authenticate), after a valid state.
      await page.evaluate(() => void window.auth.loginWithRedirect({ params: { prompt: "none", max_age: "0" } }));
      await page.waitForURL((u) => u.href.startsWith(redirectUri) && u.searchParams.has("error"));
      await ready(page);
      await client(page);
      assert.deepEqual(await refused(page), ["ERR_LOGIN_REJECTED", undefined, "login_required"]);
    } finally {
      seen.stop();
      await context.close();
    }
  });

  test("without issuer: loginWithRedirect goes to <baseUrl>/auth/authorize?return_to=, and the Worker's ?auth_error= reaches the app", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    try {
      await page.goto(redirectUri);
      await ready(page);
      await client(page, { mode: "cookie", issuer: undefined, baseUrl: `${origin}/worker/` });
      await page.evaluate(() => void window.auth.loginWithRedirect({ returnTo: "/oidc/?back=1" }));
      await page.waitForURL((u) => u.pathname === "/worker/auth/authorize");
      assert.equal(new URL(page.url()).searchParams.get("return_to"), "/oidc/?back=1");

      await page.goto(`${redirectUri}?auth_error=access_denied`);
      await ready(page);
      await client(page, { mode: "cookie", issuer: undefined, baseUrl: `${origin}/worker` });
      assert.deepEqual(await refused(page), ["ERR_LOGIN_REJECTED", undefined, "access_denied"]);
      assert.equal(page.url(), redirectUri, "auth_error left the address bar");
    } finally {
      await context.close();
    }
  });
});
